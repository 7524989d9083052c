"""Start order (issue 14, points 3 and 7; SPEC sections 6 and 8): `after`
starts a task once its dependencies are ready, shows it `waiting` with
`waiting_for` until then, stops in reverse at shutdown and for `tendctl
stop all`, and is checked for unknown names and cycles at load.

The tasks append their names to ./started and ./stopped in their
directory: the order of the lines is the order of the events.

Every wait is bounded polling (conftest.wait_for), generous enough for
tendd under valgrind.
"""

import os
import signal
import textwrap

from conftest import (WAIT, ProcRef, connect, ctl, free_port, status,
                      task_of, wait_for, wait_state, zombies_of)
from test_ready import lines, notifyd  # noqa: F401 (a fixture)


def tasks(run_tendctl, d):
    """{name: task object} of status --json."""
    return {t["name"]: t for t in status(run_tendctl, d)["tasks"]}


def gated(name, gate, status_code=0):
    """A log-only command: waits for ./gate, appends name to ./started,
    exits status_code."""
    return (f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done; "
            f"echo {name} >> started; exit {status_code}'")


def line_of(path, text):
    """The 1-based number of the first line of path holding text."""
    for n, line in enumerate(path.read_text().split("\n"), 1):
        if text in line:
            return n
    raise AssertionError(f"{text!r} not in {path}")


# The chain: log-only -> durable (notify) -> per-request.

def test_chain_starts_in_order_and_stops_in_reverse(start_tendd, run_tendctl,
                                                    tmp_path, notifyd):
    """migrate (log-only) -> db (durable, ready = notify, after migrate) ->
    web (per-request, listen, after db): each is `waiting` for the one
    before, with waiting_for, until it is ready (migrate: exited 0; db:
    READY=1), and starts in that order. At shutdown web's instance stops
    (slowly) before db is stopped."""
    port = free_port()
    web = (f"sh -c 'trap \"sleep 1; echo web >> {tmp_path}/stopped; "
           f"exit 0\" TERM; echo hi; while :; do sleep 0.05; done'")
    d = start_tendd(f"""
        [task:migrate]
        class     = log-only
        directory = {tmp_path}
        command   = {gated("migrate", "go.migrate")}

        [task:db]
        class     = durable
        directory = {tmp_path}
        command   = {notifyd("db", "go.db")}
        ready     = notify
        after     = migrate

        [task:web]
        class     = per-request
        directory = {tmp_path}
        command   = {web}
        listen    = tcp:127.0.0.1:{port}
        after     = db
        """)
    wait_state(run_tendctl, d, "migrate", "running")
    t = tasks(run_tendctl, d)
    assert (t["db"]["state"], t["db"]["waiting_for"], t["db"]["pid"]) == (
        "waiting", ["migrate"], None), t["db"]
    assert (t["web"]["state"], t["web"]["waiting_for"]) == (
        "waiting", ["db"]), t["web"]
    assert lines(tmp_path / "started") == []
    (tmp_path / "go.migrate").touch()
    wait_state(run_tendctl, d, "migrate", "done")
    db = wait_state(run_tendctl, d, "db", "starting")
    assert db["waiting_for"] == [], db
    web = task_of(run_tendctl, d, "web")
    assert (web["state"], web["waiting_for"]) == ("waiting", ["db"]), web
    wait_for(lambda: lines(tmp_path / "started") == ["migrate", "db"],
             what="db to run", details=d.tail)
    (tmp_path / "go.db").touch()
    wait_state(run_tendctl, d, "db", "running", ready=True)
    web = wait_state(run_tendctl, d, "web", "listening")
    assert web["waiting_for"] == [], web
    # An instance of web that is there at shutdown.
    with connect(port) as client:
        assert client.recv(3) == b"hi\n"
        assert task_of(run_tendctl, d, "web")["active"] == 1
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
    assert lines(tmp_path / "stopped") == ["web", "db"], d.tail()
    assert lines(tmp_path / "started") == ["migrate", "db"]



def test_stop_all_and_shutdown_stop_in_reverse(start_tendd, run_tendctl,
                                               tmp_path, notifyd):
    """a <- b <- c (c after b, b after a; ready = notify, sent once each
    has noted its start), each slow to stop: `tendctl stop all` stops c,
    then b, then a, each once the one after it has stopped; `start all`
    starts them in order again; and SIGTERM stops them in reverse too."""
    manifest = f"""
        [task:a]
        class     = durable
        directory = {tmp_path}
        command   = {notifyd("a", "-", "-", 0.3)}
        ready     = notify

        [task:b]
        class     = durable
        directory = {tmp_path}
        command   = {notifyd("b", "-", "-", 0.3)}
        ready     = notify
        after     = a

        [task:c]
        class     = durable
        directory = {tmp_path}
        command   = {notifyd("c", "-", "-", 0.3)}
        ready     = notify
        after     = b
        """
    d = start_tendd(manifest)
    for name in "abc":
        wait_state(run_tendctl, d, name, "running")
    wait_for(lambda: lines(tmp_path / "started") == ["a", "b", "c"],
             what="a, b, c to run in order",
             details=lambda: (lines(tmp_path / "started"), d.tail()))
    r = ctl(run_tendctl, d, "stop", "all", timeout=WAIT)
    assert r.returncode == 0, (r, d.tail())
    assert lines(tmp_path / "stopped") == ["c", "b", "a"], d.tail()
    assert {t["state"] for t in tasks(run_tendctl, d).values()} == {
        "stopped"}
    r = ctl(run_tendctl, d, "start", "all", timeout=WAIT)
    assert r.returncode == 0, (r, d.tail())
    for name in "abc":
        wait_state(run_tendctl, d, name, "running")
    wait_for(lambda: lines(tmp_path / "started")[3:] == ["a", "b", "c"],
             what="a, b, c to run in order again",
             details=lambda: (lines(tmp_path / "started"), d.tail()))
    assert d.terminate() == 0
    assert lines(tmp_path / "stopped") == ["c", "b", "a"] * 2, d.tail()


def test_failed_dependency_keeps_waiting_until_it_succeeds(
        start_tendd, run_tendctl, tmp_path):
    """A log-only dependency that fails leaves its waiter `waiting` (said
    once in the log); a later successful `tendctl start` of it releases the
    waiter."""
    d = start_tendd(f"""
        [task:migrate]
        class     = log-only
        directory = {tmp_path}
        command   = sh -c 'test -e ok'

        [task:db]
        class     = durable
        directory = {tmp_path}
        command   = sleep 1005
        after     = migrate
        """)
    wait_state(run_tendctl, d, "migrate", "failed")
    said = r"(?=.*\bdb\b)(?=.*\bmigrate\b)(?=.*\bwait)"
    d.wait_log(said)
    db = task_of(run_tendctl, d, "db")
    assert (db["state"], db["waiting_for"], db["pid"]) == (
        "waiting", ["migrate"], None), db
    # Once: a second failed run is no new news either.
    ctl(run_tendctl, d, "start", "migrate", timeout=WAIT)
    d.wait_log(r"^task migrate \(pid \d+\): exit status 1", count=2)
    assert task_of(run_tendctl, d, "db")["state"] == "waiting"
    (tmp_path / "ok").touch()
    r = ctl(run_tendctl, d, "start", "migrate", timeout=WAIT)
    assert r.returncode == 0, (r, d.tail())
    wait_state(run_tendctl, d, "migrate", "done")
    db = wait_state(run_tendctl, d, "db", "running")
    assert db["waiting_for"] == [], db
    assert len(d.find(said)) == 1, d.tail()
    assert d.terminate() == 0


def test_dependency_restart_leaves_dependents_alone(start_tendd,
                                                    run_tendctl):
    """A dependency that crashes and restarts, or is restarted by tendctl,
    neither stops nor restarts the task after it (After=, not BindsTo=)."""
    d = start_tendd("""
        [task:base]
        class       = durable
        command     = sleep 1006
        backoff_min = 100ms

        [task:app]
        class   = durable
        command = sleep 1007
        after   = base
        """)
    base = wait_state(run_tendctl, d, "base", "running")
    app = wait_state(run_tendctl, d, "app", "running")
    os.kill(base["pid"], signal.SIGKILL)
    base2 = wait_state(run_tendctl, d, "base", "running", restarts=1)
    assert base2["pid"] != base["pid"]
    r = ctl(run_tendctl, d, "restart", "base", timeout=WAIT)
    assert r.returncode == 0, (r, d.tail())
    wait_state(run_tendctl, d, "base", "running")
    now = task_of(run_tendctl, d, "app")
    assert (now["state"], now["pid"], now["restarts"]) == (
        "running", app["pid"], 0), now
    assert ProcRef(app["pid"]).alive()
    assert d.terminate() == 0


def test_reload_changes_after_in_place(start_tendd, run_tendctl,
                                       write_manifest):
    """Adding and removing `after` is a policy change: updated in place, the
    task keeps its process."""
    plain = textwrap.dedent("""
        [task:a]
        class   = durable
        command = sleep 1008

        [task:b]
        class   = durable
        command = sleep 1009
        """)
    path = write_manifest(plain)
    d = start_tendd(path)
    b = wait_state(run_tendctl, d, "b", "running")
    write_manifest(plain + "after   = a\n")
    r = ctl(run_tendctl, d, "reload", timeout=WAIT)
    assert (r.returncode, r.stdout) == (0, "updated b\n"), (r, d.tail())
    now = task_of(run_tendctl, d, "b")
    assert (now["state"], now["pid"], now["waiting_for"]) == (
        "running", b["pid"], []), now
    write_manifest(plain)
    r = ctl(run_tendctl, d, "reload", timeout=WAIT)
    assert (r.returncode, r.stdout) == (0, "updated b\n"), (r, d.tail())
    now = task_of(run_tendctl, d, "b")
    assert (now["state"], now["pid"]) == ("running", b["pid"]), now
    assert ProcRef(b["pid"]).alive()
    assert d.terminate() == 0


def test_start_of_a_waiting_task_returns_at_once(start_tendd, run_tendctl,
                                                 tmp_path):
    """`tendctl start` of a task whose dependency is not ready returns at
    once (the dependency never will be), saying on what it waits."""
    d = start_tendd(f"""
        [task:migrate]
        class     = log-only
        directory = {tmp_path}
        command   = {gated("migrate", "never")}

        [task:db]
        class     = durable
        command   = sleep 1010
        after     = migrate
        autostart = no
        """)
    wait_state(run_tendctl, d, "migrate", "running")
    assert task_of(run_tendctl, d, "db")["state"] == "stopped"
    r = ctl(run_tendctl, d, "start", "db", timeout=WAIT)
    assert r.returncode == 0, (r, d.tail())
    assert "migrate" in r.stdout + r.stderr, r
    db = task_of(run_tendctl, d, "db")
    assert (db["state"], db["waiting_for"]) == ("waiting", ["migrate"]), db
    assert zombies_of(d.pid) == []
    assert d.terminate() == 0


# Checked at load: unknown names and cycles, FILE:LINE.

CYCLE = """
    [task:a]
    class   = durable
    command = sleep 1011
    after   = b

    [task:b]
    class   = durable
    command = sleep 1012
    after   = a
    """

UNKNOWN = """
    [task:a]
    class   = durable
    command = sleep 1011
    after   = nosuch
    """


def test_check_rejects_a_cycle_and_an_unknown_name(run_tendd,
                                                   write_manifest):
    """tendd --check: a cycle, named in full, and an unknown name, each at
    the FILE:LINE of an after key."""
    path = write_manifest(CYCLE, name="cycle.ini")
    r = run_tendd("--check", "-f", path)
    assert r.returncode == 1, r
    lines_a, lines_b = line_of(path, "after   = b"), line_of(path,
                                                            "after   = a")
    assert any(line.startswith((f"{path}:{lines_a}: ",
                                f"{path}:{lines_b}: "))
               and ("a -> b -> a" in line or "b -> a -> b" in line)
               for line in r.stderr.split("\n")), r.stderr
    path = write_manifest(UNKNOWN, name="unknown.ini")
    r = run_tendd("--check", "-f", path)
    assert r.returncode == 1, r
    assert any(line.startswith(f"{path}:{line_of(path, 'nosuch')}: ")
               and "nosuch" in line
               for line in r.stderr.split("\n")), r.stderr


def test_reload_rejects_a_cycle_and_an_unknown_name(start_tendd, run_tendctl,
                                                    write_manifest):
    """tendctl reload of a manifest with a cycle or an unknown name exits
    1 with FILE:LINE, and changes nothing."""
    path = write_manifest("""
        [task:a]
        class   = durable
        command = sleep 1013
        """)
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    for text, needle in ((CYCLE, "after   = b"), (UNKNOWN, "nosuch")):
        write_manifest(text)
        r = ctl(run_tendctl, d, "reload", timeout=WAIT)
        assert r.returncode == 1, (r, d.tail())
        assert f"{path}:" in r.stderr, r
        if text is UNKNOWN:
            assert f"{path}:{line_of(path, needle)}: " in r.stderr, r
        else:
            assert "a -> b -> a" in r.stderr or "b -> a -> b" in r.stderr, r
        now = tasks(run_tendctl, d)
        assert list(now) == ["a"] and now["a"]["pid"] == a["pid"], now
    assert d.terminate() == 0

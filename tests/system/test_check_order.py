"""tendd --check on the keys of readiness, order and health (SPEC sections
3 and 8): after = names tasks and makes no cycle; ready*, health* are keys
of durable tasks. Every problem is one "FILE:LINE: message" line on stderr
and exit 1; a valid manifest is exit 0 and silence. A tendd that starts, or
reloads, with such a manifest refuses it the same way.
"""

from conftest import ctl, status, wait_state

VALID = """
    [task:db]
    class = durable
    command = sleep 1000
    ready = exec:/bin/sh -c 'exit 0'
    ready_timeout = 30s
    health = tcp:127.0.0.1:5432
    health_interval = 10s
    health_timeout = 2s
    health_retries = 5

    [task:daemon]
    class = durable
    command = sleep 1000
    ready = notify
    health = unix:/run/daemon.sock

    [task:migrate]
    class = log-only
    command = /bin/true
    after = db

    [task:web]
    class = per-request
    command = /bin/cat
    after = db migrate
    after = daemon db
    """


def check(run_tendd, path):
    """(exit status, stderr lines, stdout) of tendd --check -f path."""
    r = run_tendd("--check", "-f", path)
    return r.returncode, r.stderr.splitlines(), r.stdout


def test_valid_manifest_is_accepted(run_tendd, write_manifest):
    path = write_manifest(VALID)
    assert check(run_tendd, path) == (0, [], "")


def test_unknown_after_name(run_tendd, write_manifest):
    path = write_manifest("""
        [task:web]
        class = durable
        command = sleep 1000
        after = db
        after = cache migrate

        [task:migrate]
        class = log-only
        command = /bin/true
        """)
    assert check(run_tendd, path) == (1, [
        f"{path}:4: task web: after: no task named 'db'",
        f"{path}:5: task web: after: no task named 'cache'",
    ], "")


def test_task_after_itself(run_tendd, write_manifest):
    path = write_manifest("""
        [task:a]
        class = durable
        command = sleep 1000
        after = a
        """)
    assert check(run_tendd, path) == (
        1, [f"{path}:4: task a: after: cycle: a -> a"], "")


def test_cycles_named_in_full(run_tendd, write_manifest):
    """One problem per cycle, at the after key of its task first in the
    manifest; the tasks of every class take part."""
    path = write_manifest("""
        [task:web]
        class = per-request
        command = /bin/cat
        after = db

        [task:db]
        class = durable
        command = sleep 1000
        after = migrate

        [task:migrate]
        class = log-only
        command = /bin/true
        after = web

        [task:x]
        class = durable
        command = sleep 1000
        after = y

        [task:y]
        class = durable
        command = sleep 1000
        after = x
        """)
    assert check(run_tendd, path) == (1, [
        f"{path}:4: task web: after: cycle: web -> db -> migrate -> web",
        f"{path}:19: task x: after: cycle: x -> y -> x",
    ], "")


def test_bad_values_and_classes(run_tendd, write_manifest):
    path = write_manifest("""
        [task:d]
        class = durable
        command = sleep 1000
        ready = http://127.0.0.1/
        health = notify
        ready_timeout = 0
        health_retries = 0
        after = a,b

        [task:once]
        class = log-only
        command = /bin/true
        ready = notify
        health_interval = 1s

        [task:req]
        class = per-request
        command = /bin/cat
        health = tcp:127.0.0.1:80
        """)
    assert check(run_tendd, path) == (1, [
        f"{path}:4: ready = http://127.0.0.1/: not none, notify, "
        "tcp:HOST:PORT, unix:PATH or exec:COMMAND",
        f"{path}:5: health = notify: notify is for ready only",
        f"{path}:6: ready_timeout = 0: must be longer than 0",
        f"{path}:7: health_retries = 0: not a number from 1 to 100",
        f"{path}:8: after = a,b: 'a,b' is not a task name "
        "(1 to 64 of A-Z a-z 0-9 _ . -)",
        f"{path}:13: key 'ready' does not apply to a log-only task",
        f"{path}:14: key 'health_interval' does not apply to a log-only task",
        f"{path}:19: key 'health' does not apply to a per-request task",
    ], "")


def test_long_chain_checks_fast(run_tendd, write_manifest):
    """2 000 tasks, each after the next: valid, and with a loop one cycle
    named in full. (The unit tests take 10 000; here, under valgrind,
    reading 10 000 sections alone takes 20 s, the time of inifile.c's
    arrays, grown an entry at a time.)"""
    n = 2000

    def chain(loop):
        parts = []
        for i in range(n):
            parts.append(f"[task:t{i}]\nclass = log-only\n"
                         f"command = /bin/true\n")
            if i + 1 < n:
                parts.append(f"after = t{i + 1}\n")
            elif loop:
                parts.append("after = t0\n")
        return "".join(parts)

    path = write_manifest(chain(False))
    assert check(run_tendd, path) == (0, [], "")
    path = write_manifest(chain(True), name="loop.ini")
    code, problems, out = check(run_tendd, path)
    names = " -> ".join(f"t{i}" for i in range(n))
    assert (code, out) == (1, "")
    assert problems == [f"{path}:4: task t0: after: cycle: {names} -> t0"]


def test_tendd_refuses_to_start(run_tendd, write_manifest, sock_dir):
    """Not only --check: tendd starts nothing on such a manifest."""
    path = write_manifest("""
        [task:a]
        class = durable
        command = sleep 1000
        after = b

        [task:b]
        class = durable
        command = sleep 1000
        after = a
        """)
    r = run_tendd("-f", path, "-s", sock_dir / "t.sock")
    assert r.returncode == 1, r
    assert f"{path}:4: task a: after: cycle: a -> b -> a" in r.stderr, r


def test_reload_with_a_cycle_changes_nothing(start_tendd, run_tendctl,
                                             write_manifest):
    path = write_manifest("""
        [task:a]
        class = durable
        command = sleep 1000
        """)
    d = start_tendd(path)
    pid = wait_state(run_tendctl, d, "a", "running")["pid"]
    write_manifest("""
        [task:a]
        class = durable
        command = sleep 1000
        after = b c

        [task:b]
        class = durable
        command = sleep 1000
        after = a
        """)
    r = ctl(run_tendctl, d, "reload")
    assert r.returncode == 1 and r.stdout == "", r
    problems = r.stderr.splitlines()
    assert len(problems) == 2, r
    assert problems[0].endswith(":4: task a: after: no task named 'c'"), r
    assert problems[1].endswith(":4: task a: after: cycle: a -> b -> a"), r
    tasks = status(run_tendctl, d)["tasks"]
    assert [(t["name"], t["pid"]) for t in tasks] == [("a", pid)]

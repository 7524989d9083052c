"""Reload (SPEC section 5; tendctl reload [--dry-run] of section 6, and
SIGHUP of section 2): the manifest tendd was started with is rewritten in
place and reloaded under real tasks. Removed tasks are stopped, added ones
started, changed ones restarted or updated in place, and the others keep
their process; an invalid manifest changes nothing. Each test checks the
exact lines tendctl prints, the pids through status --json and /proc, and
tendd's log.

Every wait is bounded polling (conftest.wait_for); a sleep outside a
polling loop only proves that something does not happen within NEVER. No
timing is asserted, so the tests also pass with $TENDD running tendd
under valgrind.
"""

import os
import re
import signal
import stat
import textwrap
import threading
import time

import pytest

from conftest import (CLIENT_TIMEOUT, WAIT, ProcRef, connect, ctl, ctl_popen,
                      finish, free_port, gone, read_to_eof, sock_of, status,
                      task_of, wait_for, wait_state)

NEVER = 0.5  # seconds to watch for something that must not happen
RELOADS = 5  # reloads under clients that connect every 5 ms
CLIENTS = 4  # such clients at once


# Tasks that wait for the test to create the file "release".
SLOW_STOP = ("sh -c 'trap \"touch got-term\" TERM; touch ready; "
             "while [ ! -e release ]; do sleep 0.02; done'")
WAIT_RELEASE = "sh -c 'while [ ! -e release ]; do sleep 0.02; done;"

# A task that takes a second to stop; it creates "up" once running. Each
# manifest puts its own version in place of VERSION.
SLOW_RESTART = ("sh -c 'trap \"sleep 1; exit 0\" TERM; touch up; "
                "while :; do sleep 0.02; done' VERSION")


# Helpers.

def reload(run_tendctl, d, *args):
    """tendctl reload ARGS, which must succeed; returns its stdout lines."""
    r = ctl(run_tendctl, d, "reload", *args)
    assert (r.returncode, r.stderr) == (0, ""), (r, d.tail())
    assert r.stdout.endswith("\n"), r
    return r.stdout.split("\n")[:-1]


def tasks(run_tendctl, d):
    """{name: task object} of status --json, in status order."""
    return {t["name"]: t for t in status(run_tendctl, d)["tasks"]}


def names(run_tendctl, d):
    return [t["name"] for t in status(run_tendctl, d)["tasks"]]


def cmdline(pid):
    """The argv of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data.decode(errors="replace").split("\0")[:-1]


def wait_cmdline(pid, argv, d):
    """Wait until pid has exec'd argv (it may still be tendd's fork)."""
    return wait_for(lambda: cmdline(pid) == argv,
                    what=f"pid {pid} to run {argv}",
                    details=lambda: f"runs {cmdline(pid)}\n{d.tail()}")


def fetch(port):
    """Connect to port on 127.0.0.1; return the reply, read to EOF."""
    with connect(port) as s:
        return read_to_eof(s)


def sleeper(name, seconds):
    """The section of a durable task name that runs sleep seconds: a number
    that tells its process apart in /proc."""
    return f"[task:{name}]\nclass   = durable\ncommand = sleep {seconds}\n"


def ini(text):
    """text dedented, as write_manifest writes it: to append to."""
    return textwrap.dedent(text).lstrip("\n")


def reload_lines(d, dry_run=False):
    """The lines a reload logged at info (of a dry run, or of real ones)."""
    prefix = "reload (dry run): " if dry_run else "reload: "
    return [m[len(prefix):] for m in d.messages("info")
            if m.startswith(prefix)]


# Added, removed, restarted, updated.

def test_add_task(start_tendd, run_tendctl, write_manifest):
    """A task the manifest gains is started (unless autostart = no); the
    others keep their pid."""
    path = write_manifest(sleeper("a", 1001))
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    write_manifest(sleeper("a", 1001) + sleeper("x", 1002) + ini("""
        [task:y]
        class     = durable
        command   = sleep 1003
        autostart = no
        """))
    assert reload(run_tendctl, d) == ["added x", "added y"]
    assert names(run_tendctl, d) == ["a", "x", "y"]
    y = task_of(run_tendctl, d, "y")
    assert (y["state"], y["pid"]) == ("stopped", None), y
    x = wait_state(run_tendctl, d, "x", "running")
    wait_cmdline(x["pid"], ["sleep", "1002"], d)
    assert x["restarts"] == 0
    assert task_of(run_tendctl, d, "a")["pid"] == a["pid"]
    assert ProcRef(a["pid"]).alive()
    d.wait_log(r"^reload: added x$", level="info")
    assert d.terminate() == 0


def test_remove_task(start_tendd, run_tendctl, write_manifest, tmp_path):
    """A removed task is stopped (stop_signal, then SIGKILL after
    stop_timeout) and reaped by the time reload returns, and is no longer
    listed. Removed tasks are reported in the order of their names."""
    path = write_manifest(ini(f"""
        [task:c]
        class        = durable
        directory    = {tmp_path}
        command      = sh -c 'trap "" TERM; touch c.ready; exec sleep 1003'
        stop_timeout = 300ms
        """) + sleeper("a", 1001) + sleeper("b", 1002))
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    b = wait_state(run_tendctl, d, "b", "running")
    c = wait_state(run_tendctl, d, "c", "running")
    wait_for(lambda: (tmp_path / "c.ready").exists(), details=d.tail)
    wait_cmdline(c["pid"], ["sleep", "1003"], d)  # ignores SIGTERM now
    refs = {"b": ProcRef(b["pid"]), "c": ProcRef(c["pid"])}
    write_manifest(sleeper("a", 1001))
    assert reload(run_tendctl, d) == ["removed b", "removed c"]
    # Reaped before the answer: not even a zombie is left.
    assert gone(b["pid"]) and not refs["b"].alive()
    assert gone(c["pid"]) and not refs["c"].alive()
    assert names(run_tendctl, d) == ["a"]
    for name in ("b", "c"):
        r = ctl(run_tendctl, d, "status", name)
        assert r.returncode == 1 and f"unknown task '{name}'" in r.stderr, r
    assert task_of(run_tendctl, d, "a")["pid"] == a["pid"]
    d.wait_log(rf"^task b \(pid {b['pid']}\): stopped, killed by signal 15 "
               r"\(SIGTERM\)", level="info")
    d.wait_log(rf"^task c \(pid {c['pid']}\): stopped, killed by signal 9 "
               r"\(SIGKILL\)", level="info")
    assert reload_lines(d) == ["removed b", "removed c"]
    assert d.terminate() == 0


SLOW_EXIT = ('trap "sleep 0.2; exit 0" TERM; touch $0.up; '
             'while :; do sleep 0.02; done')


def test_changed_command_restarts(start_tendd, run_tendctl, write_manifest,
                                  tmp_path):
    """A running durable or log-only task whose command changed runs the new
    one under a new pid by the time reload returns (the old one takes a
    while to stop); the old process is reaped, and an unchanged task keeps
    its pid."""
    text = sleeper("a", 1001) + ini(f"""
        [task:x]
        class     = durable
        directory = {tmp_path}
        command   = sh -c '{SLOW_EXIT}' x1

        [task:lo]
        class     = log-only
        directory = {tmp_path}
        command   = sh -c '{SLOW_EXIT}' lo1
        """)
    path = write_manifest(text)
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    x = wait_state(run_tendctl, d, "x", "running")
    lo = wait_state(run_tendctl, d, "lo", "running")
    for up in ("x1.up", "lo1.up"):  # the TERM traps are set
        wait_for(lambda: (tmp_path / up).exists(), details=d.tail)
    write_manifest(text.replace("' x1", "' x2").replace("' lo1", "' lo2"))
    assert reload(run_tendctl, d) == ["restarted x", "restarted lo"]
    now = tasks(run_tendctl, d)
    assert list(now) == ["a", "x", "lo"]
    assert now["a"]["pid"] == a["pid"]
    for name, old in (("x", x), ("lo", lo)):
        t = now[name]
        assert t["state"] == "running" and t["pid"], t
        assert t["pid"] != old["pid"], t
        assert gone(old["pid"]), old
        wait_cmdline(t["pid"], ["sh", "-c", SLOW_EXIT, f"{name}2"], d)
        d.wait_log(rf"^task {name} \(pid {old['pid']}\): stopped, "
                   r"exit status 0", level="info")
    assert reload_lines(d) == ["restarted x", "restarted lo"]
    assert d.terminate() == 0


def test_class_change_restarts_as_new_task(start_tendd, run_tendctl,
                                           write_manifest):
    path = write_manifest(sleeper("x", 1001))
    d = start_tendd(path)
    x = wait_state(run_tendctl, d, "x", "running")
    write_manifest("""
        [task:x]
        class   = log-only
        command = sleep 1002
        """)
    assert reload(run_tendctl, d) == ["restarted x (new class)"]
    assert gone(x["pid"])
    t = wait_state(run_tendctl, d, "x", "running")
    assert t["class"] == "log-only" and t["pid"] != x["pid"], t
    wait_cmdline(t["pid"], ["sleep", "1002"], d)
    assert d.terminate() == 0


def test_class_change_of_a_stopped_task_stays_stopped(start_tendd,
                                                      run_tendctl,
                                                      write_manifest):
    """A task the user stopped stays stopped through a class change."""
    path = write_manifest(sleeper("x", 1001))
    d = start_tendd(path)
    x = wait_state(run_tendctl, d, "x", "running")
    assert ctl(run_tendctl, d, "stop", "x").returncode == 0
    assert gone(x["pid"])
    write_manifest("""
        [task:x]
        class   = log-only
        command = sleep 1002
        """)
    assert reload(run_tendctl, d) == ["updated x (new class)"]
    t = task_of(run_tendctl, d, "x")
    assert (t["class"], t["state"], t["pid"]) == ("log-only", "stopped",
                                                  None), t
    assert ctl(run_tendctl, d, "start", "x").returncode == 0
    t = wait_state(run_tendctl, d, "x", "running")
    wait_cmdline(t["pid"], ["sleep", "1002"], d)
    assert d.terminate() == 0


def test_second_reload_does_not_answer_the_first_early(
        start_tendd, run_tendctl, write_manifest, tendctl_bin, tend_env,
        tmp_path):
    """A reload that restarts a task answers once the task is up again,
    even when a second reload restarts it meanwhile."""
    text = ini(f"""
        [task:x]
        class     = durable
        directory = {tmp_path}
        command   = {SLOW_RESTART}
        """)
    path = write_manifest(text.replace("VERSION", "v1"))
    d = start_tendd(path)
    wait_for(lambda: (tmp_path / "up").exists(), details=d.tail)
    write_manifest(text.replace("VERSION", "v2"))
    first = ctl_popen(tendctl_bin, tend_env, d, "reload")
    d.wait_log(r"^reload: restarted x$", level="info")
    write_manifest(text.replace("VERSION", "v3"))
    second = ctl_popen(tendctl_bin, tend_env, d, "reload")
    assert finish(first, timeout=WAIT) == (0, "restarted x\n", "")
    assert task_of(run_tendctl, d, "x")["state"] == "running"
    assert finish(second, timeout=WAIT) == (0, "restarted x\n", "")
    assert task_of(run_tendctl, d, "x")["state"] == "running"
    assert d.terminate() == 0


def test_reload_waits_while_a_later_one_removes_an_idle_task(
        start_tendd, run_tendctl, write_manifest, tendctl_bin, tend_env,
        tmp_path):
    """A reload restarting a slow task waits for it, even when a second
    reload, meanwhile, removes that task and one with no process (freed at
    once)."""
    text = ini(f"""
        [task:idle]
        class     = durable
        command   = sleep 1000
        autostart = no
        [task:x]
        class     = durable
        directory = {tmp_path}
        command   = {SLOW_RESTART}
        """)
    path = write_manifest(text.replace("VERSION", "v1"))
    d = start_tendd(path)
    wait_for(lambda: (tmp_path / "up").exists(), details=d.tail)
    x = task_of(run_tendctl, d, "x")
    write_manifest(text.replace("VERSION", "v2"))
    first = ctl_popen(tendctl_bin, tend_env, d, "reload")
    d.wait_log(r"^reload: restarted x$", level="info")
    write_manifest(sleeper("other", 1001))
    second = ctl_popen(tendctl_bin, tend_env, d, "reload")
    assert finish(first, timeout=WAIT) == (0, "restarted x\n", "")
    assert gone(x["pid"]), d.tail()
    assert finish(second, timeout=WAIT) == (
        0, "added other\nremoved idle\nremoved x\n", "")
    assert names(run_tendctl, d) == ["other"]
    assert d.terminate() == 0


def test_class_change_without_autostart_is_an_update(start_tendd,
                                                     run_tendctl,
                                                     write_manifest):
    """A running task whose new class has autostart = no is replaced by a
    stopped task: updated, not restarted."""
    path = write_manifest(sleeper("x", 1001))
    d = start_tendd(path)
    x = wait_state(run_tendctl, d, "x", "running")
    write_manifest("""
        [task:x]
        class     = log-only
        command   = sleep 1002
        autostart = no
        """)
    assert reload(run_tendctl, d) == ["updated x (new class)"]
    assert gone(x["pid"])
    t = task_of(run_tendctl, d, "x")
    assert (t["class"], t["state"]) == ("log-only", "stopped"), t
    assert d.terminate() == 0


def test_listeners_swap_ports(start_tendd, run_tendctl, write_manifest):
    """Two tasks trading their ports in one reload both listen at once:
    every old socket is closed before a new one is bound."""
    ports = [free_port(), free_port()]
    text = ini("""
        [task:a]
        class   = per-request
        command = /bin/echo a
        listen  = tcp:127.0.0.1:PORT_A
        [task:b]
        class   = per-request
        command = /bin/echo b
        listen  = tcp:127.0.0.1:PORT_B
        """)
    path = write_manifest(text.replace("PORT_A", str(ports[0]))
                          .replace("PORT_B", str(ports[1])))
    d = start_tendd(path)
    wait_state(run_tendctl, d, "b", "listening")
    wait_state(run_tendctl, d, "a", "listening")
    write_manifest(text.replace("PORT_A", str(ports[1]))
                   .replace("PORT_B", str(ports[0])))
    assert reload(run_tendctl, d) == ["restarted a", "restarted b"]
    assert [t["state"] for t in status(run_tendctl, d)["tasks"]] == \
        ["listening", "listening"]
    assert fetch(ports[1]) == b"a\n"
    assert fetch(ports[0]) == b"b\n"
    assert not d.messages("err"), d.tail()
    assert d.terminate() == 0


def test_policy_change_updates_in_place(start_tendd, run_tendctl,
                                        write_manifest, tmp_path):
    """Policy keys only: updated, same pid, restarts kept, and the new
    policy applies: the new backoff_max at the next restart (2 * 1s would be
    2.0s; the new max is 1.5s), the new stop_signal at the next stop."""
    crash = ("sh -c 'while [ ! -e go ]; do sleep 0.02; done; "
             "rm go; exit 1'")
    steady = ("sh -c 'trap \"exit 7\" USR1; touch steady.up; "
              "while :; do sleep 0.02; done'")
    before = ini(f"""
        [task:steady]
        class        = durable
        directory    = {tmp_path}
        command      = {steady}
        stop_timeout = 20s

        [task:crash]
        class         = durable
        directory     = {tmp_path}
        command       = {crash}
        backoff_min   = 1s
        backoff_max   = 60s
        healthy_after = 1h
        """)
    path = write_manifest(before)
    d = start_tendd(path)
    s = wait_state(run_tendctl, d, "steady", "running")
    first = wait_state(run_tendctl, d, "crash", "running")
    wait_for(lambda: (tmp_path / "steady.up").exists(), details=d.tail)
    (tmp_path / "go").touch()
    exits = (r"^task crash \(pid \d+\): exit status 1 after \S+; "
             r"restart (\d) in (\S+)$")
    assert d.wait_log(exits, level="err")[0].groups() == ("1", "1.0s")
    c = wait_state(run_tendctl, d, "crash", "running", restarts=1)
    assert c["pid"] != first["pid"]
    write_manifest(before.replace("stop_timeout = 20s",
                                  "stop_timeout = 20s\nstop_signal  = USR1")
                   .replace("backoff_max   = 60s", "backoff_max   = 1.5s"))
    assert reload(run_tendctl, d) == ["updated steady", "updated crash"]
    now = tasks(run_tendctl, d)
    assert (now["steady"]["pid"], now["steady"]["state"]) == (
        s["pid"], "running")
    assert (now["crash"]["pid"], now["crash"]["restarts"]) == (c["pid"], 1)
    assert ProcRef(s["pid"]).alive() and ProcRef(c["pid"]).alive()
    (tmp_path / "go").touch()
    found = d.wait_log(exits, count=2, level="err")
    assert found[1].groups() == ("2", "1.5s"), d.tail()
    t = task_of(run_tendctl, d, "crash")
    if t["state"] == "backoff":
        assert 0 <= t["next_start_in_s"] <= 1.5, t
    wait_state(run_tendctl, d, "crash", "running", restarts=2)
    # Stopped with SIGUSR1, which the task traps: exit status 7, where the
    # old SIGTERM would have killed it.
    r = ctl(run_tendctl, d, "stop", "steady")
    assert r.returncode == 0, r
    d.wait_log(rf"^task steady \(pid {s['pid']}\): stopped, exit status 7 ",
               level="info")
    assert reload_lines(d) == ["updated steady", "updated crash"]
    assert d.terminate() == 0


def test_max_instances_applies_at_once(start_tendd, run_tendctl,
                                       write_manifest, tmp_path):
    """Raising max_instances lets the connections waiting in the backlog in
    at once, up to the new cap; the instances running are not disturbed."""
    port = free_port()
    before = f"""
        [task:web]
        class         = per-request
        directory     = {tmp_path}
        command       = sh -c 'while [ ! -e release ]; do sleep 0.02; done;
            echo served'
        listen        = tcp:127.0.0.1:{port}
        max_instances = 1
        """
    path = write_manifest(before)
    d = start_tendd(path)
    wait_state(run_tendctl, d, "web", "listening")
    clients = [connect(port) for _ in range(4)]
    try:
        wait_state(run_tendctl, d, "web", "listening", active=1)
        time.sleep(NEVER)  # the cap holds: no second instance
        t = task_of(run_tendctl, d, "web")
        assert (t["active"], t["requests"]) == (1, 1), t
        write_manifest(before.replace("max_instances = 1",
                                      "max_instances = 3"))
        assert reload(run_tendctl, d) == ["updated web"]
        wait_state(run_tendctl, d, "web", "listening", active=3)
        time.sleep(NEVER)  # the new cap holds: the 4th waits
        t = task_of(run_tendctl, d, "web")
        assert (t["active"], t["requests"]) == (3, 3), t
        (tmp_path / "release").touch()
        replies = [read_to_eof(s) for s in clients]
    finally:
        for s in clients:
            s.close()
    assert replies == [b"served\n"] * 4
    t = wait_state(run_tendctl, d, "web", "listening", active=0)
    assert (t["requests"], t["failures"]) == (4, 0), t
    assert d.terminate() == 0


# Nothing changes.

def test_invalid_manifest_changes_nothing(start_tendd, run_tendctl,
                                          write_manifest):
    """Every problem as ABSPATH:LINE: message on stderr, exit 1,
    each logged at err with a summary; same tasks, same pids. A manifest
    that cannot be read changes nothing either."""
    path = write_manifest(sleeper("a", 1001) + sleeper("b", 1002))
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    b = wait_state(run_tendctl, d, "b", "running")
    manifest = status(run_tendctl, d)["daemon"]["manifest"]
    assert manifest == os.path.realpath(path)
    # Line 3 changes a's command, b is gone, c is added with two problems.
    write_manifest("""
        [task:a]
        class   = durable
        command = sleep 2001

        [task:c]
        class   = durable
        command = sleep 1003
        bogus   = 1
        stop_timeout = soon
        """)
    r = ctl(run_tendctl, d, "reload")
    assert (r.returncode, r.stdout) == (1, ""), r
    problems = r.stderr.split("\n")[:-1]
    assert len(problems) == 2, r
    # tendctl(1): "FILE:LINE: message", as tendd --check prints it.
    m1 = re.fullmatch(r"(.*):(\d+): (.*)", problems[0])
    m2 = re.fullmatch(r"(.*):(\d+): (.*)", problems[1])
    assert m1 and m2, problems
    assert (m1[1], m1[2]) == (manifest, "8"), problems
    assert "bogus" in m1[3], problems
    assert (m2[1], m2[2]) == (manifest, "9"), problems
    assert "stop_timeout" in m2[3], problems
    errs = d.wait_log(r"^reload: \d+ problems?: nothing changed$",
                      level="err")
    assert errs[0][0] == "reload: 2 problems: nothing changed"
    logged = [m for m in d.messages("err") if m.startswith("reload: /")]
    assert logged == [f"reload: {manifest}:8: {m1[3]}",
                      f"reload: {manifest}:9: {m2[3]}"], d.tail()
    now = tasks(run_tendctl, d)
    assert list(now) == ["a", "b"]
    assert (now["a"]["pid"], now["b"]["pid"]) == (a["pid"], b["pid"])
    assert cmdline(a["pid"]) == ["sleep", "1001"]
    assert ProcRef(a["pid"]).alive() and ProcRef(b["pid"]).alive()
    path.unlink()
    r = ctl(run_tendctl, d, "reload")
    assert (r.returncode, r.stdout) == (1, ""), r
    assert r.stderr.startswith(f"{manifest}: cannot open"), r
    d.wait_log(r"^reload: 1 problem: nothing changed$", level="err")
    now = tasks(run_tendctl, d)
    assert list(now) == ["a", "b"]
    assert (now["a"]["pid"], now["b"]["pid"]) == (a["pid"], b["pid"])
    assert reload_lines(d) == []
    assert d.terminate() == 0


def test_dry_run_changes_nothing(start_tendd, run_tendctl, write_manifest):
    """--dry-run prints the lines the reload would print, logs them as a dry
    run, and changes nothing; the real reload then prints the same."""
    path = write_manifest(sleeper("a", 1001) + sleeper("b", 1002) + ini("""
        [task:c]
        class        = durable
        command      = sleep 1003
        stop_timeout = 5s
        """))
    d = start_tendd(path)
    before = {n: wait_state(run_tendctl, d, n, "running") for n in "abc"}
    write_manifest(sleeper("b", 2002) + ini("""
        [task:c]
        class        = durable
        command      = sleep 1003
        stop_timeout = 6s
        """) + sleeper("d", 1004))
    want = ["restarted b", "updated c", "added d", "removed a"]
    assert reload(run_tendctl, d, "--dry-run") == want
    now = tasks(run_tendctl, d)
    assert list(now) == ["a", "b", "c"]
    for n in "abc":
        assert now[n]["state"] == "running", now[n]
        assert now[n]["pid"] == before[n]["pid"], now[n]
        assert ProcRef(before[n]["pid"]).alive()
    assert cmdline(before["b"]["pid"]) == ["sleep", "1002"]
    d.wait_log(r"^reload \(dry run\): removed a$", level="info")
    assert reload_lines(d, dry_run=True) == want
    assert reload_lines(d) == []
    # Twice: a dry run leaves nothing behind that a second one would see.
    assert reload(run_tendctl, d, "--dry-run") == want
    assert reload(run_tendctl, d) == want
    now = tasks(run_tendctl, d)
    assert list(now) == ["b", "c", "d"]
    assert gone(before["a"]["pid"])
    assert now["c"]["pid"] == before["c"]["pid"]
    assert now["b"]["pid"] != before["b"]["pid"]
    assert reload_lines(d) == want
    assert d.terminate() == 0


def test_no_change(start_tendd, run_tendctl, write_manifest):
    """The same manifest, rewritten as is, then with other comments, blanks
    and key order: no change, every pid kept."""
    text = sleeper("a", 1001) + ini("""
        [task:b]
        class       = durable
        command     = sleep 1002
        backoff_min = 2s
        """)
    path = write_manifest(text)
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    b = wait_state(run_tendctl, d, "b", "running")
    write_manifest(text)
    assert reload(run_tendctl, d) == ["no change"]
    write_manifest("""
        ; the same tasks, written differently
        [task:a]
        command=sleep 1001
        class=durable
        # b
        [task:b]
        backoff_min = 2000ms
        class = durable
        command = sleep   1002
        """)
    assert reload(run_tendctl, d) == ["no change"]
    assert reload(run_tendctl, d, "--dry-run") == ["no change"]
    now = tasks(run_tendctl, d)
    assert list(now) == ["a", "b"]
    assert (now["a"]["pid"], now["b"]["pid"]) == (a["pid"], b["pid"])
    assert reload_lines(d) == ["no change", "no change"]
    assert d.terminate() == 0


# Reload in the middle of things.

def test_reload_during_backoff(start_tendd, run_tendctl, write_manifest):
    """A task in backoff stays there, its restarts and its armed delay kept,
    whether unchanged or updated; one whose command changed is started at
    once, its restart count kept; a running unchanged task keeps its pid."""
    before = sleeper("steady", 1001) + ini("""
        [task:crash]
        class       = durable
        command     = sh -c 'exit 1'
        backoff_min = 30s
        backoff_max = 60s

        [task:crash2]
        class       = durable
        command     = sh -c 'exit 2'
        backoff_min = 30s
        backoff_max = 60s

        [task:crash3]
        class       = durable
        command     = sh -c 'exit 3'
        backoff_min = 30s
        backoff_max = 60s
        """)
    path = write_manifest(before)
    d = start_tendd(path)
    steady = wait_state(run_tendctl, d, "steady", "running")
    for name in ("crash", "crash2", "crash3"):
        wait_state(run_tendctl, d, name, "backoff", restarts=1)
    was = tasks(run_tendctl, d)
    assert 0 < was["crash"]["next_start_in_s"] <= 30, was["crash"]
    assert 0 < was["crash2"]["next_start_in_s"] <= 30, was["crash2"]
    after = (before.replace("backoff_max = 60s\n\n[task:crash3]",
                            "backoff_max = 45s\n\n[task:crash3]")
             .replace("sh -c 'exit 3'", "sleep 1003"))
    assert after.count("45s") == 1
    write_manifest(after + "\n[task:extra]\nclass = durable\n"
                   "command = sleep 1002\n")
    assert reload(run_tendctl, d) == ["updated crash2", "restarted crash3",
                                      "added extra"]
    c3 = task_of(run_tendctl, d, "crash3")
    assert (c3["state"], c3["restarts"]) == ("running", 1), c3
    assert c3["last_exit"] == {"code": 3}, c3
    wait_cmdline(c3["pid"], ["sleep", "1003"], d)
    wait_state(run_tendctl, d, "extra", "running")
    time.sleep(NEVER)  # not restarted early
    now = tasks(run_tendctl, d)
    assert now["steady"]["pid"] == steady["pid"]
    assert now["crash3"]["pid"] == c3["pid"]
    for name in ("crash", "crash2"):
        t = now[name]
        assert (t["state"], t["pid"], t["restarts"]) == ("backoff", None, 1), t
        # The armed delay runs on: not re-armed to 30s by the reload.
        assert 0 < t["next_start_in_s"] < was[name]["next_start_in_s"], (
            t, was[name])
    assert len(d.find(r"^task crash\d? \(pid \d+\): exit status", "err")) == 3
    assert d.terminate() == 0


def test_reload_while_stopping(start_tendd, run_tendctl, write_manifest,
                               tendctl_bin, tend_env, tmp_path):
    """A reload while tasks are stopping (tendctl stop under way) answers at
    once: an unchanged one keeps its process, one whose command changed is
    updated, not restarted. The stop then completes, both end stopped and
    stay down, and a start runs the new command."""
    slow = ("sh -c 'trap \"touch $0.term\" TERM; touch $0.up; "
            "while [ ! -e release ]; do sleep 0.02; done' {}")
    text = ini(f"""
        [task:slow]
        class        = durable
        directory    = {tmp_path}
        command      = {slow.format("slow")}
        stop_timeout = 30s

        [task:slow2]
        class        = durable
        directory    = {tmp_path}
        command      = {slow.format("slow2")}
        stop_timeout = 30s
        """) + sleeper("steady", 1001)
    path = write_manifest(text)
    d = start_tendd(path)
    old = {n: wait_state(run_tendctl, d, n, "running")
           for n in ("slow", "slow2", "steady")}
    for n in ("slow", "slow2"):
        wait_for(lambda: (tmp_path / f"{n}.up").exists(), details=d.tail)
    stop = ctl_popen(tendctl_bin, tend_env, d, "stop", "slow", "slow2")
    try:
        for n in ("slow", "slow2"):
            wait_for(lambda: (tmp_path / f"{n}.term").exists(),
                     details=d.tail)
            wait_state(run_tendctl, d, n, "stopping")
        write_manifest(text.replace("' slow2", "' slow3")
                       + "\n[task:extra]\nclass = durable\n"
                       "command = sleep 1002\n")
        assert reload(run_tendctl, d) == ["updated slow2", "added extra"]
        assert stop.poll() is None  # the stop is still under way
        now = tasks(run_tendctl, d)
        for n in ("slow", "slow2"):
            assert (now[n]["state"], now[n]["pid"]) == (
                "stopping", old[n]["pid"]), now[n]
        (tmp_path / "release").touch()
        rc, out, err = finish(stop, timeout=WAIT)
    finally:
        if stop.poll() is None:
            stop.kill()
            stop.communicate()
    assert (rc, err) == (0, ""), (out, err)
    for n in ("slow", "slow2"):
        assert gone(old[n]["pid"])
        t = task_of(run_tendctl, d, n)
        assert (t["state"], t["pid"]) == ("stopped", None), t
    time.sleep(NEVER)  # and they stay down
    now = tasks(run_tendctl, d)
    for n in ("slow", "slow2"):
        assert (now[n]["state"], now[n]["pid"]) == ("stopped", None), now[n]
    assert now["steady"]["pid"] == old["steady"]["pid"]
    assert now["extra"]["state"] == "running"
    (tmp_path / "release").unlink()
    r = ctl(run_tendctl, d, "start", "slow2")
    assert r.returncode == 0, r
    t = wait_state(run_tendctl, d, "slow2", "running")
    wait_cmdline(t["pid"], ["sh", "-c", slow.split("'")[1], "slow3"], d)
    (tmp_path / "release").touch()  # let it stop at once at the end
    assert d.terminate() == 0


def test_stopped_task_takes_new_command_and_stays_stopped(
        start_tendd, run_tendctl, write_manifest):
    """A task stopped by the user whose command changed is updated, not
    started; tendctl start then runs the new command."""
    path = write_manifest(sleeper("x", 1001) + sleeper("a", 1002))
    d = start_tendd(path)
    x = wait_state(run_tendctl, d, "x", "running")
    a = wait_state(run_tendctl, d, "a", "running")
    r = ctl(run_tendctl, d, "stop", "x")
    assert r.returncode == 0, r
    assert gone(x["pid"])
    write_manifest(sleeper("x", 2001) + sleeper("a", 1002))
    assert reload(run_tendctl, d) == ["updated x"]
    time.sleep(NEVER)  # not started by the reload
    now = tasks(run_tendctl, d)
    assert (now["x"]["state"], now["x"]["pid"]) == ("stopped", None), now
    assert now["a"]["pid"] == a["pid"]
    r = ctl(run_tendctl, d, "start", "x")
    assert r.returncode == 0, r
    t = wait_state(run_tendctl, d, "x", "running")
    wait_cmdline(t["pid"], ["sleep", "2001"], d)
    assert d.terminate() == 0


def test_sighup_reloads(start_tendd, run_tendctl, write_manifest):
    path = write_manifest(sleeper("a", 1001))
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    write_manifest(sleeper("a", 1001) + sleeper("x", 1002))
    d.signal(signal.SIGHUP)
    d.wait_log(r"^SIGHUP received", level="info")
    d.wait_log(r"^reload: added x$", level="info")
    x = wait_state(run_tendctl, d, "x", "running")
    wait_cmdline(x["pid"], ["sleep", "1002"], d)
    assert task_of(run_tendctl, d, "a")["pid"] == a["pid"]
    # An invalid manifest: logged, nothing changes.
    write_manifest(sleeper("a", 1001) + ini("""
        nonsense
        """))
    d.signal(signal.SIGHUP)
    d.wait_log(r"^reload: 1 problem: nothing changed$", level="err")
    assert d.find(r"^reload: /.*:4: ", "err"), d.tail()
    now = tasks(run_tendctl, d)
    assert list(now) == ["a", "x"]
    assert (now["a"]["pid"], now["x"]["pid"]) == (a["pid"], x["pid"])
    assert d.terminate() == 0


def test_reload_refused_during_shutdown(start_tendd, run_tendctl,
                                        write_manifest, tmp_path):
    text = ini(f"""
        [task:slow]
        class        = durable
        directory    = {tmp_path}
        command      = {SLOW_STOP}
        stop_timeout = 30s
        """)
    path = write_manifest(text)
    d = start_tendd(path)
    slow = wait_state(run_tendctl, d, "slow", "running")
    wait_for(lambda: (tmp_path / "ready").exists(), details=d.tail)
    d.signal(signal.SIGTERM)
    wait_for(lambda: (tmp_path / "got-term").exists(), details=d.tail)
    write_manifest(text + "\n[task:x]\nclass = durable\ncommand = sleep 1\n")
    r = ctl(run_tendctl, d, "reload")
    assert (r.returncode, r.stdout) == (1, ""), r
    assert "shutting down" in r.stderr, r
    d.signal(signal.SIGHUP)  # ignored as well
    t = task_of(run_tendctl, d, "slow")
    assert (t["state"], t["pid"]) == ("stopping", slow["pid"]), t
    assert names(run_tendctl, d) == ["slow"]
    (tmp_path / "release").touch()
    assert d.wait() == 0
    assert reload_lines(d) == []
    assert not d.find(r"^reload", "err")


# Per-request listeners.

def test_listener_stays_open_through_reloads(start_tendd, run_tendctl,
                                             write_manifest):
    """Clients connecting every 5 ms to a listener whose listen is
    unchanged are never refused and always served, through reloads that
    change its command and add other tasks; the new command serves soon.
    Several clients at once, so that connections also wait in the backlog
    while tendd reloads."""
    port = free_port()

    def manifest(version):
        extra = "".join(
            f"\n[task:extra{i}]\nclass = durable\ncommand = sleep 10{i:02}\n"
            for i in range(1, version + 1))
        return ini(f"""
            [task:web]
            class   = per-request
            command = /bin/echo v{version}
            listen  = tcp:127.0.0.1:{port}
            """) + extra

    path = write_manifest(manifest(0))
    d = start_tendd(path)
    wait_state(run_tendctl, d, "web", "listening")
    assert fetch(port) == b"v0\n"
    replies = [[] for _ in range(CLIENTS)]  # of each client, in order
    refused, errors = [], []
    stop = threading.Event()

    def client(mine):
        while not stop.is_set():
            try:
                mine.append(fetch(port))
            except ConnectionRefusedError as e:
                refused.append(e)
            except OSError as e:
                errors.append(e)
            time.sleep(0.005)

    def details():
        return (f"{[r[-3:] for r in replies]} {refused[:3]} {errors[:3]}\n"
                + d.tail())

    def served():
        return sum(map(len, replies))

    def replies_since(n, count):
        wait_for(lambda: served() >= n + count, what=f"{count} more replies",
                 details=details)

    threads = [threading.Thread(target=client, args=(mine,), daemon=True)
               for mine in replies]
    for thread in threads:
        thread.start()
    try:
        for v in range(1, RELOADS + 1):
            replies_since(served(), 10)  # the clients are at it
            marks = [len(mine) for mine in replies]
            write_manifest(manifest(v))
            assert reload(run_tendctl, d) == ["restarted web",
                                              f"added extra{v}"]
            # Served by the new command soon: every client sees it.
            wait_for(lambda: all(f"v{v}\n".encode() in mine[n:]
                                 for mine, n in zip(replies, marks)),
                     what=f"a reply v{v} to every client", details=details)
        replies_since(served(), 10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(CLIENT_TIMEOUT + 5)
    assert not any(thread.is_alive() for thread in threads)
    assert refused == [] and errors == [], (len(refused), errors[:3])
    versions = [f"v{v}\n".encode() for v in range(RELOADS + 1)]
    for mine in replies:
        bad = [r for r in mine if r not in versions]
        assert bad == [], bad[:5]
        # In order: no reply of an older command after one of a newer one.
        order = [versions.index(r) for r in mine]
        assert order == sorted(order), order
    t = wait_state(run_tendctl, d, "web", "listening", active=0)
    assert t["failures"] == 0, t
    assert t["requests"] == served() + 1, t
    assert d.terminate() == 0


def test_backlog_survives_a_reload(start_tendd, run_tendctl, write_manifest,
                                   tmp_path):
    """Connections waiting in the backlog at max_instances when a reload
    changes the command are kept: each is served, the running instance by
    the old command, the waiting ones by the new."""
    port = free_port()
    text = ini(f"""
        [task:web]
        class         = per-request
        directory     = {tmp_path}
        command       = {WAIT_RELEASE} echo old'
        listen        = tcp:127.0.0.1:{port}
        max_instances = 1
        """)
    path = write_manifest(text)
    d = start_tendd(path)
    wait_state(run_tendctl, d, "web", "listening")
    clients = [connect(port) for _ in range(3)]
    try:
        wait_state(run_tendctl, d, "web", "listening", active=1)
        write_manifest(text.replace("echo old", "echo new"))
        assert reload(run_tendctl, d) == ["restarted web"]
        t = task_of(run_tendctl, d, "web")
        assert (t["state"], t["active"], t["requests"]) == (
            "listening", 1, 1), t
        (tmp_path / "release").touch()
        replies = [read_to_eof(s) for s in clients]
    finally:
        for s in clients:
            s.close()
    assert replies == [b"old\n", b"new\n", b"new\n"]
    t = wait_state(run_tendctl, d, "web", "listening", active=0)
    assert (t["requests"], t["failures"]) == (3, 0), t
    assert d.terminate() == 0


def test_listen_change_moves_the_socket(start_tendd, run_tendctl,
                                        write_manifest):
    """A new listen closes the old socket and opens the new one."""
    old_port, new_port = free_port(), free_port()
    while new_port == old_port:
        new_port = free_port()
    text = f"""
        [task:web]
        class   = per-request
        command = /bin/echo hello
        listen  = tcp:127.0.0.1:{old_port}
        """
    path = write_manifest(text)
    d = start_tendd(path)
    wait_state(run_tendctl, d, "web", "listening")
    assert fetch(old_port) == b"hello\n"
    write_manifest(text.replace(f":{old_port}", f":{new_port}"))
    assert reload(run_tendctl, d) == ["restarted web"]
    with pytest.raises(ConnectionRefusedError):
        fetch(old_port)
    wait_state(run_tendctl, d, "web", "listening")
    assert fetch(new_port) == b"hello\n"
    assert d.terminate() == 0


# [tend].

def test_socket_mode_change(start_tendd, run_tendctl, write_manifest):
    """socket_mode is applied to the control socket given with -s; the
    client that asked for the reload gets its answer."""
    text = sleeper("a", 1001)
    path = write_manifest(text)
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    sock = sock_of(d)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    write_manifest("[tend]\nsocket_mode = 0660\n" + text)
    assert reload(run_tendctl, d) == [
        f"updated [tend] control socket {sock}, mode 0660"]
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    assert reload(run_tendctl, d) == ["no change"]
    assert task_of(run_tendctl, d, "a")["pid"] == a["pid"]
    write_manifest(text)
    assert reload(run_tendctl, d) == [
        f"updated [tend] control socket {sock}, mode 0600"]
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert d.terminate() == 0

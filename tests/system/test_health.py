"""Health checks (issue 14, points 4, 6 and 7; SPEC sections 6 and 8):
once ready, a task with `health` is probed every `health_interval`; after
`health_retries` failures in a row it is restarted as a failed run, logged
at LOG_ERR with the last probe's result; `health` is `failing` from the
first failure until a success; a hung probe is killed at `health_timeout`;
a task's probes never overlap.

Every wait is bounded polling (conftest.wait_for), generous enough for
tendd under valgrind.
"""

import re

from conftest import (WAIT, ProcRef, all_pids, ctl, free_port, gone, status,
                      task_of, wait_for, wait_state, zombies_of)
from test_ready import PYTHON, lines

# server.py PORT: serves PORT (accepts and closes) while ./down.PID (its own
# pid) is absent; closes its listener while it is there.
SERVER = r"""
import os, select, socket, sys

port = int(sys.argv[1])
down = f"down.{os.getpid()}"
listener = None
while True:
    if os.path.exists(down) and listener:
        listener.close()
        listener = None
    elif not os.path.exists(down) and not listener:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
    if listener and select.select([listener], [], [], 0.02)[0]:
        listener.accept()[0].close()
    elif not listener:
        select.select([], [], [], 0.02)
"""


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return None


def running(argv):
    """The live processes running argv."""
    return [ProcRef(p) for p in all_pids() if cmdline(p) == argv
            and ProcRef(p).alive()]


def test_tcp_health_fails_then_restarts(start_tendd, run_tendctl, tmp_path):
    """A server that stops serving: `failing` from the first failed probe,
    `ok` again after a success (no restart: the count starts over); after
    health_retries (3) failures in a row it is restarted (new pid, a failed
    run), logged at LOG_ERR with the connect error (ECONNREFUSED); health_failures counts
    every failed probe, in status and in the metrics."""
    port = free_port()
    (tmp_path / "server.py").write_text(SERVER)
    d = start_tendd(f"""
        [task:web]
        class           = durable
        directory       = {tmp_path}
        command         = {PYTHON} server.py {port}
        ready           = tcp:127.0.0.1:{port}
        health          = tcp:127.0.0.1:{port}
        health_interval = 1s
        health_timeout  = 2s
        health_retries  = 3
        backoff_min     = 100ms
        """)
    t = wait_state(run_tendctl, d, "web", "running", ready=True)
    assert t["health_failures"] == 0, t
    t = wait_state(run_tendctl, d, "web", "running", health="ok")
    pid = t["pid"]
    down = tmp_path / f"down.{pid}"
    # One failure, then a success: failing, then ok, same process.
    down.touch()
    t = wait_for(lambda: (lambda t: t if t["health_failures"] >= 1 else None)(
        task_of(run_tendctl, d, "web")), what="a failed probe",
        details=d.tail)
    assert (t["health"], t["pid"], t["restarts"]) == ("failing", pid, 0), t
    down.unlink()
    t = wait_state(run_tendctl, d, "web", "running", health="ok")
    assert (t["pid"], t["restarts"]) == (pid, 0), t
    before = t["health_failures"]
    assert before in (1, 2), t
    # Three in a row: restarted.
    down.touch()
    d.wait_log(r"\bweb\b.*connect.*: Connection refused", level="err",
               timeout=WAIT * 2)
    wait_for(lambda: gone(pid), what="the unhealthy process to be reaped",
             details=d.tail)
    t = wait_state(run_tendctl, d, "web", "running", health="ok",
                   restarts=1)
    assert t["pid"] != pid, t
    assert t["health_failures"] == before + 3, t
    r = ctl(run_tendctl, d, "metrics")
    assert r.returncode == 0, r
    assert re.search(r'^tend_task_health_failures_total\{[^}]*task="web"[^}]*'
                     rf'\}} {before + 3}$', r.stdout, re.M), r.stdout
    assert re.search(r'^tend_task_ready\{[^}]*task="web"[^}]*\} 1$',
                     r.stdout, re.M), r.stdout
    assert zombies_of(d.pid) == []
    assert d.terminate() == 0


def test_exec_health_logs_the_exit_status(start_tendd, run_tendctl, tmp_path):
    """health = exec:COMMAND, run in the task's directory: when it exits 3
    health_retries (2) times in a row the task is restarted, and the log
    line says `exit status 3`."""
    (tmp_path / "healthy").touch()
    d = start_tendd(f"""
        [task:app]
        class           = durable
        directory       = {tmp_path}
        command         = sleep 1020
        health          = exec:sh -c 'test -e healthy || exit 3'
        health_interval = 200ms
        health_retries  = 2
        backoff_min     = 1s
        """)
    t = wait_state(run_tendctl, d, "app", "running", health="ok")
    (tmp_path / "healthy").unlink()
    d.wait_log(r"\bapp\b.*exit status 3", level="err")
    (tmp_path / "healthy").touch()
    t2 = wait_state(run_tendctl, d, "app", "running", health="ok",
                    restarts=1)
    assert t2["pid"] != t["pid"] and t2["health_failures"] == 2, t2
    assert gone(t["pid"])
    assert zombies_of(d.pid) == []
    assert d.terminate() == 0


def test_hung_probe_is_killed_and_fails(start_tendd, run_tendctl, tmp_path):
    """A probe that hangs (sleep 100.5) is killed at health_timeout and
    counts as failed; none is left in /proc, nor a zombie; after
    health_retries the task is restarted, `timed out` in the log."""
    probe = ["sleep", "100.5"]
    d = start_tendd(f"""
        [task:app]
        class           = durable
        directory       = {tmp_path}
        command         = sleep 1021
        health          = exec:sleep 100.5
        health_interval = 200ms
        health_timeout  = 500ms
        health_retries  = 3
        backoff_min     = 1m
        """)
    wait_state(run_tendctl, d, "app", "running")
    first = wait_for(lambda: running(probe), what="a probe to run",
                     details=d.tail)
    assert len(first) == 1, first
    t = wait_for(lambda: (lambda t: t if t["health_failures"] >= 1 else None)(
        task_of(run_tendctl, d, "app")), what="a failed probe",
        details=d.tail)
    assert t["health"] == "failing", t
    wait_for(lambda: not first[0].alive(), what="the hung probe killed",
             details=d.tail)
    d.wait_log(r"\bapp\b.*timed out", level="err")
    t = wait_state(run_tendctl, d, "app", "backoff", restarts=1)
    assert t["health_failures"] == 3, t
    wait_for(lambda: not running(probe), what="no probe left",
             details=d.tail)
    assert zombies_of(d.pid) == []
    assert d.terminate() == 0
    assert not running(probe)


def test_probes_of_a_task_never_overlap(start_tendd, run_tendctl, tmp_path):
    """An exec probe that runs 0.5s, every 100ms: each starts only once the
    one before has ended (start, end, start, end ... in ./probes)."""
    d = start_tendd(f"""
        [task:app]
        class           = durable
        directory       = {tmp_path}
        command         = sleep 1022
        health          = exec:sh -c 'echo start >> probes; sleep 0.5; echo end >> probes'
        health_interval = 100ms
        health_timeout  = 5s
        """)
    wait_state(run_tendctl, d, "app", "running")
    wait_for(lambda: len(lines(tmp_path / "probes")) >= 8,
             what="4 probes", details=d.tail)
    found = lines(tmp_path / "probes")
    assert found[:8] == ["start", "end"] * 4, found
    t = task_of(run_tendctl, d, "app")
    assert (t["health"], t["health_failures"], t["restarts"]) == (
        "ok", 0, 0), t
    assert zombies_of(d.pid) == []
    assert d.terminate() == 0


def test_health_is_null_without_a_check(start_tendd, run_tendctl):
    """No `health`: health is null, health_failures 0."""
    d = start_tendd("""
        [task:plain]
        class   = durable
        command = sleep 1023
        """)
    t = wait_state(run_tendctl, d, "plain", "running", ready=True)
    assert (t["health"], t["health_failures"]) == (None, 0), t
    assert status(run_tendctl, d)["tasks"][0]["waiting_for"] == []
    assert d.terminate() == 0

"""Readiness (issue 14, points 1, 2 and 5; SPEC sections 2, 6 and 8):
`ready = notify` over tendd's notify socket, with the tests' own sd_notify
client (build/tests/sdnotify) and Debian's systemd-notify; the probes
`tcp:`, `unix:` and `exec:`; `ready_timeout`; `tendctl start` and
`restart` that return once the task is ready; tendd's own READY=1.

A sender's pid must still name it when tendd reads its datagram
(SCM_CREDENTIALS names a pid, and tendd looks up its process group):
sdnotify and systemd-notify wait until tendd has read theirs (BARRIER=1,
sd_notify_barrier(3)); a daemon's own main process is there anyway.
Where the sender must live on (its stop, SIGHUP), the task is notifyd
(below), a small daemon that speaks the protocol itself.

Every wait is bounded polling (conftest.wait_for), generous enough for
tendd under valgrind.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import (REPO, WAIT, ProcRef, ctl, free_port, gone, proc_stat,
                      status, task_of, wait_for, wait_state, zombies_of)

SDNOTIFY = REPO / "build" / "tests" / "sdnotify"
PYTHON = "/usr/bin/python3"  # not a shim of the caller's PATH

# notifyd NAME [GATE [STATUS [STOP_DELAY]]]: appends NAME to ./started, waits
# for the file GATE, sends READY=1 (and STATUS=STATUS) from its own pid, and
# lives on ("-": no GATE, no STATUS). SIGHUP appends its pid to ./hups;
# SIGTERM waits STOP_DELAY seconds, appends NAME to ./stopped and exits 0.
NOTIFYD = r"""
import os, signal, socket, sys, time

name = sys.argv[1]
gate = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
text = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
stop_delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0


def note(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def term(signo, frame):
    time.sleep(stop_delay)
    note("stopped", name)
    os._exit(0)


signal.signal(signal.SIGTERM, term)
signal.signal(signal.SIGHUP, lambda signo, frame: note("hups", str(os.getpid())))
note("started", name)
while gate and not os.path.exists(gate):
    time.sleep(0.02)
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
msg = "READY=1" + (f"\nSTATUS={text}" if text else "")
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(msg.encode(), addr)
while True:
    signal.pause()
"""


@pytest.fixture
def sdnotify():
    if not SDNOTIFY.exists():
        pytest.fail(f"{SDNOTIFY}: missing (make build/tests/sdnotify)")
    return str(SDNOTIFY)


@pytest.fixture
def notifyd(tmp_path):
    """The command that runs notifyd with the given arguments."""
    path = tmp_path / "notifyd.py"
    path.write_text(NOTIFYD)

    def _command(*args):
        return " ".join([PYTHON, str(path), *map(str, args)])
    return _command


def environ(pid):
    """The environment of a process, as a dict (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return dict(e.split("=", 1) for e in
                data.decode(errors="replace").split("\0") if "=" in e)


def address(name):
    """The sockaddr of a NOTIFY_SOCKET value: a path, or @abstract."""
    return "\0" + name[1:] if name.startswith("@") else name


def lines(path):
    """The lines of a file the tasks append to ([] when absent)."""
    try:
        return path.read_text().split("\n")[:-1]
    except FileNotFoundError:
        return []


def daemon_socket(sock_dir):
    """A datagram socket that plays systemd for tendd: (socket, name)."""
    name = str(sock_dir / "systemd")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(name)
    s.setblocking(False)
    return s, name


def received(s):
    """The datagrams waiting on a non-blocking socket."""
    found = []
    while True:
        try:
            found.append(s.recv(65536))
        except BlockingIOError:
            return found


# Point 1: ready = notify.

def test_notify_starting_until_ready(start_tendd, run_tendctl, tmp_path,
                                     sock_dir, sdnotify):
    """A notify task is `starting` (ready false) until it sends READY=1,
    then `running`, ready, with its STATUS= text. Its environment names
    tendd's notify socket, which is not tendd's own NOTIFY_SOCKET; a task
    without notify gets none."""
    systemd, own = daemon_socket(sock_dir)
    d = start_tendd(f"""
        [task:db]
        class     = durable
        directory = {tmp_path}
        command   = sh -c 'while [ ! -e go ]; do sleep 0.02; done; {sdnotify} READY=1 STATUS=serving; exec sleep 1000'
        ready     = notify

        [task:plain]
        class   = durable
        command = sleep 1001
        """, env={"NOTIFY_SOCKET": own})
    t = wait_state(run_tendctl, d, "db", "starting")
    assert t["pid"] and t["ready"] is False and t["status_text"] is None, t
    env = wait_for(lambda: (lambda e: e if e and "NOTIFY_SOCKET" in e
                            else None)(environ(t["pid"])),
                   what="the task's environment", details=d.tail)
    name = env["NOTIFY_SOCKET"]
    assert name.startswith(("@", "/")) and name != own, name
    p = wait_state(run_tendctl, d, "plain", "running")
    assert p["ready"] is True, p
    env = environ(p["pid"])
    assert env is not None and "NOTIFY_SOCKET" not in env, env
    (tmp_path / "go").touch()
    t2 = wait_state(run_tendctl, d, "db", "running", ready=True)
    assert t2["pid"] == t["pid"] and t2["status_text"] == "serving", t2
    assert t2["restarts"] == 0, t2
    assert d.terminate() == 0
    systemd.close()


def test_foreign_notify_is_dropped_and_counted(start_tendd, run_tendctl,
                                               tmp_path, sdnotify):
    """READY=1 from processes outside the task's process group (this test;
    sdnotify in a session of its own, with its BARRIER=1), and an oversized
    datagram, even from the task, are dropped and counted in
    notify_dropped: the task stays `starting`, until its own READY=1. The
    fd a foreign BARRIER=1 passes is closed, not kept (sdnotify exits 0),
    and that datagram is no drop (tendd(8))."""
    (tmp_path / "task.sh").write_text(f"""
        while [ ! -e go.big ]; do sleep 0.02; done
        {sdnotify} READY=1 STATUS=$(head -c 5000 /dev/zero | tr '\\0' x)
        while [ ! -e go ]; do sleep 0.02; done
        {sdnotify} READY=1
        exec sleep 1000
        """)
    d = start_tendd(f"""
        [task:db]
        class     = durable
        directory = {tmp_path}
        command   = sh task.sh
        ready     = notify
        """)
    t = wait_state(run_tendctl, d, "db", "starting")
    env = wait_for(lambda: (lambda e: e if e and "NOTIFY_SOCKET" in e
                            else None)(environ(t["pid"])),
                   what="the task's environment", details=d.tail)
    name = env["NOTIFY_SOCKET"]

    def dropped():
        return status(run_tendctl, d)["daemon"]["notify_dropped"]

    def still_starting():
        t = task_of(run_tendctl, d, "db")
        assert (t["state"], t["ready"], t["status_text"]) == (
            "starting", False, None), t

    assert dropped() == 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1\nSTATUS=forged", address(name))
        s.sendto(b"READY=1\n" + b"X" * 8000, address(name))
    wait_for(lambda: dropped() >= 2, what="2 datagrams dropped",
             details=d.tail)
    still_starting()
    other = subprocess.Popen(
        [sdnotify, "READY=1", "STATUS=forged"],
        env={**os.environ, "NOTIFY_SOCKET": name},
        stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert other.wait(WAIT) == 0
    finally:
        other.kill()
        other.wait()
    # Its READY=1; its BARRIER=1 is answered, whoever sends it (tendd(8)):
    # closing the fd tells nothing and trusts nothing.
    assert dropped() == 3
    still_starting()
    (tmp_path / "go.big").touch()
    wait_for(lambda: dropped() >= 4, what="the oversized datagram dropped",
             details=d.tail)
    still_starting()
    (tmp_path / "go").touch()
    t = wait_state(run_tendctl, d, "db", "running", ready=True)
    assert dropped() == 4
    assert d.terminate() == 0


def test_systemd_notify_makes_a_task_ready(start_tendd, run_tendctl):
    """A task that uses Debian's systemd-notify, as a Type=notify service
    does, becomes ready."""
    tool = shutil.which("systemd-notify")
    if tool is None:
        pytest.skip("no systemd-notify (Debian package systemd)")
    d = start_tendd(f"""
        [task:svc]
        class   = durable
        command = sh -c '{tool} --ready --status=up; exec sleep 1000'
        ready   = notify
        """)
    t = wait_state(run_tendctl, d, "svc", "running", ready=True)
    assert t["status_text"] == "up", t
    assert d.terminate() == 0


# Point 2: the probes.

SERVER = r"""
import os, socket, sys, time

kind, where = sys.argv[1], sys.argv[2]
while not os.path.exists("go"):
    time.sleep(0.02)
if kind == "tcp":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(where)))
else:
    s = socket.socket(socket.AF_UNIX)
    s.bind(where)
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
"""


@pytest.mark.parametrize("kind", ["tcp", "unix", "exec"])
def test_probe_makes_a_task_ready(start_tendd, run_tendctl, tmp_path,
                                  sock_dir, kind):
    """ready = tcp:, unix: (a server that listens once ./go exists) and
    exec: (a command run in the task's directory, true once ./go exists):
    `starting` until the probe succeeds, then `running` and ready, same
    pid."""
    server = tmp_path / "server.py"
    server.write_text(SERVER)
    if kind == "tcp":
        port = free_port()
        command, ready = f"{PYTHON} {server} tcp {port}", \
            f"tcp:127.0.0.1:{port}"
    elif kind == "unix":
        path = sock_dir / "app.sock"
        command, ready = f"{PYTHON} {server} unix {path}", f"unix:{path}"
    else:
        command, ready = "sleep 1000", "exec:test -e go"
    d = start_tendd(f"""
        [task:app]
        class         = durable
        directory     = {tmp_path}
        command       = {command}
        ready         = {ready}
        ready_timeout = 5m
        """)
    t = wait_state(run_tendctl, d, "app", "starting")
    assert t["ready"] is False, t
    (tmp_path / "go").touch()
    t2 = wait_state(run_tendctl, d, "app", "running", ready=True)
    assert (t2["pid"], t2["restarts"]) == (t["pid"], 0), t2
    assert d.terminate() == 0


def test_ready_timeout_stops_and_backs_off(start_tendd, run_tendctl,
                                           tmp_path):
    """A task not ready within ready_timeout is stopped (its process is
    gone), logged at LOG_ERR, and counts as a failed run: restarts 1, in
    backoff."""
    d = start_tendd(f"""
        [task:slow]
        class         = durable
        directory     = {tmp_path}
        command       = sleep 1002
        ready         = exec:test -e never
        ready_timeout = 1s
        backoff_min   = 1m
        """)
    t = wait_state(run_tendctl, d, "slow", "starting")
    first = ProcRef(t["pid"])
    d.wait_log(r"\bslow\b.*\bready", level="err")
    wait_for(lambda: gone(first.pid) or not first.alive(),
             what="the task's process to be stopped", details=d.tail)
    t = wait_state(run_tendctl, d, "slow", "backoff", restarts=1)
    assert t["pid"] is None and t["ready"] is False, t
    assert t["next_start_in_s"] is not None and t["next_start_in_s"] > 30, t
    assert zombies_of(d.pid) == []
    assert d.terminate() == 0


# Point 5: start and restart return once the task is ready.

def test_start_and_restart_return_once_ready(start_tendd, run_tendctl,
                                             tmp_path, notifyd):
    """`tendctl start` of a notify task that takes a second to be ready
    returns with the task running and ready; so does `restart`, with a new
    process, which `tendctl signal HUP` right after reaches."""
    d = start_tendd(f"""
        [task:web]
        class     = durable
        directory = {tmp_path}
        command   = sh -c 'sleep 1; exec {notifyd("web", "-", "up")}'
        ready     = notify
        autostart = no
        """)
    wait_state(run_tendctl, d, "web", "stopped")
    r = ctl(run_tendctl, d, "start", "web", timeout=WAIT)
    assert (r.returncode, r.stderr) == (0, ""), (r, d.tail())
    t = task_of(run_tendctl, d, "web")
    assert (t["state"], t["ready"], t["status_text"]) == (
        "running", True, "up"), t
    r = ctl(run_tendctl, d, "restart", "web", timeout=WAIT)
    assert (r.returncode, r.stderr) == (0, ""), (r, d.tail())
    t2 = task_of(run_tendctl, d, "web")
    assert (t2["state"], t2["ready"]) == ("running", True), t2
    assert t2["pid"] != t["pid"], (t, t2)
    r = ctl(run_tendctl, d, "signal", "HUP", "web")
    assert r.returncode == 0, r
    wait_for(lambda: lines(tmp_path / "hups") == [str(t2["pid"])],
             what="the new process to get SIGHUP",
             details=lambda: (lines(tmp_path / "hups"), d.tail()))
    assert ProcRef(t2["pid"]).alive()
    assert d.terminate() == 0


def test_start_fails_when_the_first_run_fails(start_tendd, run_tendctl,
                                              tmp_path):
    """`tendctl start` of a notify task whose run ends before READY=1
    exits 1 at once (not at ready_timeout), saying why."""
    d = start_tendd("""
        [task:web]
        class         = durable
        command       = sh -c 'exit 3'
        ready         = notify
        ready_timeout = 5m
        autostart     = no
        backoff_min   = 1m
        """)
    wait_state(run_tendctl, d, "web", "stopped")
    r = ctl(run_tendctl, d, "start", "web", timeout=WAIT)
    assert r.returncode == 1, (r, d.tail())
    assert "web" in r.stderr and "exit status 3" in r.stderr, r
    assert d.terminate() == 0


def test_start_fails_when_not_ready_in_time(start_tendd, run_tendctl):
    """`tendctl start` of a task not ready within ready_timeout exits 1,
    saying so; the task's process is gone."""
    d = start_tendd("""
        [task:web]
        class         = durable
        command       = sleep 1003
        ready         = notify
        ready_timeout = 1s
        autostart     = no
        backoff_min   = 1m
        """)
    wait_state(run_tendctl, d, "web", "stopped")
    r = ctl(run_tendctl, d, "start", "web", timeout=WAIT)
    assert r.returncode == 1, (r, d.tail())
    assert "web" in r.stderr and "ready" in r.stderr, r
    t = task_of(run_tendctl, d, "web")
    assert t["pid"] is None and t["ready"] is False, t
    assert not [p for p in d.children()
                if (proc_stat(p) or {}).get("comm") == "sleep"], d.tail()
    assert d.terminate() == 0


# SPEC section 2: tendd's own READY=1.

def test_tendd_ready_waits_for_the_tasks_readiness(start_tendd, run_tendctl,
                                                   tmp_path, sock_dir,
                                                   notifyd):
    """With NOTIFY_SOCKET set, tendd sends READY=1 only once its notify
    task is ready (not at its spawn), and STOPPING=1 at shutdown."""
    systemd, own = daemon_socket(sock_dir)
    d = start_tendd(f"""
        [task:db]
        class     = durable
        directory = {tmp_path}
        command   = {notifyd("db", "go")}
        ready     = notify

        [task:plain]
        class   = durable
        command = sleep 1004
        """, env={"NOTIFY_SOCKET": own})
    wait_state(run_tendctl, d, "plain", "running")
    wait_state(run_tendctl, d, "db", "starting")
    wait_for(lambda: lines(tmp_path / "started") == ["db"],
             what="db to run", details=d.tail)
    assert received(systemd) == []
    (tmp_path / "go").touch()
    got = wait_for(lambda: received(systemd), what="READY=1 from tendd",
                   details=d.tail)
    assert got == [b"READY=1"], got
    assert task_of(run_tendctl, d, "db")["ready"] is True
    d.signal(signal.SIGTERM)
    systemd.setblocking(True)
    systemd.settimeout(WAIT)
    assert systemd.recv(4096) == b"STOPPING=1"
    assert d.wait() == 0
    systemd.setblocking(False)
    assert received(systemd) == []
    systemd.close()


def test_tendd_ready_after_a_failed_run(start_tendd, run_tendctl, sock_dir):
    """A task that fails before it is ready does not hold tendd's READY=1
    back: it has failed once."""
    systemd, own = daemon_socket(sock_dir)
    started = time.monotonic()
    d = start_tendd("""
        [task:broken]
        class         = durable
        command       = sh -c 'exit 1'
        ready         = notify
        ready_timeout = 5m
        backoff_min   = 1m
        """, env={"NOTIFY_SOCKET": own})
    got = wait_for(lambda: received(systemd), what="READY=1 from tendd",
                   details=d.tail)
    assert got == [b"READY=1"], got
    assert time.monotonic() - started < 60  # not the ready_timeout
    assert task_of(run_tendctl, d, "broken")["state"] == "backoff"
    assert d.terminate() == 0
    systemd.close()

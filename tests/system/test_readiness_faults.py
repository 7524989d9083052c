"""Faults of readiness, order and health found in review (issue 14), each
seen failing before its fix: tendd must survive, answer and stop in order."""

import array
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import REPO, ctl, sock_of, task_of, wait_for, wait_state


def test_immediate_restart_with_probe_timers_keeps_tendd_alive(
        start_tendd, run_tendctl):
    # backoff_min = 0 restarts in task_run_ended without task_changed in
    # between: readiness_spawned ev_init()s the still active ready/probe
    # timers (libev heap corrupted: "cannot allocate -32 bytes", abort).
    d = start_tendd("""
        [task:crashy]
        class = durable
        command = /bin/sh -c 'sleep 0.3; exit 1'
        ready = tcp:127.0.0.1:1
        ready_timeout = 3s
        backoff_min = 0
        """)
    # It aborted at the third restart: three more show it lives on.
    d.wait_log(r"restart 6 in 0ms", timeout=30)
    assert d.alive(), d.tail()


def test_immediate_restart_with_health_keeps_tendd_alive(
        start_tendd, run_tendctl):
    d = start_tendd("""
        [task:crashy]
        class = durable
        command = /bin/sh -c 'sleep 0.5; exit 1'
        health = exec:/bin/true
        health_interval = 2s
        backoff_min = 0
        """)
    d.wait_log(r"restart 7 in 0ms", timeout=30)
    assert d.alive(), d.tail()


def test_no_restart_during_ordered_shutdown(start_tendd, run_tendctl):
    # db is held by the ordered stop while web takes 2s to stop; its exit
    # meanwhile is a restart (a new process) during shutdown.
    d = start_tendd("""
        [task:db]
        class = durable
        command = /bin/sh -c 'sleep 0.4; exit 1'
        backoff_min = 0

        [task:web]
        class = durable
        command = /bin/sh -c 'trap "sleep 2; exit 0" TERM; while :; do sleep 0.1; done'
        after = db
        stop_timeout = 5s
        """)
    wait_state(run_tendctl, d, "web", "running")
    d.signal(signal.SIGTERM)
    d.wait(timeout=10)
    msgs = [m for _, m in d.messages()]
    i = next(k for k, m in enumerate(msgs) if "SIGTERM received" in m)
    restarts = [m for m in msgs[i:] if "; restart " in m]
    assert restarts == [], restarts


def test_stop_all_ends_after_reload_changes_after(start_tendd, run_tendctl,
                                                  tmp_path):
    # a waits (stop_pending) for b, which is after it; a reload drops
    # b's after = a while b stops: nothing tries a's stop again, and
    # "stop all" never answers.
    text = """
        [task:a]
        class = durable
        command = /bin/sleep 1000

        [task:b]
        class = durable
        command = /bin/sh -c 'trap "sleep 2; exit 0" TERM; while :; do sleep 0.1; done'
        after = a
        stop_timeout = 10s
        """
    d = start_tendd(text)
    wait_state(run_tendctl, d, "b", "running")
    manifest = d.argv[d.argv.index("-f") + 1]
    stop = subprocess.Popen([str(REPO / "build" / "tendctl"),
                             "-s", sock_of(d), "stop", "all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    d.wait_log(r"control: .*stop all")
    with open(manifest) as f:
        new = f.read().replace("after = a\n", "")
    with open(manifest, "w") as f:
        f.write(new)
    assert ctl(run_tendctl, d, "reload").returncode == 0
    try:
        out, err = stop.communicate(timeout=8)
    except subprocess.TimeoutExpired:
        stop.kill()
        raise AssertionError("stop all never answered; a: "
                             + task_of(run_tendctl, d, "a")["state"])
    assert stop.returncode == 0
    assert task_of(run_tendctl, d, "a")["state"] == "stopped"


def test_reload_ready_none_while_starting(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:a]
        class = durable
        command = /bin/sleep 1000
        ready = tcp:127.0.0.1:1
        ready_timeout = 4s
        backoff_min = 30s
        """)
    wait_state(run_tendctl, d, "a", "starting")
    manifest = d.argv[d.argv.index("-f") + 1]
    with open(manifest) as f:
        new = f.read().replace("ready = tcp:127.0.0.1:1\n", "")
    with open(manifest, "w") as f:
        f.write(new)
    assert ctl(run_tendctl, d, "reload").returncode == 0
    # ready = none: ready once exec succeeded, i.e. now.
    wait_state(run_tendctl, d, "a", "running", timeout=6)


def _notify_addr(tmp_path):
    f = tmp_path / "ns"
    wait_for(lambda: f.exists() and f.read_text().strip(), what="NOTIFY_SOCKET")
    return "\0" + f.read_text().strip()[1:]


@pytest.mark.skipif("valgrind" in os.environ.get("TENDD", ""),
                    reason="valgrind runs one thread at a time, and a close() "
                    "with its lock held: the closer thread stops them all")
def test_foreign_fd_with_linger_blocks_loop(start_tendd, run_tendctl,
                                           tmp_path):
    """A foreign sender (this test: another session) passes a TCP socket with
    SO_LINGER and unsent data: its close, which waits for the linger time,
    is fdcloser.c's thread's, and the loop goes on meanwhile."""
    d = start_tendd(f"""
        [task:n]
        class   = durable
        command = /bin/sh -c 'echo $NOTIFY_SOCKET > {tmp_path}/ns; exec sleep 1000'
        ready   = notify
        """)
    addr = _notify_addr(tmp_path)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    c.connect(srv.getsockname())
    peer, _ = srv.accept()  # never reads: the window closes
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.setblocking(False)
    try:
        while True:
            c.send(b"x" * 4096)
    except BlockingIOError:
        pass
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 8))
    u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    u.sendmsg([b"FDSTORE=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                array.array("i", [c.fileno()]))], 0, addr)
    c.close()
    t0 = time.monotonic()
    wait_for(lambda: d.find("carries file descriptors"), what="the drop",
             details=d.tail)
    ctl(run_tendctl, d, "status", "--json")
    took = time.monotonic() - t0
    peer.close()
    srv.close()
    assert d.find("carries file descriptors"), d.tail()
    assert took < 2.0, f"the drop and a status took {took:.1f}s: the loop " \
        "was blocked"


def status_text(run_tendctl, d, name):
    r = ctl(run_tendctl, d, "status", "--json", name)
    if r.returncode not in (0, 3):
        return None  # not up yet
    return json.loads(r.stdout)["tasks"][0]["status_text"]


def test_stopping_flood_is_not_logged_per_datagram(start_tendd, run_tendctl,
                                                    tmp_path):
    """A task sending STOPPING=1 in a loop gets one log line per datagram:
    unlike drops, not rate-limited."""
    script = tmp_path / "flood.py"
    script.write_text(
        "import os, socket, time\n"
        "a = '\\0' + os.environ['NOTIFY_SOCKET'][1:]\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.sendto(b'READY=1', a)\n"
        "for i in range(5000): s.sendto(b'STOPPING=1', a)\n"
        "s.sendto(b'STATUS=sent', a)\n"
        "time.sleep(1000)\n")
    d = start_tendd(f"""
        [task:f]
        class   = durable
        command = /usr/bin/python3 {script}
        ready   = notify
        """)
    # Read in order: once STATUS=sent is, every STOPPING=1 was.
    wait_for(lambda: status_text(run_tendctl, d, "f") == "sent", timeout=30,
             what="the flood to be read", details=d.tail)
    n = len(d.find("stopping, it says"))
    assert n <= 10, f"{n} log lines from one task's STOPPING=1 flood"

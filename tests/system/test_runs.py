"""Defects of runs, listeners and clocks (issue 12, points 8, 9, 13 and
14): a second tendd must not probe a live unix listener by connecting to
it, durations must not follow the wall clock, an exec failure is a spawn
step failing (not a run), and connections accepted while tendd is out of
fds are served once fds are back.

Every wait is bounded polling (conftest.wait_for), generous enough for
tendd under valgrind.
"""

import os
import pathlib
import socket
import subprocess

import pytest

from conftest import (CLIENT_TIMEOUT, connect, ctl, free_port, low_fds,
                      read_to_eof, run, status, task_of, wait_for,
                      wait_state)

LIBFAKETIME = pathlib.Path("/usr/lib/x86_64-linux-gnu/faketime/"
                           "libfaketime.so.1")


def faketime_env(stamp_file):
    """The environment that runs tendd with a wall clock the test steps by
    writing stamp_file ("+SECONDS"), and the real monotonic clock."""
    if not LIBFAKETIME.exists():
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "faketime"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           env={**os.environ,
                                "DEBIAN_FRONTEND": "noninteractive"},
                           timeout=300)
        if r.returncode != 0 or not LIBFAKETIME.exists():
            pytest.skip("libfaketime (Debian package faketime) is not "
                        "installed and cannot be: " + r.stderr.decode()[-200:])
    stamp_file.write_text("+0\n")
    return {
        "LD_PRELOAD": LIBFAKETIME,
        "DONT_FAKE_MONOTONIC": "1",  # only the wall clock is stepped
        "FAKETIME_NO_CACHE": "1",    # read stamp_file at every call
        "FAKETIME_TIMESTAMP_FILE": stamp_file,
    }


# Point 9: every duration is on the monotonic clock.

def test_wall_clock_step_neither_resets_backoff_nor_skews_uptime(
        start_tendd, run_tendctl, tmp_path):
    """A crash-looping task's second run is in progress when the wall clock
    steps an hour forward: the run did not last healthy_after (300s), so the
    backoff goes on (restart 2 waits 2 x backoff_min), and neither the
    daemon's nor the task's uptime jumps by the hour."""
    stamp = tmp_path / "faketime"
    d = start_tendd("""
        [task:crashy]
        class         = durable
        command       = /bin/sleep 3
        backoff_min   = 250ms
        backoff_max   = 10s
        healthy_after = 300s
        """, env=faketime_env(stamp))
    d.wait_log(r"^task crashy \(pid \d+\): exit status 0 after .*; "
               r"restart 1 in 250ms$", level="err")
    t = wait_state(run_tendctl, d, "crashy", "running", restarts=1)
    stamp.write_text("+3600\n")
    st = status(run_tendctl, d)
    t = st["tasks"][0]
    assert t["pid"] and t["uptime_s"] < 60, st
    assert st["daemon"]["uptime_s"] < 120, st
    m = d.wait_log(r"^task crashy \(pid \d+\): exit status 0 after (.*); "
                   r"restart 2 in (.*)$", level="err")[0]
    assert m[2] == "500ms", m[0]
    assert "h" not in m[1], m[0]  # not "1h0m3s"
    st = status(run_tendctl, d)
    assert st["daemon"]["uptime_s"] < 120, st
    assert d.terminate() == 0


# Point 8: a unix listener of another tendd is not probed by connecting.

def unix_request(path, data):
    """One client of a unix listener: what it answers to data."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(CLIENT_TIMEOUT)
        s.connect(str(path))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return read_to_eof(s)


def test_second_tendd_does_not_connect_to_a_live_unix_listener(
        start_tendd, run_tendctl, sock_dir):
    """A second tendd with the same unix listen path retries (in use) but
    never connects to the first one's socket, where each probe would start
    an instance: the first tendd counts no request. Once the first is gone,
    the second takes the socket; when it is gone too, no socket and no lock
    file are left."""
    path = sock_dir / "cat.sock"
    manifest = f"""
        [task:cat]
        class   = per-request
        command = /bin/cat
        listen  = unix:{path}
        """
    first = start_tendd(manifest)
    wait_state(run_tendctl, first, "cat", "listening")
    assert pathlib.Path(f"{path}.lock").exists()
    second = start_tendd(manifest)
    # Retries at 0, 0.1, 0.3, 0.7 and 1.5s: enough chances to probe.
    second.wait_log(r"^task cat: cannot listen on unix:.*in use; retrying",
                    count=5, level="err", timeout=60)
    assert task_of(run_tendctl, second, "cat")["state"] == "idle"
    t = task_of(run_tendctl, first, "cat")
    assert (t["requests"], t["failures"], t["active"]) == (0, 0, 0), t
    assert unix_request(path, b"first\n") == b"first\n"
    t = task_of(run_tendctl, first, "cat")
    assert t["requests"] == 1, t
    assert first.terminate() == 0
    # The second one's retry delay doubles up to 10s.
    wait_state(run_tendctl, second, "cat", "listening", timeout=60)
    assert unix_request(path, b"second\n") == b"second\n"
    assert task_of(run_tendctl, second, "cat")["requests"] == 1
    assert second.terminate() == 0
    assert not path.exists()
    assert not pathlib.Path(f"{path}.lock").exists()


# Point 13: an exec failure is a spawn step failing, not a run.

def test_exec_failure_line_names_the_step_and_no_run_time(
        start_tendd, run_tendctl, tmp_path):
    """A durable task whose directory does not exist: the line names the
    step, the directory and the errno text, the restart delay and count,
    and no run time ("after 0ms" would read as if it had run). The same
    for an instance whose program is missing."""
    d = start_tendd(f"""
        [task:web]
        class       = durable
        command     = /bin/true
        directory   = /nonexistent
        backoff_min = 100ms
        backoff_max = 200ms

        [task:bad]
        class   = per-request
        command = /nonexistent/tend-test-handler
        """)
    found = d.wait_log(r"^task web \(pid \d+\): (.*)$", count=2, level="err")
    assert [m[1] for m in found[:2]] == [
        "cannot chdir /nonexistent: No such file or directory; "
        "restart 1 in 100ms",
        "cannot chdir /nonexistent: No such file or directory; "
        "restart 2 in 200ms"], d.tail()
    r = ctl(run_tendctl, d, "run", "bad", "--wait")
    assert r.returncode == 127, r
    m = d.wait_log(r"^task bad \(pid \d+\): (.*)$", level="err")[0]
    assert m[1] == ("cannot exec /nonexistent/tend-test-handler: "
                    "No such file or directory"), d.tail()
    assert not d.find(r"cannot .* after "), d.tail()
    assert d.terminate() == 0


# Point 14: connections accepted while tendd is out of fds are served.

def test_connections_accepted_without_fds_are_served_later(
        start_tendd, run_tendctl):
    """With tendd's soft fd limit lowered (prlimit --pid) so that it can
    accept a connection but not make the stderr pipe of its instance, the
    spawn fails: the accepted connection must be held, not closed unserved
    and counted as failed. Once the limit is back, all 20 clients get
    their instance's output, and no request failed."""
    port = free_port()
    d = start_tendd(f"""
        [task:echo]
        class   = per-request
        command = /bin/sh -c 'sleep 0.1; echo served'
        listen  = tcp:127.0.0.1:{port}
        """)
    wait_state(run_tendctl, d, "echo", "listening")
    r = run(["prlimit", "--pid", str(d.pid), "--nofile", "--raw",
             "--noheadings", "--output=SOFT,HARD"])
    assert r.returncode == 0, r
    soft, hard = r.stdout.split()
    # One free fd: enough for accept, not for the instance's stderr pipe.
    used = set(low_fds(d.pid, 1000))
    limit = min(set(range(len(used) + 1)) - used) + 1
    r = run(["prlimit", "--pid", str(d.pid), f"--nofile={limit}:{hard}"])
    assert r.returncode == 0, r
    clients = []
    try:
        clients = [connect(port) for _ in range(20)]
        # Three failed spawns (the pauses: 0.1, 0.2, 0.4s): before the fix,
        # three connections closed unserved.
        d.wait_log(r"^task echo: cannot spawn an instance: Too many open "
                   r"files", count=3, level="err")
        r = run(["prlimit", "--pid", str(d.pid), f"--nofile={soft}:{hard}"])
        assert r.returncode == 0, r
        replies = [read_to_eof(s) for s in clients]
    finally:
        for s in clients:
            s.close()
    assert replies == [b"served\n"] * 20, replies
    t = wait_for(lambda: (lambda t: t if t["active"] == 0 else None)(
        task_of(run_tendctl, d, "echo")), what="no instance of echo")
    assert (t["requests"], t["failures"]) == (20, 0), t
    assert t["state"] == "listening", t
    assert d.alive()
    assert d.terminate() == 0


def test_a_listen_lock_of_another_user_is_refused(start_tendd, run_tendctl,
                                                   tmp_path):
    """Another user's PATH.lock could be held by its owner to keep tendd
    out: tendd does not take it, and listens once it is gone."""
    if os.geteuid() != 0:
        pytest.skip("a file of another user's needs root")
    path = tmp_path / "l.sock"
    lock = tmp_path / "l.sock.lock"
    lock.touch()
    os.chown(lock, 65534, 65534)
    d = start_tendd(f"""
        [task:echo]
        class  = per-request
        command = /bin/cat
        listen = unix:{path}
        """)
    d.wait_log(rf"^task echo: cannot listen on unix:{path}: "
               r"Operation not permitted; retrying", level="err")
    assert task_of(run_tendctl, d, "echo")["state"] != "listening"
    lock.unlink()
    wait_state(run_tendctl, d, "echo", "listening")

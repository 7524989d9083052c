"""Faults of env files and unix listen sockets found in review (issue 15),
each seen failing before its fix, with real processes."""

import os
import socket
import string
import time

import pytest

from conftest import CLIENT_TIMEOUT, ctl, task_of, wait_for, wait_state

NOBODY = 65534
HOLD = "/bin/sh -c 'echo start; read line; echo done'"

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: nobody's directory")


def timed_status(run_tendctl, d):
    t0 = time.monotonic()
    r = ctl(run_tendctl, d, "status")
    return time.monotonic() - t0, r


def distinct_keys(n):
    first = string.ascii_letters + "_"
    rest = string.ascii_letters + string.digits + "_"
    out = []
    for a in first:
        for b in rest:
            for c in rest:
                out.append(f"{a}{b}{c}")
                if len(out) == n:
                    return out
    return out


def test_env_file_with_many_keys_blocks_the_loop(start_tendd, run_tendctl,
                                                 sock_dir, tmp_path):
    """A 200 KB env file (40000 distinct keys, a fifth of the 1 MiB allowed)
    is merged by env_put, a linear search per entry: O(n^2) in tendd, before
    the fork, for every connection. tendd answers nothing meanwhile."""
    envf = tmp_path / "many.env"
    envf.write_text("".join(f"{k}=\n" for k in distinct_keys(40000)))
    sock = sock_dir / "e.sock"
    d = start_tendd(f"""
        [task:e]
        class     = per-request
        command   = /bin/true
        clear_env = yes
        env_file  = {envf}
        listen    = unix:{sock}
        """)
    wait_state(run_tendctl, d, "e", "listening")
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(str(sock))
    time.sleep(0.1)
    took, r = timed_status(run_tendctl, d)
    c.close()
    assert r.returncode == 0, r
    assert took < 1.0, f"tendctl status took {took:.1f}s: the loop was blocked"


def test_fifo_at_the_lock_path_blocks_tendd(start_tendd, run_tendctl,
                                            tmp_path):
    """A unix listen path in a directory its user owns (the listen_user
    layout: /run/www owned by www-data): that user makes PATH.lock a FIFO,
    and listener_lock's open(O_RDONLY|O_CREAT) waits for a writer forever.
    Every other task and the control socket are stuck with it."""
    www = tmp_path / "www"
    www.mkdir()
    os.chown(www, NOBODY, NOBODY)
    # What nobody can do in its own directory (made here as root, since
    # pytest's tmp_path is closed to nobody; the owner is what matters not).
    os.mkfifo(www / "app.sock.lock")
    os.chown(www / "app.sock.lock", NOBODY, NOBODY)
    assert (www / "app.sock.lock").exists()
    d = start_tendd(f"""
        [task:web]
        class       = per-request
        command     = /bin/cat
        listen      = unix:{www}/app.sock
        listen_user = nobody

        [task:other]
        class   = durable
        command = /bin/sleep 1000
        """)
    time.sleep(1)
    try:
        r = ctl(run_tendctl, d, "status", timeout=5)
        answered = r.returncode == 0
    except pytest.fail.Exception:  # conftest.run: still running after 5s
        answered = False
    finally:  # let tendd go, so that it can be stopped
        try:
            os.close(os.open(www / "app.sock.lock",
                             os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert answered, "tendd blocked in open() of the FIFO at app.sock.lock"


def test_reload_of_listen_mode_drops_queued_connections(
        start_tendd, run_tendctl, write_manifest, sock_dir):
    """SPEC 5: a listener whose listen did not change keeps its socket open,
    no connection refused during a reload. A change of listen_mode alone
    closes the old socket: connections queued at max_instances are reset."""
    os.chmod(sock_dir, 0o755)
    sock = sock_dir / "q.sock"
    text = f"""
        [task:q]
        class         = per-request
        command       = {HOLD}
        listen        = unix:{sock}
        max_instances = 1
        {{extra}}
        """
    path = write_manifest(text.replace("{extra}", ""))
    d = start_tendd(path)
    wait_state(run_tendctl, d, "q", "listening")

    def client():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(CLIENT_TIMEOUT)
        s.connect(str(sock))
        return s

    first = client()
    assert first.recv(6) == b"start\n"
    queued = [client() for _ in range(3)]  # wait in the backlog
    write_manifest(text.replace("{extra}", "listen_mode = 0660"))
    r = ctl(run_tendctl, d, "reload")
    assert r.returncode == 0, r
    wait_state(run_tendctl, d, "q", "listening")
    first.sendall(b"go\n")
    served = 0
    for s in queued:
        try:
            if s.recv(6) == b"start\n":
                served += 1
                s.sendall(b"go\n")
        except OSError:
            pass
        s.close()
    first.close()
    assert served == 3, f"{3 - served} queued connections dropped by reload"

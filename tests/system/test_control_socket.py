"""The control socket's defects of issue 12: a start that cannot exec, the
socket's permissions set through a swappable path, two tendds claiming one
socket at once, unprivileged clients making tendd buffer without bound, and
refused requests left out of the log.
"""

import fcntl
import os
import pathlib
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import (ctl, run, sock_of, status_json, task_of, wait_for,
                      wait_state)

VALGRIND = "valgrind" in os.environ.get("TENDD", "")
LATENCY = 10.0 if VALGRIND else 1.0  # seconds for root's status, shutdown
NOBODY = 65534

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to act as another user")


# Point 5: start and restart wait for the exec.

def test_start_and_restart_fail_when_exec_fails(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:broken]
        class     = durable
        command   = /nonexistent/tend-test
        autostart = no
        backoff_min = 60s
        [task:report]
        class     = log-only
        command   = /nonexistent/tend-test
        autostart = no
        [task:web]
        class     = durable
        command   = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    why = "cannot exec /nonexistent/tend-test: No such file or directory"
    for args in (["start", "broken"], ["restart", "broken"],
                 ["start", "report"]):
        r = ctl(run_tendctl, d, *args)
        assert r.returncode == 1, (args, r)
        assert f"{args[1]}: {why}" in r.stderr, (args, r)
        assert "running" not in r.stdout, (args, r)
    wait_state(run_tendctl, d, "broken", "backoff")
    wait_state(run_tendctl, d, "report", "failed")
    # Together with a task that starts: 1, and the other task's state.
    r = ctl(run_tendctl, d, "restart", "web", "broken")
    assert r.returncode == 1, r
    assert f"broken: {why}" in r.stderr
    assert "web running" in r.stdout
    r = ctl(run_tendctl, d, "restart", "web")
    assert (r.returncode, r.stdout, r.stderr) == (0, "web running\n", ""), r
    assert d.terminate() == 0


# Point 14 (part): refused requests are logged.

@needs_root
def test_refused_requests_are_logged_with_peer(start_tendd, run_tendctl,
                                               tendctl_bin, sock_dir):
    os.chmod(sock_dir, 0o755)
    d = start_tendd("""
        [tend]
        socket_mode = 0666
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    expect = []
    for args in (["stop", "web"], ["signal", "KILL", "web"], ["shutdown"],
                 ["status"]):
        p = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
             "--clear-groups", tendctl_bin, "-s", sock_of(d), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=20)
        if args[0] != "status":
            assert p.returncode == 1 and "permission" in err, (args, err)
            expect.append(f"control: uid {NOBODY} pid {p.pid}: "
                          + " ".join(args) + ": permission denied")
    d.wait_log(r"^control: uid 65534 .*: shutdown: permission denied$",
               level="warning")
    logged = [m for m in d.messages("warning") if m.startswith("control: ")]
    assert logged == expect
    assert task_of(run_tendctl, d, "web")["restarts"] == 0
    assert d.terminate() == 0


# Point 6: the socket's permissions never go through a swappable path.

@needs_root
def test_reload_does_not_follow_a_symlink_put_in_place_of_the_socket(
        start_tendd, run_tendctl, write_manifest, tmp_path):
    # A directory everyone may write in, as /tmp.
    shared = pathlib.Path(os.path.realpath(
        subprocess.check_output(["mktemp", "-d", "/tmp/tend-XXXXXX"],
                                text=True).strip()))
    try:
        os.chmod(shared, 0o1777)
        secret = tmp_path / "secret"
        secret.write_text("root's\n")
        os.chmod(secret, 0o600)
        text = "[task:web]\nclass = durable\ncommand = sleep 1000\n"
        path = write_manifest(text)
        sock = shared / "tend.sock"
        d = start_tendd(path, "-s", sock)
        wait_state(run_tendctl, d, "web", "running")
        assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o600
        # Someone swaps the socket for a symlink to a file of root's.
        os.unlink(sock)
        os.symlink(secret, sock)
        write_manifest("[tend]\nsocket_mode = 0666\n" + text)
        d.signal(signal.SIGHUP)
        d.wait_log(r"^reload: updated \[tend\] control socket", level="info")
        st = os.stat(secret)
        assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        assert secret.read_text() == "root's\n"
        st = os.lstat(sock)
        assert stat.S_ISSOCK(st.st_mode), oct(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o666
        assert status_json(run_tendctl, d)[1]["daemon"]["pid"] == d.pid
        # No private directory is left beside the socket.
        assert sorted(p.name for p in shared.iterdir()) == [
            "tend.sock", "tend.sock.lock"]
        assert d.terminate() == 0
        assert not os.path.lexists(sock)
    finally:
        subprocess.run(["rm", "-rf", str(shared)])


def test_two_tendds_at_once_one_runs(start_tendd, run_tendctl, sock_dir):
    """Started together over a stale socket, exactly one tendd runs, and it
    answers on the socket; the other exits 1."""
    manifest = """
        [task:web]
        class   = durable
        command = sleep 1000
        """
    sock = sock_dir / "both.sock"
    for _ in range(5):
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(sock))  # stale: nobody listens
        s.close()
        a = start_tendd(manifest, "-s", sock)
        b = start_tendd(manifest, "-s", sock)
        wait_for(lambda: not a.alive() or not b.alive(),
                 what="one of two tendds to give up",
                 details=lambda: a.tail() + "\n" + b.tail())
        loser, winner = (a, b) if not a.alive() else (b, a)
        assert loser.wait() == 1
        assert any("another tendd" in m for _, m in loser.messages()), (
            loser.tail())
        assert winner.alive()
        # The loser may give up before the winner has bound.
        r = wait_for(lambda: (lambda r: r.returncode == 0 and r)(
            run_tendctl("-s", sock, "status", "--json")),
            what="the winner to answer", details=winner.tail)
        assert f'"pid": {winner.pid},' in r.stdout.split("tasks")[0]
        assert winner.terminate() == 0


def test_a_held_socket_lock_keeps_a_tendd_out(start_tendd, run_tendctl,
                                              sock_dir):
    """SOCKET.lock held (by a tendd that has not bound yet): another tendd
    refuses to start, and leaves the stale socket file as it is."""
    sock = sock_dir / "held.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()
    ino = os.lstat(sock).st_ino
    with open(f"{sock}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        d = start_tendd("""
            [task:web]
            class   = durable
            command = sleep 1000
            """, "-s", sock)
        assert d.wait() == 1
        assert any("another tendd is running" in m
                   for m in d.messages("err")), d.tail()
        assert os.lstat(sock).st_ino == ino
    # Released: the next one starts.
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """, "-s", sock)
    wait_state(run_tendctl, d, "web", "running")
    assert d.terminate() == 0


# Point 7: slow unprivileged clients cannot make tendd buffer without bound.

FLOOD_CLIENT = r"""
import os, socket, sys
path, count = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        s.connect(path)
        s.sendall(b"request v=1 cmd=status\n")
    except OSError:
        pass
    held.append(s)  # never read
print("ready", flush=True)
sys.stdin.read()
"""


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@needs_root
def test_slow_unprivileged_flood_leaves_root_served(start_tendd, run_tendctl,
                                                    write_manifest, sock_dir):
    os.chmod(sock_dir, 0o755)
    # Long names: each answer is bigger than what the kernel buffers.
    names = [f"t{i:04}-" + "x" * 58 for i in range(3000)]
    tasks = "".join(f"[task:{n}]\nclass = log-only\ncommand = true\n"
                    "autostart = no\n" for n in names)
    d = start_tendd(write_manifest("[tend]\nsocket_mode = 0666\n" + tasks))
    sock = sock_of(d)
    wait_for(lambda: ctl(run_tendctl, d, "status", names[0]).returncode == 0,
             what="tendd to answer")
    rss0 = vm_rss_kib(d.pid)
    # 900 clients of uid 65534, in 3 processes (the fd limit of each).
    flood = [subprocess.Popen([sys.executable, "-c", FLOOD_CLIENT, sock,
                               "300"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              preexec_fn=as_nobody)
             for _ in range(3)]
    try:
        for p in flood:
            assert p.stdout.readline() == "ready\n"
        t0 = time.monotonic()
        r = ctl(run_tendctl, d, "status", "--json", timeout=LATENCY + 10)
        took_status = time.monotonic() - t0
        assert r.returncode == 0, r
        assert r.stdout.count('"name"') == 3000
        # Root's client came after the flood's: what tendd queued for
        # those is there now.
        rss = vm_rss_kib(d.pid)
        t0 = time.monotonic()
        r = ctl(run_tendctl, d, "shutdown", timeout=LATENCY + 10)
        took_shutdown = time.monotonic() - t0
        assert r.returncode == 0, r
        assert d.wait() == 0
    finally:
        for p in flood:
            p.kill()
            p.wait()
    assert took_status < LATENCY, f"status took {took_status:.2f}s"
    assert took_shutdown < LATENCY, f"shutdown took {took_shutdown:.2f}s"
    if not VALGRIND:  # valgrind's own memory dwarfs what is measured
        assert rss - rss0 < 64 * 1024, f"RSS grew by {rss - rss0} KiB"
    assert d.find(r"^control: uid 65534 pid \d+: too many clients",
                  level="warning")


def test_moving_the_socket_moves_the_lock(tendd_bin, tend_env, run_tendctl,
                                          start_tendd, write_manifest,
                                          sock_dir, tmp_path):
    """A reload that moves control_socket takes the new path's lock and
    releases the old one: a tendd may start on the old path, none on the
    new. (start_tendd always gives -s, which pins the socket.)"""
    old, new = sock_dir / "old.sock", sock_dir / "new.sock"
    text = "[task:web]\nclass = durable\ncommand = sleep 1000\n"
    path = write_manifest(f"[tend]\ncontrol_socket = {old}\n" + text,
                          name="moving.ini")
    log = open(tmp_path / "moving.log", "wb")
    d = subprocess.Popen([tendd_bin, "-e", "-f", path], env=tend_env,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True)
    try:
        wait_for(lambda: run_tendctl("-s", old, "status").returncode == 0,
                 what="tendd on the old socket")
        write_manifest(f"[tend]\ncontrol_socket = {new}\n" + text,
                       name="moving.ini")
        r = run_tendctl("-s", old, "reload")
        assert r.returncode == 0, r
        assert f"updated [tend] control socket {new}" in r.stdout
        assert not os.path.lexists(old)
        assert run_tendctl("-s", new, "status").returncode == 0
        second = start_tendd(text, "-s", new)
        assert second.wait() == 1
        third = start_tendd(text, "-s", old)
        wait_state(run_tendctl, third, "web", "running")
        assert third.terminate() == 0
        assert run_tendctl("-s", new, "shutdown").returncode == 0
        assert d.wait(20) == 0
    finally:
        if d.poll() is None:  # SIGTERM stops the task too
            os.killpg(d.pid, signal.SIGTERM)
            try:
                d.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(d.pid, signal.SIGKILL)
                d.wait()
        log.close()

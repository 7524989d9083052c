"""Per-request tasks (SPEC sections 1, 3, 4 and 6; issue 5): inetd-style
listeners on real sockets (127.0.0.1, ::1 and unix), the max_instances cap,
timeouts, the requests/failures/active counters, tendctl run, and the
errors that must not make tendd spin (a port in use, EMFILE).

Every wait is bounded polling (conftest.wait_for). Free ports are found by
binding port 0 first. CPU bounds are lenient when $TENDD runs tendd under
valgrind.
"""

import concurrent.futures
import os
import re
import socket
import threading
import time

import pytest

from conftest import (CLIENT_TIMEOUT, connect, cpu_seconds, ctl, free_port,
                      gone, low_fds, read_to_eof, request, run, sock_of,
                      task_of, wait_for, wait_state)

VALGRIND = "valgrind" in os.environ.get("TENDD", "")
CPU_MAX = 1.0 if VALGRIND else 0.5  # seconds of CPU over a 2 s window
ECHO_ADDR = ("/bin/sh -c 'echo \"$TEND_TASK $TEND_REMOTE_ADDR "
             "$TEND_REMOTE_PORT\"'")


# Helpers.

def wait_idle(run_tendctl, d, name):
    """Wait until no instance of name runs; return its JSON object."""
    def check():
        t = task_of(run_tendctl, d, name)
        return t if t["active"] == 0 else None
    return wait_for(check, what=f"no instance of {name}", details=d.tail)


def cpu_over(pid, seconds=2.0):
    """(CPU seconds used by pid, wall seconds) over a window of seconds."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # the window over which CPU use is measured
    return cpu_seconds(pid) - c0, time.monotonic() - t0


# The remote address, and many connections.

def test_reply_carries_remote_address(start_tendd, run_tendctl):
    port = free_port()
    d = start_tendd(f"""
        [task:who]
        class   = per-request
        command = {ECHO_ADDR}
        listen  = tcp:127.0.0.1:{port}
        """)
    wait_state(run_tendctl, d, "who", "listening")
    for _ in range(3):
        reply, me = request(port)
        assert reply == f"who 127.0.0.1 {me[1]}\n".encode(), (reply, me)
    t = wait_idle(run_tendctl, d, "who")
    assert (t["requests"], t["failures"]) == (3, 0)
    assert d.terminate() == 0


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_listener(start_tendd, run_tendctl):
    port = free_port(socket.AF_INET6, "::1")
    d = start_tendd(f"""
        [task:who6]
        class   = per-request
        command = {ECHO_ADDR}
        listen  = tcp:[::1]:{port}
        """)
    wait_state(run_tendctl, d, "who6", "listening")
    reply, me = request(port, host="::1", family=socket.AF_INET6)
    assert reply == f"who6 ::1 {me[1]}\n".encode(), (reply, me)
    assert d.terminate() == 0


def test_300_connections_at_concurrency_16(start_tendd, run_tendctl):
    port = free_port()
    d = start_tendd(f"""
        [task:who]
        class   = per-request
        command = {ECHO_ADDR}
        listen  = tcp:127.0.0.1:{port}
        """)
    wait_state(run_tendctl, d, "who", "listening")

    def one(_):
        reply, me = request(port)
        return reply == f"who 127.0.0.1 {me[1]}\n".encode() or reply

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(300), timeout=240))
    bad = [r for r in results if r is not True]
    assert not bad, f"{len(bad)} of 300 not served right: {bad[:5]}"
    t = wait_idle(run_tendctl, d, "who")
    assert (t["requests"], t["failures"], t["active"]) == (300, 0, 0)
    assert not d.messages("err")
    assert d.terminate() == 0


# The cap.

def test_max_instances_caps_active(start_tendd, run_tendctl, tmp_path):
    port = free_port()
    events = tmp_path / "events"
    d = start_tendd(f"""
        [task:slow]
        class         = per-request
        directory     = {tmp_path}
        command       = sh -c 'echo "start $$ $(date +%s.%N)" >> events;
            sleep 0.5; echo "end $$ $(date +%s.%N)" >> events; echo done'
        listen        = tcp:127.0.0.1:{port}
        max_instances = 2
        """)
    wait_state(run_tendctl, d, "slow", "listening")
    replies, errors = [], []

    def client():
        try:
            replies.append(request(port)[0])
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=client, daemon=True)
               for _ in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    seen = []
    while any(t.is_alive() for t in threads):
        seen.append(task_of(run_tendctl, d, "slow")["active"])
        assert time.monotonic() - t0 < 60, "clients still waiting after 60s"
    took = time.monotonic() - t0
    for t in threads:
        t.join()
    assert not errors, errors
    assert replies == [b"done\n"] * 6
    assert max(seen) <= 2, seen
    assert 2 in seen, seen  # the cap was reached, not just one at a time
    # The handlers' own view: never more than two at once.
    marks = []
    for line in events.read_text().splitlines():
        what, _, when = line.split()
        marks.append((float(when), 1 if what == "start" else -1))
    running = peak = 0
    for _, step in sorted(marks, key=lambda m: (m[0], m[1])):
        running += step
        peak = max(peak, running)
    assert len(marks) == 12 and peak == 2, marks
    assert took >= 3 * 0.5 * 0.9, f"6 runs of 0.5s two at a time in {took}s"
    t = wait_idle(run_tendctl, d, "slow")
    assert (t["requests"], t["failures"]) == (6, 0)
    assert d.terminate() == 0


def test_run_instances_count_against_max_instances(start_tendd,
                                                   run_tendctl):
    """With max_instances = 1 and an instance of tendctl run (1 s) going,
    a connection waits in the backlog until that instance is reaped."""
    port = free_port()
    d = start_tendd(f"""
        [task:capped]
        class         = per-request
        command       = sh -c '[ -n "$TEND_REMOTE_ADDR" ] || sleep 1;
            echo served'
        listen        = tcp:127.0.0.1:{port}
        max_instances = 1
        """)
    wait_state(run_tendctl, d, "capped", "listening")
    r = ctl(run_tendctl, d, "run", "capped")
    assert r.returncode == 0, r
    t0 = time.monotonic()
    reply, _ = request(port)
    took = time.monotonic() - t0
    assert reply == b"served\n"
    assert took >= 0.7, f"served after {took:.2f}s, beside the run"
    t = wait_idle(run_tendctl, d, "capped")
    assert (t["requests"], t["failures"]) == (2, 0)
    assert d.terminate() == 0


# Timeouts.

@pytest.mark.parametrize("command,signame,signo", [
    ("sleep 1000", "SIGTERM", 15),
    ("sh -c 'trap \"\" TERM; exec sleep 1000'", "SIGKILL", 9),
])
def test_timeout_kills_a_handler_that_never_ends(start_tendd, run_tendctl,
                                                 command, signame, signo):
    port = free_port()
    d = start_tendd(f"""
        [task:hang]
        class        = per-request
        command      = {command}
        listen       = tcp:127.0.0.1:{port}
        timeout      = 300ms
        stop_timeout = 300ms
        """)
    wait_state(run_tendctl, d, "hang", "listening")
    with connect(port) as s:
        t0 = time.monotonic()
        reply = read_to_eof(s)  # EOF once the instance is gone
        took = time.monotonic() - t0
    assert reply == b""
    assert took >= 0.25, took
    if signo == 9:
        assert took >= 0.55, took
    m = d.wait_log(r"^task hang \(pid (\d+)\): still running after timeout "
                   r"300ms", level="err")[0]
    pid = int(m[1])
    d.wait_log(rf"^task hang \(pid {pid}\): timed out, killed by signal "
               rf"{signo} \({signame}\)", level="err")
    if signo == 9:
        d.wait_log(rf"^task hang \(pid {pid}\): still running after "
                   r"stop_timeout, sending SIGKILL", level="warning")
    assert gone(pid)
    t = wait_idle(run_tendctl, d, "hang")
    assert (t["state"], t["requests"], t["failures"], t["last_exit"]) == (
        "listening", 1, 1, {"signal": signame, "core": False})
    # The timeout applies to an instance of tendctl run too.
    t0 = time.monotonic()
    r = ctl(run_tendctl, d, "run", "hang", "--wait")
    assert r.returncode == 128 + signo, r
    assert time.monotonic() - t0 >= 0.25
    t = wait_idle(run_tendctl, d, "hang")
    assert (t["requests"], t["failures"]) == (2, 2)
    assert d.terminate() == 0


# A unix listener.

def test_unix_listener(start_tendd, run_tendctl, sock_dir):
    path = sock_dir / "cat.sock"
    # A socket file left by an earlier run is replaced.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    d = start_tendd(f"""
        [task:cat]
        class   = per-request
        command = /bin/cat
        listen  = unix:{path}
        """)
    wait_state(run_tendctl, d, "cat", "listening")
    for text in (b"hello through cat\n", b"a second line\nand a third\n"):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(CLIENT_TIMEOUT)
            s.connect(str(path))
            s.sendall(text)
            s.shutdown(socket.SHUT_WR)
            assert read_to_eof(s) == text
    t = wait_idle(run_tendctl, d, "cat")
    assert (t["requests"], t["failures"]) == (2, 0)
    r = ctl(run_tendctl, d, "stop", "cat")
    assert r.returncode == 0, r
    with socket.socket(socket.AF_UNIX) as s:
        with pytest.raises((ConnectionRefusedError, FileNotFoundError)):
            s.connect(str(path))
    r = ctl(run_tendctl, d, "start", "cat")
    assert r.returncode == 0, r
    wait_state(run_tendctl, d, "cat", "listening")
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(CLIENT_TIMEOUT)
        s.connect(str(path))
        s.sendall(b"again\n")
        s.shutdown(socket.SHUT_WR)
        assert read_to_eof(s) == b"again\n"
    assert d.terminate() == 0


def test_unix_listener_path_in_use(start_tendd, run_tendctl, sock_dir):
    """A unix socket that a live server listens on is in use, as a tcp
    port would be: tendd must not take it over; once it is gone, tendd
    listens there."""
    path = sock_dir / "taken.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    server.settimeout(CLIENT_TIMEOUT)
    try:
        d = start_tendd(f"""
            [task:cat]
            class   = per-request
            command = /bin/cat
            listen  = unix:{path}
            """)
        d.wait_log(r"^task cat: cannot listen on unix:.*in use",
                   level="err")
        assert task_of(run_tendctl, d, "cat")["state"] == "idle"
        # The path still leads to our server.
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(str(path))
            conn, _ = server.accept()
            conn.close()
    finally:
        server.close()  # leaves a stale socket file behind
    wait_state(run_tendctl, d, "cat", "listening")
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(CLIENT_TIMEOUT)
        s.connect(str(path))
        s.sendall(b"mine now\n")
        s.shutdown(socket.SHUT_WR)
        assert read_to_eof(s) == b"mine now\n"
    assert d.terminate() == 0


def env_of_handler(tmp_path, name):
    """The environment a handler dumped to tmp_path/name (a dict)."""
    data = (tmp_path / name).read_bytes()
    return dict(e.split("=", 1) for e in data.decode().split("\0") if e)


def test_remote_variables_are_never_inherited(start_tendd, run_tendctl,
                                              tmp_path, sock_dir):
    """TEND_REMOTE_* in tendd's own environment reach no task: an instance
    of tendctl run and one of a unix listener have none, a tcp one has
    its own."""
    port = free_port()
    path = sock_dir / "u.sock"
    dump = "sh -c 'cat /proc/$$/environ > {}; echo done'"
    d = start_tendd(f"""
        [task:viarun]
        class     = per-request
        directory = {tmp_path}
        command   = {dump.format("run.env")}

        [task:viaunix]
        class     = per-request
        directory = {tmp_path}
        command   = {dump.format("unix.env")}
        listen    = unix:{path}

        [task:viatcp]
        class     = per-request
        directory = {tmp_path}
        command   = {dump.format("tcp.env")}
        listen    = tcp:127.0.0.1:{port}

        [task:web]
        class     = durable
        directory = {tmp_path}
        command   = sh -c 'cat /proc/$$/environ > web.env; exec sleep 1000'
        """, env={"TEND_REMOTE_ADDR": "192.0.2.1",
                  "TEND_REMOTE_PORT": "9"})
    wait_state(run_tendctl, d, "viatcp", "listening")
    wait_state(run_tendctl, d, "viaunix", "listening")
    assert ctl(run_tendctl, d, "run", "viarun", "--wait").returncode == 0
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(CLIENT_TIMEOUT)
        s.connect(str(path))
        assert read_to_eof(s) == b"done\n"
    reply, me = request(port)
    assert reply == b"done\n"
    wait_for(lambda: (tmp_path / "web.env").exists(), what="web.env")
    for name, task in (("run.env", "viarun"), ("unix.env", "viaunix"),
                       ("web.env", "web")):
        env = env_of_handler(tmp_path, name)
        assert env["TEND_TASK"] == task
        assert "TEND_REMOTE_ADDR" not in env and \
            "TEND_REMOTE_PORT" not in env, (name, env)
    env = env_of_handler(tmp_path, "tcp.env")
    assert (env["TEND_TASK"], env["TEND_REMOTE_ADDR"],
            env["TEND_REMOTE_PORT"]) == ("viatcp", "127.0.0.1", str(me[1]))
    assert d.terminate() == 0


def test_daemon_closes_its_copy_of_the_connection(start_tendd, run_tendctl):
    """A handler that closes its stdin and stdout and goes on running: the
    client sees EOF at once, since tendd kept no copy."""
    port = free_port()
    d = start_tendd(f"""
        [task:early]
        class   = per-request
        command = sh -c 'echo hi; exec >/dev/null </dev/null; sleep 5'
        stderr  = null
        listen  = tcp:127.0.0.1:{port}
        """)
    wait_state(run_tendctl, d, "early", "listening")
    t0 = time.monotonic()
    reply, _ = request(port)
    took = time.monotonic() - t0
    assert reply == b"hi\n"
    assert task_of(run_tendctl, d, "early")["active"] == 1
    assert took < 3, f"EOF after {took:.2f}s: tendd kept the connection?"
    assert d.terminate() == 0


def test_exec_failures_and_successes_interleaved(start_tendd, run_tendctl):
    """Each spawn's exec result is its own: a failure reported by one child
    is not taken for the next spawn's, nor missed after a success."""
    d = start_tendd("""
        [task:bad]
        class   = per-request
        command = /nonexistent/tend-test-handler
        [task:good]
        class   = per-request
        command = true
        """)
    wait_state(run_tendctl, d, "good", "idle")
    order = ["bad", "good", "good", "bad", "good", "bad"]
    for name in order:
        r = ctl(run_tendctl, d, "run", name, "--wait")
        assert r.returncode == (127 if name == "bad" else 0), (name, r)
    bad, good = wait_idle(run_tendctl, d, "bad"), \
        wait_idle(run_tendctl, d, "good")
    assert (bad["requests"], bad["failures"]) == (3, 3), bad
    assert (good["requests"], good["failures"]) == (3, 0), good
    assert good["last_exit"] == {"code": 0}, good
    found = d.find(r"^task bad \(pid \d+\): cannot exec "
                   r"/nonexistent/tend-test-handler: No such file")
    assert len(found) == 3, d.tail()
    assert not d.find(r"^task good .*cannot exec"), d.tail()
    assert d.terminate() == 0


# Counters.

def test_exact_counters(start_tendd, run_tendctl):
    port = free_port()
    d = start_tendd(f"""
        [task:counted]
        class   = per-request
        command = sh -c 'read x; case "$x" in fail) exit 1;; esac;
            echo "ok $x"'
        listen  = tcp:127.0.0.1:{port}
        """)
    wait_state(run_tendctl, d, "counted", "listening")
    for word in ["a", "fail", "b", "fail", "c", "d", "fail", "e"]:
        reply, _ = request(port, word.encode() + b"\n")
        assert reply == (b"" if word == "fail" else f"ok {word}\n".encode())
    r = ctl(run_tendctl, d, "run", "counted", "--wait")
    assert r.returncode == 0, r
    r = ctl(run_tendctl, d, "run", "counted")
    assert r.returncode == 0, r
    assert re.fullmatch(r"counted started, pid \d+\n", r.stdout), r
    t = wait_idle(run_tendctl, d, "counted")
    assert (t["state"], t["active"], t["requests"], t["failures"],
            t["last_exit"]) == ("listening", 0, 10, 3, {"code": 0}), t
    # The table says the same.
    r = ctl(run_tendctl, d, "status")
    assert r.returncode == 0, r
    header, row = r.stdout.splitlines()
    assert header.split() == ["NAME", "CLASS", "STATE", "ACTIVE", "REQUESTS",
                              "FAILURES", "LAST-EXIT"]
    assert row.split() == ["counted", "per-request", "listening", "0", "10",
                           "3", "exit", "0"]
    # Failures are logged at err, normal exits only at debug.
    d.wait_log(r"^task counted \(pid \d+\): exit status 0 after", count=7,
               level="debug")
    errs = d.messages("err")
    assert len(errs) == 3, errs
    assert all(re.match(r"task counted \(pid \d+\): exit status 1 after",
                        m) for m in errs), errs
    assert not [m for _, m in d.messages() if "exit status 0" in m and
                not re.match(r"task counted \(pid \d+\): exit status 0 "
                             r"after", m)]
    assert [lvl for lvl, m in d.messages() if "exit status 0" in m] == [
        "debug"] * 7
    assert d.terminate() == 0


@pytest.mark.skipif(os.path.exists("/dev/log"),
                    reason="a syslog socket: tendd logs there, not to stderr")
def test_without_syslog_or_e_only_failed_instances_reach_stderr(
        start_tendd, run_tendctl):
    """With no syslog and no -e, tendd logs on stderr, debug lines left
    out: a failed instance is there, a normal exit is not."""
    port = free_port()
    d = start_tendd(f"""
        [task:quiet]
        class   = per-request
        command = sh -c 'read x; [ "$x" = fail ] && exit 3; echo ok'
        listen  = tcp:127.0.0.1:{port}
        """, mirror=False)
    wait_state(run_tendctl, d, "quiet", "listening")
    for word in ["a", "fail", "b"]:
        reply, _ = request(port, word.encode() + b"\n")
        assert reply == (b"" if word == "fail" else b"ok\n")
    t = wait_idle(run_tendctl, d, "quiet")
    assert (t["requests"], t["failures"]) == (3, 1), t
    d.wait_log(r"^task quiet \(pid \d+\): exit status 3 after", level="err")
    assert not [m for _, m in d.messages() if "exit status 0" in m], d.tail()
    assert not d.messages("debug"), d.tail()
    assert d.terminate() == 0


# Stop and start.

def test_stop_closes_the_listener_and_start_reopens_it(start_tendd,
                                                       run_tendctl):
    port = free_port()
    d = start_tendd(f"""
        [task:echo]
        class   = per-request
        command = sh -c 'read x; echo "got $x"'
        listen  = tcp:127.0.0.1:{port}
        """)
    wait_state(run_tendctl, d, "echo", "listening")
    assert request(port, b"one\n")[0] == b"got one\n"
    # Two clients that send nothing: their instances wait in read.
    waiting = [connect(port) for _ in range(2)]
    try:
        wait_for(lambda: task_of(run_tendctl, d, "echo")["active"] == 2,
                 what="two instances", details=d.tail)
        r = ctl(run_tendctl, d, "stop", "echo")
        assert (r.returncode, r.stdout) == (0, "echo stopped\n"), r
        t = task_of(run_tendctl, d, "echo")
        # Stopped instances are reaped, and not failures.
        assert (t["state"], t["active"], t["requests"], t["failures"]) == (
            "stopped", 0, 3, 0), t
        for s in waiting:
            assert read_to_eof(s) == b""
    finally:
        for s in waiting:
            s.close()
    with pytest.raises(ConnectionRefusedError):
        connect(port).close()
    assert ctl(run_tendctl, d, "run", "echo").returncode == 1
    r = ctl(run_tendctl, d, "start", "echo")
    assert r.returncode == 0, r
    wait_state(run_tendctl, d, "echo", "listening")
    assert request(port, b"two\n")[0] == b"got two\n"
    t = wait_idle(run_tendctl, d, "echo")
    assert (t["requests"], t["failures"]) == (4, 0)
    assert d.terminate() == 0


def test_stopped_instance_is_not_a_timeout(start_tendd, run_tendctl,
                                           tmp_path):
    """An instance that stop is ending (it takes 1.5 s to exit on SIGTERM)
    does not also time out (timeout 1s): no failure, no timeout logged."""
    port = free_port()
    d = start_tendd(f"""
        [task:slowstop]
        class        = per-request
        directory    = {tmp_path}
        command      = sh -c 'trap "sleep 1.5; exit 0" TERM; touch up;
            sleep 1000 & wait'
        listen       = tcp:127.0.0.1:{port}
        timeout      = 1s
        stop_timeout = 10s
        """)
    wait_state(run_tendctl, d, "slowstop", "listening")
    with connect(port) as s:
        wait_for(lambda: (tmp_path / "up").exists(), what="the handler")
        r = ctl(run_tendctl, d, "stop", "slowstop")
        assert (r.returncode, r.stdout) == (0, "slowstop stopped\n"), r
        assert read_to_eof(s) == b""
    t = task_of(run_tendctl, d, "slowstop")
    assert (t["state"], t["active"], t["requests"], t["failures"],
            t["last_exit"]) == ("stopped", 0, 1, 0, {"code": 0}), t
    assert not d.find("timed out|timeout")
    assert not d.messages("err"), d.messages("err")
    assert d.terminate() == 0


# Errors that must not spin.

def test_port_in_use(start_tendd, run_tendctl):
    busy, other = free_port(), free_port()
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", busy))
    blocker.listen()
    try:
        d = start_tendd(f"""
            [task:web]
            class   = durable
            command = sleep 1000

            [task:busy]
            class   = per-request
            command = {ECHO_ADDR}
            listen  = tcp:127.0.0.1:{busy}

            [task:other]
            class   = per-request
            command = {ECHO_ADDR}
            listen  = tcp:127.0.0.1:{other}
            """)
        d.wait_log(rf"^task busy: cannot listen on tcp:127\.0\.0\.1:{busy}: "
                   r".*in use", level="err")
        wait_state(run_tendctl, d, "other", "listening")
        assert task_of(run_tendctl, d, "busy")["state"] == "idle"
        cpu, took = cpu_over(d.pid)
        assert cpu < CPU_MAX, f"{cpu:.2f}s of CPU in {took:.2f}s"
        assert d.alive()
        assert len(d.find(r"^task busy: cannot listen")) <= 10
        reply, me = request(other)
        assert reply == f"other 127.0.0.1 {me[1]}\n".encode()
        r = ctl(run_tendctl, d, "status")
        assert r.returncode == 0, r
        t = task_of(run_tendctl, d, "busy")
        assert (t["state"], t["requests"], t["failures"]) == ("idle", 0, 0)
    finally:
        blocker.close()
    t0 = time.monotonic()
    wait_state(run_tendctl, d, "busy", "listening")
    took = time.monotonic() - t0
    assert took < 10 + (5 if VALGRIND else 1.5), took
    reply, me = request(busy)
    assert reply == f"busy 127.0.0.1 {me[1]}\n".encode()
    assert d.terminate() == 0


def test_emfile_does_not_spin(start_tendd, run_tendctl):
    """With tendd's fd table full (a low soft RLIMIT_NOFILE set with
    prlimit --pid, since tendd raises its own limits at start, and silent
    control clients holding the last fds), connections to a listener make
    accept fail with EMFILE: logged, paused, no spinning; once the fds are
    freed the waiting clients are served."""
    port = free_port()
    d = start_tendd(f"""
        [task:cat]
        class   = per-request
        command = /bin/cat
        stderr  = null
        listen  = tcp:127.0.0.1:{port}
        """)
    wait_state(run_tendctl, d, "cat", "listening")
    limit = max(low_fds(d.pid, 1000)) + 6
    r = run(["prlimit", "--pid", str(d.pid), "--nofile", "--raw",
             "--noheadings", "--output=SOFT,HARD"])
    assert r.returncode == 0, r
    soft, hard = r.stdout.split()
    # The soft limit is what EMFILE is about; the hard one stays, so that
    # the soft one can be restored.
    r = run(["prlimit", "--pid", str(d.pid), f"--nofile={limit}:{hard}"])
    assert r.returncode == 0, r
    hogs, clients = [], []
    try:
        # Take every free fd with silent control clients, one at a time
        # (no control client may be left waiting in the backlog).
        while len(low_fds(d.pid, limit)) < limit:
            n = len(low_fds(d.pid, limit))
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock_of(d))
            hogs.append(s)
            wait_for(lambda: len(low_fds(d.pid, limit)) > n,
                     what="tendd to accept a control client")
        clients = [connect(port) for _ in range(20)]
        d.wait_log(r"^task cat: accept: Too many open files", level="err")
        cpu, took = cpu_over(d.pid)
        assert cpu < CPU_MAX, f"{cpu:.2f}s of CPU in {took:.2f}s"
        assert d.alive()
        assert len(d.find(r"^task cat: accept: ")) <= 15
        for s in hogs:
            s.close()
        hogs = []
        if VALGRIND:
            # valgrind keeps its own fds above the limit it was started
            # with: under the low limit the children it execs fail.
            r = run(["prlimit", "--pid", str(d.pid),
                     f"--nofile={soft}:{hard}"])
            assert r.returncode == 0, r
        # Served again: each waiting client gets its line back.
        for i, s in enumerate(clients):
            s.sendall(b"client %d\n" % i)
            s.shutdown(socket.SHUT_WR)
            assert read_to_eof(s) == b"client %d\n" % i
    finally:
        for s in hogs + clients:
            s.close()
    assert request(port, b"fresh\n")[0] == b"fresh\n"
    t = wait_idle(run_tendctl, d, "cat")
    assert t["requests"] == 21 and t["state"] == "listening", t
    assert d.terminate() == 0

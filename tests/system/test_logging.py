"""The logging path (issue 12, SPEC sections 2, 3 and 6): no log sink ever
blocks tendd's loop, lines that no stalled sink takes are dropped and
counted, and the bytes of task output that a terminal would act on reach
every sink escaped.

A sink is stalled in two ways: tendd's stderr a pipe nobody reads, and a
/dev/log whose reader stops reading. For the second, and to keep a flood
of lines away from the machine's own syslog in the first, tendd runs in a
private mount namespace (unshare -m) whose /dev is a tmpfs of links to the
real /dev's entries, with /dev/log a link to a datagram socket of the
test's, or with no /dev/log at all. This needs root, as the suite does for
the other namespace tests; it is skipped, saying why, where it cannot be
set up.
"""

import json
import os
import re
import select
import socket
import sys
import time
import types

import pytest

from conftest import WAIT, ctl, run, task_of, wait_for, wait_state

PY = sys.executable
VALGRIND = "valgrind" in os.environ.get("TENDD", "")
CTL_TIMEOUT = 30 if VALGRIND else 10  # seconds a tendctl may take
FLOOD = """
    [task:flood]
    class       = durable
    command     = yes
    backoff_min = 0

    [task:other]
    class       = durable
    command     = sleep 1000
"""

# Run "$@" in a private mount namespace whose /dev holds links to every
# entry of the real one, but /dev/log: a link to $2, or absent when $2 is
# empty. The real /dev stays reachable under $1, inside the namespace only.
NAMESPACE_SCRIPT = r"""
set -e
real=$1 log=$2
shift 2
mkdir -p "$real"
mount --rbind /dev "$real"
mount -t tmpfs -o mode=755 tend-test-dev /dev
for entry in "$real"/*; do ln -s "$entry" /dev/; done
rm -f /dev/log
if [ -n "$log" ]; then ln -s "$log" /dev/log; fi
exec "$@"
"""


@pytest.fixture
def private_dev(tmp_path, sock_dir):
    """private_dev(log=None) -> a prefix for start_tendd that runs tendd
    with /dev/log a link to log (a socket path), or with no /dev/log."""
    if os.geteuid() != 0:
        pytest.skip("a private /dev needs root (unshare -m, mount)")
    script = tmp_path / "private-dev.sh"
    script.write_text(NAMESPACE_SCRIPT)

    def _prefix(log=None):
        return ["unshare", "-m", "--propagation", "private", "sh",
                str(script), str(sock_dir / "real-dev"), str(log or "")]

    probe = run([*_prefix(), "sh", "-c", "test -c /dev/null && "
                 "test ! -e /dev/log"])
    if probe.returncode != 0:
        pytest.skip(f"cannot set up a private /dev here: {probe.stderr}")
    return _prefix


@pytest.fixture
def fake_syslog(sock_dir):
    """A datagram socket standing for a syslog daemon's /dev/log. It reads
    nothing until the test calls read_until()."""
    path = sock_dir / "log"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    yield types.SimpleNamespace(sock=s, path=path)
    s.close()


def read_until(s, pattern, timeout=WAIT):
    """Read datagrams from s until one matches pattern; return the match
    and every datagram read (as text)."""
    rx = re.compile(pattern)
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        seen.append(data.decode("utf-8", "replace"))
        m = rx.search(seen[-1])
        if m:
            return m, seen
    pytest.fail(f"no datagram matching {pattern!r} within {timeout}s; "
                f"the last ones: {seen[-5:]}")


def ctl_ok(run_tendctl, d, *args):
    """tendctl ARGS against d: it must answer, and succeed."""
    r = ctl(run_tendctl, d, *args, timeout=CTL_TIMEOUT)
    assert r.returncode == 0, r
    return r


def log_dropped(run_tendctl, d):
    r = ctl(run_tendctl, d, "status", "--json", timeout=CTL_TIMEOUT)
    assert r.returncode == 0, r
    return json.loads(r.stdout)["daemon"]["log_dropped"]


def assert_answers(run_tendctl, d):
    """status answers and a restart completes, with a sink stalled."""
    ctl_ok(run_tendctl, d, "status")
    old = task_of(run_tendctl, d, "other")["pid"]
    r = ctl_ok(run_tendctl, d, "restart", "other")
    assert "other running" in r.stdout, r
    new = task_of(run_tendctl, d, "other")["pid"]
    assert new and new != old


def wait_stalled(run_tendctl, d):
    """Wait until tendd drops lines (again): its sink is full."""
    before = log_dropped(run_tendctl, d)
    wait_for(lambda: log_dropped(run_tendctl, d) > before,
             what="tendd to drop lines for the stalled sink")


def read_pipe_until(fd, pattern, timeout=WAIT):
    """Read the pipe fd until a line matches pattern; return the match."""
    rx = re.compile(pattern, re.M)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            data = (data + os.read(fd, 65536))[-65536:]
            m = rx.search(data.decode("utf-8", "replace"))
            if m:
                return m
    pytest.fail(f"no line matching {pattern!r} within {timeout}s; "
                f"the last bytes: {data[-300:]!r}")


def test_unread_stderr_pipe_does_not_block(start_tendd, run_tendctl,
                                           private_dev):
    """-e with a stderr pipe nobody reads and a task flooding its stdout
    (mirrored there): tendd answers status, restarts a task and exits on
    SIGTERM, and counts the lines it dropped."""
    r, w = os.pipe()
    try:
        d = start_tendd(FLOOD, prefix=private_dev(),
                        preexec_fn=lambda: os.dup2(w, 2))
        os.close(w)
        w = -1
        wait_state(run_tendctl, d, "other", "running")
        wait_stalled(run_tendctl, d)
        assert_answers(run_tendctl, d)
        m = read_pipe_until(r, r"^tendd: warning: (\d+) log lines? dropped$")
        assert int(m[1]) > 0
        wait_stalled(run_tendctl, d)
        assert d.terminate(timeout=CTL_TIMEOUT) == 0
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_stalled_syslog_does_not_block(start_tendd, run_tendctl,
                                       private_dev, fake_syslog):
    """A /dev/log whose reader stalls, a task flooding it: tendd goes on
    supervising; once the reader reads again, a line says how many lines
    were dropped; each task line carries the task's name and pid."""
    d = start_tendd(FLOOD, prefix=private_dev(fake_syslog.path),
                    mirror=False)
    wait_state(run_tendctl, d, "other", "running")
    wait_stalled(run_tendctl, d)
    assert_answers(run_tendctl, d)
    flood = task_of(run_tendctl, d, "flood")["pid"]

    m, seen = read_until(fake_syslog.sock,
                         rf"^<28>\w{{3}} [ \d]\d \d\d:\d\d:\d\d tendd\[{d.pid}\]"
                         r": (\d+) log lines? dropped$")
    assert int(m[1]) > 0
    # daemon.info (3 << 3 | 6), the task's own name and pid as the tag.
    line = re.compile(r"^<30>\w{3} [ \d]\d \d\d:\d\d:\d\d flood\[(\d+)\]: y$")
    pids = {int(x[1]) for x in map(line.match, seen) if x}
    assert flood in pids, seen[:5]
    wait_stalled(run_tendctl, d)
    assert d.terminate(timeout=CTL_TIMEOUT) == 0


def test_task_output_is_escaped_on_stderr(start_tendd):
    """ESC, CR and NUL in a task's line reach stderr as \\x1b, \\x0d and
    \\0: the whole line, and no terminal control."""
    d = start_tendd(r"""
        [task:rude]
        class   = log-only
        command = printf 'a\033[2Jb\rtendd: err: forged\0after\tTAB\177 \303\251\n'
        """)
    d.wait_log(r"^task rude \(pid \d+\): exit status 0")
    raw = d.log_path.read_bytes()
    want = (rb"rude\[\d+\]: a\\x1b\[2Jb\\x0dtendd: err: forged\\0after"
            rb"\tTAB\\x7f \xc3\xa9\n")
    assert re.search(rb"tendd: info: " + want, raw), raw
    assert b"\x1b" not in raw and b"\r" not in raw and b"\0" not in raw
    assert d.terminate() == 0


def test_task_output_is_escaped_in_syslog(start_tendd, run_tendctl,
                                          private_dev, fake_syslog):
    """The same line reaches syslog escaped, tagged NAME[PID]."""
    d = start_tendd(r"""
        [task:rude]
        class   = log-only
        command = printf 'a\033[2Jb\rc\0d\n'
        """, prefix=private_dev(fake_syslog.path), mirror=False)
    m, _ = read_until(fake_syslog.sock, r"rude\[(\d+)\]: (.*)$")
    assert m[2] == r"a\x1b[2Jb\x0dc\0d"
    assert d.terminate() == 0


def test_syslog_daemon_restart_is_followed(start_tendd, run_tendctl,
                                           private_dev, sock_dir):
    """A syslog daemon that restarts (a new socket at the same path) gets
    the lines logged after it is back."""
    path = sock_dir / "log"
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    first.bind(str(path))
    d = start_tendd("""
        [task:other]
        class   = durable
        command = sleep 1000
        """, prefix=private_dev(path), mirror=False)
    wait_state(run_tendctl, d, "other", "running")
    read_until(first, r"tendd\[\d+\]: tend \S+ starting")
    first.close()
    os.unlink(path)
    second = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    second.bind(str(path))
    try:
        ctl_ok(run_tendctl, d, "restart", "other")
        read_until(second, r"tendd\[\d+\]: control: uid \d+ pid \d+: restart")
    finally:
        second.close()
    assert d.terminate() == 0


def test_stream_syslog_socket(start_tendd, private_dev, sock_dir):
    """A /dev/log that is a stream socket gets each message ended by a
    NUL, as the C library sends them."""
    path = sock_dir / "log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(str(path))
        srv.listen(1)
        srv.settimeout(WAIT)
        d = start_tendd(r"""
            [task:hi]
            class   = log-only
            command = printf 'hello\033\n'
            """, prefix=private_dev(path), mirror=False)
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(WAIT)
            data = b""
            while b"exit status 0" not in data:
                chunk = conn.recv(65536)
                assert chunk, data
                data += chunk
    msgs = data.split(b"\0")
    assert re.fullmatch(rb"<30>\w{3} [ \d]\d \d\d:\d\d:\d\d hi\[\d+\]: "
                        rb"hello\\x1b", msgs[1]), msgs
    assert re.match(rb"<30>.* tendd\[\d+\]: task hi \(pid \d+\): exit "
                    rb"status 0", msgs[2]), msgs
    assert d.terminate() == 0

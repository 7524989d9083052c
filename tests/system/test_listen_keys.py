"""The socket file and the clients of per-request listeners (SPEC sections
3, 4, 5 and 6; issue 15, points 6 and 7): listen_mode, listen_user and
listen_group on the socket file, made without following a symlink;
max_per_source per client address (tcp) or uid (unix), with refusals closed
at once, counted in refused and logged at most once a second; the peer's
credentials in TEND_REMOTE_UID/GID/PID; reloads of these keys.

Clients that must stay connected hold an instance that waits for a line.
A second client address is 127.0.0.2, a second uid is nobody (65534).
Every wait is bounded polling.
"""

import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import (CLIENT_TIMEOUT, connect, ctl, free_port, read_to_eof,
                      run, task_of, wait_for, wait_state)

NOBODY = 65534
# An instance that says it started, then waits for a line from its client.
HOLD = "/bin/sh -c 'echo start; read line; echo done'"
ENV_OF_PEER = ("/bin/sh -c 'echo \"$TEND_REMOTE_UID $TEND_REMOTE_GID "
               "$TEND_REMOTE_PID\"'")

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: ownership, nobody")


# Helpers.

def open_to_all(path):
    """Let nobody reach sockets in directory path (sock_dir is 0700)."""
    os.chmod(path, 0o755)


def unix_client(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(CLIENT_TIMEOUT)
    s.connect(str(path))
    return s


def tcp_client(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(CLIENT_TIMEOUT)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def held(s):
    """s's instance started: it said so."""
    assert s.recv(6) == b"start\n"
    return s


def release(*clients):
    """Let each held instance end; what each said last."""
    out = []
    for s in clients:
        s.sendall(b"go\n")
        out.append(read_to_eof(s))
        s.close()
    return out


def closed_at_once(s):
    """s was accepted and closed with nothing said: EOF (or a reset)."""
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


NOBODY_CLIENT = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect(sys.argv[1])
    except OSError as e:
        print("error", e.errno)
        sys.exit(0)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print("reply", data.decode().strip())
    """)


def as_nobody(path):
    """Connect to unix socket path as nobody (uid and gid 65534, no other
    group): ("error", errno) or ("reply", what it said), and its pid."""
    p = subprocess.Popen([sys.executable, "-c", NOBODY_CLIENT, str(path)],
                         stdout=subprocess.PIPE, text=True, user=NOBODY,
                         group=NOBODY, extra_groups=[])
    out, _ = p.communicate(timeout=CLIENT_TIMEOUT)
    kind, _, rest = out.strip().partition(" ")
    return kind, rest, p.pid


def metric(run_tendctl, d, family, task):
    r = ctl(run_tendctl, d, "metrics")
    assert r.returncode == 0, r
    m = re.search(rf'^{family}{{task="{task}",class="per-request"}} (\S+)$',
                  r.stdout, re.M)
    assert m, r.stdout
    return float(m[1])


def unix_task(path, extra=""):
    return f"""
        [task:u]
        class   = per-request
        command = {HOLD}
        listen  = unix:{path}
        {extra}
        """


# Point 6: the socket file.

def test_default_mode_lets_everyone_in(start_tendd, run_tendctl, sock_dir):
    """Without listen_mode the file is 0666 whatever tendd's umask (0077
    here), owned by tendd; nobody can connect and be served; no private
    directory is left beside it."""
    open_to_all(sock_dir)
    path = sock_dir / "u.sock"
    d = start_tendd(unix_task(path).replace(HOLD, ENV_OF_PEER),
                    preexec_fn=lambda: os.umask(0o077))
    wait_state(run_tendctl, d, "u", "listening")
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
        (0o666, os.geteuid(), os.getegid())
    kind, reply, pid = as_nobody(path)
    assert (kind, reply) == ("reply", f"{NOBODY} {NOBODY} {pid}")
    assert not [n for n in os.listdir(sock_dir) if n.startswith(".tendd-")]
    assert d.terminate() == 0
    assert not os.path.lexists(path)


def test_given_mode_user_group(start_tendd, run_tendctl, sock_dir):
    """listen_mode, listen_user and listen_group (names or ids) are the
    file's; 0600 shuts nobody out (EACCES) while root gets in."""
    open_to_all(sock_dir)
    a, b = sock_dir / "a.sock", sock_dir / "b.sock"
    d = start_tendd(f"""
        [task:a]
        class        = per-request
        command      = {ENV_OF_PEER}
        listen       = unix:{a}
        listen_mode  = 0640
        listen_user  = nobody
        listen_group = nogroup

        [task:b]
        class        = per-request
        command      = {ENV_OF_PEER}
        listen       = unix:{b}
        listen_mode  = 600
        listen_group = {NOBODY}
        """)
    wait_state(run_tendctl, d, "a", "listening")
    wait_state(run_tendctl, d, "b", "listening")
    st = os.lstat(a)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
        (0o640, NOBODY, NOBODY)
    st = os.lstat(b)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
        (0o600, os.geteuid(), NOBODY)
    assert as_nobody(b)[:2] == ("error", "13")  # EACCES
    with unix_client(b) as s:
        assert read_to_eof(s) == f"0 0 {os.getpid()}\n".encode()
    assert d.terminate() == 0


def test_symlink_at_the_path_is_replaced(start_tendd, run_tendctl, sock_dir,
                                         tmp_path):
    """A symlink planted at the path is replaced by the socket; its target
    is neither followed nor changed (mode, owner, content)."""
    target = tmp_path / "precious"
    target.write_text("keep\n")
    os.chmod(target, 0o600)
    path = sock_dir / "u.sock"
    os.symlink(target, path)
    d = start_tendd(unix_task(path, "listen_mode = 0666\n"
                                    f"        listen_user = {NOBODY}"))
    wait_state(run_tendctl, d, "u", "listening")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    st = os.stat(target)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    assert target.read_text() == "keep\n"
    assert d.terminate() == 0
    assert not os.path.lexists(path)  # its own socket file, removed
    assert target.read_text() == "keep\n"


def test_regular_file_at_the_path_is_kept(start_tendd, sock_dir):
    """A file that is not a socket is never replaced: the listener says
    why and retries."""
    path = sock_dir / "u.sock"
    path.write_text("data\n")
    d = start_tendd(unix_task(path))
    d.wait_log(r"^task u: cannot listen on unix:.*: File exists; retrying",
               level="err")
    assert path.read_text() == "data\n"
    assert d.terminate() == 0
    assert path.read_text() == "data\n"


def test_listen_keys_need_a_unix_listen(run_tendd, write_manifest):
    """listen_mode, listen_user and listen_group with a tcp listen, or with
    none, are errors with FILE:LINE; a bad max_per_source too."""
    path = write_manifest(f"""
        [task:t]
        class        = per-request
        command      = /bin/true
        listen       = tcp:127.0.0.1:{free_port()}
        listen_mode  = 0600
        listen_user  = nobody
        max_per_source = -1

        [task:n]
        class        = per-request
        command      = /bin/true
        listen_group = nogroup
        listen_mode  = 0999

        [task:d]
        class        = durable
        command      = /bin/true
        max_per_source = 2
        """)
    r = run_tendd("--check", "-f", path)
    assert r.returncode == 1, r
    for line, what in ((5, "listen_mode applies to a unix listen socket"),
                       (6, "listen_user applies to a unix listen socket"),
                       (7, "max_per_source = -1: not a number"),
                       (12, "listen_group applies to a unix listen socket"),
                       (13, "listen_mode = 0999: "),
                       (18, "key 'max_per_source' does not apply")):
        assert re.search(rf"^{re.escape(str(path))}:{line}: {what}",
                         r.stderr, re.M), (line, r.stderr)


# Point 7: max_per_source.

def test_tcp_cap_per_address(start_tendd, run_tendctl):
    """max_per_source = 2: a third client from 127.0.0.1 is accepted and
    closed at once, counted in refused (JSON and metrics) and logged, while
    127.0.0.2 is served; once one ends, 127.0.0.1 is served again."""
    port = free_port()
    d = start_tendd(f"""
        [task:t]
        class          = per-request
        command        = {HOLD}
        listen         = tcp:127.0.0.1:{port}
        max_per_source = 2
        """)
    wait_state(run_tendctl, d, "t", "listening")
    one, two = held(tcp_client(port)), held(tcp_client(port))
    third = tcp_client(port)
    assert closed_at_once(third)
    other = held(tcp_client(port, "127.0.0.2"))
    t = task_of(run_tendctl, d, "t")
    assert (t["active"], t["requests"], t["refused"]) == (3, 3, 1)
    assert metric(run_tendctl, d, "tend_task_refused_total", "t") == 1
    d.wait_log(r"^task t: refused a connection from 127\.0\.0\.1: "
               r"max_per_source \(2\) reached", level="warning")
    assert release(one) == [b"done\n"]
    wait_for(lambda: task_of(run_tendctl, d, "t")["active"] == 2)
    again = held(tcp_client(port))
    assert release(two, other, again) == [b"done\n"] * 3
    t = task_of(run_tendctl, d, "t")
    assert (t["requests"], t["failures"], t["refused"]) == (4, 0, 1)
    assert d.terminate() == 0


def test_refusals_logged_once_a_second(start_tendd, run_tendctl):
    """A burst of refusals makes one line at once and then at most one a
    second, which together count every refusal."""
    port = free_port()
    d = start_tendd(f"""
        [task:t]
        class          = per-request
        command        = {HOLD}
        listen         = tcp:127.0.0.1:{port}
        max_per_source = 1
        """)
    wait_state(run_tendctl, d, "t", "listening")
    holder = held(tcp_client(port))
    burst, start = 40, time.monotonic()
    for _ in range(burst):
        assert closed_at_once(tcp_client(port))
    spent = time.monotonic() - start
    rx = re.compile(r"^task t: refused (a|\d+) connections?")
    seen = {}  # line index: when first seen

    def all_counted():
        msgs = [m for m in d.messages("warning") if rx.search(m)]
        for i in range(len(msgs)):
            seen.setdefault(i, time.monotonic())
        n = sum(1 if rx.search(m)[1] == "a" else int(rx.search(m)[1])
                for m in msgs)
        return msgs if n >= burst else None
    msgs = wait_for(all_counted, what=f"{burst} refusals logged",
                    details=d.tail)
    assert len(msgs) <= spent + 2, (spent, msgs)
    times = [seen[i] for i in range(len(msgs))]
    assert all(b - a > 0.5 for a, b in zip(times, times[1:])), times
    assert task_of(run_tendctl, d, "t")["refused"] == burst
    release(holder)
    assert d.terminate() == 0


def test_unix_cap_per_uid(start_tendd, run_tendctl, sock_dir):
    """On a unix socket the client is the peer's uid: root at the cap is
    refused while nobody is served."""
    open_to_all(sock_dir)
    path = sock_dir / "u.sock"
    d = start_tendd(unix_task(path, "max_per_source = 1"))
    wait_state(run_tendctl, d, "u", "listening")
    holder = held(unix_client(path))
    assert closed_at_once(unix_client(path))
    kind, reply, _ = as_nobody_holding(path)
    assert (kind, reply) == ("reply", "start")
    t = task_of(run_tendctl, d, "u")
    assert t["refused"] == 1
    assert release(holder) == [b"done\n"]
    assert d.terminate() == 0


def as_nobody_holding(path):
    """As nobody, connect, read the first line, and hang up."""
    code = NOBODY_CLIENT.replace("data = b\"\"\n", textwrap.dedent("""
        print("reply", s.recv(6).decode().strip())
        sys.exit(0)
        """))
    p = subprocess.Popen([sys.executable, "-c", code, str(path)],
                         stdout=subprocess.PIPE, text=True, user=NOBODY,
                         group=NOBODY, extra_groups=[])
    out, _ = p.communicate(timeout=CLIENT_TIMEOUT)
    kind, _, rest = out.strip().partition(" ")
    return kind, rest, p.pid


# Reloads: max_per_source in place, listen_* reopen the socket.

def test_reload_max_per_source_in_place(start_tendd, run_tendctl,
                                        write_manifest):
    port = free_port()
    text = f"""
        [task:t]
        class          = per-request
        command        = {HOLD}
        listen         = tcp:127.0.0.1:{port}
        max_per_source = 1
        """
    path = write_manifest(text)
    d = start_tendd(path)
    wait_state(run_tendctl, d, "t", "listening")
    holder = held(tcp_client(port))
    assert closed_at_once(tcp_client(port))
    write_manifest(text.replace("max_per_source = 1", "max_per_source = 2"))
    r = ctl(run_tendctl, d, "reload")
    assert (r.returncode, r.stdout) == (0, "updated t\n"), r
    second = held(tcp_client(port))  # the running one still counts
    assert closed_at_once(tcp_client(port))
    t = task_of(run_tendctl, d, "t")
    assert (t["active"], t["refused"]) == (2, 2), t
    assert release(holder, second) == [b"done\n"] * 2
    assert d.terminate() == 0


def test_reload_listen_mode_in_place(start_tendd, run_tendctl, write_manifest,
                                     sock_dir):
    """A reload of listen_mode gives the socket file its new mode in place
    (the same file, so its queued connections stay: test_listen_faults);
    an instance already running is not disturbed."""
    sock = sock_dir / "u.sock"
    path = write_manifest(unix_task(sock))
    d = start_tendd(path)
    wait_state(run_tendctl, d, "u", "listening")
    before = os.lstat(sock)
    holder = held(unix_client(sock))
    write_manifest(unix_task(sock, "listen_mode = 0660"))
    r = ctl(run_tendctl, d, "reload")
    assert (r.returncode, r.stdout) == (0, "updated u\n"), r
    wait_state(run_tendctl, d, "u", "listening")
    after = os.lstat(sock)
    assert stat.S_IMODE(before.st_mode) == 0o666
    assert stat.S_IMODE(after.st_mode) == 0o660
    assert after.st_ino == before.st_ino
    with unix_client(sock) as s:
        assert held(s)
        assert release(s, holder) == [b"done\n"] * 2
    assert d.terminate() == 0

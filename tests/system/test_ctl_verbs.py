"""tendctl's verbs beyond status and the state changes (SPEC section 6, issue
13): log (the ring, -n, -f, a follower that never reads), metrics, `all` as
a task name, -h and -V, and what an unprivileged peer may ask (section 7).

Every wait is bounded polling (conftest.wait_for); timeouts are generous
enough for tendd under valgrind.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

from conftest import (TIMEOUT, WAIT, ctl, ctl_popen, finish, run, sock_of,
                      status_json, task_of, wait_for, wait_state)

PY = sys.executable
VALGRIND = "valgrind" in os.environ.get("TENDD", "")
LATENCY = 5.0 if VALGRIND else 1.0  # seconds a status may take


def wait_up(run_tendctl, d):
    """Wait until tendd answers on its control socket."""
    def up():
        return ctl(run_tendctl, d, "status").returncode != 4 or not d.alive()
    wait_for(up, what="the control socket", details=d.tail)
    assert d.alive(), d.tail()


def as_nobody(tendctl_bin, *args):
    return run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                "--clear-groups", tendctl_bin, *args])


# metrics.

def test_metrics_prints_the_exposition(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    r = ctl(run_tendctl, d, "metrics")
    assert r.returncode == 0, r
    assert r.stderr == ""
    assert "# TYPE tend_up gauge\n" in r.stdout
    assert "\ntend_up 1\n" in r.stdout
    assert r.stdout.endswith("\n")
    assert ctl(run_tendctl, d, "metrics", "web").returncode == 1


# log.

def log_bytes(tendctl_bin, tend_env, d, *args):
    """(status, stdout bytes, stderr) of tendctl log ARGS against d."""
    p = subprocess.run([tendctl_bin, "-s", sock_of(d), "log", *args],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       env=tend_env, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


# Writes to stdout and stderr in turn, apart in time so that their order
# of arrival is the order of writing, then (durable) sleeps.
INTERLEAVE = r"""
import sys, time
for i in range(3):
    sys.stdout.buffer.write(b"out %d\tx\xffy\n" % i); sys.stdout.flush()
    time.sleep(0.2)
    sys.stderr.buffer.write(b"err %d\n" % i); sys.stderr.flush()
    time.sleep(0.2)
sys.stdout.write("done\n"); sys.stdout.flush()
time.sleep(1000)
"""

WANT = [b"out 0\tx\xffy", b"err 0", b"out 1\tx\xffy", b"err 1",
        b"out 2\tx\xffy", b"err 2", b"done"]


def test_log_interleaves_streams_byte_exact(start_tendd, run_tendctl,
                                            tendctl_bin, tend_env, tmp_path):
    script = tmp_path / "inter.py"
    script.write_text(INTERLEAVE)
    d = start_tendd(f"""
        [task:inter]
        class   = durable
        command = {PY} {script}
        """)
    wait_state(run_tendctl, d, "inter", "running")

    def all_there():
        code, out, _ = log_bytes(tendctl_bin, tend_env, d, "inter")
        return code == 0 and out.endswith(b"done\n")
    wait_for(all_there, what="the task's 7 lines in its log",
             details=d.tail)
    code, out, err = log_bytes(tendctl_bin, tend_env, d, "inter")
    assert (code, err) == (0, "")
    assert out.split(b"\n") == WANT + [b""]
    code, out, err = log_bytes(tendctl_bin, tend_env, d, "inter", "-n", "2")
    assert (code, out, err) == (0, b"err 2\ndone\n", "")
    code, out, err = log_bytes(tendctl_bin, tend_env, d, "inter", "-n",
                               "1000")
    assert out.split(b"\n") == WANT + [b""]


def test_log_outlives_the_process(start_tendd, run_tendctl, tendctl_bin,
                                  tend_env):
    d = start_tendd("""
        [task:once]
        class   = log-only
        command = sh -c 'for i in $(seq 1 80); do echo line $i; done; sleep 0.3; echo bye >&2'
        """)
    wait_state(run_tendctl, d, "once", "done")
    code, out, err = log_bytes(tendctl_bin, tend_env, d, "once")
    assert (code, err) == (0, "")
    lines = out.decode().splitlines()
    # 50 by default: the last 49 of stdout, then stderr's.
    assert lines == [f"line {i}" for i in range(32, 81)] + ["bye"]
    code, out, err = log_bytes(tendctl_bin, tend_env, d, "once", "-n", "3")
    assert out == b"line 79\nline 80\nbye\n"


def test_log_of_a_task_that_printed_nothing(start_tendd, run_tendctl,
                                            tendctl_bin, tend_env):
    d = start_tendd("""
        [task:quiet]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "quiet", "running")
    assert log_bytes(tendctl_bin, tend_env, d, "quiet") == (0, b"", "")


def test_log_unknown_task_and_usage(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_up(run_tendctl, d)
    r = ctl(run_tendctl, d, "log", "nosuch")
    assert r.returncode == 1 and "unknown task" in r.stderr, r
    for args in (["log"], ["log", "web", "web"], ["log", "web", "-n", "0"],
                 ["log", "web", "-n"], ["log", "web", "-x"]):
        r = ctl(run_tendctl, d, *args)
        assert r.returncode == 1 and r.stdout == "", (args, r)


def raw_answer(d, request):
    """The answer lines of tendd to one raw request line, until "end"."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT)
        s.connect(sock_of(d))
        s.sendall(request)
        data = b""
        while not data.endswith(b"\n") or b"\nend " not in b"\n" + data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode().splitlines()


def test_log_lines_carry_the_instance_pid(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:job]
        class   = per-request
        command = sh -c 'echo I am $$'
        """)
    wait_state(run_tendctl, d, "job", "idle")
    pids = []
    for _ in range(2):
        r = ctl(run_tendctl, d, "run", "job")
        assert r.returncode == 0, r
        pids.append(int(r.stdout.split()[-1]))
        wait_for(lambda: f"I am {pids[-1]}\n" in
                 ctl(run_tendctl, d, "log", "job").stdout,
                 what="the instance's line")
    lines = [ln for ln in raw_answer(d, b"request v=1 cmd=log task=job\n")
             if ln.startswith("line ")]
    assert [dict(f.split("=", 1) for f in ln.split()[1:]) for ln in lines] \
        == [{"data": f"I%20am%20{p}", "stream": "out", "pid": str(p)}
            for p in pids]


# Prints "tick N" every 0.2 s.
TICKER = "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def follow(tendctl_bin, tend_env, d, tmp_path, *args, name="follow"):
    """tendctl log -f ARGS in the background, its stdout to a file."""
    out = open(tmp_path / f"{name}.out", "wb")
    err = open(tmp_path / f"{name}.err", "wb")
    p = subprocess.Popen([tendctl_bin, "-s", sock_of(d), "log", "-f", *args],
                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                         env=tend_env, start_new_session=True)
    out.close()
    err.close()
    return p


def lines_of(path):
    return path.read_bytes().decode(errors="replace").splitlines()


def ended(p):
    try:
        return p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        pytest.fail("tendctl log -f still running")


def test_log_follow_until_the_task_is_removed(start_tendd, run_tendctl,
                                              tendctl_bin, tend_env,
                                              tmp_path, write_manifest):
    d = start_tendd(write_manifest(f"""
        [task:tick]
        class   = durable
        command = sh -c '{TICKER}'
        [task:other]
        class   = durable
        command = sleep 1000
        """))
    wait_state(run_tendctl, d, "tick", "running")
    wait_for(lambda: log_bytes(tendctl_bin, tend_env, d, "tick")[1],
             what="a first tick")
    p = follow(tendctl_bin, tend_env, d, tmp_path, "tick", "-n", "1")
    out = tmp_path / "follow.out"
    wait_for(lambda: len(lines_of(out)) >= 4,
             what="ticks written after the follower came", details=d.tail)
    got = lines_of(out)
    first = int(got[0].split()[1])
    assert got[:4] == [f"tick {first + i}" for i in range(4)]
    write_manifest("""
        [task:other]
        class   = durable
        command = sleep 1000
        """)
    assert ctl(run_tendctl, d, "reload").returncode == 0
    assert ended(p) == 0
    assert "tick removed by a reload" in (tmp_path / "follow.err").read_text()
    assert p.poll() == 0
    assert d.alive()


def test_log_follow_until_tendd_exits(start_tendd, run_tendctl, tendctl_bin,
                                      tend_env, tmp_path):
    d = start_tendd("""
        [task:quiet]
        class   = durable
        command = sh -c 'echo hello; exec sleep 1000'
        """)
    wait_state(run_tendctl, d, "quiet", "running")
    wait_for(lambda: log_bytes(tendctl_bin, tend_env, d, "quiet")[1],
             what="the first line")
    p = follow(tendctl_bin, tend_env, d, tmp_path, "quiet")
    out = tmp_path / "follow.out"
    wait_for(lambda: lines_of(out) == ["hello"], what="the line so far")
    d.signal(signal.SIGTERM)
    assert ended(p) == 0
    assert lines_of(out) == ["hello"]
    d.wait()


def test_log_follower_outlasts_the_idle_timer(start_tendd, run_tendctl,
                                              tendctl_bin, tend_env,
                                              tmp_path):
    d = start_tendd("""
        [task:quiet]
        class   = durable
        command = sh -c 'read x <&3 || true; exec sleep 1000'
        """)
    wait_state(run_tendctl, d, "quiet", "running")
    p = follow(tendctl_bin, tend_env, d, tmp_path, "quiet")
    deadline = time.monotonic() + 12  # CLIENT_IDLE is 10 s
    wait_for(lambda: time.monotonic() > deadline or p.poll() is not None,
             timeout=20, what="12 s")
    assert p.poll() is None, "the follower was dropped while idle"
    p.kill()
    p.wait()


# 4000 lines of 200 bytes a second: far more than a ring holds.
FLOOD = """
import sys, time
while True:
    sys.stdout.write(("x" * 200 + "\\n") * 200)
    sys.stdout.flush()
    time.sleep(0.05)
"""


def test_a_follower_that_never_reads_stalls_nobody(start_tendd, run_tendctl,
                                                   tendctl_bin, tend_env,
                                                   tmp_path):
    flood = tmp_path / "flood.py"
    flood.write_text(FLOOD)
    d = start_tendd(f"""
        [task:flood]
        class   = durable
        command = {PY} {flood}
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "flood", "running")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(sock_of(d))
    s.sendall(b"request v=1 cmd=log task=flood follow=1\n")
    try:
        # The flood goes on; tendd answers everyone else at once.
        for _ in range(10):
            t0 = time.monotonic()
            code, st = status_json(run_tendctl, d, "web")
            assert code == 0
            assert time.monotonic() - t0 < LATENCY
        # A follower that reads goes on past what it missed.
        p = follow(tendctl_bin, tend_env, d, tmp_path, "flood", "-n", "5")
        wait_for(lambda: len(lines_of(tmp_path / "follow.out")) > 3000,
                 what="the flood, followed")
        p.kill()
        p.wait()
        assert set(lines_of(tmp_path / "follow.out")[:3000]) == {"x" * 200}
        # The one that did not read is told what it missed once it reads.
        s.settimeout(TIMEOUT)
        got = b""
        deadline = time.monotonic() + 30
        while b"\nskipped n=" not in got and time.monotonic() < deadline:
            got = got[-100:] + s.recv(65536)
        assert b"\nskipped n=" in got
    finally:
        s.close()
    wait_state(run_tendctl, d, "web", "running")
    assert d.alive()


# all.

ALL = """
    [task:a]
    class   = durable
    command = sleep 1000
    [task:b]
    class   = durable
    command = sleep 1000
    """


def pids(run_tendctl, d):
    return {t["name"]: t["pid"] for t in status_json(run_tendctl, d)[1]
            ["tasks"]}


def test_all_names_every_task(start_tendd, run_tendctl):
    d = start_tendd(ALL)
    wait_state(run_tendctl, d, "a", "running")
    wait_state(run_tendctl, d, "b", "running")
    r = ctl(run_tendctl, d, "stop", "all")
    assert r.returncode == 0, r
    assert sorted(r.stdout.splitlines()) == ["a stopped", "b stopped"]
    assert set(pids(run_tendctl, d).values()) == {None}
    r = ctl(run_tendctl, d, "start", "all")
    assert r.returncode == 0, r
    assert sorted(r.stdout.splitlines()) == ["a running", "b running"]
    before = pids(run_tendctl, d)
    assert None not in before.values()
    r = ctl(run_tendctl, d, "restart", "all")
    assert r.returncode == 0, r
    after = pids(run_tendctl, d)
    assert all(after[n] and after[n] != before[n] for n in "ab")
    r = ctl(run_tendctl, d, "signal", "TERM", "all")
    assert r.returncode == 0, r
    for n in "ab":
        wait_for(lambda: (t := status_json(run_tendctl, d, n)[1]["tasks"][0])
                 ["restarts"] == 1 and t["pid"] not in (None, after[n]),
                 what=f"{n} restarted after SIGTERM")
    r = ctl(run_tendctl, d, "log", "all")
    assert r.returncode == 1, r


# -h, -V.

@pytest.mark.parametrize("opt", ["-h", "--help"])
def test_help(run_tendctl, opt):
    r = run_tendctl(opt)
    assert (r.returncode, r.stderr) == (0, ""), r
    assert r.stdout.startswith("usage: tendctl [-s SOCKET] COMMAND [ARGS]\n"
                               "       tendctl -h | --help | -V | --version\n")
    for cmd in ("status", "start", "stop", "restart", "signal", "run",
                "reload", "log NAME [-n N] [-f]", "metrics", "shutdown"):
        assert cmd in r.stdout


@pytest.mark.parametrize("opt", ["-V", "--version"])
def test_version(run_tendctl, opt):
    r = run_tendctl(opt)
    assert (r.returncode, r.stderr) == (0, ""), r
    assert r.stdout.startswith("tendctl ")
    assert len(r.stdout.split()) == 2 and r.stdout.endswith("\n")


# Unprivileged peers (SPEC section 7).

def test_unprivileged_peer_may_read_log_and_metrics(start_tendd, run_tendctl,
                                                    tendctl_bin, sock_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root to run tendctl as nobody")
    os.chmod(sock_dir, 0o755)
    d = start_tendd("""
        [tend]
        socket_mode = 0666
        [task:web]
        class   = durable
        command = sh -c 'echo hello web; exec sleep 1000'
        """)
    wait_state(run_tendctl, d, "web", "running")
    wait_for(lambda: ctl(run_tendctl, d, "log", "web").stdout,
             what="web's line")
    r = as_nobody(tendctl_bin, "-s", sock_of(d), "log", "web")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello web\n", ""), r
    r = as_nobody(tendctl_bin, "-s", sock_of(d), "metrics")
    assert r.returncode == 0 and "tend_up 1" in r.stdout, r
    r = as_nobody(tendctl_bin, "-s", sock_of(d), "stop", "all")
    assert r.returncode == 1 and "permission" in r.stderr, r


# Found in review.

def test_run_all_is_refused(start_tendd, run_tendctl, write_manifest):
    """run takes one task: "all" is refused, with no task at all as with
    some (it crashed tendd with an empty manifest)."""
    d = start_tendd(write_manifest("""
        [tend]
        stop_timeout = 5s
        """))
    wait_up(run_tendctl, d)
    r = ctl(run_tendctl, d, "run", "all")
    assert r.returncode == 1 and "usage" in r.stderr, r
    assert d.alive(), d.tail()
    write_manifest("""
        [task:job]
        class   = log-only
        command = true
        autostart = no
        """)
    assert ctl(run_tendctl, d, "reload").returncode == 0
    r = ctl(run_tendctl, d, "run", "all")
    assert r.returncode == 1 and "usage" in r.stderr, r
    assert status_json(run_tendctl, d, "job")[1]["tasks"][0]["pid"] is None


def read_slowly(s, deadline):
    """What s sends until "end", read 4 KiB at a time with pauses, or what
    came by the deadline."""
    data = b""
    while b"\nend " not in b"\n" + data and time.monotonic() < deadline:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
        time.sleep(0.01)
    return data


def test_log_without_follow_ends_at_the_request(start_tendd, run_tendctl):
    """log -n N of a task that floods: the last N lines of the request's
    time, then the end, however slowly the client reads."""
    d = start_tendd(f"""
        [task:flood]
        class   = durable
        command = {PY} -c "import itertools;[print('line', i, flush=i % 64 == 0) for i in itertools.count()]"
        """)
    wait_state(run_tendctl, d, "flood", "running")

    def printed():
        last = [x for x in raw_answer(d, b"request v=1 cmd=log task=flood "
                                         b"lines=1\n") if x.startswith("line ")]
        return last and int(last[0].split("%20")[1].split()[0]) >= 2000

    # More than the ring keeps; tendd under valgrind is slow to get there.
    wait_for(printed, timeout=WAIT * (6 if VALGRIND else 1),
             what="a full ring")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(TIMEOUT)
        s.connect(sock_of(d))
        s.sendall(b"request v=1 cmd=log task=flood lines=1000\n")
        data = read_slowly(s, time.monotonic() + TIMEOUT * 2)
    lines = data.decode().splitlines()
    assert lines and lines[-1].startswith("end "), lines[-3:]
    assert len([x for x in lines if x.startswith("line ")]) <= 1000
    assert d.alive(), d.tail()


def test_metrics_across_a_reload_writes_no_series_twice(
        start_tendd, run_tendctl, write_manifest):
    """A reload that adds tasks ahead of the others while a metrics answer
    is half read: every series of the answer appears once."""
    old = "".join(f"[task:t{i}]\nclass = per-request\ncommand = true\n"
                  for i in range(1000))
    d = start_tendd(write_manifest(old))
    wait_up(run_tendctl, d)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(TIMEOUT)
        s.connect(sock_of(d))
        s.sendall(b"request v=1 cmd=metrics\n")
        data = s.recv(4096)
        new = "".join(f"[task:n{i}]\nclass = per-request\ncommand = true\n"
                      for i in range(300))
        write_manifest(new + old)
        assert ctl(run_tendctl, d, "reload").returncode == 0
        data += read_slowly(s, time.monotonic() + TIMEOUT * 4)
    text = b""
    for line in data.split(b"\n"):
        if line.startswith(b"text data="):
            text += urllib.parse.unquote_to_bytes(line[len(b"text data="):])
    assert data.rstrip().split(b"\n")[-1].startswith(b"end code=0")
    series = [x.rsplit(" ", 1)[0] for x in text.decode().splitlines()
              if x and not x.startswith("#")]
    dup = {x for x in series if series.count(x) > 1}
    assert not dup, sorted(dup)[:5]
    assert 'tend_task_up{task="t999",class="per-request"}' in series

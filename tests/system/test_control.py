"""tendctl and the control socket (SPEC sections 2, 6 and 7; issue 4): every
command and exit code of tendctl against a real tendd, the status table and
its JSON checked field by field, the socket's life (refusing a second tendd,
replacing a stale file, socket_mode), peer credentials, and robustness
against garbage, silent and half-sent requests.

Every wait is bounded polling (conftest.wait_for). Latency and CPU bounds
are lenient when $TENDD runs tendd under valgrind.
"""

import grp
import json
import os
import pathlib
import re
import resource
import signal
import socket
import stat
import sys
import threading
import time

import pytest

from conftest import (TIMEOUT, ProcRef, cpu_seconds, ctl, ctl_popen, finish,
                      free_port, gone, low_fds, proc_stat, processes_with_env,
                      run, sock_of, status_json, task_of, wait_for, wait_state)

PY = sys.executable
VALGRIND = "valgrind" in os.environ.get("TENDD", "")
LATENCY = 5.0 if VALGRIND else 1.0  # seconds: "well under a second"
CPU_MAX = 1.0 if VALGRIND else 0.5  # seconds of CPU over a 2 s window
NEVER = 1.5  # seconds to watch for something that must not happen

TABLE_COLUMNS = ["NAME", "CLASS", "STATE", "PID", "UPTIME", "RESTARTS",
                 "LAST-EXIT"]
REQUEST_COLUMNS = ["NAME", "CLASS", "STATE", "ACTIVE", "REQUESTS", "FAILURES",
                   "LAST-EXIT"]
DAEMON_KEYS = ["pid", "version", "manifest", "uptime_s", "log_dropped",
               "notify_dropped"]
TASK_KEYS = ["name", "class", "state", "pid", "uptime_s", "restarts",
             "next_start_in_s", "last_exit", "active", "requests", "failures",
             "refused", "ready", "waiting_for", "status_text", "health",
             "health_failures"]
DURATION = re.compile(r"\d+ms|\d+\.\ds|\d+m\d\ds|\d+h\d\dm|\d+d\d\dh")


# Helpers.

def wait_up(run_tendctl, d):
    """Wait until tendd answers on its control socket."""
    def up():
        r = ctl(run_tendctl, d, "status")
        return r.returncode != 4 or not d.alive()
    wait_for(up, what="the control socket", details=d.tail)
    assert d.alive(), d.tail()


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def unix_connect(path, timeout=TIMEOUT):
    """A connected socket; a full backlog (EAGAIN) is waited out."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def read_answer(s, limit=1 << 22):
    """What s sends until EOF or a reset, at most about limit bytes."""
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return data
        if not chunk:
            break
        data += chunk
    return data


def exchange(path, data, timeout=TIMEOUT):
    """Send data on a new control connection; return the answer to EOF."""
    with unix_connect(path, timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_answer(s)


def table(text):
    """Parse one aligned table: (columns, [row dict]), checking that every
    row's cells start exactly under their header, two spaces apart."""
    lines = text.split("\n")
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    columns = header.split()
    rows = []
    for line in lines[1:]:
        assert line == line.rstrip(), f"trailing blanks in {line!r}"
        for c, start in enumerate(starts[1:], 1):
            assert line[start - 2:start] == "  " and line[start] != " ", (
                f"column {columns[c]} not aligned in\n{header}\n{line}")
        cells = [line[a:b].strip() for a, b in
                 zip(starts, starts[1:] + [len(line)])]
        rows.append(dict(zip(columns, cells)))
    return columns, rows


def check_json_shape(doc):
    """The exact key sets, order and types of SPEC section 6."""
    assert list(doc) == ["daemon", "tasks"]
    daemon = doc["daemon"]
    assert list(daemon) == DAEMON_KEYS
    assert is_count(daemon["pid"])
    assert isinstance(daemon["version"], str) and daemon["version"]
    assert isinstance(daemon["manifest"], str)
    assert is_number(daemon["uptime_s"]) and daemon["uptime_s"] >= 0
    assert is_count(daemon["log_dropped"])
    assert is_count(daemon["notify_dropped"])
    assert isinstance(doc["tasks"], list)
    for t in doc["tasks"]:
        assert list(t) == TASK_KEYS, t
        assert isinstance(t["name"], str)
        assert t["class"] in ("durable", "log-only", "per-request")
        assert isinstance(t["state"], str)
        assert t["pid"] is None or is_count(t["pid"]), t
        assert (t["uptime_s"] is None) == (t["pid"] is None), t
        assert t["uptime_s"] is None or (is_number(t["uptime_s"])
                                         and t["uptime_s"] >= 0), t
        assert is_count(t["restarts"]), t
        if t["state"] == "backoff":
            assert is_number(t["next_start_in_s"]), t
        else:
            assert t["next_start_in_s"] is None, t
        le = t["last_exit"]
        assert le is None or (isinstance(le, dict) and (
            (list(le) == ["code"] and is_count(le["code"])) or
            (list(le) == ["signal", "core"] and isinstance(le["signal"], str)
             and isinstance(le["core"], bool)))), t
        for k in ("active", "requests", "failures", "refused"):
            assert is_count(t[k]), t
            if t["class"] != "per-request":
                assert t[k] == 0, t
        if t["class"] == "per-request":
            assert t["pid"] is None, t
        assert isinstance(t["ready"], bool), t
        assert isinstance(t["waiting_for"], list), t
        assert all(isinstance(n, str) for n in t["waiting_for"]), t
        assert t["waiting_for"] == [] or t["state"] == "waiting", t
        assert t["status_text"] is None or isinstance(t["status_text"],
                                                      str), t
        assert t["health"] in (None, "ok", "failing"), t
        assert is_count(t["health_failures"]), t


def pairs_hook(pairs):
    """json.loads hook keeping key order and refusing duplicate keys."""
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
    return dict(pairs)


def real_child(d, pid):
    """pid is a live child of tendd's."""
    st = proc_stat(pid)
    return st is not None and st["ppid"] == d.pid and st["state"] not in "ZX"


# status: the table.

MIXED = """
    [task:web]
    class       = durable
    command     = sleep 1000

    [task:crashy]
    class       = durable
    command     = sh -c 'exit 2'
    backoff_min = 30s

    [task:job]
    class       = log-only
    command     = true

    [task:bad]
    class       = log-only
    command     = sh -c 'exit 4'

    [task:idle]
    class       = durable
    command     = sleep 1000
    autostart   = no

    [task:echo]
    class       = per-request
    command     = cat

    [task:net]
    class       = per-request
    command     = cat
    listen      = tcp:127.0.0.1:{port}
    """


def start_mixed(start_tendd, run_tendctl):
    d = start_tendd(MIXED.format(port=free_port()))
    wait_state(run_tendctl, d, "web", "running")
    wait_state(run_tendctl, d, "crashy", "backoff")
    wait_state(run_tendctl, d, "job", "done")
    wait_state(run_tendctl, d, "bad", "failed")
    wait_state(run_tendctl, d, "net", "listening")
    return d


def test_status_table(start_tendd, run_tendctl):
    d = start_mixed(start_tendd, run_tendctl)
    web_pid = task_of(run_tendctl, d, "web")["pid"]
    r = ctl(run_tendctl, d, "status")
    assert r.returncode == 3, r  # crashy in backoff, idle stopped, bad failed
    assert r.stderr == ""
    assert r.stdout.endswith("\n")
    first, second = r.stdout[:-1].split("\n\n")
    cols, rows = table(first)
    assert cols == TABLE_COLUMNS
    assert [row["NAME"] for row in rows] == ["web", "crashy", "job", "bad",
                                             "idle"]
    web, crashy, job, bad, idle = rows
    assert web["CLASS"] == "durable" and web["STATE"] == "running"
    assert web["PID"] == str(web_pid)
    assert DURATION.fullmatch(web["UPTIME"]), web
    assert (web["RESTARTS"], web["LAST-EXIT"]) == ("0", "-")
    assert re.fullmatch(r"backoff (\S+)", crashy["STATE"]), crashy
    assert DURATION.fullmatch(crashy["STATE"].split()[1]), crashy
    assert (crashy["PID"], crashy["UPTIME"], crashy["RESTARTS"],
            crashy["LAST-EXIT"]) == ("-", "-", "1", "exit 2")
    assert (job["CLASS"], job["STATE"], job["PID"], job["UPTIME"],
            job["RESTARTS"], job["LAST-EXIT"]) == (
                "log-only", "done", "-", "-", "0", "exit 0")
    assert (bad["STATE"], bad["LAST-EXIT"]) == ("failed", "exit 4")
    assert (idle["CLASS"], idle["STATE"], idle["PID"], idle["UPTIME"],
            idle["RESTARTS"], idle["LAST-EXIT"]) == (
                "durable", "stopped", "-", "-", "0", "-")
    cols, rows = table(second)
    assert cols == REQUEST_COLUMNS
    assert rows == [
        {"NAME": "echo", "CLASS": "per-request", "STATE": "idle",
         "ACTIVE": "0", "REQUESTS": "0", "FAILURES": "0", "LAST-EXIT": "-"},
        {"NAME": "net", "CLASS": "per-request", "STATE": "listening",
         "ACTIVE": "0", "REQUESTS": "0", "FAILURES": "0", "LAST-EXIT": "-"},
    ]
    assert d.terminate() == 0


def test_status_names_and_exit_status(start_tendd, run_tendctl):
    """status NAME... shows those tasks in the order given, and its exit
    status depends on them only."""
    d = start_mixed(start_tendd, run_tendctl)
    r = ctl(run_tendctl, d, "status", "job", "web")
    assert r.returncode == 0, r
    cols, rows = table(r.stdout.rstrip("\n"))
    assert cols == TABLE_COLUMNS
    assert [row["NAME"] for row in rows] == ["job", "web"]
    # Only per-request rows: one table, no empty line.
    r = ctl(run_tendctl, d, "status", "net")
    assert r.returncode == 0, r
    assert "\n\n" not in r.stdout
    cols, rows = table(r.stdout.rstrip("\n"))
    assert cols == REQUEST_COLUMNS and [x["NAME"] for x in rows] == ["net"]
    for name in ("crashy", "bad", "idle"):
        r = ctl(run_tendctl, d, "status", "web", name)
        assert r.returncode == 3, (name, r)
    rc, doc = status_json(run_tendctl, d, "net", "job", "web")
    assert rc == 0
    assert [t["name"] for t in doc["tasks"]] == ["net", "job", "web"]
    r = ctl(run_tendctl, d, "status", "web", "nosuch")
    assert r.returncode == 1, r
    assert "nosuch" in r.stderr and "unknown" in r.stderr
    assert d.terminate() == 0


def test_status_exit_0_when_all_is_well(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        [task:job]
        class   = log-only
        command = true
        [task:later]
        class     = log-only
        command   = true
        autostart = no
        [task:echo]
        class   = per-request
        command = cat
        """)
    wait_state(run_tendctl, d, "web", "running")
    wait_state(run_tendctl, d, "job", "done")
    r = ctl(run_tendctl, d, "status")
    assert r.returncode == 0, r
    rc, doc = status_json(run_tendctl, d)
    assert rc == 0
    assert [t["state"] for t in doc["tasks"]] == [
        "running", "done", "stopped", "idle"]
    assert d.terminate() == 0


# status --json.

def test_status_json_field_by_field(start_tendd, run_tendctl, tendd_bin,
                                    tmp_path):
    d = start_mixed(start_tendd, run_tendctl)
    before = time.monotonic()
    r = ctl(run_tendctl, d, "status", "--json")
    assert r.returncode == 3, r
    assert r.stderr == ""
    doc = json.loads(r.stdout, object_pairs_hook=pairs_hook)
    check_json_shape(doc)
    daemon = doc["daemon"]
    assert daemon["pid"] == d.pid
    version = run([tendd_bin, "-V"]).stdout.split()
    assert version == ["tendd", daemon["version"]]
    assert daemon["manifest"] == os.path.realpath(tmp_path / "tend-0.ini")
    tasks = {t["name"]: t for t in doc["tasks"]}
    assert [t["name"] for t in doc["tasks"]] == [
        "web", "crashy", "job", "bad", "idle", "echo", "net"]

    web = tasks["web"]
    assert (web["class"], web["state"]) == ("durable", "running")
    assert real_child(d, web["pid"]), web
    assert ProcRef(web["pid"]).comm == "sleep"
    assert 0 <= web["uptime_s"] <= daemon["uptime_s"]
    assert web["restarts"] == 0 and web["last_exit"] is None

    crashy = tasks["crashy"]
    assert crashy["state"] == "backoff" and crashy["pid"] is None
    assert 0 < crashy["next_start_in_s"] <= 30
    assert crashy["restarts"] == 1
    assert crashy["last_exit"] == {"code": 2}

    assert tasks["job"]["class"] == "log-only"
    assert (tasks["job"]["state"], tasks["job"]["last_exit"]) == (
        "done", {"code": 0})
    assert (tasks["bad"]["state"], tasks["bad"]["last_exit"]) == (
        "failed", {"code": 4})
    assert tasks["bad"]["restarts"] == 0
    idle = tasks["idle"]
    assert (idle["state"], idle["pid"], idle["last_exit"]) == (
        "stopped", None, None)
    for name, state in (("echo", "idle"), ("net", "listening")):
        t = tasks[name]
        assert (t["class"], t["state"], t["pid"], t["uptime_s"],
                t["last_exit"], t["active"], t["requests"],
                t["failures"]) == ("per-request", state, None, None, None,
                                   0, 0, 0)

    # Uptimes advance.
    time.sleep(max(0.0, 0.3 - (time.monotonic() - before)))
    later = status_json(run_tendctl, d)[1]
    assert later["daemon"]["uptime_s"] >= daemon["uptime_s"] + 0.2
    assert later["tasks"][0]["uptime_s"] >= web["uptime_s"] + 0.2
    assert later["tasks"][1]["next_start_in_s"] < crashy["next_start_in_s"]
    assert d.terminate() == 0


def test_status_json_escapes_strings(start_tendd, run_tendctl, tmp_path):
    """The manifest path, with a quote, a backslash, a tab, a newline and
    a non-ASCII letter, comes back intact through json.loads."""
    odd = tmp_path / 'we"ird\\dir\twith\nnewline-\u00e9'
    odd.mkdir()
    manifest = odd / "tend.ini"
    manifest.write_text("[task:web]\nclass = durable\ncommand = sleep 1000\n")
    d = start_tendd(manifest)
    wait_state(run_tendctl, d, "web", "running")
    r = ctl(run_tendctl, d, "status", "--json")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    check_json_shape(doc)
    assert doc["daemon"]["manifest"] == str(manifest)
    assert d.terminate() == 0


def test_last_exit_after_kill_9_and_exit_3(start_tendd, run_tendctl,
                                           tmp_path):
    d = start_tendd(f"""
        [task:web]
        class       = durable
        command     = sleep 1000
        backoff_min = 30s

        [task:three]
        class       = durable
        directory   = {tmp_path}
        command     = sh -c 'while [ ! -e go ]; do sleep 0.02; done; exit 3'
        backoff_min = 30s
        """)
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    assert real_child(d, pid)
    os.kill(pid, signal.SIGKILL)
    t = wait_state(run_tendctl, d, "web", "backoff")
    assert t["last_exit"] == {"signal": "SIGKILL", "core": False}
    assert t["pid"] is None and t["restarts"] == 1
    r = ctl(run_tendctl, d, "status", "web")
    assert r.returncode == 3
    assert table(r.stdout.rstrip("\n"))[1][0]["LAST-EXIT"] == "SIGKILL"

    t = wait_state(run_tendctl, d, "three", "running")
    assert t["last_exit"] is None
    (tmp_path / "go").touch()
    t = wait_state(run_tendctl, d, "three", "backoff")
    assert t["last_exit"] == {"code": 3}
    r = ctl(run_tendctl, d, "status", "three")
    assert table(r.stdout.rstrip("\n"))[1][0]["LAST-EXIT"] == "exit 3"
    assert d.terminate() == 0


def core_pattern():
    try:
        with open("/proc/sys/kernel/core_pattern") as f:
            return f.read().strip()
    except OSError:
        return "|"


def unlimited_core():
    resource.setrlimit(resource.RLIMIT_CORE,
                       (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@pytest.mark.skipif(core_pattern().startswith("|") or "/" in core_pattern(),
                    reason="core dumps do not land in the task's directory")
def test_last_exit_core_dumped(start_tendd, run_tendctl, tmp_path):
    d = start_tendd(f"""
        [task:segv]
        class       = durable
        directory   = {tmp_path}
        command     = sh -c 'kill -SEGV $$'
        backoff_min = 30s
        """, preexec_fn=unlimited_core)
    t = wait_state(run_tendctl, d, "segv", "backoff")
    cores = [p for p in tmp_path.iterdir() if p.name.startswith("core")]
    assert t["last_exit"] == {"signal": "SIGSEGV", "core": bool(cores)}, (
        t, cores)
    if not cores:
        pytest.skip("no core file was written")
    r = ctl(run_tendctl, d, "status")
    assert table(r.stdout.rstrip("\n"))[1][0]["LAST-EXIT"] == "SIGSEGV (core)"
    d.wait_log(r"^task segv \(pid \d+\): killed by signal 11 \(SIGSEGV\), "
               r"core dumped after", level="err")
    assert d.terminate() == 0


# start, stop, restart.

SLOW_STOP = ("sh -c 'trap \"sleep 0.5; exit 0\" TERM; echo $$ > web.pid; "
             "sleep 1000 & wait'")


def test_stop_returns_once_reaped(start_tendd, run_tendctl, tmp_path):
    """stop waits for the reap of a process that takes 0.5 s to exit on
    SIGTERM; the durable task is then not restarted."""
    d = start_tendd(f"""
        [task:web]
        class       = durable
        directory   = {tmp_path}
        command     = {SLOW_STOP}
        backoff_min = 0
        """)
    wait_for(lambda: (tmp_path / "web.pid").exists(), what="web.pid")
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    assert int((tmp_path / "web.pid").read_text()) == pid
    t0 = time.monotonic()
    r = ctl(run_tendctl, d, "stop", "web")
    took = time.monotonic() - t0
    assert gone(pid), f"pid {pid} still in /proc when stop returned"
    assert r.returncode == 0, r
    assert r.stdout == "web stopped\n"
    assert took >= 0.4, f"stop returned after {took:.3f}s"
    t = task_of(run_tendctl, d, "web")
    assert (t["state"], t["pid"], t["last_exit"]) == (
        "stopped", None, {"code": 0})
    # backoff_min = 0: a restart would come at once; none comes.
    deadline = time.monotonic() + NEVER
    while time.monotonic() < deadline:
        assert task_of(run_tendctl, d, "web")["state"] == "stopped"
        time.sleep(0.1)
    assert d.children() == []
    assert ctl(run_tendctl, d, "status").returncode == 3
    # Stopping a stopped task is fine.
    r = ctl(run_tendctl, d, "stop", "web")
    assert (r.returncode, r.stdout) == (0, "web stopped\n")
    assert d.terminate() == 0


def test_stop_waits_for_sigkill_after_stop_timeout(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:stubborn]
        class        = durable
        command      = sh -c 'trap "" TERM; exec sleep 1000'
        stop_timeout = 500ms
        """)
    pid = wait_state(run_tendctl, d, "stubborn", "running")["pid"]
    wait_for(lambda: ProcRef(pid).comm == "sleep", what="exec sleep")
    t0 = time.monotonic()
    r = ctl(run_tendctl, d, "stop", "stubborn")
    took = time.monotonic() - t0
    assert gone(pid)
    assert r.returncode == 0, r
    assert took >= 0.45, took
    t = task_of(run_tendctl, d, "stubborn")
    assert t["state"] == "stopped"
    assert t["last_exit"] == {"signal": "SIGKILL", "core": False}
    assert d.terminate() == 0


def test_start_returns_once_spawned(start_tendd, run_tendctl, tmp_path):
    d = start_tendd("""
        [task:web]
        class     = durable
        command   = sleep 1000
        autostart = no

        [task:crashy]
        class       = durable
        command     = sh -c 'sleep 0.1; exit 1'
        backoff_min = 30s
        """)
    wait_up(run_tendctl, d)
    assert task_of(run_tendctl, d, "web")["state"] == "stopped"
    r = ctl(run_tendctl, d, "start", "web")
    assert r.returncode == 0, r
    assert r.stdout == "web running\n"
    t = task_of(run_tendctl, d, "web")
    assert t["state"] == "running"
    assert real_child(d, t["pid"])
    # Already running: left alone.
    r = ctl(run_tendctl, d, "start", "web")
    assert (r.returncode, r.stdout) == (0, "web running\n")
    assert task_of(run_tendctl, d, "web")["pid"] == t["pid"]
    # A task in backoff starts now, not in 30 s.
    wait_state(run_tendctl, d, "crashy", "backoff")
    r = ctl(run_tendctl, d, "start", "crashy")
    assert (r.returncode, r.stdout) == (0, "crashy running\n")
    t = task_of(run_tendctl, d, "crashy")
    assert t["state"] == "running" and real_child(d, t["pid"])
    assert d.terminate() == 0


def test_start_while_stopping(start_tendd, run_tendctl, tendctl_bin,
                              tend_env, tmp_path):
    """start of a task that is stopping returns once the old process is
    reaped and the new one spawned (tendctl(1))."""
    d = start_tendd(f"""
        [task:web]
        class     = durable
        directory = {tmp_path}
        command   = {SLOW_STOP}
        """)
    wait_for(lambda: (tmp_path / "web.pid").exists(), what="web.pid")
    old = wait_state(run_tendctl, d, "web", "running")["pid"]
    stop = ctl_popen(tendctl_bin, tend_env, sock_of(d), "stop", "web")
    try:
        wait_state(run_tendctl, d, "web", "stopping")
        r = ctl(run_tendctl, d, "start", "web")
        assert (r.returncode, r.stdout) == (0, "web running\n"), r
        assert gone(old)
        t = task_of(run_tendctl, d, "web")
        assert t["state"] == "running" and t["pid"] != old
        assert real_child(d, t["pid"])
    finally:
        stop.kill()
        stop.communicate()
    assert d.terminate() == 0


def test_stop_is_answered_when_a_start_follows(start_tendd, run_tendctl,
                                               tendctl_bin, tend_env,
                                               tmp_path):
    d = start_tendd(f"""
        [task:web]
        class     = durable
        directory = {tmp_path}
        command   = {SLOW_STOP}
        """)
    wait_for(lambda: (tmp_path / "web.pid").exists(), what="web.pid")
    old = wait_state(run_tendctl, d, "web", "running")["pid"]
    stop = ctl_popen(tendctl_bin, tend_env, sock_of(d), "stop", "web")
    try:
        wait_state(run_tendctl, d, "web", "stopping")
        r = ctl(run_tendctl, d, "start", "web")
        assert r.returncode == 0, r
        assert gone(old)
        # The stop's process was reaped: the stop is done too.
        code, out, err = finish(stop, timeout=5)
        assert code == 0, (code, out, err)
    finally:
        stop.kill()
        stop.communicate()
    assert d.terminate() == 0


def test_restart_gives_a_new_pid(start_tendd, run_tendctl, tmp_path):
    d = start_tendd(f"""
        [task:web]
        class     = durable
        directory = {tmp_path}
        command   = {SLOW_STOP}

        [task:job]
        class   = log-only
        command = sh -c 'echo $$ >> {tmp_path}/job.runs'
        """)
    wait_for(lambda: (tmp_path / "web.pid").exists(), what="web.pid")
    old = wait_state(run_tendctl, d, "web", "running")["pid"]
    wait_state(run_tendctl, d, "job", "done")
    r = ctl(run_tendctl, d, "restart", "web", "job")
    assert r.returncode == 0, r
    assert gone(old)
    assert r.stdout.splitlines()[0] == "web running"
    t = task_of(run_tendctl, d, "web")
    assert t["state"] == "running" and t["pid"] != old
    assert real_child(d, t["pid"])
    assert t["last_exit"] == {"code": 0}
    # A log-only task that was done runs once more.
    wait_for(lambda: len((tmp_path / "job.runs").read_text().split()) == 2,
             what="a second run of job", details=d.tail)
    assert d.terminate() == 0


def test_unknown_task_changes_nothing(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    for args in (["stop", "web", "nosuch"], ["start", "nosuch"],
                 ["restart", "nosuch", "web"], ["signal", "KILL", "web",
                                                "nosuch"],
                 ["run", "nosuch"], ["status", "nosuch"]):
        r = ctl(run_tendctl, d, *args)
        assert r.returncode == 1, (args, r)
        assert "unknown task 'nosuch'" in r.stderr, (args, r)
    t = task_of(run_tendctl, d, "web")
    assert (t["state"], t["pid"]) == ("running", pid)
    assert d.terminate() == 0


# signal.

USR1_SCRIPT = """\
import signal, time
def got(signo, frame):
    with open("usr1", "a") as f:
        f.write("%d\\n" % signo)
signal.signal(signal.SIGUSR1, got)
open("ready", "w").close()
while True:
    time.sleep(1)
"""


def test_signal(start_tendd, run_tendctl, tmp_path):
    (tmp_path / "usr1.py").write_text(USR1_SCRIPT)
    d = start_tendd(f"""
        [task:trapper]
        class     = durable
        directory = {tmp_path}
        command   = {PY} usr1.py

        [task:idle]
        class     = durable
        command   = sleep 1000
        autostart = no
        """)
    wait_for(lambda: (tmp_path / "ready").exists(), what="ready",
             details=d.tail)
    pid = task_of(run_tendctl, d, "trapper")["pid"]
    for n, sig in enumerate(["USR1", "SIGUSR1", "usr1", "10"], 1):
        r = ctl(run_tendctl, d, "signal", sig, "trapper")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
        wait_for(lambda: len((tmp_path / "usr1").read_text().split()) == n
                 if (tmp_path / "usr1").exists() else None,
                 what=f"{n} USR1", details=d.tail)
    assert (tmp_path / "usr1").read_text() == "10\n" * 4
    t = task_of(run_tendctl, d, "trapper")
    assert (t["state"], t["pid"]) == ("running", pid)
    # A task without a process, and a bad signal.
    r = ctl(run_tendctl, d, "signal", "USR1", "idle")
    assert r.returncode == 1 and "idle" in r.stderr, r
    r = ctl(run_tendctl, d, "signal", "NOSUCHSIG", "trapper")
    assert r.returncode == 1 and r.stderr, r
    assert (tmp_path / "usr1").read_text() == "10\n" * 4
    assert d.terminate() == 0


# run.

RUN_TASKS = """
    [task:web]
    class   = durable
    command = sleep 1000

    [task:seven]
    class   = per-request
    command = sh -c 'exit 7'

    [task:termed]
    class   = per-request
    command = sh -c 'kill -TERM $$'

    [task:missing]
    class   = per-request
    command = /nonexistent/program

    [task:writer]
    class     = per-request
    directory = {dir}
    command   = sh -c 'echo $$ > writer.pid; exec sleep 0.3'

    [task:slow]
    class   = per-request
    command = sleep 1000

    [task:once]
    class     = log-only
    directory = {dir}
    command   = sh -c 'echo $$ >> once.runs; exit 5'
    autostart = no
    """


def test_run_wait_exit_status(start_tendd, run_tendctl, tmp_path):
    d = start_tendd(RUN_TASKS.format(dir=tmp_path))
    wait_state(run_tendctl, d, "web", "running")
    for name, code, last in (("seven", 7, {"code": 7}),
                             ("termed", 143, {"signal": "SIGTERM",
                                              "core": False}),
                             ("missing", 127, {"code": 127})):
        r = ctl(run_tendctl, d, "run", name, "--wait")
        assert r.returncode == code, (name, r)
        assert r.stdout == "", (name, r)
        t = task_of(run_tendctl, d, name)
        assert (t["state"], t["active"], t["requests"], t["failures"],
                t["last_exit"]) == ("idle", 0, 1, 1, last), t
    # A log-only task runs once and its status comes back.
    r = ctl(run_tendctl, d, "run", "--wait", "once")
    assert r.returncode == 5, r
    assert (tmp_path / "once.runs").read_text().count("\n") == 1
    t = task_of(run_tendctl, d, "once")
    assert (t["state"], t["last_exit"]) == ("failed", {"code": 5})
    assert ctl(run_tendctl, d, "status").returncode == 3
    assert d.terminate() == 0


def test_run_without_wait(start_tendd, run_tendctl, tmp_path):
    d = start_tendd(RUN_TASKS.format(dir=tmp_path))
    wait_state(run_tendctl, d, "web", "running")
    r = ctl(run_tendctl, d, "run", "writer")
    assert r.returncode == 0, r
    m = re.fullmatch(r"writer started, pid (\d+)\n", r.stdout)
    assert m, r
    pid = int(m[1])
    wait_for(lambda: (tmp_path / "writer.pid").exists() and
             (tmp_path / "writer.pid").read_text().strip(), what="writer.pid")
    assert int((tmp_path / "writer.pid").read_text()) == pid
    t = task_of(run_tendctl, d, "writer")
    assert t["requests"] == 1
    wait_for(lambda: task_of(run_tendctl, d, "writer")["active"] == 0,
             what="writer's instance to end")
    t = task_of(run_tendctl, d, "writer")
    assert (t["requests"], t["failures"], t["last_exit"]) == (
        1, 0, {"code": 0})
    assert gone(pid)
    # Log-only without --wait.
    r = ctl(run_tendctl, d, "run", "once")
    assert r.returncode == 0, r
    assert re.fullmatch(r"once started, pid \d+\n", r.stdout), r
    wait_state(run_tendctl, d, "once", "failed")
    assert d.terminate() == 0


def test_run_refusals(start_tendd, run_tendctl, tmp_path):
    d = start_tendd(RUN_TASKS.format(dir=tmp_path))
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    r = ctl(run_tendctl, d, "run", "web")
    assert r.returncode == 1 and r.stderr, r
    r = ctl(run_tendctl, d, "run", "web", "--wait")
    assert r.returncode == 1 and r.stderr, r
    assert task_of(run_tendctl, d, "web")["pid"] == pid
    assert task_of(run_tendctl, d, "web")["restarts"] == 0
    # A stopped per-request task refuses run.
    r = ctl(run_tendctl, d, "stop", "seven")
    assert (r.returncode, r.stdout) == (0, "seven stopped\n"), r
    r = ctl(run_tendctl, d, "run", "seven", "--wait")
    assert r.returncode == 1 and r.stderr, r
    assert task_of(run_tendctl, d, "seven")["requests"] == 0
    assert d.terminate() == 0


def test_run_wait_of_an_instance_that_stop_ends(start_tendd, run_tendctl,
                                                tendctl_bin, tend_env,
                                                tmp_path):
    """An instance that tendd stops ends --wait with 143 (SIGTERM); stop
    returns once it is reaped; a stopped instance is not a failure."""
    d = start_tendd(RUN_TASKS.format(dir=tmp_path))
    wait_up(run_tendctl, d)
    p = ctl_popen(tendctl_bin, tend_env, sock_of(d), "run", "slow", "--wait")
    wait_for(lambda: task_of(run_tendctl, d, "slow")["active"] == 1,
             what="slow's instance", details=d.tail)
    r = ctl(run_tendctl, d, "stop", "slow")
    assert (r.returncode, r.stdout) == (0, "slow stopped\n"), r
    code, out, err = finish(p)
    assert code == 143, (code, out, err)
    t = task_of(run_tendctl, d, "slow")
    assert (t["state"], t["active"], t["requests"], t["failures"]) == (
        "stopped", 0, 1, 0)
    assert d.terminate() == 0


def test_run_wait_across_shutdown(start_tendd, run_tendctl, tendctl_bin,
                                  tend_env, tmp_path):
    """tendctl shutdown while run --wait waits: the instance is stopped and
    --wait ends with its status (tendctl(1): 143 for SIGTERM)."""
    d = start_tendd(RUN_TASKS.format(dir=tmp_path))
    wait_up(run_tendctl, d)
    p = ctl_popen(tendctl_bin, tend_env, sock_of(d), "run", "slow", "--wait")
    wait_for(lambda: task_of(run_tendctl, d, "slow")["active"] == 1,
             what="slow's instance", details=d.tail)
    r = ctl(run_tendctl, d, "shutdown")
    assert r.returncode == 0, r
    code, out, err = finish(p)
    assert d.wait() == 0
    assert code == 143, (code, out, err)


# Bad usage.

BAD_USAGE = [
    [], ["frobnicate"], ["start"], ["stop"], ["restart"], ["signal"],
    ["signal", "USR1"], ["signal", "NOSUCHSIG", "web"], ["run"],
    ["run", "web", "job"], ["status", "--bogus"], ["stop", "--wait", "web"],
    ["status", "--wait"], ["shutdown", "web"], ["-x", "status"],
    ["-s"],
]


def test_bad_usage(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        [task:job]
        class   = log-only
        command = true
        """)
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    for args in BAD_USAGE:
        if args[:1] == ["-s"] or args[:1] == ["-x"]:
            r = run_tendctl(*args, env={"TEND_SOCKET": sock_of(d)})
        else:
            r = ctl(run_tendctl, d, *args)
        assert r.returncode == 1, (args, r)
        assert r.stderr.strip(), (args, r)
    r = run_tendctl("-h")
    assert r.returncode == 0 and "usage" in r.stdout, r
    # Nothing happened: web runs with its pid, tendd is up.
    t = task_of(run_tendctl, d, "web")
    assert (t["state"], t["pid"]) == ("running", pid)
    assert d.alive()
    assert not d.find(r"^control: ")
    assert d.terminate() == 0


# shutdown, and no daemon.

def test_shutdown(start_tendd, run_tendctl, tmp_path):
    d = start_tendd(f"""
        [task:web]
        class   = durable
        command = sleep 1000
        [task:echo]
        class   = per-request
        command = sleep 1000
        """)
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    ctl(run_tendctl, d, "run", "echo")
    wait_for(lambda: len(d.descendants()) == 2, what="two children")
    sock = pathlib.Path(sock_of(d))
    assert stat.S_ISSOCK(sock.lstat().st_mode)
    r = ctl(run_tendctl, d, "shutdown")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
    assert d.wait() == 0
    assert gone(pid)
    assert processes_with_env(d.token) == []
    assert not os.path.lexists(sock)
    r = ctl(run_tendctl, d, "status")
    assert r.returncode == 4, r
    assert r.stderr, r


def test_unreachable_exits_4(run_tendctl, sock_dir, tmp_path):
    absent = sock_dir / "absent.sock"
    r = run_tendctl("-s", absent, "status")
    assert r.returncode == 4 and str(absent) in r.stderr, r
    # A socket file nobody listens on (as a SIGKILLed tendd leaves).
    dead = sock_dir / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(dead))
    s.close()
    for args in (["status"], ["stop", "web"], ["shutdown"]):
        r = run_tendctl("-s", dead, *args)
        assert r.returncode == 4, (args, r)
    # Not a socket at all.
    plain = tmp_path / "plain"
    plain.write_text("")
    assert run_tendctl("-s", plain, "status").returncode == 4


def test_socket_option_and_tend_socket(start_tendd, run_tendctl, sock_dir):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    real, absent = sock_of(d), str(sock_dir / "absent.sock")
    r = run_tendctl("status", env={"TEND_SOCKET": real})
    assert r.returncode == 0, r
    r = run_tendctl("-s", real, "status", env={"TEND_SOCKET": absent})
    assert r.returncode == 0, r
    r = run_tendctl("-s", absent, "status", env={"TEND_SOCKET": real})
    assert r.returncode == 4, r
    assert d.terminate() == 0


# The socket's life.

def test_second_tendd_refuses_to_start(start_tendd, run_tendctl, tmp_path):
    d = start_tendd(f"""
        [task:web]
        class   = durable
        command = sh -c 'echo $$ >> {tmp_path}/first; exec sleep 1000'
        """)
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    second = start_tendd(f"""
        [task:web]
        class   = durable
        command = sh -c 'echo $$ >> {tmp_path}/second; exec sleep 1000'
        """, "-s", sock_of(d))
    assert second.wait() == 1
    assert any("another tendd" in line for line in second.log_lines()), (
        second.tail())
    assert not (tmp_path / "second").exists()
    assert d.alive()
    assert os.path.exists(sock_of(d))
    rc, doc = status_json(run_tendctl, d)
    assert doc["daemon"]["pid"] == d.pid
    assert doc["tasks"][0]["pid"] == pid
    assert (tmp_path / "first").read_text().split() == [str(pid)]
    assert d.terminate() == 0


def test_stale_socket_is_replaced(start_tendd, run_tendctl):
    manifest = """
        [task:web]
        class   = durable
        command = sleep 1000
        """
    first = start_tendd(manifest)
    wait_state(run_tendctl, first, "web", "running")
    sock = sock_of(first)
    assert first.kill() == -signal.SIGKILL
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)  # left behind
    assert ctl(run_tendctl, first, "status").returncode == 4
    d = start_tendd(manifest, "-s", sock)
    wait_state(run_tendctl, d, "web", "running")
    assert status_json(run_tendctl, d)[1]["daemon"]["pid"] == d.pid
    assert d.terminate() == 0
    assert not os.path.lexists(sock)


@pytest.mark.parametrize("lines,mode,group", [
    ([], 0o600, None),
    (["socket_mode = 0640", "socket_group = nogroup"], 0o640, "nogroup"),
    (["socket_mode = 0666"], 0o666, None),
])
def test_socket_mode_and_group(start_tendd, run_tendctl, lines, mode, group):
    if group and os.geteuid() != 0:
        pytest.skip("chown to another group needs root")
    d = start_tendd("\n".join(["[tend]", *lines, "[task:web]",
                               "class = durable", "command = sleep 1000"]))
    wait_state(run_tendctl, d, "web", "running")
    st = os.lstat(sock_of(d))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == mode, oct(st.st_mode)
    if group:
        assert st.st_gid == grp.getgrnam(group).gr_gid
    assert d.terminate() == 0


# Peer credentials.

def test_state_changes_are_logged_with_peer(start_tendd, run_tendctl,
                                            tendctl_bin, tend_env, tmp_path):
    d = start_tendd(f"""
        [task:web]
        class   = durable
        command = sleep 1000
        [task:job]
        class   = per-request
        command = true
        """)
    wait_state(run_tendctl, d, "web", "running")
    sock = sock_of(d)
    expect = []
    for args in (["stop", "web"], ["start", "web"], ["restart", "web"],
                 ["signal", "HUP", "job"], ["run", "job", "--wait"],
                 ["status"], ["status", "--json", "web"]):
        p = ctl_popen(tendctl_bin, tend_env, sock, *args)
        code, out, err = finish(p)
        if args[0] != "status":
            expect.append(f"control: uid {os.geteuid()} pid {p.pid}: "
                          + " ".join(args))
    p = ctl_popen(tendctl_bin, tend_env, sock, "shutdown")
    assert finish(p)[0] == 0
    expect.append(f"control: uid {os.geteuid()} pid {p.pid}: shutdown")
    assert d.wait() == 0
    logged = [m for m in (msg for _, msg in d.messages())
              if m.startswith("control: ")]
    assert logged == expect
    assert all(lvl in ("info", "notice") for lvl, m in d.messages()
               if m.startswith("control: "))


def as_nobody(tendctl_bin, *args, env=None):
    return run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                "--clear-groups", tendctl_bin, *args], env=env)


@pytest.fixture
def open_sock_dir(sock_dir):
    """sock_dir, searchable by other users."""
    os.chmod(sock_dir, 0o755)
    return sock_dir


def test_unprivileged_peer_may_only_query(start_tendd, run_tendctl,
                                          tendctl_bin, tend_env,
                                          open_sock_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root to run tendctl as nobody")
    d = start_tendd("""
        [tend]
        socket_mode = 0666
        [task:web]
        class   = durable
        command = sleep 1000
        [task:job]
        class   = per-request
        command = true
        """)
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    sock = sock_of(d)
    r = as_nobody(tendctl_bin, "-s", sock, "status")
    assert r.returncode in (0, 3), r
    assert r.returncode == 0
    assert "web" in r.stdout
    r = as_nobody(tendctl_bin, "-s", sock, "status", "--json")
    assert json.loads(r.stdout)["tasks"][0]["pid"] == pid
    for args in (["stop", "web"], ["restart", "web"], ["signal", "KILL",
                                                       "web"],
                 ["run", "job"], ["start", "web"], ["shutdown"]):
        r = as_nobody(tendctl_bin, "-s", sock, *args)
        assert r.returncode == 1, (args, r)
        assert "permission" in r.stderr, (args, r)
    t = task_of(run_tendctl, d, "web")
    assert (t["state"], t["pid"], t["restarts"]) == ("running", pid, 0)
    assert task_of(run_tendctl, d, "job")["requests"] == 0
    assert d.alive()
    # Its default socket is $XDG_RUNTIME_DIR/tend.sock.
    d2 = start_tendd("""
        [tend]
        socket_mode = 0666
        [task:web]
        class   = durable
        command = sleep 1000
        """, "-s", open_sock_dir / "tend.sock")
    wait_state(run_tendctl, d2, "web", "running")
    env = {k: v for k, v in tend_env.items() if k != "TEND_SOCKET"}
    env["XDG_RUNTIME_DIR"] = str(open_sock_dir)
    r = as_nobody(tendctl_bin, "status", "--json", env=env)
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["daemon"]["pid"] == d2.pid
    assert d2.terminate() == 0
    assert d.terminate() == 0


def test_socket_mode_keeps_others_out(start_tendd, run_tendctl, tendctl_bin,
                                      open_sock_dir):
    """With the default socket_mode 0600, nobody cannot even connect: 4."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run tendctl as nobody")
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    r = as_nobody(tendctl_bin, "-s", sock_of(d), "status")
    assert r.returncode == 4, r
    assert d.terminate() == 0


# Robustness (SPEC section 7).

def test_overlong_request_line_gets_an_error(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    sock = sock_of(d)
    line = b"request v=1 cmd=status task=" + b"a" * 9000 + b"\n"
    answer = exchange(sock, line)
    assert re.search(rb"^err text=\S*8192", answer, re.M), answer
    assert answer.endswith(b"end code=1\n"), answer
    # The same without a newline: no need to wait for one.
    with unix_connect(sock) as s:
        s.sendall(b"x" * 9000)
        answer = read_answer(s)
    assert answer.endswith(b"end code=1\n"), answer
    # Malformed and foreign requests get an error too.
    for junk in (b"\n", b"hello world\n", b"request v=2 cmd=status\n",
                 b"request v=1 cmd=frob\n",
                 b"request v=1 cmd=status task=a/b\n",
                 b"request v=1 cmd=status task=%zz\n", b"\x00\xff\n",
                 b"request v=1 cmd=stop task=web =x\n"):
        answer = exchange(sock, junk)
        assert answer.startswith(b"err text="), (junk, answer)
        assert answer.endswith(b"end code=1\n"), (junk, answer)
    # And a well-formed raw request works.
    answer = exchange(sock, b"request v=1 cmd=status task=web\n")
    assert answer.startswith(b"daemon pid=%d " % d.pid), answer
    assert answer.endswith(b"end code=0\n"), answer
    assert task_of(run_tendctl, d, "web")["state"] == "running"
    assert d.terminate() == 0


def send_garbage(path, data, results):
    """Write data to a new control connection from a thread; record what
    came back (None when the connection failed at once)."""
    try:
        with unix_connect(path, 30) as s:
            def writer():
                try:
                    s.sendall(data)
                except OSError:
                    pass  # tendd answered and closed: expected
            t = threading.Thread(target=writer, daemon=True)
            t.start()
            answer = read_answer(s)
            t.join(30)
            results.append(answer)
    except OSError as e:
        results.append(e)


def test_garbage_silent_and_half_sent_clients(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    sock = sock_of(d)
    silent = [unix_connect(sock) for _ in range(50)]
    half = unix_connect(sock)
    half.sendall(b"request v=1 cmd=status")  # no newline
    results = []
    garbage = [os.urandom(1 << 20), b"A" * (1 << 20),
               b"".join(os.urandom(100).replace(b"\n", b"") + b"\n"
                        for _ in range(10000))]
    threads = [threading.Thread(target=send_garbage,
                                args=(sock, g, results), daemon=True)
               for g in garbage]
    try:
        for t in threads:
            t.start()
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            r = ctl(run_tendctl, d, "status")
            times.append(time.monotonic() - t0)
            assert r.returncode == 0, r
            assert "web" in r.stdout
        assert max(times) < LATENCY, f"status took {times}"
        for t in threads:
            t.join(30)
        assert len(results) == 3, results
        for answer in results:
            assert not isinstance(answer, Exception), answer
            assert answer == b"" or answer.endswith(b"end code=1\n"), answer
        # The long line without newline is answered with an error.
        assert any(a.endswith(b"end code=1\n") for a in results), results
        # The half-sent request is still waited for, and answered.
        half.sendall(b" task=web\n")
        answer = read_answer(half)
        assert answer.endswith(b"end code=0\n"), answer
        assert d.alive()
        t = task_of(run_tendctl, d, "web")
        assert (t["state"], t["pid"]) == ("running", pid)
    finally:
        for s in silent:
            s.close()
        half.close()
    assert d.terminate() == 0


def test_a_flood_of_silent_clients_does_not_stall_others(start_tendd,
                                                         run_tendctl):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip("cannot open 1100 sockets here")
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1300), hard))
    silent = []
    try:
        for _ in range(1100):
            silent.append(unix_connect(sock_of(d)))
        t0 = time.monotonic()
        r = ctl(run_tendctl, d, "status", timeout=LATENCY + 2)
        took = time.monotonic() - t0
    finally:
        for s in silent:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert r.returncode == 0, r
    assert took < LATENCY, f"status took {took:.2f}s"
    assert d.terminate() == 0


def test_many_clients_at_once(start_tendd, run_tendctl, tendctl_bin,
                              tend_env):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    pid = wait_state(run_tendctl, d, "web", "running")["pid"]
    procs = [ctl_popen(tendctl_bin, tend_env, sock_of(d), "status", "--json")
             for _ in range(40)]
    for p in procs:
        code, out, err = finish(p, 30)
        assert code == 0, (code, out, err)
        assert json.loads(out)["tasks"][0]["pid"] == pid
    assert d.terminate() == 0


def set_nofile(pid, limit):
    r = run(["prlimit", "--pid", str(pid), f"--nofile={limit}:{limit}"])
    assert r.returncode == 0, r


def test_control_accept_emfile_does_not_spin(start_tendd, run_tendctl):
    """With every fd of tendd taken (silent control clients under a low
    RLIMIT_NOFILE), one more control client must not make it spin; once
    the silent clients leave, it is served."""
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    sock = sock_of(d)
    limit = max(low_fds(d.pid, 1000)) + 6
    set_nofile(d.pid, limit)
    hogs = []
    try:
        while len(low_fds(d.pid, limit)) < limit:
            n = len(low_fds(d.pid, limit))
            hogs.append(unix_connect(sock))
            wait_for(lambda: len(low_fds(d.pid, limit)) > n,
                     what="tendd to accept a hog")
        extra = unix_connect(sock)
        d.wait_log(r"^control: accept: ", level="err")
        cpu0 = cpu_seconds(d.pid)
        t0 = time.monotonic()
        # A window over which CPU use is measured, longer than a first
        # pause of 1 s.
        time.sleep(3.0)
        cpu = cpu_seconds(d.pid) - cpu0
        elapsed = time.monotonic() - t0
        for s in hogs:
            s.close()
        hogs = []
        extra.sendall(b"request v=1 cmd=status\n")
        answer = read_answer(extra)
        extra.close()
        logged = len(d.find(r"^control: accept: "))
    finally:
        for s in hogs:
            s.close()
    assert answer.endswith(b"end code=0\n"), answer
    assert cpu < CPU_MAX / 2 * elapsed, f"{cpu:.2f}s of CPU in {elapsed:.2f}s"
    assert logged < 50, f"{logged} accept errors logged"
    assert d.terminate() == 0

"""Shared fixtures for tend's black-box system tests.

The binaries come from $TENDD and $TENDCTL, else <repo>/build/tendd and
<repo>/build/tendctl (run `make` first). Every process is run through run(),
which always has a timeout and kills the process's whole session when it
expires, so a hung tendd fails a test instead of hanging the suite.

A tendd that keeps running is started with start_tendd() (a Tendd: its log,
its pid, its children); wait_for() polls, with a bound, for what must
happen; at the end of the test the daemon and every process it started
are killed, whatever happened.

At the end are the plain helpers the test files share, imported with
`from conftest import ...`: /proc, tendctl against a Tendd, TCP clients.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "tests" / "manifests"
TIMEOUT = 10  # seconds; no single command of these tests comes near it

# Variables of the caller's environment that would change what tend does.
TEND_VARIABLES = ("TEND_MANIFEST", "TEND_SOCKET", "NOTIFY_SOCKET")


def _binary(variable, name):
    path = pathlib.Path(os.environ.get(variable) or REPO / "build" / name)
    path = path.resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path}: no such executable (run make, or set ${variable})")
    return str(path)


@pytest.fixture(scope="session")
def tendd_bin():
    return _binary("TENDD", "tendd")


@pytest.fixture(scope="session")
def tendctl_bin():
    return _binary("TENDCTL", "tendctl")


def run(argv, *, env=None, cwd=None, timeout=TIMEOUT):
    """Run argv to completion; return a CompletedProcess with text output.

    stdin is /dev/null. The process gets its own session; on timeout the
    whole session is killed and the test fails with what was printed.
    """
    proc = subprocess.Popen(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        pytest.fail(
            f"{argv!r} still running after {timeout}s\n"
            f"stdout: {out.decode(errors='replace')}\n"
            f"stderr: {err.decode(errors='replace')}"
        )
    return subprocess.CompletedProcess(
        proc.args,
        proc.returncode,
        out.decode("utf-8", errors="replace"),
        err.decode("utf-8", errors="replace"),
    )


@pytest.fixture
def tend_env(tmp_path):
    """An environment without the caller's TEND_* variables, whose default
    control socket ($XDG_RUNTIME_DIR/tend.sock when not root) is in tmp_path.
    """
    env = {k: v for k, v in os.environ.items() if k not in TEND_VARIABLES}
    env["XDG_RUNTIME_DIR"] = str(tmp_path)
    return env


def _runner(binary, base_env):
    def _run(*args, env=None, **kw):
        full = dict(base_env)
        for k, v in (env or {}).items():
            if v is None:
                full.pop(k, None)
            else:
                full[k] = str(v)
        return run([binary, *args], env=full, **kw)

    return _run


@pytest.fixture
def run_tendd(tendd_bin, tend_env):
    """run_tendd(*args, env=None, cwd=None, timeout=TIMEOUT): run tendd.

    env entries are added to tend_env (a None value removes the variable)."""
    return _runner(tendd_bin, tend_env)


@pytest.fixture
def run_tendctl(tendctl_bin, tend_env):
    """run_tendctl(*args, env=None, cwd=None, timeout=TIMEOUT): run tendctl."""
    return _runner(tendctl_bin, tend_env)


@pytest.fixture
def sock_dir():
    """A short directory for Unix sockets (sun_path holds 107 bytes, and
    pytest's tmp_path can be longer than that)."""
    path = tempfile.mkdtemp(prefix="tend-", dir="/tmp")
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def write_manifest(tmp_path):
    """write_manifest(text, name="tend.ini", newline="\\n") -> path.

    text is dedented; newline "\\r\\n" writes CRLF line endings."""

    def _write(text, name="tend.ini", newline="\n"):
        path = tmp_path / name
        text = textwrap.dedent(text).lstrip("\n")
        path.write_bytes(text.replace("\n", newline).encode())
        return path

    return _write


# A running tendd.
#
# start_tendd() runs a real tendd with -e, its stderr (the log) and stdout
# going to files in tmp_path, never to pipes: a pipe nobody reads would
# block the daemon. Observations are made through the log, the files the
# tasks write, and /proc. Every wait is bounded polling (wait_for), with
# timeouts generous enough for tendd running under valgrind.

WAIT = 20  # seconds: the bound of every wait for something that must happen
POLL = 0.02  # seconds between two looks
LOG_LINE = re.compile(
    r"tendd: (emerg|alert|crit|err|warning|notice|info|debug): (.*)")
# What may stand between the process we start and tendd itself: a wrapper
# script ($TENDD running valgrind), unshare --fork.
WRAPPERS = {"sh", "dash", "bash", "env", "unshare", "timeout"}
# What tendd's own process runs: the binary, or valgrind's tool running it.
TENDD_EXES = {"tendd"}
VALGRIND_TOOL = "memcheck-"


def wait_for(predicate, timeout=WAIT, what=None, details=None):
    """Call predicate every POLL seconds until it returns something true,
    and return that. After timeout seconds, fail the test, saying what was
    awaited (what, or the predicate's name) and details() if given."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout}s waiting for " + (
                what or getattr(predicate, "__name__", repr(predicate)))
            if details is not None:
                msg += "\n" + str(details())
            pytest.fail(msg)
        time.sleep(POLL)


def proc_stat(pid):
    """/proc/PID/stat as a dict (state, ppid, pgrp, session, start), or
    None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:  # gone, or going
        return None
    # comm is in parentheses and may itself hold spaces and parentheses.
    comm = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    return {
        "pid": pid,
        "comm": comm,
        "state": fields[0],
        "ppid": int(fields[1]),
        "pgrp": int(fields[2]),
        "session": int(fields[3]),
        "start": int(fields[19]),
    }


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def children(pid):
    """The pids of pid's children (of every thread), [] when it is gone."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:  # gone, or going
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:  # gone, or going
            pass
    return found


def descendants(pid):
    """Every process below pid, found by walking children()."""
    found, todo = [], children(pid)
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children(p)
    return found


class ProcRef:
    """A process, told apart from a later one with the same pid by its
    start time."""

    def __init__(self, pid):
        st = proc_stat(pid)
        self.pid = pid
        self.start = st["start"] if st else None
        self.comm = st["comm"] if st else "?"
        self.session = st["session"] if st else None
        self.pgrp = st["pgrp"] if st else None

    def stat(self):
        st = proc_stat(self.pid)
        return st if st and st["start"] == self.start else None

    def alive(self):
        """Whether the process still runs (a zombie is dead)."""
        st = self.stat()
        return st is not None and st["state"] not in "ZX"

    def __repr__(self):
        return f"{self.comm}[{self.pid}]"


def zombies_of(pid):
    """The zombie children of pid."""
    found = []
    for p in children(pid):
        st = proc_stat(p)
        if st and st["state"] == "Z" and st["ppid"] == pid:
            found.append(p)
    return found


def processes_with_env(entry):
    """The live processes whose environment holds entry ("KEY=VALUE")."""
    found = []
    needle = entry.encode() + b"\0"
    for p in all_pids():
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                env = b"\0" + f.read()
        except OSError:
            continue
        if b"\0" + needle in env + b"\0":
            ref = ProcRef(p)
            if ref.alive():
                found.append(ref)
    return found


def processes_in_sessions(sessions):
    """The live processes whose session is one of sessions."""
    found = []
    for p in all_pids():
        st = proc_stat(p)
        if st and st["session"] in sessions and st["state"] not in "ZX":
            found.append(ProcRef(p))
    return found


class Tendd:
    """A tendd started by start_tendd(). log_lines() and messages() read
    its log so far; pid is tendd's own pid (below any wrapper)."""

    def __init__(self, argv, env, tmp_path, cwd, preexec_fn, pass_fds):
        n = len(list(tmp_path.glob("tendd-*.log")))
        self.log_path = tmp_path / f"tendd-{n}.log"
        self.out_path = tmp_path / f"tendd-{n}.out"
        self.argv = [str(a) for a in argv]
        # Inherited by every task that does not clear its environment: how
        # the cleanup finds them even if tendd is gone.
        self.token = f"TEND_TEST_TOKEN={os.getpid()}.{n}.{time.time_ns()}"
        env = dict(env)
        env["TEND_TEST_TOKEN"] = self.token.split("=", 1)[1]
        self.sessions = set()  # of the tasks seen, for the cleanup
        self.extra = []  # processes to kill at the cleanup (detached tendd)
        self.stop_sent = False  # the test sent SIGTERM or SIGINT
        self._pid = None
        self._pos = 0
        self._lines = []
        with open(self.log_path, "wb") as err, open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=env, cwd=cwd, start_new_session=True,
                preexec_fn=preexec_fn, pass_fds=pass_fds)

    @property
    def pid(self):
        """tendd's pid: the started process, or below the wrappers."""
        if self._pid is None:
            self._pid = wait_for(self._resolve, what="tendd to start",
                                 details=self.tail)
        return self._pid

    def _resolve(self):
        """tendd's pid, or None while a wrapper has not yet exec'd it."""
        pid = self.proc.pid
        while True:
            try:
                exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            except OSError:
                exe = None
            if exe is None:
                if self.proc.poll() is not None:
                    pytest.fail(f"tendd exited with {self.proc.returncode}"
                                f" at once\n{self.tail()}")
                return None
            if exe in TENDD_EXES or exe.startswith(VALGRIND_TOOL):
                return pid
            if exe not in WRAPPERS:
                return None  # a wrapper's own helper, or not yet exec'd
            kids = children(pid)
            if len(kids) != 1:
                return None  # not yet forked, or not yet exec'd
            pid = kids[0]

    def log_lines(self):
        """The complete lines of the log so far (read incrementally)."""
        with open(self.log_path, "rb") as f:
            f.seek(self._pos)
            data = f.read()
        end = data.rfind(b"\n") + 1
        if end:
            self._pos += end
            self._lines += data[:end].decode("utf-8", "replace").split("\n")[:-1]
        return list(self._lines)

    def messages(self, level=None):
        """The (level, message) of each log line of tendd's, or only the
        messages of the given level."""
        found = []
        for line in self.log_lines():
            m = LOG_LINE.fullmatch(line)
            if m and level is None:
                found.append((m[1], m[2]))
            elif m and m[1] == level:
                found.append(m[2])
        return found

    def find(self, pattern, level=None):
        """re.search matches of pattern over the messages (of level)."""
        rx = re.compile(pattern)
        msgs = self.messages(level) if level else [m for _, m in self.messages()]
        return [m for m in map(rx.search, msgs) if m]

    def wait_log(self, pattern, count=1, level=None, timeout=WAIT):
        """Wait until pattern matches count messages (of level); return the
        matches. Each look reads only the lines logged since the last."""
        rx = re.compile(pattern)
        found, seen = [], 0

        def enough():
            nonlocal seen
            exited = self.proc.poll() is not None  # before reading
            lines = self.log_lines()
            for line in lines[seen:]:
                m = LOG_LINE.fullmatch(line)
                if m and (level is None or m[1] == level):
                    hit = rx.search(m[2])
                    if hit:
                        found.append(hit)
            seen = len(lines)
            if len(found) >= count:
                return found
            if exited:
                pytest.fail(f"tendd exited ({self.proc.returncode}) before "
                            f"logging {count} message(s) matching "
                            f"{pattern!r}\n{self.tail()}")
            return None

        return wait_for(enough, timeout,
                        f"{count} log message(s) matching {pattern!r}"
                        + (f" at {level}" if level else ""), self.tail)

    def tail(self, n=40):
        lines = self.log_lines()
        return f"--- last {n} of {len(lines)} log lines:\n" + "\n".join(lines[-n:])

    def output(self):
        return self.out_path.read_text(errors="replace")

    def children(self):
        kids = children(self.pid)
        self._note(kids)
        return kids

    def descendants(self):
        found = descendants(self.pid)
        self._note(found)
        return found

    def _note(self, pids):
        for p in pids:
            st = proc_stat(p)
            if st and st["session"] != self.proc.pid:
                self.sessions.add(st["session"])

    def alive(self):
        return self.proc.poll() is None

    def signal(self, signo):
        if signo in (signal.SIGTERM, signal.SIGINT):
            self.stop_sent = True
        os.kill(self.pid, signo)

    def kill(self):
        """SIGKILL tendd (its tasks live on, for the cleanup) and wait."""
        os.kill(self.pid, signal.SIGKILL)
        return self.wait()

    def wait(self, timeout=WAIT):
        """Wait for tendd to exit; return its exit status."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"tendd still running after {timeout}s\n{self.tail()}")

    def terminate(self, timeout=WAIT):
        """SIGTERM, then wait for the exit; return the exit status."""
        self.descendants()
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def cleanup(self):
        """Leave nothing behind: SIGTERM tendd, SIGKILL it if it lingers,
        then SIGKILL every process that inherited its token (its tasks and
        theirs) or is in its tasks' sessions."""
        if self.alive():
            # Once the test's own SIGTERM failed, do not wait long again.
            grace = 1 if self.stop_sent else 10
            try:
                target = self._pid or self._resolve() or self.proc.pid
                self._note(descendants(target))
                os.kill(target, signal.SIGTERM)
            except (ProcessLookupError, pytest.fail.Exception):
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for _ in range(100):
            left = [r for r in self.extra if r.alive()]
            left += processes_in_sessions(self.sessions | {self.proc.pid})
            left += processes_with_env(self.token)
            if not left:
                break
            for ref in left:
                try:
                    os.kill(ref.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(POLL)


@pytest.fixture
def start_tendd(tendd_bin, tend_env, tmp_path, sock_dir, write_manifest):
    """start_tendd(manifest, *args, env=None, prefix=(), cwd=None,
    preexec_fn=None, pass_fds=(), mirror=True) -> Tendd.

    manifest is a path, or INI text (dedented, written to tmp_path). tendd
    runs with -e -f MANIFEST -s SOCK_DIR/tend.sock and args, under prefix
    (e.g. unshare) if given; env entries are added to tend_env (None
    removes one). mirror=False leaves out -e: tendd then logs as a service
    does. Every tendd started is stopped at the end of the test, with
    everything it left.
    """
    started = []

    def _start(manifest, *args, env=None, prefix=(), cwd=None,
               preexec_fn=None, pass_fds=(), mirror=True):
        if not isinstance(manifest, pathlib.Path):
            manifest = write_manifest(manifest,
                                      name=f"tend-{len(started)}.ini")
        full = dict(tend_env)
        for k, v in (env or {}).items():
            if v is None:
                full.pop(k, None)
            else:
                full[k] = str(v)
        mirror_opt = ["-e"] if mirror else []
        argv = [*prefix, tendd_bin, *mirror_opt, "-f", manifest,
                "-s", sock_dir / f"tend-{len(started)}.sock", *args]
        t = Tendd(argv, full, tmp_path, cwd, preexec_fn, pass_fds)
        started.append(t)
        return t

    yield _start
    for t in started:
        t.cleanup()


# Helpers shared by the test files.
#
# A task's output, as tendd logged it.

def output_of(d, task, level=None):
    """{pid: [line, ...]} of what task wrote to its syslog stdout/stderr."""
    rx = re.compile(re.escape(task) + r"\[(\d+)\]: (.*)", re.S)
    found = {}
    for m in map(rx.fullmatch, d.messages(level) if level else
                 [msg for _, msg in d.messages()]):
        if m:
            found.setdefault(int(m[1]), []).append(m[2])
    return found


# Processes, through /proc.

def gone(pid):
    """Whether no process, not even a zombie, has this pid: reaped."""
    return proc_stat(pid) is None


def cpu_seconds(pid):
    """utime + stime of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def low_fds(pid, below):
    """pid's open fds under below (valgrind keeps its own far above)."""
    return [int(f) for f in os.listdir(f"/proc/{pid}/fd") if int(f) < below]


# tendctl against a Tendd (d), run with the run_tendctl fixture.

def sock_of(d):
    """The control socket of a Tendd: the last -s of its argv."""
    i = len(d.argv) - 1 - d.argv[::-1].index("-s")
    return d.argv[i + 1]


def ctl(run_tendctl, d, *args, **kw):
    """run_tendctl("-s", SOCK, *args, **kw) against d's control socket."""
    return run_tendctl("-s", sock_of(d), *args, **kw)


def status_json(run_tendctl, d, *names):
    """(exit status, parsed JSON) of tendctl status --json NAMES."""
    r = ctl(run_tendctl, d, "status", "--json", *names)
    assert r.returncode in (0, 3) and r.stderr == "", (r, d.tail())
    return r.returncode, json.loads(r.stdout)


def status(run_tendctl, d, *names):
    """The parsed status --json of the names (every task without)."""
    return status_json(run_tendctl, d, *names)[1]


def task_of(run_tendctl, d, name):
    """The JSON object of task name in status --json."""
    return status(run_tendctl, d, name)["tasks"][0]


def wait_state(run_tendctl, d, name, state, timeout=WAIT, **want):
    """Poll until task name is in state, with the fields in want; return it."""
    def check():
        r = ctl(run_tendctl, d, "status", "--json", name)
        if r.returncode == 4:
            if not d.alive():
                pytest.fail(f"tendd exited ({d.proc.returncode})\n"
                            + d.tail())
            return None  # the control socket is not there yet
        assert r.returncode in (0, 3), r
        t = json.loads(r.stdout)["tasks"][0]
        # A running task has a pid.
        if t["state"] != state or (state == "running" and not t["pid"]):
            return None
        if any(t[k] != v for k, v in want.items()):
            return None
        return t
    return wait_for(check, timeout,
                    f"task {name} {state}" + (f" {want}" if want else ""),
                    d.tail)


def ctl_popen(tendctl_bin, tend_env, d, *args):
    """tendctl ARGS in the background against d (a Tendd or a socket path)."""
    sock = sock_of(d) if isinstance(d, Tendd) else d
    return subprocess.Popen(
        [tendctl_bin, "-s", str(sock), *map(str, args)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=tend_env, text=True,
        start_new_session=True)


def finish(p, timeout=TIMEOUT):
    """Wait for a ctl_popen process; return (status, stdout, stderr)."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"{p.args} still running after {timeout}s\n{out}\n{err}")
    return p.returncode, out, err


# TCP clients of per-request listeners.

CLIENT_TIMEOUT = 30  # seconds a client waits for its reply


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A free TCP port on host, found by binding port 0."""
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def connect(port, host="127.0.0.1", family=socket.AF_INET):
    """A TCP socket connected to host:port, with CLIENT_TIMEOUT."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(CLIENT_TIMEOUT)
    s.connect((host, port))
    return s


def read_to_eof(s):
    """What s sends until EOF."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def request(port, data=None, host="127.0.0.1", family=socket.AF_INET):
    """One client sending data (then EOF) if given: (reply, own address)."""
    with connect(port, host, family) as s:
        me = s.getsockname()
        if data is not None:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        return read_to_eof(s), me

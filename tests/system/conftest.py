"""Shared fixtures for tend's black-box system tests.

The binaries come from $TENDD and $TENDCTL, else <repo>/build/tendd and
<repo>/build/tendctl (run `make` first). Every process is run through run(),
which always has a timeout and kills the process's whole session when it
expires, so a hung tendd fails a test instead of hanging the suite.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import textwrap

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

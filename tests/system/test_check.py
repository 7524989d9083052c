"""tendd --check and manifest validation (SPEC sections 2 and 3), tendd's
options, and tendctl without a daemon (SPEC section 6).

tests/manifests/good/*.ini (and conf/tend.ini) must be accepted silently.
tests/manifests/bad/*.ini declare, in their header comments, every problem
tendd must report, one per line:

    ; expect LINE: SUBSTRING

tendd must print exactly one stderr line per expectation, "FILE:LINE: ..."
containing SUBSTRING, in line order, and nothing else.
"""

import os
import re
import socket

import pytest

from conftest import MANIFESTS, REPO

GOOD = sorted((MANIFESTS / "good").glob("*.ini")) + [REPO / "conf" / "tend.ini"]
BAD = sorted((MANIFESTS / "bad").glob("*.ini"))
EXPECT = re.compile(r"; expect (\d+): (.*\S)\s*$")
USAGE = "tendd [-f MANIFEST] [-s SOCKET] [-d] [-e] [--check] [-V] [-h]"


def ids(paths):
    return [p.relative_to(REPO).as_posix() for p in paths]


def expectations(path):
    """The (line, substring) pairs in the leading comment block of path."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith((";", "#")):
            break
        m = EXPECT.match(line)
        if m:
            found.append((int(m[1]), m[2]))
    return found


def assert_problems(stderr, filename, expect):
    """stderr is exactly one "filename:LINE: ..." line per (LINE, SUBSTRING)
    of expect, in line order (messages of one line in any order)."""
    shown = f"\n--- stderr:\n{stderr}--- expected:\n" + "".join(
        f"{filename}:{n}: ...{s}...\n" for n, s in expect
    )
    lines = stderr.splitlines()
    assert not lines or stderr.endswith("\n"), shown
    assert len(lines) == len(expect), "wrong number of problems" + shown
    prefix = re.compile(re.escape(filename) + r":(\d+): ")
    numbers = []
    for line in lines:
        m = prefix.match(line)
        assert m, f"not '{filename}:LINE: message': {line!r}" + shown
        numbers.append(int(m[1]))
    assert numbers == [n for n, _ in expect], "wrong lines" + shown
    for n in sorted(set(numbers)):
        left = [l for l, k in zip(lines, numbers) if k == n]
        for k, sub in expect:
            if k != n:
                continue
            hit = next((l for l in left if sub in l), None)
            assert hit is not None, f"line {n}: no message with {sub!r}" + shown
            left.remove(hit)


def crlf_copy(src, dst_dir):
    """src with every LF turned into CRLF, under the same name in dst_dir."""
    dst = dst_dir / src.name
    dst.write_bytes(src.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return dst


# Good manifests.


@pytest.mark.parametrize("path", GOOD, ids=ids(GOOD))
def test_good_manifest_is_accepted(run_tendd, path):
    r = run_tendd("--check", "-f", path)
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "")


@pytest.mark.parametrize("path", GOOD, ids=ids(GOOD))
def test_good_manifest_with_crlf_is_accepted(run_tendd, tmp_path, path):
    crlf = crlf_copy(path, tmp_path)
    assert b"\r\n" in crlf.read_bytes()
    r = run_tendd("--check", "-f", crlf)
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "")


def test_good_manifest_with_bom_is_accepted(run_tendd, tmp_path):
    path = tmp_path / "bom.ini"
    path.write_bytes(b"\xef\xbb\xbf" + (MANIFESTS / "good" / "all-keys.ini").read_bytes())
    r = run_tendd("--check", "-f", path)
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "")


# Which keys apply to which class: SPEC section 3.
COMMON_KEYS = {
    "class", "command", "directory", "user", "group", "umask", "env",
    "clear_env", "stdout", "stderr", "stop_signal", "stop_timeout",
    "log_max_size", "log_backups", "after", "env_file", "limit_nofile",
    "limit_nproc", "limit_core", "limit_as", "limit_cpu", "limit_fsize",
    "limit_memlock", "limit_stack", "nice", "oom_score_adj",
}
CLASS_KEYS = {
    "durable": COMMON_KEYS | {"autostart", "essential", "backoff_min",
                              "backoff_max", "healthy_after", "ready",
                              "ready_timeout", "health", "health_interval",
                              "health_timeout", "health_retries"},
    "log-only": COMMON_KEYS | {"autostart", "essential"},
    "per-request": COMMON_KEYS | {"listen", "max_instances", "timeout",
                                  "listen_mode", "listen_user",
                                  "listen_group", "max_per_source"},
}
GLOBAL_KEYS = {
    "control_socket", "socket_mode", "socket_group", "syslog_ident",
    "syslog_facility", "pid_file", "subreaper", "stop_timeout", "include",
}


def test_all_keys_manifest_uses_every_key():
    """all-keys.ini really has every key of [tend] and of each class."""
    sections = {}
    current = None
    path = MANIFESTS / "good" / "all-keys.ini"
    for line in path.read_text().splitlines():
        if m := re.match(r"\[(.*)\]", line):
            current = sections.setdefault(m[1], {})
        elif m := re.match(r"(\w+)\s*=\s*(.*)", line):
            current.setdefault(m[1], []).append(m[2])
    assert set(sections.pop("tend")) == GLOBAL_KEYS
    for cls, keys in CLASS_KEYS.items():
        assert any(
            k.get("class") == [cls] and set(k) == keys for k in sections.values()
        ), f"no {cls} task with every key: {sorted(keys)}"


# Bad manifests.


@pytest.mark.parametrize("path", BAD, ids=ids(BAD))
def test_bad_manifest_declares_its_problems(path):
    expect = expectations(path)
    nlines = len(path.read_bytes().split(b"\n"))
    assert expect, f"{path}: no '; expect LINE: SUBSTRING' header"
    lines = [n for n, _ in expect]
    assert lines == sorted(lines), "expectations not in line order"
    assert all(0 < n <= nlines for n in lines)


@pytest.mark.parametrize("path", BAD, ids=ids(BAD))
def test_bad_manifest_is_rejected(run_tendd, path):
    r = run_tendd("--check", "-f", path)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    assert_problems(r.stderr, str(path), expectations(path))


@pytest.mark.parametrize("path", BAD, ids=ids(BAD))
def test_bad_manifest_with_crlf_is_rejected_alike(run_tendd, tmp_path, path):
    crlf = crlf_copy(path, tmp_path)
    r = run_tendd("--check", "-f", crlf)
    assert r.returncode == 1, r.stderr
    assert "\r" not in r.stderr
    assert_problems(r.stderr, str(crlf), expectations(path))


@pytest.mark.parametrize("path", BAD, ids=ids(BAD))
def test_tendd_refuses_bad_manifest_with_same_output(run_tendd, sock_dir, path):
    """Without --check, tendd prints the same problems, exits 1, and does
    not even create its control socket."""
    sock = sock_dir / "tend.sock"
    r = run_tendd("-f", path, "-s", sock, timeout=5)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    assert_problems(r.stderr, str(path), expectations(path))
    assert not sock.exists()


def test_file_is_named_as_given(run_tendd):
    bad = MANIFESTS / "bad"
    r = run_tendd("--check", "-f", "duplicate-task.ini", cwd=bad)
    assert r.returncode == 1
    assert_problems(r.stderr, "duplicate-task.ini",
                    expectations(bad / "duplicate-task.ini"))


def test_line_with_nul_byte_is_rejected(run_tendd, tmp_path):
    path = tmp_path / "nul.ini"
    path.write_bytes(b"[task:a]\nclass = log-only\ncommand = /bin/true\n"
                     b"stdout = null\0 ignored\n")
    r = run_tendd("--check", "-f", path)
    assert r.returncode == 1
    assert_problems(r.stderr, str(path), [(4, "NUL")])


def test_rejected_value_is_not_used(run_tendd, write_manifest):
    path = write_manifest("""
        [task:a]
        class       = durable
        command     = /bin/true
        backoff_max = 0s
        """)
    r = run_tendd("--check", "-f", path)
    assert r.returncode == 1
    assert_problems(r.stderr, str(path),
                    [(4, "backoff_max = 0s: must be longer than 0")])


def test_keys_of_duplicate_tend_section_are_checked(run_tendd, write_manifest):
    path = write_manifest("""
        [tend]
        stop_timeout = 5s
        [tend]
        bogus = 1
        syslog_facility = kern
        """)
    r = run_tendd("--check", "-f", path)
    assert r.returncode == 1
    assert_problems(r.stderr, str(path), [
        (3, "duplicate section [tend]"),
        (4, "unknown key 'bogus'"),
        (5, "syslog_facility = kern"),
    ])


def marker_manifest(write_manifest, markers, extra=""):
    """A manifest whose tasks would each create a file in markers."""
    return write_manifest(f"""
        [task:durable]
        class   = durable
        command = /bin/touch {markers}/durable
        [task:once]
        class   = log-only
        command = /bin/touch {markers}/once
        {extra}
        """)


@pytest.mark.parametrize("opts", [[], ["-d"], ["-e"]], ids=["fg", "-d", "-e"])
def test_bad_manifest_starts_nothing(run_tendd, write_manifest, tmp_path,
                                     sock_dir, opts):
    """tendd refuses an invalid manifest before it detaches, creates its
    socket or starts any task."""
    markers = tmp_path / "markers"
    markers.mkdir()
    path = marker_manifest(write_manifest, markers, "stdout  = somewhere")
    sock = sock_dir / "tend.sock"
    r = run_tendd(*opts, "-f", path, "-s", sock, timeout=5)
    assert r.returncode == 1
    assert r.stdout == ""
    assert_problems(r.stderr, str(path), [(7, "stdout = somewhere")])
    assert list(markers.iterdir()) == []
    assert not sock.exists()


def test_check_starts_nothing(run_tendd, write_manifest, tmp_path, sock_dir):
    markers = tmp_path / "markers"
    markers.mkdir()
    path = marker_manifest(write_manifest, markers)
    sock = sock_dir / "tend.sock"
    r = run_tendd("--check", "-f", path, "-s", sock, timeout=5)
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "")
    assert list(markers.iterdir()) == []
    assert not sock.exists()


@pytest.mark.parametrize("where", ["key-line", "continuation-line"])
def test_long_command_is_run_whole(run_tendd, start_tendd, write_manifest,
                                   tmp_path, where):
    """A command line longer than libinih's 200-byte buffer is taken whole:
    --check accepts it and tendd runs every word of it."""
    markers = tmp_path / "markers"
    markers.mkdir()
    names = [f"file{i:02d}" for i in range(12)]
    files = " ".join(f"{markers}/{n}" for n in names)
    assert len(files) > 250
    if where == "key-line":
        command = f"command = /bin/touch {files}"
    else:
        command = f"command = /bin/touch\n    {files}"
    text = f"[task:touch]\nclass = log-only\n{command}\nstdout = null\n"
    assert max(len(line) for line in text.split("\n")) > 200
    path = write_manifest(text)
    r = run_tendd("--check", "-f", path)
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "")
    d = start_tendd(path)
    d.wait_log(r"task touch \(pid \d+\): exit status 0")
    assert sorted(p.name for p in markers.iterdir()) == names


# Where the manifest comes from.


def test_missing_manifest(run_tendd, tmp_path):
    path = tmp_path / "absent.ini"
    for args in (["--check"], []):
        r = run_tendd(*args, "-f", path, timeout=5)
        assert r.returncode == 1
        assert r.stdout == ""
        lines = r.stderr.splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith(f"{path}: ")
        assert "No such file" in lines[0]


def test_directory_as_manifest(run_tendd, tmp_path):
    r = run_tendd("--check", "-f", tmp_path)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{tmp_path}:"), r.stderr


def test_tend_manifest_variable(run_tendd):
    bad = MANIFESTS / "bad" / "missing-class.ini"
    good = MANIFESTS / "good" / "name64.ini"
    r = run_tendd("--check", env={"TEND_MANIFEST": bad})
    assert r.returncode == 1
    assert_problems(r.stderr, str(bad), expectations(bad))
    r = run_tendd("--check", env={"TEND_MANIFEST": good})
    assert (r.returncode, r.stderr) == (0, "")


def test_option_f_overrides_tend_manifest(run_tendd):
    bad = MANIFESTS / "bad" / "missing-class.ini"
    good = MANIFESTS / "good" / "name64.ini"
    r = run_tendd("--check", "-f", good, env={"TEND_MANIFEST": bad})
    assert (r.returncode, r.stderr) == (0, "")
    r = run_tendd("--check", "-f", bad, env={"TEND_MANIFEST": good})
    assert r.returncode == 1
    assert_problems(r.stderr, str(bad), expectations(bad))


def test_default_manifest(run_tendd):
    default = "/etc/tend/tend.ini"
    if os.path.exists(default):
        pytest.skip(f"{default} exists")
    for env in ({}, {"TEND_MANIFEST": ""}):
        r = run_tendd("--check", env=env)
        assert r.returncode == 1
        assert r.stderr.startswith(f"{default}: "), r.stderr


# Options.


@pytest.mark.parametrize("opt", ["-V", "--version"])
def test_version(run_tendd, opt):
    r = run_tendd(opt)
    assert r.returncode == 0
    assert re.fullmatch(r"tendd \d+\.\d+\.\d+\S*\n", r.stdout), r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("opt", ["-h", "--help"])
def test_help(run_tendd, opt):
    r = run_tendd(opt)
    assert r.returncode == 0
    assert USAGE in r.stdout.splitlines()[0]
    assert r.stderr == ""


@pytest.mark.parametrize(
    "args",
    [["--bogus"], ["-x"], ["-f"], ["--check", "-f", "GOOD", "operand"]],
    ids=["long", "short", "missing-argument", "operand"])
def test_bad_usage(run_tendd, args):
    good = str(MANIFESTS / "good" / "name64.ini")
    r = run_tendd(*[good if a == "GOOD" else a for a in args], timeout=5)
    assert r.returncode == 1
    assert r.stdout == ""
    assert USAGE in r.stderr


# tendctl without a daemon.


@pytest.mark.parametrize("command", [["status"], ["stop", "web"], ["shutdown"]])
def test_tendctl_unreachable_socket_option(run_tendctl, sock_dir, command):
    sock = sock_dir / "absent.sock"
    r = run_tendctl("-s", sock, *command)
    assert r.returncode == 4, r.stderr
    assert str(sock) in r.stderr
    assert r.stdout == ""


def test_tendctl_unreachable_tend_socket(run_tendctl, sock_dir):
    sock = sock_dir / "absent.sock"
    r = run_tendctl("status", env={"TEND_SOCKET": sock})
    assert r.returncode == 4, r.stderr
    assert str(sock) in r.stderr


def test_tendctl_socket_option_overrides_tend_socket(run_tendctl, sock_dir):
    opt, env = sock_dir / "option.sock", sock_dir / "env.sock"
    r = run_tendctl("-s", opt, "status", env={"TEND_SOCKET": env})
    assert r.returncode == 4
    assert str(opt) in r.stderr and str(env) not in r.stderr


def test_tendctl_stale_socket(run_tendctl, sock_dir):
    """A socket file nobody listens on: the daemon cannot be reached."""
    sock = sock_dir / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(sock))
    s.close()
    assert sock.exists()
    r = run_tendctl("-s", sock, "status")
    assert r.returncode == 4, r.stderr


def test_tendctl_unknown_command(run_tendctl, sock_dir):
    sock = sock_dir / "absent.sock"
    r = run_tendctl("-s", sock, "frobnicate", env={"TEND_SOCKET": sock})
    assert r.returncode == 1, r.stderr
    assert "frobnicate" in r.stderr
    assert r.stdout == ""


def test_tendctl_no_command(run_tendctl, sock_dir):
    r = run_tendctl("-s", sock_dir / "absent.sock")
    assert r.returncode == 1
    assert "usage" in r.stderr.lower()

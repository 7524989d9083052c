"""What ships: make install into a staged tree, the systemd unit, the bash
completion of tendctl, and the container example of conf/.

The installed binaries are run from the staged tree: the installed tendd on
the installed default manifest, answered by the installed tendctl.
"""

import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess

import pytest

from conftest import REPO, run, wait_for

MAKE_TIMEOUT = 300  # seconds: a build on a shared, busy machine

# Every file make install writes under DESTDIR with PREFIX=/usr, and its mode.
INSTALLED = {
    "usr/sbin/tendd": 0o755,
    "usr/bin/tendctl": 0o755,
    "usr/share/man/man1/tendctl.1": 0o644,
    "usr/share/man/man5/tend.ini.5": 0o644,
    "usr/share/man/man8/tendd.8": 0o644,
    "usr/lib/systemd/system/tendd.service": 0o644,
    "usr/share/bash-completion/completions/tendctl": 0o644,
    "etc/tend/tend.ini": 0o644,
    "etc/tend/tend.ini.example": 0o644,
}


def make_install(*assignments, umask=0o077):
    """make install with these VAR=VALUE assignments, under a strict umask
    (the modes must not depend on the installer's)."""
    def strict():
        os.umask(umask)
    proc = subprocess.run(
        ["make", "-s", "install", *assignments], cwd=REPO,
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=MAKE_TIMEOUT, preexec_fn=strict)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def staged(tmp_path):
    """A tree that make install DESTDIR=... PREFIX=/usr filled."""
    root = tmp_path / "root"
    make_install(f"DESTDIR={root}", "PREFIX=/usr")
    return root


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if not p.is_dir())


def test_install_stages_every_file_with_its_mode(staged):
    assert files_under(staged) == sorted(INSTALLED)
    for rel, mode in INSTALLED.items():
        st = (staged / rel).stat()
        assert oct(st.st_mode & 0o7777) == oct(mode), rel
    for d in [p for p in staged.rglob("*") if p.is_dir()]:
        assert d.stat().st_mode & 0o7777 == 0o755, d
    assert (staged / "etc/tend/tend.ini").read_bytes() == \
        (REPO / "conf/default.ini").read_bytes()
    assert (staged / "etc/tend/tend.ini.example").read_bytes() == \
        (REPO / "conf/default.ini").read_bytes()
    assert (staged / "usr/share/bash-completion/completions/tendctl"
            ).read_bytes() == (REPO / "conf/tendctl.bash").read_bytes()
    for page in ("man1/tendctl.1", "man5/tend.ini.5", "man8/tendd.8"):
        assert (staged / "usr/share/man" / page).read_bytes() == \
            (REPO / "man" / page.split("/")[1]).read_bytes()


def test_installed_unit_runs_the_installed_tendd(tmp_path):
    prefix = tmp_path / "usr"
    make_install(f"PREFIX={prefix}", f"ETCDIR={tmp_path}/etc/tend")
    unit = (prefix / "lib/systemd/system/tendd.service").read_text()
    assert f"\nExecStart={prefix}/sbin/tendd\n" in unit
    assert "/usr/sbin/tendd" not in unit.replace(f"{prefix}/sbin", "")


def test_second_install_keeps_a_modified_manifest(staged):
    manifest = staged / "etc/tend/tend.ini"
    mine = "[tend]\nstop_timeout = 3s\n; mine\n"
    manifest.write_text(mine)
    manifest.chmod(0o600)
    make_install(f"DESTDIR={staged}", "PREFIX=/usr")
    assert manifest.read_text() == mine
    assert manifest.stat().st_mode & 0o7777 == 0o600
    assert (staged / "etc/tend/tend.ini.example").read_bytes() == \
        (REPO / "conf/default.ini").read_bytes()


def test_install_keeps_a_manifest_that_is_a_symlink(staged, tmp_path):
    """A symbolic link at /etc/tend/tend.ini, even a dangling one (its
    target on a volume not mounted yet), is the admin's: never replaced."""
    manifest = staged / "etc/tend/tend.ini"
    manifest.unlink()
    manifest.symlink_to(tmp_path / "elsewhere.ini")
    make_install(f"DESTDIR={staged}", "PREFIX=/usr")
    assert manifest.is_symlink()
    assert os.readlink(manifest) == str(tmp_path / "elsewhere.ini")
    assert not (tmp_path / "elsewhere.ini").exists()


def test_installed_tendd_runs_the_default_manifest(staged, sock_dir, tmp_path):
    """The installed tendd on the installed /etc/tend/tend.ini (its socket
    moved with -s) starts, and the installed tendctl talks with it."""
    tendd = staged / "usr/sbin/tendd"
    tendctl = staged / "usr/bin/tendctl"
    manifest = staged / "etc/tend/tend.ini"
    sock = sock_dir / "tend.sock"
    assert run([tendd, "--check", "-f", manifest]).returncode == 0
    env = {k: v for k, v in os.environ.items()
           if k not in ("TEND_MANIFEST", "TEND_SOCKET", "NOTIFY_SOCKET")}
    with open(tmp_path / "tendd.log", "wb") as log:
        proc = subprocess.Popen(
            [tendd, "-e", "-f", manifest, "-s", sock],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            start_new_session=True)
    try:
        def answer():
            proc = run([tendctl, "-s", sock, "status", "--json"], env=env)
            return proc if proc.returncode != 4 else None  # 4: no answer

        answered = wait_for(
            answer, what="the installed tendctl to get an answer",
            details=lambda: (tmp_path / "tendd.log").read_text())
        assert answered.returncode == 0, answered.stderr
        assert f'"manifest": "{manifest}"' in answered.stdout
        assert '"tasks": []' in answered.stdout
        assert run([tendctl, "-s", sock, "shutdown"], env=env
                   ).returncode == 0
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# The systemd unit.

def test_unit_is_what_the_manual_says():
    unit = (REPO / "conf/tendd.service").read_text()
    keys = dict(re.findall(r"^(\w+)=(.*)$", unit, re.M))
    assert keys["Type"] == "notify"
    assert keys["ExecStart"] == "/usr/sbin/tendd"
    assert keys["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert keys["KillMode"] == "mixed"
    assert keys["Restart"] == "on-failure"
    # Longer than the default stop_timeout (10s), with room.
    assert re.fullmatch(r"\d+s", keys["TimeoutStopSec"])
    assert int(keys["TimeoutStopSec"][:-1]) >= 30
    for sandbox in ("PrivateTmp", "ProtectSystem", "ProtectHome",
                    "NoNewPrivileges", "PrivateDevices"):
        assert sandbox not in keys, f"{sandbox} would change every task"


def test_systemd_analyze_verifies_the_installed_unit(tmp_path):
    """systemd-analyze verify of the unit as installed with PREFIX in
    tmp_path: its ExecStart (the installed tendd) exists, and its
    Documentation= man pages are found under the installed MANDIR."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    prefix = tmp_path / "usr"
    make_install(f"PREFIX={prefix}", f"ETCDIR={tmp_path}/etc/tend")
    unit = prefix / "lib/systemd/system/tendd.service"
    man = ["--man=no"] if shutil.which("man") is None else []
    proc = run([analyze, "verify", *man, unit],
               env={**os.environ, "MANPATH": str(prefix / "share/man")},
               timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Unknown keys and bad values are only warnings: there must be none.
    assert proc.stdout + proc.stderr == ""


# The bash completion, driven as bash's programmable completion drives it.

COMPLETE = r"""
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_tendctl
printf '%s\n' "${COMPREPLY[@]}"
"""


def complete(tendctl, *words):
    """COMPREPLY for the command line `tendctl WORDS`, the cursor at the end
    of the last word (pass "" to be after a space)."""
    proc = run(["bash", "--norc", "--noprofile", "-c", COMPLETE, "complete",
                REPO / "conf/tendctl.bash", tendctl, *words])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return sorted(proc.stdout.split())


def test_completion_of_commands_and_options(tendctl_bin):
    assert complete(tendctl_bin, "st") == ["start", "status", "stop"]
    assert complete(tendctl_bin, "re") == ["reload", "restart"]
    assert complete(tendctl_bin, "") == sorted(
        "status start stop restart signal run reload log metrics "
        "shutdown".split())
    assert complete(tendctl_bin, "--") == ["--help", "--version"]
    assert complete(tendctl_bin, "status", "--") == ["--json"]
    assert complete(tendctl_bin, "reload", "") == ["--dry-run"]
    assert complete(tendctl_bin, "log", "x", "-") == ["-f", "-n"]
    assert complete(tendctl_bin, "signal", "US") == ["USR1", "USR2"]


def test_completion_of_task_names(start_tendd, tendctl_bin, run_tendctl):
    d = start_tendd("""
        [task:web-1]
        class   = durable
        command = sleep 1000
        [task:web.2]
        class   = log-only
        command = true
        [task:echo]
        class   = per-request
        command = cat
        """)
    sock = d.argv[d.argv.index("-s") + 1]
    wait_for(lambda: run_tendctl("-s", sock, "status").returncode == 0,
             what="tendd to answer", details=d.tail)
    names = ["echo", "web-1", "web.2"]
    assert complete(tendctl_bin, "-s", sock, "status", "") == names
    assert complete(tendctl_bin, "-s", sock, "stop", "") == ["all", *names]
    assert complete(tendctl_bin, "-s", sock, "restart", "web") == \
        ["web-1", "web.2"]
    assert complete(tendctl_bin, "-s", sock, "signal", "HUP", "e") == \
        ["echo"]
    assert complete(tendctl_bin, "-s", sock, "log", "-n", "5", "web.") == \
        ["web.2"]
    assert complete(tendctl_bin, "-s", sock, "run", "echo", "") == []
    # Without tendd, no names and no noise.
    assert complete(tendctl_bin, "-s", sock + ".none", "stop", "") == ["all"]


# The container example: Docker is not run here, so what can be checked
# without it is: what the Dockerfile copies exists, the build stage's
# commands work on exactly what it copies, and its manifest is valid.

def dockerfile():
    """(instruction, arguments) of conf/Dockerfile, continuations joined."""
    text = (REPO / "conf/Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages():
    """The Dockerfile's stages: a list of lists of its instructions."""
    found = []
    for ins, args in dockerfile():
        if ins == "FROM":
            found.append([])
        found[-1].append((ins, args))
    return found


def test_dockerfile_shape():
    build, runtime = stages()
    assert build[0] == ("FROM", "debian:12-slim AS build")
    assert runtime[0] == ("FROM", "debian:12-slim")
    assert ("ENTRYPOINT", '["/usr/sbin/tendd"]') in runtime
    health = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert len(health) == 1 and re.search(r"CMD tendctl status\b", health[0])
    runtime_apt = " ".join(a for i, a in runtime if i == "RUN")
    assert "libev4" in runtime_apt and "libinih1" in runtime_apt
    assert "-dev" not in runtime_apt and "gcc" not in runtime_apt


def test_dockerfile_builds_from_what_it_copies(tmp_path, tendd_bin):
    """The build stage's COPY sources exist, and its RUN make works on a
    tree of only them; the runtime stage's COPY --from paths come out of
    that build, and its manifest passes tendd --check."""
    build, runtime = stages()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for ins, args in build:
        if ins == "COPY":
            src, dst = args.split()
            assert (REPO / src).exists(), src
            copy = shutil.copytree if (REPO / src).is_dir() else shutil.copy
            copy(REPO / src, ctx / dst.rstrip("/") if dst != "./" else ctx)
    (runs,) = [a for i, a in build if i == "RUN" and a.startswith("make ")]
    out = tmp_path / "out"
    script = runs.replace("DESTDIR=/out", f"DESTDIR={out}")
    assert script != runs
    proc = subprocess.run(["sh", "-c", script], cwd=ctx, timeout=MAKE_TIMEOUT,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env={**os.environ, "MAKEFLAGS": "-j2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for ins, args in runtime:
        if ins != "COPY":
            continue
        words = shlex.split(args)
        if words[0] == "--from=build":
            assert words[1].startswith("/out/"), words[1]
            assert (out / words[1][len("/out/"):]).is_file(), words[1]
        else:
            src, dst = words
            assert (REPO / src).is_file(), src
            if dst == "/etc/tend/tend.ini":
                check = run([tendd_bin, "--check", "-f", REPO / src])
                assert check.returncode == 0, check.stderr
                assert re.search(r"^essential\s*=\s*yes", (
                    REPO / src).read_text(), re.M)


# The README and the make run example.

def readme_manifest(tmp_path):
    """The manifest of the README's "A manifest" section, as a file."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"^## A manifest\n\n((?:    .*\n|\n)+)", text, re.M)[1]
    path = tmp_path / "readme.ini"
    path.write_text("".join(line[4:] + "\n" for line in block.splitlines()))
    return path


def ini_values(path, key):
    return re.findall(rf"^{key}\s*=\s*(\S+)", path.read_text(), re.M)


def test_examples_are_valid_and_serve_nothing_to_the_network(tmp_path,
                                                            tendd_bin):
    for manifest in (readme_manifest(tmp_path), REPO / "conf/tend.ini",
                     REPO / "conf/default.ini", REPO / "conf/container.ini"):
        check = run([tendd_bin, "--check", "-f", manifest])
        assert check.returncode == 0, check.stderr
        for listen in ini_values(manifest, "listen"):
            assert listen.startswith(("tcp:127.0.0.1:", "unix:")), listen
    readme = readme_manifest(tmp_path).read_text()
    # The README's web server binds loopback and serves a directory of its
    # own, not tendd's working directory (/ under systemd).
    (web,) = re.findall(r"^command\s*=\s*.*http\.server.*$", readme, re.M)
    assert "--bind 127.0.0.1" in web
    assert re.search(r"\[task:web\][^[]*^directory\s*=\s*/srv/www", readme,
                     re.M)


def test_readme_says_how_to_talk_to_make_run():
    (sock,) = ini_values(REPO / "conf/tend.ini", "control_socket")
    readme = (REPO / "README.md").read_text()
    assert f"build/tendctl -s {sock} status" in readme
    assert "make run" in readme and "make check" in readme
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run:.*\n(\t.*\n)*\texec \./\$\(B\)/tendd -e -f "
                     r"conf/tend\.ini$", makefile, re.M)

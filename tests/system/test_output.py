"""Output destinations (SPEC section 3, issue 13): console lines on tendd's
own stdout and stderr prefixed with the task's name, file:PATH appended to,
created 0640 for the task's user, rotated by size (log_max_size,
log_backups) and reopened when moved away; a console nobody reads never
stalls tendd; reloads of the output keys."""

import json
import os
import pwd
import re
import select
import stat
import threading

import pytest

from conftest import WAIT, ctl, task_of, wait_for, wait_state

VALGRIND = "valgrind" in os.environ.get("TENDD", "")
CTL_TIMEOUT = 30 if VALGRIND else 10  # seconds a tendctl may take

# Prints lines "N" (zero-padded to 4 digits: 5 bytes each) from 0 to $1-1.
NUMBERS = "sh -c 'i=0; while [ $i -lt {n} ]; do printf \"%04d\\n\" $i; " \
          "i=$((i+1)); done'"


def lines_of(path):
    """The lines of a file, each of which must end with a newline."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), data[-50:]
    return data.decode().split("\n")[:-1]


def assert_numbered(lines, last):
    """lines are consecutive numbers ending at last, none cut."""
    assert lines, "no line"
    nums = [int(x) for x in lines]  # a cut line would not parse or be short
    assert all(len(x) == 4 for x in lines), lines
    assert nums == list(range(last - len(nums) + 1, last + 1)), nums


def ctl_ok(run_tendctl, d, *args):
    r = ctl(run_tendctl, d, *args, timeout=CTL_TIMEOUT)
    assert r.returncode == 0, (r, d.tail())
    return r


def log_dropped(run_tendctl, d):
    r = ctl_ok(run_tendctl, d, "status", "--json")
    return json.loads(r.stdout)["daemon"]["log_dropped"]


def fds_to(pid, path):
    """tendd's fds open on path."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                found.append(int(fd))
        except OSError:
            pass
    return found


# console

def test_console_prefixes(start_tendd, run_tendctl):
    """console: a task's stdout lines on tendd's stdout, its stderr lines
    on tendd's stderr, each "NAME: LINE" with no timestamp; a per-request
    instance's "NAME[PID]: LINE"; a syslog task's lines not on stdout."""
    d = start_tendd("""
        [task:web]
        class   = log-only
        command = sh -c 'echo hello world; echo oops >&2; echo bye'
        stdout  = console
        stderr  = console

        [task:req]
        class   = per-request
        command = sh -c 'echo req $$'
        stdout  = console

        [task:quiet]
        class   = log-only
        command = echo not on stdout
    """)
    wait_state(run_tendctl, d, "web", "done")
    wait_state(run_tendctl, d, "quiet", "done")
    for _ in range(2):
        r = ctl(run_tendctl, d, "run", "req", "--wait",
                timeout=CTL_TIMEOUT)
        assert r.returncode == 0, r

    def out_lines():
        lines = d.output().split("\n")
        return lines if sum(x.startswith("req[") for x in lines) == 2 \
            else None
    lines = wait_for(out_lines, what="two req lines on stdout",
                     details=d.tail)
    assert lines[-1] == "", lines  # every line whole
    web = [x for x in lines if x.startswith("web")]
    assert web == ["web: hello world", "web: bye"], lines
    reqs = [re.fullmatch(r"req\[(\d+)\]: req (\d+)", x)
            for x in lines if x.startswith("req")]
    assert all(m and m[1] == m[2] for m in reqs), lines
    assert reqs[0][1] != reqs[1][1]
    assert not any("not on stdout" in x for x in lines), lines
    wait_for(lambda: "web: oops" in d.log_lines(),
             what="web: oops on stderr", details=d.tail)


def test_console_lines_are_escaped_and_whole(start_tendd, run_tendctl):
    """A console line is escaped as every sink's (no terminal control),
    and an unfinished last line still ends with a newline."""
    d = start_tendd(r"""
        [task:esc]
        class   = log-only
        command = printf 'a\033[2Jb\nlast'
        stdout  = console
    """)
    wait_state(run_tendctl, d, "esc", "done")
    wait_for(lambda: d.output() == "esc: a\\x1b[2Jb\nesc: last\n",
             what="the escaped lines", details=lambda: repr(d.output()))


def test_unread_console_pipe_does_not_block(start_tendd, run_tendctl):
    """tendd's stdout a pipe nobody reads, a task flooding it through
    console: tendd answers status, restarts a task, counts the dropped
    lines and exits on SIGTERM."""
    r, w = os.pipe()
    try:
        d = start_tendd("""
            [task:flood]
            class       = durable
            command     = yes
            stdout      = console
            backoff_min = 0

            [task:other]
            class       = durable
            command     = sleep 1000
        """, preexec_fn=lambda: os.dup2(w, 1))
        os.close(w)
        w = -1
        wait_state(run_tendctl, d, "other", "running")
        before = log_dropped(run_tendctl, d)
        wait_for(lambda: log_dropped(run_tendctl, d) > before,
                 what="tendd to drop console lines")
        ctl_ok(run_tendctl, d, "status")
        old = task_of(run_tendctl, d, "other")["pid"]
        out = ctl_ok(run_tendctl, d, "restart", "other").stdout
        assert "other running" in out
        assert task_of(run_tendctl, d, "other")["pid"] not in (None, old)
        # Once read again, the pipe gets the flood and a note of the loss.
        rx = re.compile(r"^tendd: warning: \d+ log lines? dropped$", re.M)
        data = b""

        def noted():
            nonlocal data
            while select.select([r], [], [], 0.05)[0]:
                data = (data + os.read(r, 65536))[-65536:]
                if rx.search(data.decode(errors="replace")):
                    return True
            return None
        wait_for(noted, what="a dropped-lines note on stdout")
        assert re.search(r"^flood: y$", data.decode(errors="replace"), re.M)
        assert d.terminate(timeout=CTL_TIMEOUT) == 0
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_console_stdout_and_stderr_one_pipe(start_tendd, run_tendctl):
    """tendd's stdout and stderr one pipe (2>&1), a task flooding both
    through console with long lines: every line read is whole."""
    r, w = os.pipe()
    chunks = []

    def read_all():
        while True:
            data = os.read(r, 65536)
            if not data:
                return
            chunks.append(data)
    reader = threading.Thread(target=read_all)
    reader.start()
    try:
        d = start_tendd("""
            [task:big]
            class   = log-only
            command = sh -c 'l=$(printf "%0600d" 0); i=0;
                             while [ $i -lt 500 ]; do echo "o$l";
                             echo "e$l" >&2; i=$((i+1)); done'
            stdout  = console
            stderr  = console
        """, preexec_fn=lambda: (os.dup2(w, 1), os.dup2(w, 2)))
        os.close(w)
        w = -1
        wait_state(run_tendctl, d, "big", "done")
        assert d.terminate(timeout=CTL_TIMEOUT) == 0
        reader.join(WAIT)
        text = b"".join(chunks).decode()
        assert text.endswith("\n")
        zeros = "0" * 600
        ok = re.compile(rf"big: [oe]{zeros}|tendd: .*")
        bad = [x for x in text.split("\n")[:-1] if not ok.fullmatch(x)]
        assert not bad, bad[:3]
        dropped = text.count("log line")
        assert text.count(f"big: o{zeros}") + dropped > 0
    finally:
        if w >= 0:
            os.close(w)
        reader.join(WAIT)
        os.close(r)


# file:PATH

def test_file_content_mode_owner(start_tendd, run_tendctl, tmp_path):
    """file:PATH gets each line exactly as written, with a newline, an
    unfinished last line too; created 0640 and owned by the task's user
    and group; stdout and stderr naming one file share it."""
    if os.geteuid() != 0:
        pytest.skip("a task's user needs a root tendd")
    nobody = pwd.getpwnam("nobody")
    log = tmp_path / "sub" / "out.log"
    log.parent.mkdir()
    d = start_tendd(rf"""
        [task:w]
        class   = log-only
        user    = nobody
        command = sh -c 'printf "a\n b  b\n\033[1m\n"; echo err >&2;
                         sleep 0.2; printf "partial"'
        stdout  = file:{log}
        stderr  = file:{log}
    """)
    wait_state(run_tendctl, d, "w", "done")
    data = log.read_bytes()
    assert sorted(data.split(b"\n")) == sorted(
        [b"a", b" b  b", b"\x1b[1m", b"err", b"partial", b""]), data
    assert data.index(b"a\n") < data.index(b" b  b\n") \
        < data.index(b"\x1b[1m\n"), data
    st = log.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    # Appended to, never truncated, by the next run.
    ctl_ok(run_tendctl, d, "start", "w")
    wait_for(lambda: log.read_bytes().count(b"partial\n") == 2,
             what="the second run's lines appended")
    assert log.read_bytes().startswith(data)


def test_file_rotation(start_tendd, run_tendctl, tmp_path):
    """log_max_size = 100, log_backups = 2: PATH, PATH.1 and PATH.2, no
    PATH.3, each at most 100 bytes, of whole lines; the newest lines are
    all there, in order, none lost or cut across files."""
    log = tmp_path / "r.log"
    d = start_tendd(f"""
        [task:r]
        class        = log-only
        command      = {NUMBERS.format(n=300)}
        stdout       = file:{log}
        log_max_size = 100
        log_backups  = 2
    """)
    wait_state(run_tendctl, d, "r", "done")
    files = [log, tmp_path / "r.log.1", tmp_path / "r.log.2"]
    assert all(f.exists() for f in files), list(tmp_path.iterdir())
    assert not (tmp_path / "r.log.3").exists()
    for f in files:
        assert 0 < f.stat().st_size <= 100, (f, f.stat().st_size)
    lines = lines_of(files[2]) + lines_of(files[1]) + lines_of(files[0])
    assert_numbered(lines, 299)
    assert len(lines_of(files[2])) == 20  # 100 bytes: 20 lines of 5
    assert stat.S_IMODE(files[1].stat().st_mode) == 0o640
    assert d.terminate(timeout=CTL_TIMEOUT) == 0


def test_file_rotation_without_backups(start_tendd, run_tendctl,
                                       tmp_path):
    """log_backups = 0: PATH is truncated in place at the size, no PATH.1."""
    log = tmp_path / "t.log"
    d = start_tendd(f"""
        [task:t]
        class        = log-only
        command      = {NUMBERS.format(n=300)}
        stdout       = file:{log}
        log_max_size = 100
        log_backups  = 0
    """)
    wait_state(run_tendctl, d, "t", "done")
    assert sorted(p.name for p in tmp_path.glob("t.log*")) == ["t.log"]
    assert 0 < log.stat().st_size <= 100
    assert_numbered(lines_of(log), 299)


def test_file_without_rotation(start_tendd, run_tendctl, tmp_path):
    """log_max_size = 0: never rotated."""
    log = tmp_path / "n.log"
    d = start_tendd(f"""
        [task:n]
        class        = log-only
        command      = {NUMBERS.format(n=300)}
        stdout       = file:{log}
        log_max_size = 0
    """)
    wait_state(run_tendctl, d, "n", "done")
    assert sorted(p.name for p in tmp_path.glob("n.log*")) == ["n.log"]
    assert_numbered(lines_of(log), 299)
    assert len(lines_of(log)) == 300


TICKER = ("sh -c 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.02; done'")


def test_file_reopened_when_removed_or_moved(start_tendd, run_tendctl,
                                             tmp_path):
    """rm PATH, or mv PATH away (logrotate without copytruncate): tendd
    opens PATH anew within a few seconds; the moved file stops growing."""
    log = tmp_path / "tick.log"
    d = start_tendd(f"""
        [task:tick]
        class   = durable
        command = {TICKER}
        stdout  = file:{log}
    """)
    pid = wait_state(run_tendctl, d, "tick", "running")["pid"]
    wait_for(lambda: log.exists() and log.stat().st_size > 0,
             what="the first lines")
    log.unlink()
    wait_for(lambda: log.exists() and log.stat().st_size > 0,
             what="tick.log created again")
    moved = tmp_path / "tick.log.old"
    log.rename(moved)
    wait_for(lambda: log.exists() and log.stat().st_size > 0,
             what="tick.log created again after mv")
    size = moved.stat().st_size
    wait_for(lambda: len(lines_of(log)) > 10, what="more lines")
    assert moved.stat().st_size == size
    assert task_of(run_tendctl, d, "tick")["pid"] == pid  # never stopped
    assert len(fds_to(d.pid, log)) == 1
    assert d.terminate(timeout=CTL_TIMEOUT) == 0


def test_file_shared_by_streams_and_tasks(start_tendd, run_tendctl,
                                          tmp_path):
    """stdout and stderr of two tasks naming one PATH: one open file in
    tendd, one size count (each file within log_max_size), every line
    kept once."""
    log = tmp_path / "shared.log"
    both = ("sh -c 'i=0; while [ $i -lt 40 ]; do printf \"{p}o%02d\\n\" $i;"
            " printf \"{p}e%02d\\n\" $i >&2; i=$((i+1)); done; "
            "exec sleep 1000'")
    d = start_tendd(f"""
        [task:a]
        class        = durable
        command      = {both.format(p="a")}
        stdout       = file:{log}
        stderr       = file:{log}
        log_max_size = 100
        log_backups  = 100

        [task:b]
        class        = durable
        command      = {both.format(p="b")}
        stdout       = file:{log}
        stderr       = file:{log}
        log_max_size = 100
        log_backups  = 100
    """)
    files = lambda: [log, *sorted(tmp_path.glob("shared.log.*"))]  # noqa
    lines = lambda: [x for f in files() if f.exists()  # noqa
                     for x in lines_of(f)]
    wait_for(lambda: len(lines()) == 160, what="160 lines",
             details=lambda: str(len(lines())))
    for f in files():
        assert f.stat().st_size <= 100, (f, f.stat().st_size)
    assert sorted(lines()) == sorted(f"{p}{s}{i:02d}" for p in "ab"
                                     for s in "oe" for i in range(40))
    assert len(fds_to(d.pid, log)) == 1
    assert d.terminate(timeout=CTL_TIMEOUT) == 0


def test_file_that_cannot_be_opened(start_tendd, run_tendctl, tmp_path):
    """A PATH that cannot be opened fails the spawn (as supervisord
    refuses to start the process): logged, no process, retried with the
    backoff; once the directory exists, the task runs."""
    where = tmp_path / "missing"
    d = start_tendd(f"""
        [task:x]
        class       = durable
        command     = sleep 1000
        stdout      = file:{where}/x.log
        backoff_min = 100ms
        backoff_max = 200ms
    """)
    d.wait_log(rf"^task x: cannot open {where}/x.log: "
               r"No such file or directory$", level="err")
    d.wait_log(r"^task x: cannot spawn: No such file or directory",
               level="err")
    assert task_of(run_tendctl, d, "x")["pid"] in (None, 0)
    where.mkdir()
    wait_state(run_tendctl, d, "x", "running")
    assert (where / "x.log").exists()


def test_file_that_is_not_a_regular_file(start_tendd, run_tendctl,
                                         tmp_path):
    """A FIFO at PATH, read or not, neither blocks tendd nor is taken; a
    symbolic link at PATH is not followed."""
    fifo, read_fifo = tmp_path / "f.log", tmp_path / "g.log"
    link = tmp_path / "l.log"
    os.mkfifo(fifo)
    os.mkfifo(read_fifo)
    link.symlink_to(tmp_path / "target.log")
    reader = os.open(read_fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        d = start_tendd(f"""
            [task:f]
            class   = log-only
            command = echo x
            stdout  = file:{fifo}

            [task:g]
            class   = log-only
            command = echo x
            stdout  = file:{read_fifo}

            [task:l]
            class   = log-only
            command = echo x
            stdout  = file:{link}
        """)
        d.wait_log(rf"^task f: cannot open {fifo}: not a regular "
                   "file$", level="err")
        d.wait_log(rf"^task g: cannot open {read_fifo}: not a regular "
                   "file$", level="err")
        d.wait_log(rf"^task l: cannot open {link}: a symbolic link "
                   r"\(not followed\)$", level="err")
        for name in "fgl":
            wait_state(run_tendctl, d, name, "failed")
        assert not (tmp_path / "target.log").exists()
    finally:
        os.close(reader)


# reload

def test_reload_of_output_keys(start_tendd, run_tendctl, tmp_path,
                               write_manifest):
    """log_max_size and log_backups are updated in place (pid kept, the
    new size applies to the running process); stdout is a restart."""
    log = tmp_path / "k.log"
    text = f"""
        [task:k]
        class        = durable
        command      = {TICKER}
        stdout       = file:{log}
        log_max_size = {{size}}
        log_backups  = 1
    """
    path = write_manifest(text.format(size="1M"))
    d = start_tendd(path)
    pid = wait_state(run_tendctl, d, "k", "running")["pid"]
    write_manifest(text.format(size="100"))
    r = ctl_ok(run_tendctl, d, "reload")
    assert r.stdout == "updated k\n"
    wait_for(lambda: (tmp_path / "k.log.1").exists(),
             what="a rotation at the new size")
    wait_for(lambda: (tmp_path / "k.log.1").stat().st_size <= 100,
             what="k.log.1 within the new size")
    assert task_of(run_tendctl, d, "k")["pid"] == pid

    write_manifest(text.format(size="100").replace(
        f"stdout       = file:{log}", "stdout       = null"))
    r = ctl_ok(run_tendctl, d, "reload")
    assert r.stdout == "restarted k\n"
    new = wait_state(run_tendctl, d, "k", "running")["pid"]
    assert new != pid
    wait_for(lambda: not fds_to(d.pid, log), what="k.log closed")
    assert d.terminate(timeout=CTL_TIMEOUT) == 0

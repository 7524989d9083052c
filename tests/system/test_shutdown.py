"""Shutdown, -d and the pid file: defects of issue 12 (points 11, 13, 14).

Escaped daemons adopted as subreaper are stopped at shutdown; a durable
task that forks into the background is told so; -s is taken from the
working directory at start even with -d; "stopping N tasks" counts what
has a process; a pid file that cannot be written is not left empty.
"""

import os
import signal
import subprocess

import pytest

from conftest import ProcRef, gone, processes_with_env, proc_stat, wait_for

# Leave a process (the rest of the line) running in a session of its own,
# and exit 0 once it has written its pid to ./escaped: the escape is then
# complete, whatever tendd does to the process group afterwards.
ESCAPE = """\
setsid sh -c 'echo $$ > escaped; exec "$@"' sh "$@" &
while [ ! -s escaped ]; do sleep 0.01; done
exit 0
"""

# Escape as above when stopped.
ESCAPE_ON_STOP = """\
trap 'sh ./escape.sh sleep 600; exit 0' TERM
echo up > up
while :; do sleep 0.05; done
"""


def script(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return f"sh ./{name}"


def escaped(tmp_path, comm="sleep"):
    """The escaped process, once it wrote its pid and runs comm."""
    def written():
        try:
            text = (tmp_path / "escaped").read_text()
        except OSError:
            return None
        return int(text) if text.endswith("\n") else None

    ref = ProcRef(wait_for(written, what="the escaped pid"))
    wait_for(lambda: ref.stat() and ref.stat()["comm"] == comm,
             what=f"the escapee to exec {comm}")
    return ref


@pytest.mark.parametrize("cls", ["durable", "log-only"])
def test_shutdown_stops_adopted_orphans(start_tendd, tmp_path, cls):
    d = start_tendd(f"""
        [tend]
        subreaper = yes
        [task:forker]
        class       = {cls}
        directory   = {tmp_path}
        command     = {script(tmp_path, "escape.sh", ESCAPE)} sleep 600
        {"backoff_min = 1h" if cls == "durable" else ""}
        {"backoff_max = 1h" if cls == "durable" else ""}
        """)
    orphan = escaped(tmp_path)
    wait_for(lambda: orphan.stat()["ppid"] == d.pid,
             what="the orphan to be adopted by tendd")
    assert orphan.alive()
    assert d.terminate() == 0
    assert not orphan.alive(), "escaped daemon left running"
    assert gone(orphan.pid), "not reaped"
    assert d.find(r"^stopping 1 orphaned process")


def test_shutdown_kills_stubborn_orphan_after_stop_timeout(start_tendd,
                                                           tmp_path):
    script(tmp_path, "stubborn.sh",
           "trap '' TERM\nwhile :; do sleep 0.05; done\n")
    d = start_tendd(f"""
        [tend]
        subreaper    = yes
        stop_timeout = 300ms
        [task:forker]
        class       = log-only
        directory   = {tmp_path}
        command     = {script(tmp_path, "escape.sh", ESCAPE)} sh ./stubborn.sh
        """)
    orphan = escaped(tmp_path, "sh")
    wait_for(lambda: orphan.stat()["ppid"] == d.pid,
             what="the orphan to be adopted by tendd")
    assert d.terminate() == 0
    assert not orphan.alive()
    assert d.find(rf"^orphan pid {orphan.pid}: still running after "
                  r"stop_timeout, sending SIGKILL")


def test_shutdown_stops_orphans_reparented_while_stopping(start_tendd,
                                                          tmp_path):
    """A task whose own stop leaves an escaped grandchild behind."""
    script(tmp_path, "escape.sh", ESCAPE)
    d = start_tendd(f"""
        [tend]
        subreaper = yes
        [task:late]
        class     = durable
        directory = {tmp_path}
        command   = {script(tmp_path, "late.sh", ESCAPE_ON_STOP)}
        stop_timeout = 20s
        """)
    wait_for(lambda: (tmp_path / "up").exists(), what="the task to start")
    d.signal(signal.SIGTERM)
    # The trap runs when the task is stopped: the sleep escapes then.
    orphan = ProcRef(int(wait_for(
        lambda: (tmp_path / "escaped").exists() and
        (tmp_path / "escaped").read_text().endswith("\n") and
        (tmp_path / "escaped").read_text(), details=d.tail)))
    assert d.wait() == 0
    assert not orphan.alive()


@pytest.mark.parametrize("subreaper", ["yes", "no"])
def test_background_fork_hint(start_tendd, tmp_path, subreaper):
    if subreaper == "yes":  # out of the group: found as an orphan
        command = script(tmp_path, "escape.sh", ESCAPE) + " sleep 600"
    else:  # in the group: found there, before it is killed
        command = script(tmp_path, "bg.sh",
                         "sleep 600 & echo $! > escaped\nexit 0\n")
    d = start_tendd(f"""
        [tend]
        subreaper = {subreaper}
        [task:nginx]
        class       = durable
        directory   = {tmp_path}
        command     = {command}
        backoff_min = 1h
        backoff_max = 1h
        """)
    m = d.wait_log(r"^task nginx: exited 0 after \S+ and left pid (\d+) "
                   r"running: it probably forked into the background; "
                   r"run it in the foreground", level="warning")
    pid = int((tmp_path / "escaped").read_text())
    assert int(m[0][1]) == pid
    assert d.terminate() == 0


def test_no_hint_for_a_plain_exit(start_tendd, tmp_path):
    d = start_tendd("""
        [tend]
        subreaper = yes
        [task:quick]
        class       = durable
        command     = true
        backoff_min = 1h
        backoff_max = 1h
        """)
    d.wait_log(r"^task quick \(pid \d+\): exit status 0")
    assert d.terminate() == 0
    assert not d.find(r"forked into the background")


def start_detached(start_tendd, pid_file, *args, **kw):
    """tendd -d with pid_file and one durable sleeper, once -d returned 0."""
    d = start_tendd(f"""
        [tend]
        pid_file = {pid_file}
        [task:sleeper]
        class   = durable
        command = sleep 1000
        """, "-d", *args, **kw)
    assert d.wait() == 0
    return d


def test_detach_relative_socket_from_start_cwd(start_tendd, run_tendctl,
                                               tmp_path, sock_dir):
    pid_file = tmp_path / "tendd.pid"
    d = start_detached(start_tendd, pid_file, "-s", "rel.sock", cwd=sock_dir)
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(),
                       details=d.tail))
    daemon = ProcRef(pid)
    d.extra.append(daemon)
    try:
        assert (sock_dir / "rel.sock").exists(), d.tail()
        r = run_tendctl("-s", sock_dir / "rel.sock", "status")
        assert r.returncode == 0, r.stderr
        assert "sleeper" in r.stdout
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not daemon.alive(), what="the daemon to exit")
        if os.path.exists("/rel.sock") and not (sock_dir / "rel.sock").exists():
            os.unlink("/rel.sock")


def test_stopping_counts_tasks_with_a_process(start_tendd, tmp_path):
    d = start_tendd(f"""
        [task:a]
        class   = durable
        command = sleep 1000
        [task:b]
        class   = log-only
        command = true
        [task:c]
        class   = log-only
        command = true
        [task:d]
        class     = durable
        command   = sleep 1000
        autostart = no
        """)
    d.wait_log(r"^task c \(pid \d+\): exit status 0")
    d.wait_log(r"^task b \(pid \d+\): exit status 0")
    assert d.terminate() == 0
    assert d.find(r"^stopping 1 task$"), d.tail()


def test_stopping_nothing_says_so(start_tendd):
    d = start_tendd("""
        [task:b]
        class   = log-only
        command = true
        """)
    d.wait_log(r"^task b \(pid \d+\): exit status 0")
    assert d.terminate() == 0
    assert d.find(r"^no task to stop$"), d.tail()
    assert not d.find(r"^stopping \d+ task")


@pytest.fixture
def full_fs(tmp_path):
    """A directory on a tmpfs with no byte free."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path = tmp_path / "full"
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs",
                       str(path)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(fd, b"x" * 512) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)])


def test_detach_pid_file_on_full_fs_not_left_empty(start_tendd, run_tendctl,
                                                   sock_dir, full_fs):
    pid_file = full_fs / "tendd.pid"
    d = start_detached(start_tendd, pid_file, "-s", sock_dir / "full.sock")
    d.wait_log(rf"^cannot write pid file {pid_file}: No space left on "
               r"device", level="err")
    assert not pid_file.exists()
    assert sorted(os.listdir(full_fs)) == ["filler"]
    # The daemon runs on.
    r = run_tendctl("-s", sock_dir / "full.sock", "status")
    assert r.returncode == 0, r.stderr
    r = run_tendctl("-s", sock_dir / "full.sock", "shutdown")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not [p for p in processes_with_env(d.token)
                          if proc_stat(p.pid)],
             what="the daemon and its task to exit")
    assert sorted(os.listdir(full_fs)) == ["filler"]


@pytest.mark.parametrize("own_proc", [True, False],
                         ids=["own-proc", "host-proc"])
def test_pid_1_stops_orphans_only_with_its_own_proc(start_tendd, tmp_path,
                                                    own_proc):
    """As PID 1 of a pid namespace, orphans are stopped at shutdown when
    /proc is the namespace's; with the host's /proc, whose pids are not
    tendd's, nothing is signalled and tendd still exits."""
    if os.geteuid() != 0:
        pytest.skip("unshare --pid needs root")
    if subprocess.run(["unshare", "--pid", "--fork", "--mount-proc",
                       "true"]).returncode != 0:
        pytest.skip("unshare --pid --fork --mount-proc does not work here")
    prefix = ["unshare", "--pid", "--fork", "--kill-child"]
    if own_proc:
        prefix.append("--mount-proc")
    d = start_tendd(f"""
        [task:forker]
        class       = log-only
        directory   = {tmp_path}
        command     = {script(tmp_path, "escape.sh", ESCAPE)} sleep 600
        """, prefix=prefix)
    wait_for(lambda: (tmp_path / "escaped").exists() and
             (tmp_path / "escaped").read_text().endswith("\n"))
    d.wait_log(r"^task forker \(pid \d+\): exit status 0")
    assert d.terminate() == 0
    if own_proc:
        assert d.find(r"^stopping 1 orphaned process$"), d.tail()
        assert d.find(r"^reaped orphan pid \d+: killed by signal 15")
    else:
        assert not d.find(r"orphaned process")
        assert d.find(r"^/proc is not of tendd's pid namespace")


# A task that leaves an orphan in its own process group (one that ignores
# the task's stop_signal, SIGUSR1, so it is still there for the orphans'
# SIGTERM), and records each signal it gets; it exits 1 s after SIGUSR1.
SIGNAL_RECORDER = """\
import os, signal, subprocess, sys, time
subprocess.Popen(["sh", "-c", "sh -c 'trap \\"\\" USR1; exec sleep 600' & "
                  "echo $! > orphan"]).wait()
stopping = []
def record(signo, frame):
    with open("signals", "a") as f:
        f.write(signal.Signals(signo).name + "\\n")
    if signo == signal.SIGUSR1:
        stopping.append(time.monotonic())
signal.signal(signal.SIGUSR1, record)
signal.signal(signal.SIGTERM, record)
open("up", "w").close()
while not stopping or time.monotonic() - stopping[0] < 1:
    time.sleep(0.05)
sys.exit(0)
"""


def test_orphan_in_a_task_group_leaves_the_task_to_its_stop_signal(
        start_tendd, tmp_path):
    """The orphans' SIGTERM goes to the orphan alone when its group is a
    live task's: the task gets its own stop_signal only."""
    (tmp_path / "recorder.py").write_text(SIGNAL_RECORDER)
    d = start_tendd(f"""
        [tend]
        subreaper = yes
        [task:server]
        class       = durable
        directory   = {tmp_path}
        command     = /usr/bin/python3 ./recorder.py
        stop_signal = USR1
        """)
    wait_for(lambda: (tmp_path / "up").exists(), what="the task to start")
    orphan = ProcRef(int((tmp_path / "orphan").read_text()))
    wait_for(lambda: orphan.stat()["ppid"] == d.pid,
             what="the orphan to be adopted by tendd")
    assert d.terminate() == 0
    assert not orphan.alive()
    assert (tmp_path / "signals").read_text().split() == ["SIGUSR1"]

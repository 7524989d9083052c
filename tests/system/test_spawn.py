"""What a task inherits from tendd, and what tendd inherits from its parent
(SPEC sections 2, 3 and 4; issue 12, points 2, 3, 4 and 10): real tendd
processes on real tasks, observed through tendd's log (-e), /proc and a
datagram socket standing in for systemd's.

Every wait is bounded polling (conftest.wait_for), with the generous
bounds of conftest, so that the tests also pass with tendd under valgrind.
"""

import os
import pwd
import signal
import socket
import sys

import pytest

from conftest import ProcRef, output_of, wait_for, wait_state

PY = sys.executable

# The signals tendd needs as they are by default (SIGPIPE: ignored).
TENDD_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

# Exec tendd (argv[1:]) with the signals of TENDD_SIGNALS ignored and
# blocked, as a careless parent (a shell script's trap, a Python program)
# may leave them: exec keeps both.
CARELESS_PARENT = [PY, "-c", """if True:
    import os, signal, sys
    sigs = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    for s in sigs:
        signal.signal(s, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    os.execv(sys.argv[1], sys.argv[1:])
"""]


def signal_masks(pid):
    """The SigBlk, SigIgn and SigCgt sets of /proc/PID/status, as ints."""
    masks = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("SigBlk", "SigIgn", "SigCgt"):
                masks[key] = int(value, 16)
    return masks


def bits(*signals):
    return sum(1 << (s - 1) for s in signals)


def need_root():
    if os.geteuid() != 0:
        pytest.skip("user = nobody needs tendd to run as root")


# Point 2: an inherited SIGCHLD = SIG_IGN, or other inherited dispositions.


def test_ignored_sigchld_inherited(start_tendd, run_tendctl):
    """Started with SIGCHLD ignored (the kernel would reap the tasks
    itself) and its signals blocked, tendd still sees a task die and
    restarts it, and SIGTERM still ends it with status 0."""
    d = start_tendd("""
        [task:sleeper]
        class       = durable
        command     = sleep 1000
        backoff_min = 0
        """, prefix=CARELESS_PARENT)
    first = wait_state(run_tendctl, d, "sleeper", "running")
    masks = signal_masks(d.pid)
    assert masks["SigIgn"] & bits(*TENDD_SIGNALS) == 0, masks
    assert masks["SigIgn"] & bits(signal.SIGPIPE), masks
    # Nothing tendd passes on: the task's dispositions and mask are clean.
    task_masks = signal_masks(first["pid"])
    assert task_masks["SigIgn"] == 0 and task_masks["SigBlk"] == 0, task_masks

    os.kill(first["pid"], signal.SIGKILL)
    again = wait_state(run_tendctl, d, "sleeper", "running", restarts=1)
    assert again["pid"] != first["pid"]
    d.wait_log(r"^task sleeper \(pid %d\): killed by signal 9" % first["pid"],
               level="err")
    assert d.terminate() == 0
    assert not ProcRef(again["pid"]).alive()


# Point 3: a task with user = can reopen its own stdout and stderr.


def test_user_task_reopens_its_output(start_tendd):
    need_root()
    d = start_tendd("""
        [task:reopen]
        class   = log-only
        command = sh -c 'echo out > /dev/stdout && echo err > /dev/stderr'
        user    = nobody
        """)
    end = d.wait_log(r"^task reopen \(pid \d+\): (.*)")[0]
    assert end[1].startswith("exit status 0 "), d.tail()
    (_, out), = output_of(d, "reopen", "info").items()
    (_, err), = output_of(d, "reopen", "warning").items()
    assert (out, err) == (["out"], ["err"])
    assert d.terminate() == 0


# Point 4: tendd's own NOTIFY_SOCKET is not the tasks'.


def test_notify_socket_kept_from_tasks(start_tendd, sock_dir):
    path = str(sock_dir / "notify")
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(path)
    systemd.setblocking(False)
    d = start_tendd("""
        [task:plain]
        class   = log-only
        command = sh -c 'echo "notify=${NOTIFY_SOCKET-unset}"'

        [task:cleared]
        class     = log-only
        command   = /bin/sh -c 'echo "notify=${NOTIFY_SOCKET-unset}"'
        clear_env = yes

        [task:asked]
        class   = log-only
        command = sh -c 'echo "notify=${NOTIFY_SOCKET-unset}"'
        env     = NOTIFY_SOCKET=/its/own
        """, env={"NOTIFY_SOCKET": path})
    d.wait_log(r"^task \w+ \(pid \d+\): exit status 0", count=3,
               level="info")
    for name, want in (("plain", "notify=unset"), ("cleared", "notify=unset"),
                       ("asked", "notify=/its/own")):
        (_, out), = output_of(d, name, "info").items()
        assert out == [want], (name, out)

    def ready():
        try:
            return systemd.recv(4096)
        except BlockingIOError:
            return None
    # tendd itself still tells systemd.
    assert wait_for(ready, what="READY=1 from tendd") == b"READY=1"
    assert d.terminate() == 0
    systemd.close()


# Point 10: the groups resolved when the manifest loads.


def test_per_request_instance_groups(start_tendd, run_tendctl, tmp_path):
    """An instance of a per-request task with user = has the user's
    supplementary groups (resolved when the manifest loaded)."""
    need_root()
    pw = pwd.getpwnam("nobody")
    groups = sorted(set(os.getgrouplist("nobody", pw.pw_gid)))
    d = start_tendd("""
        [task:who]
        class   = per-request
        command = sh -c 'grep -E "^(Uid|Gid|Groups):" /proc/self/status'
        user    = nobody
        """)
    wait_state(run_tendctl, d, "who", "idle")
    r = run_tendctl("-s", d.argv[d.argv.index("-s") + 1], "run", "who",
                    "--wait")
    assert r.returncode == 0, (r, d.tail())
    lines = wait_for(lambda: [x for v in output_of(d, "who", "info").values()
                              for x in v if x.startswith("Groups:")],
                     what="the instance's Groups line", details=d.tail)
    assert sorted(set(map(int, lines[0].split()[1:]))) == groups, lines
    (uid,) = [x for v in output_of(d, "who", "info").values() for x in v
              if x.startswith("Uid:")]
    assert int(uid.split()[1]) == pw.pw_uid
    assert d.terminate() == 0


# Point 15: every signal the task gets at its default, libc's own included.

# Exec tendd (argv[1:]) with SIGUSR1 and glibc's own signals 32 and 33
# ignored: these two only through the raw system call (x86_64 numbers).
IGNORING_PARENT = [PY, "-c", """if True:
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    act = (ctypes.c_ulong * 4)(1, 0, 0, 0)  # SIG_IGN, no flags, no mask
    for sig in (10, 32, 33):
        if libc.syscall(13, sig, ctypes.byref(act), None, 8) != 0:
            sys.exit("rt_sigaction %d: errno %d" % (sig, ctypes.get_errno()))
    os.execv(sys.argv[1], sys.argv[1:])
"""]


def test_ignored_libc_signals_reset(start_tendd, run_tendctl):
    if os.uname().machine != "x86_64":
        pytest.skip("the parent's raw rt_sigaction is x86_64's")
    d = start_tendd("""
        [task:sleeper]
        class   = durable
        command = sleep 1000
        """, prefix=IGNORING_PARENT)
    t = wait_state(run_tendctl, d, "sleeper", "running")
    assert signal_masks(d.pid)["SigIgn"] & bits(10, 32, 33) == bits(10, 32, 33)
    task_masks = signal_masks(t["pid"])
    assert task_masks["SigIgn"] == 0 and task_masks["SigBlk"] == 0, task_masks
    assert d.terminate() == 0

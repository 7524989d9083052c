"""tendd as PID 1, as in a container: run under
`unshare --pid --fork --mount-proc`, whose exit status is tendd's.

The manifest is the container pattern: an essential durable task (the
container's job), another durable task, and a task that leaves orphans
behind. SIGTERM or `tendctl shutdown` stops every task and every orphan and
exits 0; the orphans are reaped as they exit; when the essential task fails,
its status becomes the exit status. Each process that tendd stops records
its SIGTERM in the file `stopped`, so a stop by tendd is told from the
SIGKILL that the kernel sends to what is left when a namespace's PID 1
exits.
"""

import os
import signal

import pytest

from conftest import run, wait_for

WAIT = 60  # seconds: tendd may run under valgrind

# The essential task: waits for the file `go`, then does $1.
MAIN = """\
trap 'echo main >> stopped; exit 0' TERM
while ! test -e go; do sleep 0.05; done
eval "$1"
"""

WORKER = """\
trap 'echo worker >> stopped; exit 0' TERM
while :; do sleep 0.05; done
"""

# Five orphans that exit at once, and one (the keeper) that stays until it
# is stopped, detached as a daemon is: in a session of its own (in the
# task's group it would be killed with the task), its output not the task's
# pipes (closed when the task ends); the task itself stays too.
FORKER = """\
for i in 1 2 3 4 5; do
    (sh -c 'echo $$ >> orphans' &)
done
(setsid sh -c 'trap "echo orphan >> stopped; exit 0" TERM
        echo $$ > keeper
        while :; do sleep 0.05; done' > /dev/null 2>&1 &)
exec sleep 1000
"""


def ns_pid(pid):
    """pid as seen in its own (innermost) pid namespace."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None


def ns_processes(d):
    """{pid: state} of the processes in tendd's namespace, read from the
    namespace's own /proc (through tendd's root, in its mount namespace)."""
    proc = f"/proc/{d.pid}/root/proc"
    found = {}
    for p in os.listdir(proc):
        if not p.isdigit():
            continue
        try:
            with open(f"{proc}/{p}/stat") as f:
                data = f.read()
        except OSError:  # gone meanwhile
            continue
        found[int(p)] = data[data.rindex(")") + 2:].split()[0]
    return found


@pytest.fixture
def pid1(start_tendd, tmp_path):
    """start(action) -> Tendd: tendd as PID 1 on the container manifest;
    the essential task does action once the test creates `go`."""
    if os.geteuid() != 0:
        pytest.skip("unshare --pid needs root")
    if run(["unshare", "--pid", "--fork", "--mount-proc",
            "true"]).returncode != 0:
        pytest.skip("unshare --pid --fork --mount-proc is not permitted here")
    for name, text in (("main.sh", MAIN), ("worker.sh", WORKER),
                       ("forker.sh", FORKER)):
        (tmp_path / name).write_text(text)

    def start(action="true"):
        d = start_tendd(f"""
            [tend]
            stop_timeout = 20s
            [task:main]
            class     = durable
            essential = yes
            directory = {tmp_path}
            command   = sh main.sh '{action}'
            [task:worker]
            class     = durable
            directory = {tmp_path}
            command   = sh worker.sh
            [task:forker]
            class     = durable
            directory = {tmp_path}
            command   = sh forker.sh
            """, prefix=["unshare", "--pid", "--fork", "--mount-proc",
                         "--kill-child"])
        if ns_pid(d.pid) != 1 and os.environ.get("TENDD"):
            pytest.skip("$TENDD is a wrapper that does not exec tendd")
        assert ns_pid(d.pid) == 1
        return d

    return start


def lines(path):
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []


def check_orphans_reaped(d, tmp_path):
    """The five short orphans were adopted and reaped by tendd: logged, and
    neither they nor any zombie are left in the namespace's /proc; the
    keeper runs."""
    orphans = wait_for(lambda: len(lines(tmp_path / "orphans")) == 5 and
                       lines(tmp_path / "orphans"), WAIT, details=d.tail)
    for pid in orphans:
        d.wait_log(rf"^reaped orphan pid {pid}: exit status 0$",
                   level="debug", timeout=WAIT)
    wait_for(lambda: not [p for p, state in ns_processes(d).items()
                          if state == "Z"], WAIT,
             what="no zombie in the namespace",
             details=lambda: ns_processes(d))
    # The keeper first: it may start after the orphans were reaped.
    keeper = int(wait_for(lambda: lines(tmp_path / "keeper"), WAIT)[0])
    left = ns_processes(d)
    assert not [p for p in map(int, orphans) if p in left]
    assert left.get(keeper) in ("S", "R", "D")  # alive: not a zombie


@pytest.mark.parametrize("how", ["SIGTERM", "tendctl shutdown"])
def test_pid_1_stops_everything_and_exits_0(pid1, tmp_path, run_tendctl,
                                            how):
    d = pid1()
    check_orphans_reaped(d, tmp_path)
    if how == "SIGTERM":
        d.signal(signal.SIGTERM)
    else:
        sock = d.argv[d.argv.index("-s") + 1]
        assert run_tendctl("-s", sock, "shutdown", timeout=WAIT
                           ).returncode == 0
    # unshare's exit status is tendd's.
    assert d.wait(WAIT) == 0, d.tail()
    assert sorted(lines(tmp_path / "stopped")) == ["main", "orphan",
                                                   "worker"]
    assert not d.find(r"essential")


@pytest.mark.parametrize("action, status", [
    ("exit 7", 7),
    ("kill -USR2 $$", 128 + signal.SIGUSR2),
], ids=["exit-7", "SIGUSR2"])
def test_pid_1_exits_with_the_essential_task_status(pid1, tmp_path, action,
                                                    status):
    d = pid1(action)
    check_orphans_reaped(d, tmp_path)
    (tmp_path / "go").touch()
    assert d.wait(WAIT) == status, d.tail()
    # The others and the orphan were stopped by tendd, not by the kernel.
    assert sorted(lines(tmp_path / "stopped")) == ["orphan", "worker"], \
        d.tail()
    assert d.find(r"^task main \(pid \d+\): .* essential task")

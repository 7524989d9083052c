"""The supervision engine (SPEC sections 1, 2 and 4; issue 3): real tendd
processes on real tasks, observed through tendd's log (-e: every line on
stderr as "tendd: LEVEL: message"), the files the tasks write, and /proc.

Every wait is bounded polling (conftest.wait_for); a sleep outside a
polling loop only proves that something does not happen within a stated
window. Timeouts are generous so that the suite also passes with $TENDD
running tendd under valgrind, and tendd's exit status is always checked.
"""

import json
import os
import pwd
import re
import resource
import signal
import socket
import sys
import time

import pytest

from conftest import (POLL, WAIT, ProcRef, descendants, output_of,
                      proc_stat, processes_in_sessions, processes_with_env,
                      run, wait_for, zombies_of)

PY = sys.executable
EARLY = 0.10  # a measured gap may be this fraction shorter than its delay
LATE = 0.15  # and this many seconds longer
NEVER = 1.5  # seconds to watch for something that must not happen


def lines_of(path):
    """The complete lines of a file a task appends to ([] if absent)."""
    try:
        data = path.read_text()
    except FileNotFoundError:
        return []
    return data.split("\n")[:-1]


def timestamps(path):
    return [float(x) for x in lines_of(path)]


def n_lines(path, n):
    """A predicate: path has at least n complete lines (returns them)."""
    def enough():
        found = lines_of(path)
        return found if len(found) >= n else None
    enough.__name__ = f"{n} lines in {path.name}"
    return enough


def assert_gaps(starts, delays):
    gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:])]
    for i, (gap, delay) in enumerate(zip(gaps, delays)):
        assert delay * (1 - EARLY) <= gap <= delay + LATE, (
            f"gap {i + 1} is {gap}s, expected {delay}s; all gaps: {gaps}")


def status_fields(lines):
    """The fields of /proc/PID/status lines, as {name: value}."""
    return dict(re.split(r":\s*", line, maxsplit=1) for line in lines
                if ":" in line)


# Restarts and backoff (SPEC section 1).


def test_backoff_doubles_up_to_backoff_max(start_tendd, tmp_path):
    """Consecutive restarts wait backoff_min, twice that, ... backoff_max,
    measured from the task's own start times."""
    d = start_tendd(f"""
        [task:crash]
        class       = durable
        directory   = {tmp_path}
        command     = sh -c 'date +%s.%N >> starts; exit 1'
        backoff_min = 200ms
        backoff_max = 800ms
        """)
    wait_for(n_lines(tmp_path / "starts", 5), details=d.tail)
    assert_gaps(timestamps(tmp_path / "starts")[:5], [0.2, 0.4, 0.8, 0.8])
    found = d.wait_log(r"^task crash \(pid \d+\): exit status 1 after \S+; "
                       r"restart (\d+) in (\S+)$", count=4, level="err")
    assert [(m[1], m[2]) for m in found[:4]] == [
        ("1", "200ms"), ("2", "400ms"), ("3", "800ms"), ("4", "800ms")]
    assert d.terminate() == 0


def test_healthy_run_resets_backoff(start_tendd, tmp_path):
    """A run that lasted healthy_after restarts after backoff_min again,
    every time, instead of backing off further."""
    d = start_tendd(f"""
        [task:slow]
        class         = durable
        directory     = {tmp_path}
        command       = sh -c 'date +%s.%N >> starts; sleep 0.4; exit 1'
        backoff_min   = 200ms
        backoff_max   = 10s
        healthy_after = 300ms
        """)
    wait_for(n_lines(tmp_path / "starts", 5), details=d.tail)
    # Each gap is the 0.4s run plus the 0.2s backoff; without the reset
    # they would be 0.6, 0.8, 1.2, 2.0.
    assert_gaps(timestamps(tmp_path / "starts")[:5], [0.6] * 4)
    found = d.wait_log(r"^task slow \(pid \d+\): exit status 1 after \S+; "
                       r"restart (\d+) in (\S+)$", count=4, level="err")
    assert [(m[1], m[2]) for m in found[:4]] == [
        (str(n), "200ms") for n in range(1, 5)]
    assert d.terminate() == 0


def test_durable_exit_0_is_abnormal_and_restarted(start_tendd, tmp_path):
    d = start_tendd(f"""
        [task:quitter]
        class       = durable
        directory   = {tmp_path}
        command     = sh -c 'echo $$ >> runs; exit 0'
        backoff_min = 100ms
        backoff_max = 100ms
        """)
    runs = [int(p) for p in wait_for(n_lines(tmp_path / "runs", 3),
                                     details=d.tail)]
    found = d.wait_log(r"^task quitter \(pid (\d+)\): exit status 0 after "
                       r"\S+; restart (\d+) in 100ms$", count=2, level="err")
    assert [int(m[1]) for m in found[:2]] == runs[:2]
    assert [m[2] for m in found[:2]] == ["1", "2"]
    assert d.terminate() == 0


def test_death_by_signal_is_named(start_tendd, tmp_path):
    d = start_tendd(f"""
        [task:segv]
        class       = durable
        directory   = {tmp_path}
        command     = sh -c 'echo $$ > pid; kill -SEGV $$'
        backoff_min = 10s
        """)
    m = d.wait_log(r"^task segv \(pid (\d+)\): killed by signal 11 "
                   r"\(SIGSEGV\)(, core dumped)? after \S+; restart 1 in "
                   r"10\.0s$", level="err")[0]
    assert int(m[1]) == int(lines_of(tmp_path / "pid")[0])
    assert d.terminate() == 0


def test_missing_binary_is_retried_and_tendd_stays_up(start_tendd, tmp_path):
    """exec failure: logged with the errno text, counted as a failed run and
    retried with backoff; tendd and its other tasks go on."""
    d = start_tendd(f"""
        [task:other]
        class     = durable
        directory = {tmp_path}
        command   = sh -c 'echo $$ >> other; exec sleep 1000'
        [task:ghost]
        class       = durable
        command     = /nonexistent/tend-test-binary --flag
        backoff_min = 100ms
        backoff_max = 200ms
        """)
    found = d.wait_log(r"^task ghost \(pid \d+\): cannot exec "
                       r"/nonexistent/tend-test-binary: No such file or "
                       r"directory; restart (\d+) in (\S+)$",
                       count=4, level="err")
    assert [(m[1], m[2]) for m in found[:4]] == [
        ("1", "100ms"), ("2", "200ms"), ("3", "200ms"), ("4", "200ms")]
    assert d.alive()
    other = lines_of(tmp_path / "other")
    assert len(other) == 1, "the other task was restarted"
    assert ProcRef(int(other[0])).alive()
    assert not d.find(r"^task other ")
    assert d.terminate() == 0


def test_logged_run_time_is_the_runs_own(start_tendd):
    """The exit line says how long the run lasted, even when the task was
    the last of many spawned at start-up (not since the loop's cached time
    from before the first spawn)."""
    sleepers = "".join(f"""
        [task:sleeper{i}]
        class   = durable
        command = sleep 1000
        stdout  = null
        stderr  = null
        """ for i in range(400))
    d = start_tendd(sleepers + """
        [task:crash]
        class       = durable
        command     = /bin/false
        backoff_min = 1h
        backoff_max = 1h
        """)
    m = d.wait_log(r"^task crash \(pid \d+\): exit status 1 after "
                   r"(\d+ms|\d+\.\ds); ", level="err")[0]
    # /bin/false runs for a millisecond.
    assert m[1].endswith("ms") and int(m[1][:-2]) < 100, m[0]
    assert d.terminate() == 0


def test_log_only_task_runs_once(start_tendd, tmp_path):
    """log-only: exit 0 is logged at info (done), exit 3 at err (failed);
    neither is ever restarted, and tendd stays up."""
    d = start_tendd(f"""
        [task:fine]
        class     = log-only
        directory = {tmp_path}
        command   = sh -c 'echo $$ >> fine; exit 0'
        [task:broken]
        class     = log-only
        directory = {tmp_path}
        command   = sh -c 'echo $$ >> broken; exit 3'
        """)
    fine = d.wait_log(r"^task fine \(pid (\d+)\): exit status 0 after \S+$",
                      level="info")[0]
    broken = d.wait_log(r"^task broken \(pid (\d+)\): exit status 3 after "
                        r"\S+$", level="err")[0]
    time.sleep(NEVER)  # well past any backoff: no second run
    assert lines_of(tmp_path / "fine") == [fine[1]]
    assert lines_of(tmp_path / "broken") == [broken[1]]
    assert len(d.find(r"^task (fine|broken) ")) == 2
    assert d.alive()
    assert d.terminate() == 0


# Stopping (SPEC sections 2 and 4).


def test_stop_kills_the_whole_process_group(start_tendd):
    """A task's background grandchild dies with it at shutdown."""
    d = start_tendd("""
        [task:family]
        class   = durable
        command = sh -c 'sleep 1000 & sleep 1000'
        """)

    def two_sleeps():
        found = [ProcRef(p) for p in d.descendants()]
        found = [r for r in found if r.comm == "sleep"]
        return found if len(found) == 2 else None

    sleeps = wait_for(two_sleeps, details=d.tail)
    assert d.terminate() == 0
    wait_for(lambda: not any(r.alive() for r in sleeps),
             what=f"{sleeps} to die")
    d.wait_log(r"^task family \(pid \d+\): stopped, killed by signal 15 "
               r"\(SIGTERM\)", level="info")


def test_sigkill_after_stop_timeout(start_tendd, tmp_path):
    d = start_tendd(f"""
        [task:stubborn]
        class        = durable
        directory    = {tmp_path}
        command      = sh -c 'trap "" TERM; echo $$ > ready; exec sleep 1000'
        stop_timeout = 500ms
        """)
    pid = int(wait_for(n_lines(tmp_path / "ready", 1), details=d.tail)[0])
    stubborn = ProcRef(pid)
    t0 = time.monotonic()
    d.descendants()
    d.signal(signal.SIGTERM)
    # Ignoring SIGTERM, it is still there a while later.
    time.sleep(0.3)
    assert stubborn.alive() and d.alive()
    assert d.wait() == 0
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.5 * (1 - EARLY), elapsed
    assert not stubborn.alive()
    d.wait_log(rf"^task stubborn \(pid {pid}\): still running after "
               r"stop_timeout, sending SIGKILL$", level="warning")
    d.wait_log(rf"^task stubborn \(pid {pid}\): stopped, killed by signal 9 "
               r"\(SIGKILL\)", level="info")


def test_second_sigterm_kills_at_once(start_tendd, tmp_path):
    d = start_tendd(f"""
        [task:stubborn]
        class        = durable
        directory    = {tmp_path}
        command      = sh -c 'trap "" TERM; echo $$ > ready; exec sleep 1000'
        stop_timeout = 30s
        """)
    pid = int(wait_for(n_lines(tmp_path / "ready", 1), details=d.tail)[0])
    d.signal(signal.SIGTERM)
    d.wait_log(r"^stopping 1 task$")
    time.sleep(0.3)
    assert d.alive() and ProcRef(pid).alive()
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0  # far less than stop_timeout
    assert time.monotonic() - t0 < 15
    d.wait_log(r"^SIGTERM received again", level="warning")
    d.wait_log(rf"^task stubborn \(pid {pid}\): stopped, killed by signal 9 "
               r"\(SIGKILL\)", level="info")


def test_sigterm_leaves_no_process_behind(start_tendd):
    """Every class, running or in backoff, with children of its own: after
    SIGTERM tendd exits 0 and none of the processes seen is left."""
    d = start_tendd("""
        [tend]
        stop_timeout = 300ms
        [task:sleeper]
        class   = durable
        command = sh -c 'sleep 1000 & sleep 1000'
        [task:crasher]
        class       = durable
        command     = sh -c 'sleep 0.1 & exit 1'
        backoff_min = 50ms
        backoff_max = 100ms
        [task:backoff]
        class       = durable
        command     = /bin/false
        backoff_min = 1h
        backoff_max = 1h
        [task:stubborn]
        class   = durable
        command = sh -c 'trap "" TERM; sleep 1000 & exec sleep 1000'
        [task:batch]
        class   = log-only
        command = sh -c 'sleep 1000 | cat'
        [task:done]
        class   = log-only
        command = /bin/true
        [task:idle]
        class   = per-request
        command = /bin/cat
        """)
    d.wait_log(r"^task backoff \(pid \d+\): exit status 1 .*; restart 1 in")
    d.wait_log(r"^task done \(pid \d+\): exit status 0")
    d.wait_log(r"^task crasher \(pid \d+\): exit status 1 .*; restart 2 in")
    seen = {}
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        for p in d.descendants():
            ref = ProcRef(p)
            seen.setdefault((ref.pid, ref.start), ref)
        time.sleep(POLL)
    seen = list(seen.values())
    assert len([r for r in seen if r.comm == "sleep"]) >= 5, seen
    sessions = {r.session for r in seen}
    assert d.terminate() == 0
    wait_for(lambda: not [r for r in seen if r.alive()]
             and not processes_in_sessions(sessions)
             and not processes_with_env(d.token),
             what="every process of the tasks to be gone",
             details=lambda: [r for r in seen if r.alive()])


# What a child gets (SPEC section 4).


def test_child_gets_only_stdio_and_stdin_from_dev_null(start_tendd, tmp_path):
    """No fd of tendd's beyond 0-2, not even one tendd inherited; stdin is
    /dev/null; TEND_TASK is set."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os\n"
        "fds = {}\n"
        "for name in os.listdir('/proc/self/fd'):\n"
        "    try:\n"
        "        fds[name] = os.readlink('/proc/self/fd/' + name)\n"
        "    except OSError:\n"
        "        pass  # listdir's own fd, closed by now\n"
        "null, zero = os.stat('/dev/null'), os.fstat(0)\n"
        "print(json.dumps({'fds': fds, 'task': os.environ.get('TEND_TASK'),\n"
        "    'stdin_null': (null.st_rdev, null.st_ino) ==\n"
        "                  (zero.st_rdev, zero.st_ino),\n"
        "    'stdin_empty': os.read(0, 10) == b''}))\n")
    leak = open(tmp_path / "leak", "w")  # inherited by tendd, not CLOEXEC
    try:
        d = start_tendd(f"""
            [task:probe]
            class   = log-only
            command = {PY} {probe}
            """, pass_fds=[leak.fileno()])
    finally:
        leak.close()
    m = d.wait_log(r"^probe\[\d+\]: (\{.*)$", level="info")[0]
    report = json.loads(m[1])
    assert sorted(report["fds"]) == ["0", "1", "2"], report["fds"]
    assert report["fds"]["1"].startswith("pipe:")
    assert report["fds"]["2"].startswith("pipe:")
    assert report["stdin_null"] and report["stdin_empty"]
    assert report["task"] == "probe"
    d.wait_log(r"^task probe \(pid \d+\): exit status 0", level="info")
    assert d.terminate() == 0


def block_usr2_ignore_usr1():
    """preexec_fn for tendd: a signal ignored and one blocked, which tendd
    must not pass on to its tasks."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})


def test_child_gets_default_signals_and_empty_mask(start_tendd):
    d = start_tendd("""
        [task:status]
        class   = log-only
        command = /bin/cat /proc/self/status
        """, preexec_fn=block_usr2_ignore_usr1)
    d.wait_log(r"^task status \(pid \d+\): exit status 0", level="info")
    (pid, lines), = output_of(d, "status", "info").items()
    fields = status_fields(lines)
    assert int(fields["Pid"]) == pid
    for key in ("SigBlk", "SigIgn", "SigCgt"):
        assert int(fields[key], 16) == 0, f"{key}: {fields[key]}"
    assert d.terminate() == 0


def test_child_gets_the_open_file_limit_tendd_was_given(start_tendd):
    """tendd raises its own soft open-file limit; a task gets the limit
    tendd was started with."""
    if "valgrind" in os.environ.get("TENDD", ""):
        pytest.skip("valgrind shows tendd open-file limits of its own")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2048 or hard == resource.RLIM_INFINITY:
        pytest.skip(f"the hard open-file limit ({hard}) leaves no room")
    given = (1024, hard)
    d = start_tendd("""
        [task:limits]
        class   = log-only
        command = /bin/cat /proc/self/limits
        """, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                   given))
    d.wait_log(r"^task limits \(pid \d+\): exit status 0", level="info")
    (_, lines), = output_of(d, "limits", "info").items()
    row = [ln for ln in lines if ln.startswith("Max open files")][0]
    assert row.split()[3:5] == [str(given[0]), str(given[1])], row
    with open(f"/proc/{d.pid}/limits") as f:
        own = [ln for ln in f if ln.startswith("Max open files")][0]
    assert int(own.split()[3]) >= hard, own
    assert d.terminate() == 0


def test_environment_directory_and_umask(start_tendd, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    d = start_tendd(f"""
        [task:envy]
        class     = log-only
        command   = sh -c 'echo "cwd $(readlink /proc/self/cwd)";
                    echo "umask $(umask)"; env'
        directory = {work}
        umask     = 027
        env       = GREETING=hello world
        env       = OVERRIDE=new
        env       = EMPTY=
        [task:bare]
        class     = log-only
        command   = /usr/bin/env
        clear_env = yes
        env       = ONLY=1
        """, env={"INHERITED": "yes", "OVERRIDE": "old"})
    d.wait_log(r"^task envy \(pid \d+\): exit status 0", level="info")
    d.wait_log(r"^task bare \(pid \d+\): exit status 0", level="info")
    (_, envy), = output_of(d, "envy", "info").items()
    (_, bare), = output_of(d, "bare", "info").items()
    assert f"cwd {work}" in envy
    assert "umask 0027" in envy
    for entry in ("GREETING=hello world", "OVERRIDE=new", "EMPTY=",
                  "INHERITED=yes", "TEND_TASK=envy"):
        assert entry in envy, envy
    assert "OVERRIDE=old" not in envy
    assert sorted(bare) == ["ONLY=1", "TEND_TASK=bare"]
    assert d.terminate() == 0


@pytest.mark.parametrize("where, mask", [("tmp", 0o077), ("/", 0o022),
                                         ("/", 0o077)])
def test_default_directory_and_umask(start_tendd, tmp_path, where, mask):
    """A task without directory or umask runs in / with umask 022, whatever
    tendd's own directory and umask (tendd skips what already matches)."""
    d = start_tendd("""
        [task:plain]
        class   = log-only
        command = sh -c 'echo "cwd $(readlink /proc/self/cwd) umask $(umask)"'
        """, cwd=tmp_path if where == "tmp" else "/",
        preexec_fn=lambda: os.umask(mask))
    d.wait_log(r"^task plain \(pid \d+\): exit status 0", level="info")
    (_, out), = output_of(d, "plain", "info").items()
    assert out == ["cwd / umask 0022"], out
    assert d.terminate() == 0


def test_user_drops_privileges(start_tendd):
    if os.geteuid() != 0:
        pytest.skip("user = nobody needs tendd to run as root")
    pw = pwd.getpwnam("nobody")
    groups = sorted(set(os.getgrouplist("nobody", pw.pw_gid)))
    d = start_tendd("""
        [task:who]
        class     = log-only
        command   = sh -c 'echo "ids $(id -u) $(id -g) $(id -G)"'
        user      = nobody
        directory = /tmp
        """)
    d.wait_log(r"^task who \(pid \d+\): exit status 0", level="info")
    (_, out), = output_of(d, "who", "info").items()
    assert len(out) == 1 and out[0].startswith("ids "), out
    uid, gid, *gids = map(int, out[0].split()[1:])
    assert (uid, gid) == (pw.pw_uid, pw.pw_gid)
    assert sorted(set(gids)) == groups  # root's groups are gone
    assert d.terminate() == 0


# Reaping (SPEC section 2).


def storm(n, backoff_min):
    """A manifest of n durable tasks that exit at once, restarted after
    backoff_min."""
    return "".join(f"""
        [task:storm{i}]
        class       = durable
        command     = /bin/false
        backoff_min = {backoff_min}
        backoff_max = {backoff_min or "1s"}
        """ for i in range(n))


def watch_zombies(d, seconds, grace=2, until=lambda: True):
    """For seconds, and then until until() is true (at most WAIT seconds),
    look for children of tendd that stay zombies for more than grace
    seconds; return them."""
    first_seen, stale = {}, []
    start = time.monotonic()
    while not stale:
        now = time.monotonic()
        if now - start > seconds and until() or now - start > WAIT:
            break
        for p in zombies_of(d.pid):
            ref = ProcRef(p)
            since = first_seen.setdefault((ref.pid, ref.start), now)
            if now - since > grace:
                stale.append(ref)
        d.descendants()
        time.sleep(POLL)
    return stale


def test_no_zombie_in_crash_storm(start_tendd):
    """100 durable tasks restarted at once for ~1.5s (and 300 restarts at
    least): no child of tendd stays a zombie for more than a moment."""
    d = start_tendd(storm(100, 0))
    d.wait_log(r"^task storm\d+ \(pid \d+\): exit status 1 .*; restart 1 "
               r"in 0ms$", count=100)
    restarts = r"^task storm\d+ .*; restart \d+ in 0ms$"
    stale = watch_zombies(d, 1.5, until=lambda: len(d.find(restarts)) >= 300)
    assert not stale, f"zombies for over 2s: {stale}"
    assert len(d.find(restarts)) >= 300
    assert d.alive()
    d.kill()  # SIGTERM in a storm: test_sigterm_ends_crash_storm


@pytest.mark.parametrize("backoff_min", [0, "5ms"],
                         ids=["backoff-0", "backoff-5ms"])
def test_sigterm_ends_crash_storm(start_tendd, backoff_min):
    """SIGTERM during a storm of restarts: tendd stops everything and exits
    0, leaving no zombie and no process. (With backoff_min = 0, restarting
    from inside the exit callback once kept libev reaping and respawning
    without ever polling again, so SIGTERM waited forever.)"""
    d = start_tendd(storm(200, backoff_min))
    d.wait_log(r"^task storm\d+ \(pid \d+\): exit status 1 .*; restart 2 ",
               count=200)
    d.descendants()
    d.signal(signal.SIGTERM)
    d.wait_log(r"^SIGTERM received$", timeout=5)
    assert not watch_zombies(d, 0.5)
    assert d.wait() == 0
    wait_for(lambda: not processes_in_sessions(d.sessions)
             and not processes_with_env(d.token),
             what="the storm's processes to be gone")


ORPHAN_MAKER = ("sh -c '(sh -c \"echo \\$\\$ > orphan; exec sleep 1.5\" &); "
                "exec sleep 1000'")


def check_orphan_reaped(d, tmp_path, ns_pid=lambda p: p):
    """The orphan in tmp_path/orphan is adopted by tendd, reaped (no
    zombie) and logged at debug; the task that made it goes on."""
    logged = int(wait_for(n_lines(tmp_path / "orphan", 1), details=d.tail)[0])

    def adopted():
        for p in d.children():
            st = proc_stat(p)
            if st and st["ppid"] == d.pid and st["session"] != p and \
                    ns_pid(p) == logged:
                return ProcRef(p)

    orphan = wait_for(adopted, what=f"orphan {logged} adopted by tendd",
                      details=lambda: descendants(d.pid))
    task = [ProcRef(p) for p in d.children() if proc_stat(p)["session"] == p]
    d.wait_log(rf"^reaped orphan pid {logged}: exit status 0$",
               level="debug")
    assert orphan.stat() is None, "not reaped"
    assert not zombies_of(d.pid)
    assert [t.alive() for t in task] == [True]
    assert not d.find(r"^task parent ")


def test_orphans_reaped_as_subreaper(start_tendd, tmp_path):
    d = start_tendd(f"""
        [tend]
        subreaper = yes
        [task:parent]
        class     = durable
        directory = {tmp_path}
        command   = {ORPHAN_MAKER}
        """)
    check_orphan_reaped(d, tmp_path)
    assert d.terminate() == 0


def ns_pid(pid):
    """pid as seen in its own (innermost) pid namespace."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None


def test_orphans_reaped_as_pid_1(start_tendd, tmp_path):
    """tendd as PID 1 of a new pid namespace reaps orphans without
    subreaper = yes."""
    if os.geteuid() != 0:
        pytest.skip("unshare --pid needs root")
    if run(["unshare", "--pid", "--fork", "true"]).returncode != 0:
        pytest.skip("unshare --pid --fork does not work here")
    d = start_tendd(f"""
        [task:parent]
        class     = durable
        directory = {tmp_path}
        command   = {ORPHAN_MAKER}
        """, prefix=["unshare", "--pid", "--fork", "--kill-child"])
    if ns_pid(d.pid) != 1 and os.environ.get("TENDD"):
        pytest.skip("$TENDD is a wrapper that does not exec tendd")
    assert ns_pid(d.pid) == 1
    check_orphan_reaped(d, tmp_path, ns_pid)
    assert d.terminate() == 0


# Child output (SPEC section 3).


def test_long_line_arrives_whole_in_pieces(start_tendd):
    payload = "".join("%07d," % i for i in range(12500))
    assert len(payload) == 100000
    d = start_tendd(f"""
        [task:big]
        class   = log-only
        command = {PY} -c 'print("".join("%07d," % i for i in range(12500)))'
        """)
    pid = int(d.wait_log(r"^task big \(pid (\d+)\): exit status 0",
                         level="info")[0][1])
    pieces = output_of(d, "big", "info")[pid]
    assert max(map(len, pieces)) <= 1024
    assert len(pieces) == 98
    assert "".join(pieces) == payload


def test_output_written_before_exit_is_drained(start_tendd):
    """Each run's last words, on stdout and stderr, are logged before its
    exit, even with immediate restarts."""
    d = start_tendd("""
        [task:lw]
        class       = durable
        command     = sh -c 'echo last words; echo final err >&2; exit 1'
        backoff_min = 0
        """)
    d.wait_log(r"^task lw \(pid \d+\): exit status 1", count=30)
    assert d.terminate() == 0
    runs = 0
    said = {}
    for level, msg in d.messages():
        if m := re.fullmatch(r"lw\[(\d+)\]: (.*)", msg):
            said.setdefault(int(m[1]), []).append((level, m[2]))
        elif m := re.match(r"task lw \(pid (\d+)\): exit status 1", msg):
            runs += 1
            assert sorted(said.get(int(m[1]), [])) == [
                ("info", "last words"), ("warning", "final err")], msg
    assert runs >= 30


def test_flooding_child_does_not_starve_others(start_tendd):
    """While one task floods its stdout, another task's lines keep being
    logged, interleaved with the flood rather than after it."""
    d = start_tendd("""
        [task:flood]
        class   = log-only
        command = sh -c 'sleep 0.3; timeout 1 yes | head -c 1000000'
        [task:tick]
        class   = durable
        command = sh -c 'while :; do echo tick; sleep 0.05; done'
        """)
    d.wait_log(r"^task flood \(pid \d+\): exit status 0", level="info")
    assert d.terminate() == 0
    tags = [msg.split("[", 1)[0] for _, msg in d.messages()
            if re.match(r"(flood|tick)\[\d+\]: ", msg)]
    first = tags.index("flood")
    last = len(tags) - 1 - tags[::-1].index("flood")
    flood = tags[first:last + 1]
    assert flood.count("flood") >= 10000, "not much of a flood"
    assert flood.count("tick") >= 3, (
        f"{flood.count('tick')} tick lines among {flood.count('flood')} "
        f"flood lines")


def test_null_and_inherit_outputs(start_tendd):
    d = start_tendd("""
        [task:quiet]
        class   = log-only
        command = sh -c 'echo quiet-out; echo quiet-err >&2'
        stdout  = null
        stderr  = null
        [task:loud]
        class   = log-only
        command = sh -c 'echo loud-out; echo loud-err >&2'
        stdout  = inherit
        stderr  = inherit
        """)
    d.wait_log(r"^task quiet \(pid \d+\): exit status 0", level="info")
    d.wait_log(r"^task loud \(pid \d+\): exit status 0", level="info")
    assert d.terminate() == 0
    assert d.output() == "loud-out\n"
    lines = d.log_lines()
    assert "loud-err" in lines  # tendd's own stderr, as is
    assert not [l for l in lines if "quiet-" in l or "loud-out" in l]
    assert not output_of(d, "quiet") and not output_of(d, "loud")


# essential = yes (SPEC section 3).


def test_essential_log_only_failure_ends_tendd(start_tendd, tmp_path):
    d = start_tendd(f"""
        [task:server]
        class     = durable
        directory = {tmp_path}
        command   = sh -c 'echo $$ > server; exec sleep 1000'
        [task:migrate]
        class     = log-only
        directory = {tmp_path}
        command   = sh -c 'until test -s server; do sleep 0.01; done; exit 3'
        essential = yes
        """)
    assert d.wait() == 3
    server = int(lines_of(tmp_path / "server")[0])
    assert d.find(rf"^task server \(pid {server}\): stopped, killed by "
                  r"signal 15 \(SIGTERM\)")
    assert d.find(r"^task migrate \(pid \d+\): exit status 3")
    wait_for(lambda: not processes_with_env(d.token),
             what="the tasks to be gone")


def test_essential_log_only_success_is_not_a_failure(start_tendd):
    d = start_tendd("""
        [task:setup]
        class     = log-only
        command   = /bin/true
        essential = yes
        """)
    d.wait_log(r"^task setup \(pid \d+\): exit status 0", level="info")
    time.sleep(0.5)
    assert d.alive()
    assert d.terminate() == 0


@pytest.mark.parametrize("command, status", [
    ("sleep 0.2; exit 5", 5),
    ("sleep 0.2; exit 0", 0),
    ("sleep 0.2; kill -USR1 $$", 128 + signal.SIGUSR1),
], ids=["exit-5", "exit-0", "SIGUSR1"])
def test_essential_durable_exit_ends_tendd(start_tendd, command, status):
    d = start_tendd(f"""
        [task:other]
        class   = durable
        command = sleep 1000
        [task:main]
        class     = durable
        command   = sh -c '{command}'
        essential = yes
        """)
    assert d.wait() == status
    assert d.find(r"^task main \(pid \d+\): .* essential task")
    assert d.find(r"^task other \(pid \d+\): stopped")
    assert not d.find(r"restart \d+ in")
    wait_for(lambda: not processes_with_env(d.token),
             what="the tasks to be gone")


# -d and $NOTIFY_SOCKET (SPEC section 2).


def test_detach_writes_and_removes_pid_file(start_tendd, tmp_path):
    pid_file = tmp_path / "tendd.pid"
    d = start_tendd(f"""
        [tend]
        pid_file = {pid_file}
        [task:sleeper]
        class     = durable
        directory = {tmp_path}
        command   = sh -c 'echo $$ > sleeper; exec sleep 1000'
        """, "-d")
    assert d.wait() == 0  # returns at once, the daemon running on
    pid = int(wait_for(n_lines(pid_file, 1), details=d.tail)[0])
    daemon = ProcRef(pid)
    d.extra.append(daemon)
    assert daemon.alive()
    assert pid != d.proc.pid
    task = ProcRef(int(wait_for(n_lines(tmp_path / "sleeper", 1))[0]))
    d.extra.append(task)
    assert task.stat()["ppid"] == pid
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not daemon.alive(), what="the daemon to exit",
             details=d.tail)
    assert not pid_file.exists()
    wait_for(lambda: not task.alive(), what="the task to be stopped")
    d.wait_log(r"^every task stopped; exiting with status 0$")


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_notify_socket(start_tendd, sock_dir, kind):
    """READY=1 once every autostart task is ready (a log-only task: once
    it exited 0), STOPPING=1 at shutdown."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "path":
        address = name = str(sock_dir / "notify")
    else:
        name = f"@tend-test-{os.getpid()}-{time.time_ns()}"
        address = "\0" + name[1:]
    with sock:
        sock.bind(address)
        sock.settimeout(WAIT)
        d = start_tendd("""
            [task:one]
            class   = durable
            command = sleep 1000
            [task:two]
            class   = log-only
            command = sh -c 'sleep 0.5; echo > done'
            directory = %s
            [task:later]
            class     = durable
            command   = sleep 1000
            autostart = no
            """ % sock_dir, env={"NOTIFY_SOCKET": name})
        assert sock.recv(4096) == b"READY=1"
        assert (sock_dir / "done").exists()
        kids = [ProcRef(p) for p in d.children()]
        assert [k.comm for k in kids] == ["sleep"], kids
        d.signal(signal.SIGTERM)
        assert sock.recv(4096) == b"STOPPING=1"
        assert d.wait() == 0
        sock.settimeout(0)
        with pytest.raises(BlockingIOError):
            sock.recv(4096)

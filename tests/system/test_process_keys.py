"""The process keys of issue 15 (points 4 and 5; SPEC sections 3, 4 and 5):
env_file, limit_*, nice and oom_score_adj, on real tasks of a real tendd,
observed through /proc/PID/limits, /proc/PID/stat, /proc/PID/oom_score_adj,
/proc/PID/environ, tendd's log (-e) and tendctl's answers.

Every wait is bounded polling (conftest.wait_for) with the generous bounds
of conftest, so that the tests also pass with tendd under valgrind.
"""

import os
import resource

import pytest

from conftest import ctl, task_of, wait_for, wait_state

# /proc/PID/limits names the limit_* keys so.
LIMIT_ROWS = {
    "nofile": "Max open files",
    "nproc": "Max processes",
    "core": "Max core file size",
    "as": "Max address space",
    "cpu": "Max cpu time",
    "fsize": "Max file size",
    "memlock": "Max locked memory",
    "stack": "Max stack size",
}


def proc_limits(pid):
    """{key: (soft, hard)} of /proc/PID/limits, "unlimited" as is."""
    with open(f"/proc/{pid}/limits") as f:
        rows = f.read().splitlines()[1:]
    found = {}
    for key, title in LIMIT_ROWS.items():
        for row in rows:
            if row.startswith(title + " "):
                soft, hard = row[len(title):].split()[:2]
                found[key] = (soft, hard)
    return found


def nice_of(pid):
    """Field 19 of /proc/PID/stat: the nice value."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def oom_score_adj_of(pid):
    with open(f"/proc/{pid}/oom_score_adj") as f:
        return int(f.read())


def environ_of(pid):
    """The environment of pid, in order, as a list of "KEY=VALUE"."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def running_exec(run_tendctl, d, name, program="sleep"):
    """Wait until task name runs and has exec'd program; return its pid
    (right after the spawn, /proc may still show tendd's clone)."""
    def check():
        t = task_of(run_tendctl, d, name)
        if t["state"] != "running" or not t["pid"]:
            return None
        try:
            exe = os.readlink(f"/proc/{t['pid']}/exe")
        except OSError:
            return None
        return t["pid"] if os.path.basename(exe) == program else None
    wait_state(run_tendctl, d, name, "running")
    return wait_for(check, what=f"task {name} to run {program}",
                    details=d.tail)


CAP_SYS_NICE = 23
CAP_SYS_RESOURCE = 24


def has_cap(bit):
    """Whether this process (and so tendd, which it starts) has the
    capability: a container's root may lack CAP_SYS_RESOURCE."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    return False


# Point 5: limits.


# valgrind runs tendd's child until its exec, and keeps the open-file and
# stack limits to itself: it refuses the first and fakes the second.
VALGRIND = "valgrind" in os.environ.get("TENDD", "")
VALGRIND_OWN = ("nofile", "stack")

# Each limit in one of its forms, and what /proc/PID/limits then shows.
LIMITS = {
    "nofile": ("100:200", ("100", "200")),
    "nproc": ("500", ("500", "500")),
    "core": ("unlimited", ("unlimited", "unlimited")),
    "as": ("4G:unlimited", (str(4 << 30), "unlimited")),
    "cpu": ("90:1h", ("90", "3600")),
    "fsize": ("10M", (str(10 << 20), str(10 << 20))),
    "memlock": ("64K:1m", (str(64 << 10), str(1 << 20))),
    "stack": ("4M:unlimited", (str(4 << 20), "unlimited")),
}


def test_limits_in_proc(start_tendd, run_tendctl):
    """Each limit_* key, in each of its forms (N, SOFT:HARD, unlimited,
    K/M/G, a duration for cpu), is the task's limit in /proc/PID/limits.
    A task without limit_nofile gets the open-file limit tendd was given,
    not the one tendd raised for itself."""
    tested = {k: v for k, v in LIMITS.items()
              if not (VALGRIND and k in VALGRIND_OWN)}
    keys = "\n".join(f"limit_{k} = {v[0]}" for k, v in tested.items())
    d = start_tendd(f"""
[task:limited]
class   = durable
command = sleep 1001
{keys}

[task:plain]
class   = durable
command = sleep 1002
""")
    pid = running_exec(run_tendctl, d, "limited")
    found = proc_limits(pid)
    assert {k: found[k] for k in tested} == {
        k: v[1] for k, v in tested.items()}
    if not VALGRIND:
        plain = running_exec(run_tendctl, d, "plain")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert proc_limits(plain)["nofile"] == (str(soft), str(hard))
    assert d.terminate() == 0


@pytest.mark.skipif(VALGRIND, reason="valgrind keeps the open-file limit")
def test_oom_score_adj_with_a_low_nofile(start_tendd, run_tendctl):
    """oom_score_adj is written before the limits are set: a limit_nofile
    below the fds tendd has open (CLOEXEC, still there until the exec)
    leaves the child no fd to open /proc/self/oom_score_adj with."""
    d = start_tendd("""
        [task:tight]
        class         = durable
        command       = sleep 1013
        limit_nofile  = 4
        oom_score_adj = 100
        nice          = 3
        """)
    pid = running_exec(run_tendctl, d, "tight")
    assert proc_limits(pid)["nofile"] == ("4", "4")
    assert (oom_score_adj_of(pid), nice_of(pid)) == (100, 3)
    assert d.terminate() == 0


def test_limit_values_checked_at_load(run_tendd, write_manifest):
    """A soft limit above the hard one, a size suffix on a count, a cpu
    duration finer than a second: errors with FILE:LINE at --check."""
    path = write_manifest("""
        [task:x]
        class        = durable
        command      = sleep 1
        limit_nofile = 200:100
        limit_nproc  = 1K
        limit_cpu    = 1.5s
        limit_as     = 5X
        nice         = 20
        oom_score_adj = -1001
        env_file     = relative.env
        """)
    r = run_tendd("--check", "-f", path)
    assert r.returncode != 0, r
    assert r.stderr.splitlines() == [
        f"{path}:4: limit_nofile = 200:100: soft limit above the hard limit",
        f"{path}:5: limit_nproc = 1K: not a whole number",
        f"{path}:6: limit_cpu = 1.5s: finer than a second",
        f"{path}:7: limit_as = 5X: not a size (a number, then K, M or G)",
        f"{path}:8: nice = 20: not a number from -20 to 19",
        f"{path}:9: oom_score_adj = -1001: not a number from -1000 to 1000",
        f"{path}:10: env_file = relative.env: not an absolute path (with - "
        "before it: may be missing)",
    ], r


def test_refused_limit_is_a_spawn_failure(start_tendd, run_tendctl):
    """A hard open-file limit above /proc/sys/fs/nr_open, which the kernel
    refuses even to root: the run fails before exec, the exit line names
    the step, the limit and the errno, the durable task backs off, and
    tendctl start answers 1 with the same words."""
    with open("/proc/sys/fs/nr_open") as f:
        too_many = int(f.read()) + 1
    d = start_tendd(f"""
        [task:greedy]
        class        = durable
        command      = sleep 1003
        limit_nofile = {too_many}
        backoff_min  = 30s
        """)
    why = "cannot setrlimit nofile: Operation not permitted"
    m = d.wait_log(r"^task greedy \(pid \d+\): (.*)$", level="err")[0]
    assert m[1] == why + "; restart 1 in 30.0s", d.tail()
    wait_state(run_tendctl, d, "greedy", "backoff")
    r = ctl(run_tendctl, d, "start", "greedy")
    assert r.returncode == 1, r
    assert why in r.stdout + r.stderr, r
    assert d.terminate() == 0


# Point 5: nice and oom_score_adj.


def test_nice_and_oom_score_adj(start_tendd, run_tendctl):
    """nice is field 19 of the task's /proc/PID/stat, oom_score_adj its
    /proc/PID/oom_score_adj; a negative nice too (tendd has CAP_SYS_NICE);
    tendd's own are left alone (the vfork child's oom_score_adj is its
    own)."""
    if not has_cap(CAP_SYS_NICE):
        pytest.skip("a negative nice needs CAP_SYS_NICE")
    d = start_tendd("""
        [task:low]
        class         = durable
        command       = sleep 1004
        nice          = 7
        oom_score_adj = 500

        [task:high]
        class         = durable
        command       = sleep 1005
        nice          = -5
        """)
    low = running_exec(run_tendctl, d, "low")
    high = running_exec(run_tendctl, d, "high")
    assert (nice_of(low), oom_score_adj_of(low)) == (7, 500)
    assert nice_of(high) == -5
    assert (nice_of(d.pid), oom_score_adj_of(d.pid)) == (
        nice_of(os.getpid()), oom_score_adj_of(os.getpid()))
    assert d.terminate() == 0


def test_lowered_oom_score_adj(start_tendd, run_tendctl):
    """A negative oom_score_adj: the task's with CAP_SYS_RESOURCE;
    without it (a container's root), the kernel refuses, and the run
    fails naming the step, the value and the errno."""
    d = start_tendd("""
        [task:kept]
        class         = durable
        command       = sleep 1012
        oom_score_adj = -500
        backoff_min   = 30s
        """)
    if has_cap(CAP_SYS_RESOURCE):
        assert oom_score_adj_of(running_exec(run_tendctl, d, "kept")) == -500
    else:
        m = d.wait_log(r"^task kept \(pid \d+\): (.*)$", level="err")[0]
        assert m[1] == ("cannot set oom_score_adj -500: Permission denied; "
                        "restart 1 in 30.0s"), d.tail()
    assert oom_score_adj_of(d.pid) == oom_score_adj_of(os.getpid())
    assert d.terminate() == 0


# Point 4: env_file.


ENV_FILE = r"""# a comment
; another
   # an indented one

export EXPORTED=yes
PLAIN = a value with  inner spaces   
SINGLE='$HOME \n "kept" '
DOUBLE="a \"quoted\" \\ \$x \` \n"
JOINED=one\
two
MULTI="line one
line two"
OVERRIDDEN=from the file
TWICE=first
TWICE=second
"""


def test_env_file_order_quotes_comments(start_tendd, run_tendctl, tmp_path):
    """The entries of env files, in order, after tendd's environment (or
    none with clear_env) and before env keys, TEND_TASK last; quotes,
    escapes, continuation lines and comments as tend.ini(5) says; a later
    assignment of a name replaces the earlier one where it stood."""
    (tmp_path / "a.env").write_text(ENV_FILE)
    (tmp_path / "b.env").write_text("FROM_B=b\nHOME=/from/b\n")
    d = start_tendd(f"""
        [task:clean]
        class     = durable
        command   = sleep 1006
        clear_env = yes
        env_file  = {tmp_path}/a.env
        env_file  = -{tmp_path}/missing.env
        env_file  = {tmp_path}/b.env
        env       = OVERRIDDEN=from env
        env       = LAST=env

        [task:inherits]
        class    = durable
        command  = sleep 1007
        env_file = {tmp_path}/b.env
        """)
    pid = running_exec(run_tendctl, d, "clean")
    assert environ_of(pid) == [
        "EXPORTED=yes",
        "PLAIN=a value with  inner spaces",
        'SINGLE=$HOME \\n "kept" ',
        'DOUBLE=a "quoted" \\ $x ` \\n',
        "JOINED=onetwo",
        "MULTI=line one\nline two",
        "OVERRIDDEN=from env",
        "TWICE=second",
        "FROM_B=b",
        "HOME=/from/b",
        "LAST=env",
        "TEND_TASK=clean",
    ]
    pid = running_exec(run_tendctl, d, "inherits")
    env = environ_of(pid)
    # tendd's own HOME is replaced where it stood, FROM_B comes after.
    assert "HOME=/from/b" in env and "FROM_B=b" in env
    assert env.index("FROM_B=b") > env.index(d.token)
    assert env[-1] == "TEND_TASK=inherits"
    assert d.terminate() == 0


def test_env_file_read_at_each_spawn(start_tendd, run_tendctl, tmp_path):
    """The file is read again at each spawn: changed, then the task
    restarted, the new process has the new value."""
    env = tmp_path / "app.env"
    env.write_text("SECRET=one\n")
    d = start_tendd(f"""
        [task:app]
        class     = durable
        command   = sleep 1008
        clear_env = yes
        env_file  = {env}
        """)
    first = running_exec(run_tendctl, d, "app")
    assert "SECRET=one" in environ_of(first)
    env.write_text("SECRET=two\n")
    r = ctl(run_tendctl, d, "restart", "app")
    assert r.returncode == 0, r
    second = running_exec(run_tendctl, d, "app")
    assert second != first
    assert "SECRET=two" in environ_of(second)
    assert d.terminate() == 0


def test_missing_env_file_is_a_spawn_failure(start_tendd, run_tendctl,
                                             tmp_path):
    """A missing env file without "-" fails the run, naming the path and
    errno (the durable task backs off, tendctl start answers 1 with it, a
    log-only task's run fails); a line that is not KEY=VALUE fails with the
    file's line. With "-", a missing file is no error."""
    missing = tmp_path / "missing.env"
    (tmp_path / "bad.env").write_text("A=1\n\nthis is not an assignment\n")
    d = start_tendd(f"""
        [task:needs]
        class       = durable
        command     = sleep 1009
        env_file    = {missing}
        backoff_min = 30s

        [task:bad]
        class     = log-only
        command   = true
        autostart = no
        env_file  = {tmp_path}/bad.env

        [task:optional]
        class    = durable
        command  = sleep 1010
        env_file = -{missing}
        """)
    why = f"cannot read env file {missing}: No such file or directory"
    m = d.wait_log(r"^task needs \(pid \d+\): (.*)$", level="err")[0]
    assert m[1] == why + "; restart 1 in 30.0s", d.tail()
    wait_state(run_tendctl, d, "needs", "backoff")
    r = ctl(run_tendctl, d, "start", "needs")
    assert r.returncode == 1 and why in r.stdout + r.stderr, r
    r = ctl(run_tendctl, d, "run", "bad", "--wait")
    assert r.returncode != 0, r
    m = d.wait_log(r"^task bad \(pid \d+\): (.*)$", level="err")[0]
    assert m[1] == f"bad env file {tmp_path}/bad.env:3: not KEY=VALUE", \
        d.tail()
    running_exec(run_tendctl, d, "optional")
    # Created, the file is read at the next start.
    missing.write_text("X=1\n")
    r = ctl(run_tendctl, d, "start", "needs")
    assert r.returncode == 0, r
    assert "X=1" in environ_of(running_exec(run_tendctl, d, "needs"))
    assert d.terminate() == 0


# SPEC section 5: the process keys restart the task at a reload.


@pytest.mark.parametrize("key, old, new", [
    ("limit_core", "100", "101"),
    ("nice", "1", "2"),
    ("oom_score_adj", "1", "2"),
    ("env_file", "-/nonexistent/a.env", "-/nonexistent/b.env"),
])
def test_reload_restarts_on_a_process_key(start_tendd, run_tendctl,
                                          write_manifest, key, old, new):
    """A changed env_file, limit_*, nice or oom_score_adj restarts the
    task at a reload: a new process with the new value."""
    text = "[task:x]\nclass = durable\ncommand = sleep 1011\n{}\n"
    path = write_manifest(text.format(f"{key} = {old}"))
    d = start_tendd(path)
    first = running_exec(run_tendctl, d, "x")
    write_manifest(text.format(f"{key} = {new}"))
    r = ctl(run_tendctl, d, "reload")
    assert (r.returncode, r.stdout) == (0, "restarted x\n"), r
    second = running_exec(run_tendctl, d, "x")
    assert second != first
    if key == "limit_core":
        assert proc_limits(second)["core"] == ("101", "101")
    elif key == "nice":
        assert nice_of(second) == 2
    elif key == "oom_score_adj":
        assert oom_score_adj_of(second) == 2
    assert d.terminate() == 0

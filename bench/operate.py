#!/usr/bin/python3
"""What operating tendd costs (issue 13): memory of the log rings, output
throughput, and the latency of tendctl metrics.

    make bench-operate
    bench/operate.py [--tasks N] [--task-mb M] [--flood-mb F] [--runs R]

(a) ring: N durable tasks (1000) each print M MB (10) of 100-byte lines,
    then sleep. Their output goes to syslog, which is absent (tendd's own
    fallback: its stderr, here /dev/null), so every line still passes
    through tendd and its task's ring. tendd's RSS and PSS
    (/proc/PID/smaps_rollup) once all have printed, against the same N
    tasks that print nothing, and against the bound N x LOGRING_BYTES.
(c) metrics: on that tendd, `tendctl metrics` and `tendctl status` wall
    time (the whole command, as a user sees it), median and p95 over R
    runs (50). Target for metrics: 10 ms.
(b) flood: one task prints F MB (200) of 100-byte lines through file:PATH
    and through syslog (a /dev/log datagram socket of this script's),
    MB/s from the task's start to the last byte delivered, against
    `cat > file` of the same data as the limit. The socket is read by
    build/bench/dgramsink, so that the reader is not what is measured. file: needs a tendd that
    knows it (tendd --check says); else that row says so.

tendd runs in a private mount namespace (unshare -m, as root) whose /dev/log
is absent, or this script's socket: a flood never reaches the machine's
syslog. Prints a Markdown table.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENDD = os.path.join(ROOT, "build", "tendd")
TENDCTL = os.path.join(ROOT, "build", "tendctl")
DGRAMSINK = os.path.join(ROOT, "build", "bench", "dgramsink")
LINE = "x" * 99  # with its newline, 100 bytes: what yes prints
MB = 1024 * 1024

# A private /dev: links to the real one's entries, /dev/log a link to $2 or
# absent. As tests/system/test_logging.py does it.
NAMESPACE_SCRIPT = r"""
set -e
real=$1 log=$2
shift 2
mkdir -p "$real"
mount --rbind /dev "$real"
mount -t tmpfs -o mode=755 tend-bench-dev /dev
for entry in "$real"/*; do ln -s "$entry" /dev/; done
rm -f /dev/log
if [ -n "$log" ]; then ln -s "$log" /dev/log; fi
exec "$@"
"""


def logring_bytes():
    """LOGRING_BYTES of src/tend.h, evaluated."""
    with open(os.path.join(ROOT, "src", "tend.h")) as f:
        m = re.search(r"#define LOGRING_BYTES\s+\(([^)]*)\)", f.read())
    return eval(m[1], {})  # e.g. "64 * 1024": digits and '*' only


def printer(nbytes):
    """A task command: nbytes of 100-byte lines, then sleep."""
    return (f"sh -c 'yes {LINE} | head -c {nbytes}; "
            f"exec sleep 1000000'")


class Tendd:
    """A tendd on a manifest of the given task sections, in a private
    /dev whose /dev/log is log (a path) or absent."""

    def __init__(self, d, name, sections, log=None):
        self.sock = os.path.join(d, name + ".sock")
        path = os.path.join(d, name + ".ini")
        with open(path, "w") as f:
            f.write("".join(sections))
        script = os.path.join(d, "private-dev.sh")
        with open(script, "w") as f:
            f.write(NAMESPACE_SCRIPT)
        argv = ["unshare", "-m", "--propagation", "private", "sh", script,
                os.path.join(d, "real-dev-" + name), log or "",
                TENDD, "-f", path, "-s", self.sock]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.started = time.monotonic()
        wait_until(lambda: self.ctl("status").returncode != 4)

    @property
    def pid(self):
        return self.proc.pid  # sh execs unshare, unshare sh, sh tendd

    def ctl(self, *args):
        return subprocess.run([TENDCTL, "-s", self.sock, *args],
                              capture_output=True, text=True)

    def metric(self, series):
        out = self.ctl("metrics").stdout
        for line in out.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait_until(predicate, timeout=600, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise RuntimeError(f"timed out: {predicate}")


def memory_kib(pid):
    """(RSS, PSS) of pid in KiB."""
    with open(f"/proc/{pid}/status") as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read())[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        pss = int(re.search(r"\nPss:\s+(\d+)", f.read())[1])
    return rss, pss


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def settled(t, n):
    """Every task's process has become its sleep (it printed all), and
    tendd's CPU time has stopped growing (it read all)."""
    r = t.ctl("status", "--json")
    pids = [task["pid"] for task in json.loads(r.stdout)["tasks"]]
    if len(pids) != n or any(comm(p) != "sleep" for p in pids):
        return False
    before = cpu_seconds(t.pid)
    time.sleep(1.0)
    return cpu_seconds(t.pid) - before < 0.02


def tasks_of(n, nbytes):
    return [f"[task:t{i:04d}]\nclass = durable\n"
            f"command = {printer(nbytes) if nbytes else 'sleep 1000000'}\n\n"
            for i in range(n)]


def timed(argv, runs):
    """Median and p95 wall time of argv in ms."""
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        times.append((time.monotonic() - t0) * 1000)
        if r.returncode not in (0, 3):
            raise RuntimeError(f"{argv} exited {r.returncode}")
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def bench_ring(d, n, task_mb, runs, rows):
    t = Tendd(d, "quiet", tasks_of(n, 0))
    wait_until(lambda: settled(t, n))
    quiet = memory_kib(t.pid)
    t.stop()

    t0 = time.monotonic()
    t = Tendd(d, "ring", tasks_of(n, task_mb * MB))
    wait_until(lambda: settled(t, n), timeout=3600, step=1.0)
    took = time.monotonic() - t0
    loud = memory_kib(t.pid)
    bound = n * logring_bytes() // 1024
    rows.append(("(a) tendd RSS / PSS, %d tasks, none printed" % n,
                 "%.1f / %.1f MiB" % (quiet[0] / 1024, quiet[1] / 1024)))
    rows.append(("(a) tendd RSS / PSS, %d tasks x %d MB printed (%.0f s)"
                 % (n, task_mb, took),
                 "%.1f / %.1f MiB" % (loud[0] / 1024, loud[1] / 1024)))
    rows.append(("(a) growth of RSS, against the ring bound %d x %d KiB"
                 % (n, logring_bytes() // 1024),
                 "%.1f MiB of %.1f MiB" % ((loud[0] - quiet[0]) / 1024,
                                           bound / 1024)))

    for what, args in (("metrics", ["metrics"]),
                       ("status", ["status"]),
                       ("status --json", ["status", "--json"])):
        med, p95 = timed([TENDCTL, "-s", t.sock, *args], runs)
        rows.append((f"(c) tendctl {what}, {n} tasks: median / p95",
                     "%.1f / %.1f ms" % (med, p95)))
    t.stop()


def knows_file_output(d):
    path = os.path.join(d, "check.ini")
    with open(path, "w") as f:
        f.write("[task:x]\nclass = durable\ncommand = true\n"
                "stdout = file:/tmp/x.log\n")
    return subprocess.run([TENDD, "--check", "-f", path],
                          capture_output=True).returncode == 0


def flood_section(nbytes, out, extra=""):
    return [f"[task:flood]\nclass = durable\ncommand = {printer(nbytes)}\n"
            f"stdout = {out}\n{extra}\n"]


def bench_cat(d, nbytes):
    path = os.path.join(d, "cat.out")
    t0 = time.monotonic()
    subprocess.run(["sh", "-c", f"yes {LINE} | head -c {nbytes} | "
                    f"cat > {path}"], check=True)
    took = time.monotonic() - t0
    os.unlink(path)
    return nbytes / MB / took


def bench_file(d, nbytes):
    path = os.path.join(d, "flood.log")
    t = Tendd(d, "file", flood_section(
        nbytes, f"file:{path}", "log_max_size = 4G\nlog_backups = 0\n"))
    t0 = t.started

    def size():
        try:
            return os.stat(path).st_size >= nbytes
        except FileNotFoundError:
            return False
    wait_until(size, timeout=3600, step=0.01)
    took = time.monotonic() - t0
    t.stop()
    os.unlink(path)
    return nbytes / MB / took


def bench_syslog(d, nbytes, qlen):
    """MB/s of lines received on /dev/log (read by dgramsink, as fast as a
    syslog daemon could), and the lines tendd dropped. The socket's queue
    holds qlen datagrams (net.unix.max_dgram_qlen: 512 as systemd sets it,
    but 10 in a new network namespace, a container's): dgramsink runs in a
    network namespace of its own where it is set, the machine's untouched.
    """
    path = os.path.join(d, "log.sock")
    lines = nbytes // 100
    sink = subprocess.Popen(
        ["unshare", "-n", "sh", "-c",
         'echo "$1" > /proc/sys/net/unix/max_dgram_qlen && shift && '
         'exec "$@"', "sh", str(qlen),
         DGRAMSINK, path, "flood[", str(lines), "3000"],
        stdout=subprocess.PIPE, text=True)
    wait_until(lambda: os.path.exists(path))
    t = Tendd(d, "syslog", flood_section(nbytes, "syslog"), log=path)
    out, _ = sink.communicate(timeout=3600)
    got, last = out.split()
    dropped = t.metric("tend_log_dropped_total") or 0
    t.stop()
    took = float(last) - t.started
    return int(got) * 100 / MB / took, int(dropped), lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--task-mb", type=int, default=10)
    ap.add_argument("--flood-mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--skip", default="",
                    help="comma-separated parts to leave out: ring,flood")
    a = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        sys.exit("operate.py: needs root and unshare (a private /dev/log)")
    skip = set(a.skip.split(","))
    rows = []
    d = tempfile.mkdtemp(prefix="tend-operate-", dir="/tmp")
    try:
        if "flood" not in skip:
            nbytes = a.flood_mb * MB
            rows.append((f"(b) `cat > file`, {a.flood_mb} MB (the limit)",
                         "%.0f MB/s" % bench_cat(d, nbytes)))
            if knows_file_output(d):
                rows.append((f"(b) file:PATH, {a.flood_mb} MB",
                             "%.0f MB/s" % bench_file(d, nbytes)))
            else:
                rows.append((f"(b) file:PATH, {a.flood_mb} MB",
                             "n/a: this tendd has no file: output"))
            for qlen in (512, 10):
                rate, dropped, lines = bench_syslog(d, nbytes, qlen)
                rows.append((f"(b) syslog (datagrams to /dev/log, queue "
                             f"{qlen}), {a.flood_mb} MB",
                             "%.0f MB/s delivered, %d of %d lines dropped"
                             % (rate, dropped, lines)))
                os.unlink(os.path.join(d, "log.sock"))
        if "ring" not in skip:
            bench_ring(d, a.tasks, a.task_mb, a.runs, rows)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print("| %-*s | %s |" % (width, "measure", "figure"))
    print("|%s|%s|" % ("-" * (width + 2), "-" * 10))
    for what, figure in rows:
        print("| %-*s | %s |" % (width, what, figure))


if __name__ == "__main__":
    main()

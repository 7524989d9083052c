#!/usr/bin/python3
"""Benchmarks of tend's supervision engine (issue: the engine).

    make bench                      # everything, default sizes
    bench/engine.py restart [N]     # restart latency, backoff_min = 0
    bench/engine.py idle [N] [SECS] # start time, PSS, CPU, wakeups when idle
    bench/engine.py storm [N] [SECS]# CPU while N tasks crash and restart
    bench/engine.py scale [N]       # N tasks running at once

Every task runs bench/ping, which writes "PID NANOSECONDS" (CLOCK_MONOTONIC
at its start) to a FIFO the benchmark reads, so "has exec'd" is measured by
the task itself, not guessed from /proc.
"""
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENDD = os.environ.get("TENDD", os.path.join(ROOT, "build", "tendd"))
PING = os.path.join(ROOT, "build", "bench", "ping")
MINISUP = os.path.join(ROOT, "build", "bench", "minisup")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Bench:
    """A tendd on a generated manifest, and the FIFO its tasks report to."""

    def __init__(self, ntasks, task_keys, ping_args="", argv=None):
        self.dir = tempfile.mkdtemp(prefix="tend-bench-")
        self.fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(self.fifo)
        # O_RDWR: the FIFO never reports EOF and writers never block on open.
        self.fd = os.open(self.fifo, os.O_RDWR)
        self.buf = b""
        path = os.path.join(self.dir, "tend.ini")
        with open(path, "w") as f:
            f.write("[tend]\ncontrol_socket = %s/tend.sock\n" % self.dir)
            for i in range(ntasks):
                f.write("[task:t%d]\ncommand = %s %s\nenv = BENCH_FIFO=%s\n"
                        % (i, PING, ping_args, self.fifo))
                f.write(task_keys)
        self.log = open(os.path.join(self.dir, "tendd.log"), "w")
        self.t_start = time.monotonic_ns()
        env = dict(os.environ, BENCH_FIFO=self.fifo)
        self.proc = subprocess.Popen(argv or [TENDD, "-f", path],
                                     stderr=self.log, stdout=self.log,
                                     env=env)

    def line(self):
        """The next "PID NS" line from a task."""
        while b"\n" not in self.buf:
            chunk = os.read(self.fd, 65536)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        pid, ns = line.split()
        return int(pid), int(ns)

    def stat(self):
        """(cpu seconds, voluntary+involuntary context switches) of tendd."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        switches = 0
        with open("/proc/%d/status" % self.proc.pid) as f:
            for row in f:
                if row.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")):
                    switches += int(row.split()[1])
        return cpu, switches

    def memory_kib(self):
        """(PSS, RSS) of tendd in KiB."""
        out = {}
        with open("/proc/%d/smaps_rollup" % self.proc.pid) as f:
            for row in f:
                key = row.split(":")[0]
                if key in ("Pss", "Rss"):
                    out[key] = int(row.split()[1])
        return out["Pss"], out["Rss"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)
        self.log.close()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def restart_latencies(b, n):
    pid, _ = b.line()
    lat = []
    for _ in range(n):
        t_kill = time.monotonic_ns()
        os.kill(pid, signal.SIGKILL)
        pid, t_exec = b.line()
        lat.append((t_exec - t_kill) / 1e6)
    b.stop()
    return lat


def bench_restart(n=200):
    """tendd, then the floor: bench/minisup, a blocking vfork+waitpid loop."""
    keys = "class = durable\nbackoff_min = 0\nstdout = null\nstderr = null\n"
    for name, argv in (("tendd", None), ("minisup (floor)", [MINISUP, PING])):
        lat = restart_latencies(Bench(1, keys, argv=argv), n)
        print("restart latency (SIGKILL to successor's exec), %s, %d "
              "restarts: median %.3f ms, p99 %.3f ms, min %.3f ms"
              % (name, n, statistics.median(lat), percentile(lat, 99),
                 min(lat)))


def bench_idle(n=1000, seconds=60):
    b = Bench(n, "class = durable\n")
    for _ in range(n):
        _, last = b.line()
    print("%d durable tasks all exec'd %.3f s after tendd was started"
          % (n, (last - b.t_start) / 1e9))
    time.sleep(1)  # let the start-up settle before measuring idleness
    cpu0, sw0 = b.stat()
    time.sleep(seconds)
    cpu1, sw1 = b.stat()
    pss, rss = b.memory_kib()
    b.stop()
    print("idle with %d tasks over %d s: CPU %.2f s, %d wakeups "
          "(context switches), PSS %.2f MiB, RSS %.2f MiB"
          % (n, seconds, cpu1 - cpu0, sw1 - sw0, pss / 1024, rss / 1024))


def bench_storm(n=200, seconds=30):
    b = Bench(n, "class = durable\n", ping_args="exit 1")
    time.sleep(seconds)
    cpu, _ = b.stat()
    b.stop()
    with open(b.log.name) as f:
        restarts = sum(1 for row in f if "; restart " in row)
    print("crash storm: %d durable tasks exiting at once, default backoff, "
          "%d s: tendd CPU %.2f s for %d restarts"
          % (n, seconds, cpu, restarts))


def bench_scale(n=10000):
    b = Bench(n, "class = durable\nstdout = null\nstderr = null\n")
    for _ in range(n):
        _, last = b.line()
    pss, rss = b.memory_kib()
    with open("/proc/%d/limits" % b.proc.pid) as f:
        limit = [r for r in f if r.startswith("Max open files")][0].split()
    nfds = len(os.listdir("/proc/%d/fd" % b.proc.pid))
    b.stop()
    print("%d durable tasks running %.3f s after start; PSS %.2f MiB; "
          "%d fds open; open-file limit soft %s hard %s"
          % (n, (last - b.t_start) / 1e9, pss / 1024, nfds, limit[3],
             limit[4]))


def main(argv):
    benches = {"restart": bench_restart, "idle": bench_idle,
               "storm": bench_storm, "scale": bench_scale}
    if len(argv) > 1:
        benches[argv[1]](*[int(a) for a in argv[2:]])
        return
    for name in ("restart", "idle", "storm", "scale"):
        benches[name]()


if __name__ == "__main__":
    main(sys.argv)

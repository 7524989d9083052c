#!/usr/bin/python3
"""Per-request serving: tend against the machine's limit and its peers
(issue 5).

    make bench-requests
    [ROUNDS=R] [PIN=1] bench/requests.py [N]

Every server serves the same static handler (bench/hello: one line, exit)
on 127.0.0.1, one process per connection, and build/bench/loadgen opens N
connections at concurrency 1 and 16, reading each reply to EOF. Servers:

  the limit      bench/vforkd, a blocking accept loop with vfork+exec, and
                 the same with fork+exec: the one of the two with the
                 higher median over the run is the limit
  reaping loop   the vfork loop learning each child's exit through a
                 signalfd, as any supervisor must
  contract loop  the reaping loop doing also what tend's contract asks of
                 every spawn (own session, default signals, stderr, exec
                 status pipe, group kill at the reap): tend's floor
  tend           a per-request task
  xinetd, tcpserver (ucspi-tcp)

The reaping and contract loops are not part of the limit: they show what
knowing each exit and the contract cost. All run with the same minimal
environment (PATH only: the handler's exec copies it) and in /, as a system
service runs: tend runs a task in / by default, and so need not change
directory.

A shared VM's speed drifts by tens of percent within a minute. So every
server listens at once, each on its own port, and they take turns in short
bursts, ROUNDS rounds in a rotating order; each figure is the median of its
rounds, and the ratios (tend and the contract loop to the limit, tend to
the contract loop) are taken round by round (the two servers measured
moments apart), their median reported with a 95% bootstrap interval and
their spread. The limit is one loop for the whole run: the faster of two
in each round would be the larger of two noisy figures, which the noise
alone lifts above either loop. "own" is the CPU time of the server process
itself per connection (a forked child's work before exec counts to the
handler, not to the server). PIN=1 puts the load generator on CPU 0 and
the servers with their handlers on CPU 1, and adds what CPU 1 spent per
connection, handlers included.

Last, bench/spawncost times one spawn of the handler without and with
setsid (tend's contract: every task in a session of its own) and setpgid,
spawn by spawn in turn.
"""
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
TENDD = os.environ.get("TENDD", os.path.join(BUILD, "tendd"))
HELLO = os.path.join(BUILD, "bench", "hello")
LOADGEN = os.path.join(BUILD, "bench", "loadgen")
VFORKD = os.path.join(BUILD, "bench", "vforkd")
SPAWNCOST = os.path.join(BUILD, "bench", "spawncost")
BASE_PORT = 17001
ROUNDS = int(os.environ.get("ROUNDS", "60"))
# PIN=1: the load generator on CPU 0, every server (and its handlers) on
# CPU 1, so that they do not trade places on a 2-CPU machine.
PIN = os.environ.get("PIN") == "1"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def start_limit(d, port):
    return [VFORKD, str(port), HELLO]


def start_limit_fork(d, port):
    return [VFORKD, str(port), HELLO, "fork"]


def start_limit_reaping(d, port):
    return [VFORKD, str(port), HELLO, "reap"]


def start_contract(d, port):
    return [VFORKD, str(port), HELLO, "contract"]


def start_tend(d, port):
    path = os.path.join(d, "tend.ini")
    with open(path, "w") as f:
        f.write("[tend]\ncontrol_socket = %s/tend.sock\n"
                "[task:hello]\nclass = per-request\ncommand = %s\n"
                "listen = tcp:127.0.0.1:%d\nstderr = null\n"
                "max_instances = 64\n" % (d, HELLO, port))
    return [TENDD, "-f", path]


def start_xinetd(d, port):
    path = os.path.join(d, "xinetd.conf")
    with open(path, "w") as f:
        f.write("defaults\n{\n instances = UNLIMITED\n cps = 1000000 1\n"
                " per_source = UNLIMITED\n}\n"
                "service hello\n{\n type = UNLISTED\n socket_type = stream\n"
                " protocol = tcp\n wait = no\n user = root\n bind = 127.0.0.1\n"
                " port = %d\n server = %s\n instances = UNLIMITED\n"
                " cps = 1000000 1\n}\n" % (port, HELLO))
    return ["xinetd", "-dontfork", "-pidfile", os.path.join(d, "x.pid"),
            "-f", path]


def start_tcpserver(d, port):
    return ["tcpserver", "-c", "10000", "-H", "-R", "-l", "0", "127.0.0.1",
            str(port), HELLO]


SERVERS = (("vfork+exec loop", start_limit),
           ("fork+exec loop", start_limit_fork),
           ("reaping loop", start_limit_reaping),
           ("contract loop", start_contract),
           ("tend", start_tend), ("xinetd", start_xinetd),
           ("tcpserver", start_tcpserver))


def wait_port(port):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def cpu1_busy():
    """Seconds CPU 1 has been busy (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu1 "):
                t = [int(x) for x in line.split()[1:8]]
                return (t[0] + t[1] + t[2] + t[5] + t[6]) / \
                    os.sysconf("SC_CLK_TCK")
    raise RuntimeError("no cpu1 in /proc/stat")


def run_time(pid):
    """Seconds the process pid has run on a CPU (nanosecond clock)."""
    if pid is None:
        return 0
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def loadgen(port, n, conc, pid=None):
    """(connections per second, p50 ms, p99 ms, server CPU us per
    connection or 0, the server process's own CPU us per connection) of
    one burst. The fourth is measured with PIN=1 only: what CPU 1, the
    servers' CPU, spent per connection, handlers included. The fifth is
    the server process alone: what a forked child does before its exec
    counts to the handler, not to it."""
    pin = ["taskset", "-c", "0"] if PIN else []
    busy = cpu1_busy() if PIN else 0
    own = run_time(pid)
    out = subprocess.run(pin + [LOADGEN, str(port), str(n), str(conc)],
                         capture_output=True, text=True, timeout=600)
    own = run_time(pid) - own
    busy = (cpu1_busy() - busy) if PIN else 0
    fields = out.stdout.split()
    values = dict(zip(fields[::2], fields[1::2]))
    if out.returncode != 0:
        raise RuntimeError("loadgen: %s %s" % (out.stdout, out.stderr))
    return float(values["rate"]), float(values["p50_ms"]), \
        float(values["p99_ms"]), 1e6 * busy / int(values["ok"]), \
        1e6 * own / int(values["ok"])


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    if len(values) % 2:
        return values[mid]
    return (values[mid - 1] + values[mid]) / 2


def median_interval(values, draws=4000):
    """A 95% bootstrap interval of the median of values: how far the
    reported median could move on another run of as many rounds."""
    rng = random.Random(1)
    medians = sorted(median(rng.choices(values, k=len(values)))
                     for _ in range(draws))
    return medians[draws // 40], medians[draws - 1 - draws // 40]


def report(results, conc, n):
    """Print one concurrency's table from results[name, conc]: a list of
    (rate, p50, p99), one per round."""
    def med(name, field):
        return median([r[field] for r in results[name, conc]])

    # The limit: one of the two minimal loops, the faster over the run.
    limit_name = max(("vfork+exec loop", "fork+exec loop"),
                     key=lambda name: med(name, 0))
    limits = [r[0] for r in results[limit_name, conc]]
    limit = median(limits)
    print("concurrency %d, %d connections a burst, median of %d rounds "
          "(the limit: the %s):" % (conc, n, ROUNDS, limit_name))
    for name, _ in SERVERS:
        rate = med(name, 0)
        cpu = "  CPU %4.0f us/conn" % med(name, 3) if PIN else ""
        print("  %-16s %7.0f conn/s  p50 %6.3f ms  p99 %6.3f ms  "
              "%5.1f%% of the limit  own %5.1f us/conn%s"
              % (name, rate, med(name, 1), med(name, 2), 100 * rate / limit,
                 med(name, 4), cpu))
    rates = {name: [r[0] for r in results[name, conc]] for name, _ in SERVERS}
    rates["limit"] = limits
    for a, b in (("tend", "limit"), ("contract loop", "limit"),
                 ("tend", "contract loop")):
        ratios = sorted(x / y for x, y in zip(rates[a], rates[b]))
        low, high = median_interval(ratios)
        print("  %s / %s, round by round: median %.1f%% (95%% interval "
              "%.1f%% to %.1f%%), from %.1f%% to %.1f%%"
              % (a, b, 100 * median(ratios), 100 * low, 100 * high,
                 100 * ratios[0], 100 * ratios[-1]))


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 300
    procs, ports, pids = [], {}, {}
    try:
        for i, (name, start) in enumerate(SERVERS):
            port = BASE_PORT + i
            d = tempfile.mkdtemp(prefix="tend-bench-")
            pin = ["taskset", "-c", "1"] if PIN else []
            procs.append(subprocess.Popen(
                pin + start(d, port), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=ENV, cwd="/",
                start_new_session=True))
            wait_port(port)
            loadgen(port, 300, 4)  # warm up
            ports[name] = port
            pids[name] = procs[-1].pid  # taskset execs the server
        results = {}
        for rnd in range(ROUNDS):
            k = rnd % len(SERVERS)  # rotate: no server always goes first
            for name, _ in SERVERS[k:] + SERVERS[:k]:
                for conc in (1, 16):
                    results.setdefault((name, conc), []).append(
                        loadgen(ports[name], n, conc, pids[name]))
        for conc in (1, 16):
            report(results, conc, n)
        print("one spawn of the handler (vfork, exec, wait), 4000 times "
              "each, interleaved:")
        print(subprocess.run([SPAWNCOST, HELLO, "4000"], check=True,
                             capture_output=True, text=True).stdout, end="")
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/python3
"""What readiness, start order and health checks cost (issue 14).

    make bench-ready
    bench/ready.py [--tasks N] [--chain C] [--checks H] [--runs R]
                   [--idle S] [--short-idle S]

(a) start-up: N durable tasks (1000) with `ready = notify`, each sending
    READY=1 at once (build/tests/sdnotify, then exec sleep), against the
    same N tasks (same command) without `ready`. Timed from tendd's spawn to tendd's own
    READY=1 on a datagram socket this script binds as $NOTIFY_SOCKET (sent
    once every autostart task is ready), then checked in status --json.
(b) order: a chain of C tasks (100), each `after` the one before, with
    `ready = notify`: the time until the last is ready (tendd's READY=1),
    against the same C tasks without `after`.
(c) idle: H durable tasks (100) with `health = tcp:127.0.0.1:PORT`, on a
    listener of this script's that counts the connections (the probes),
    every 30s over S seconds (70), and every 1s over windows of S' seconds
    (10) to extrapolate: tendd's CPU time (utime + stime of /proc/PID/stat)
    per hour, and its wakeups (voluntary + involuntary context switches of
    /proc/PID/status) against the probes' count.

R runs (5) of (a) and (b): medians, with min-max. The figures are wall
time on whatever else the machine runs meanwhile. Prints a Markdown table. Needs the built tree (make all
build/tests/sdnotify); takes about 2 minutes.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENDD = os.path.join(ROOT, "build", "tendd")
TENDCTL = os.path.join(ROOT, "build", "tendctl")
SDNOTIFY = os.path.join(ROOT, "build", "tests", "sdnotify")


class Tendd:
    """A tendd on a manifest of the given sections, its NOTIFY_SOCKET a
    datagram socket of ours; started records when it was spawned."""

    def __init__(self, d, name, sections):
        self.sock = os.path.join(d, name + ".sock")
        path = os.path.join(d, name + ".ini")
        with open(path, "w") as f:
            f.write("".join(sections))
        self.notify_path = notify = os.path.join(d, name + ".notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify)
        self.notify.settimeout(600)
        env = {k: v for k, v in os.environ.items()
               if k not in ("TEND_MANIFEST", "TEND_SOCKET")}
        env["NOTIFY_SOCKET"] = notify
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [TENDD, "-f", path, "-s", self.sock], env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def ready_after(self):
        """Seconds from the spawn to tendd's READY=1."""
        while True:
            msg = self.notify.recv(4096)
            if msg == b"READY=1":
                return time.monotonic() - self.started

    def tasks(self):
        r = subprocess.run([TENDCTL, "-s", self.sock, "status", "--json"],
                           capture_output=True, text=True)
        return json.loads(r.stdout)["tasks"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.notify.close()
        os.unlink(self.notify_path)


def section(name, notify=None, after=None, health=None, interval=None):
    """A durable task; notify False: the same command as notify True (the
    sender, which then finds no NOTIFY_SOCKET), without `ready`."""
    lines = [f"[task:{name}]", "class = durable", "stdout = null",
             "stderr = null"]
    if notify is None:
        lines += ["command = sleep 1000000"]
    else:
        lines += [f"command = sh -c '{SDNOTIFY} READY=1; "
                  "exec sleep 1000000'"]
    if notify:
        lines += ["ready = notify"]
    if after:
        lines += [f"after = {after}"]
    if health:
        lines += [f"health = {health}", f"health_interval = {interval}"]
    return "\n".join(lines) + "\n\n"


def startup(d, sections, check_ready):
    """Seconds until tendd's READY=1; every task checked ready then."""
    t = Tendd(d, "run", sections)
    try:
        took = t.ready_after()
        tasks = t.tasks()
        if len(tasks) != len(sections) or (
                check_ready and not all(x["ready"] for x in tasks)):
            raise RuntimeError("READY=1 before every task was ready")
        return took
    finally:
        t.stop()


def spread(values, unit=1000, fmt="%.0f"):
    """median (min-max), in ms by default."""
    v = [x * unit for x in values]
    return (fmt % statistics.median(v)) + " (" + (fmt % min(v)) + "-" + (
        fmt % max(v)) + ")"


class Counter:
    """A listener on 127.0.0.1 that accepts and closes, counting."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.close()
            self.count += 1


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def switches(pid):
    """Voluntary and involuntary context switches of pid: its wakeups."""
    n = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches:",
                                "nonvoluntary_ctxt_switches:")):
                n += int(line.split()[1])
    return n


def idle(d, n, interval, seconds, windows):
    """[(cpu s, wakeups, probes, window s)] of n tasks with a tcp health
    check every interval, over windows of seconds each."""
    server = Counter()
    t = Tendd(d, "idle", [section(f"h{i:03d}",
                                  health=f"tcp:127.0.0.1:{server.port}",
                                  interval=interval) for i in range(n)])
    try:
        t.ready_after()
        time.sleep(0.5)  # the spawns' own work is over
        found = []
        for _ in range(windows):
            cpu0, sw0, p0, t0 = (cpu_seconds(t.pid), switches(t.pid),
                                 server.count, time.monotonic())
            time.sleep(seconds)
            found.append((cpu_seconds(t.pid) - cpu0, switches(t.pid) - sw0,
                          server.count - p0, time.monotonic() - t0))
        if not any(x["health"] == "ok" for x in t.tasks()):
            raise RuntimeError("no health check succeeded")
        return found
    finally:
        t.stop()
        server.sock.close()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--chain", type=int, default=100)
    ap.add_argument("--checks", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=float, default=70)
    ap.add_argument("--short-idle", type=float, default=10)
    args = ap.parse_args(argv)
    for path in (TENDD, TENDCTL, SDNOTIFY):
        if not os.access(path, os.X_OK):
            sys.exit(f"{path}: missing (make all build/tests/sdnotify)")
    d = tempfile.mkdtemp(prefix="tend-bench-ready-", dir="/tmp")
    rows = []
    try:
        n, c = args.tasks, args.chain
        plain = [startup(d, [section(f"t{i:04d}", notify=False)
                             for i in range(n)], False)
                 for _ in range(args.runs)]
        notify = [startup(d, [section(f"t{i:04d}", notify=True)
                              for i in range(n)], True)
                  for _ in range(args.runs)]
        sleeps = [startup(d, [section(f"t{i:04d}") for i in range(n)],
                          False) for _ in range(args.runs)]
        rows.append((f"(a) {n} durable tasks up, `sleep`, no `ready` (ms)",
                     spread(sleeps)))
        rows.append((f"(a) {n} durable tasks up, the notify command, no "
                     "`ready` (ms)", spread(plain)))
        rows.append((f"(a) {n} durable tasks ready, `ready = notify` (ms)",
                     spread(notify)))
        flat = [startup(d, [section(f"c{i:03d}", notify=True)
                            for i in range(c)], True)
                for _ in range(args.runs)]
        chain = [startup(d, [section(f"c{i:03d}", notify=True,
                                     after=f"c{i - 1:03d}" if i else None)
                             for i in range(c)], True)
                 for _ in range(args.runs)]
        rows.append((f"(b) {c} notify tasks ready, no `after` (ms)",
                     spread(flat)))
        rows.append((f"(b) chain of {c}, each `after` the one before, "
                     "last ready (ms)", spread(chain)))
        rows.append(("(b) per link of the chain (ms)",
                     spread([x / c for x in chain], fmt="%.2f")))
        h = args.checks
        per_probe = []
        for interval, seconds, windows in (("30s", args.idle, 1),
                                           ("1s", args.short_idle, 3)):
            found = idle(d, h, interval, seconds, windows)
            per_hour = [cpu / s * 3600 for cpu, _, _, s in found]
            probes = sum(p for _, _, p, _ in found)
            wakeups = sum(w for _, w, _, _ in found)
            rows.append((f"(c) {h} tcp checks every {interval}: tendd CPU "
                         "per hour (s)", spread(per_hour, 1, "%.2f")))
            rows.append((f"(c) {h} tcp checks every {interval}: probes, "
                         f"tendd wakeups over {sum(x[3] for x in found):.0f}"
                         " s", f"{probes}, {wakeups} "
                         f"({wakeups / max(probes, 1):.2f} per probe)"))
            per_probe.append(sum(x[0] for x in found) / max(probes, 1))
        # CPU time is counted in clock ticks (10 ms): the 30s row is near
        # that resolution; the 1s row's cost per probe extrapolates it.
        rows.append(("(c) tendd CPU per probe, from the 1s row (us)",
                     f"{per_probe[1] * 1e6:.0f}"))
        rows.append((f"(c) {h} tcp checks every 30s, extrapolated: tendd "
                     "CPU per hour (s)",
                     f"{per_probe[1] * h * 3600 / 30:.2f}"))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("| measure | median (min-max) |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main(sys.argv[1:])

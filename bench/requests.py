#!/usr/bin/python3
"""Per-request serving: tend against the machine's limit and its peers
(issue 5).

    make bench-requests
    bench/requests.py [N]

Every server serves the same static handler (bench/hello: one line, exit)
on 127.0.0.1, one process per connection, and build/bench/loadgen opens N
connections at concurrency 1 and 16, reading each reply to EOF. Servers:
the limit (bench/vforkd: a blocking accept loop with vfork+exec, and with
fork+exec; the faster is the limit), tendd
(a per-request task), Debian's xinetd and ucspi-tcp's tcpserver. Each runs
alone, is warmed up with a few hundred connections, then measured.
"""
import os
import signal
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
PORT = 17001


def start_tend(d):
    path = os.path.join(d, "tend.ini")
    with open(path, "w") as f:
        f.write("[tend]\ncontrol_socket = %s/tend.sock\n"
                "[task:hello]\nclass = per-request\ncommand = %s\n"
                "listen = tcp:127.0.0.1:%d\nstderr = null\n"
                "max_instances = 64\n" % (d, HELLO, PORT))
    return [TENDD, "-f", path]


def start_xinetd(d):
    path = os.path.join(d, "xinetd.conf")
    with open(path, "w") as f:
        f.write("defaults\n{\n instances = UNLIMITED\n cps = 1000000 1\n"
                " per_source = UNLIMITED\n}\n"
                "service hello\n{\n type = UNLISTED\n socket_type = stream\n"
                " protocol = tcp\n wait = no\n user = root\n bind = 127.0.0.1\n"
                " port = %d\n server = %s\n instances = UNLIMITED\n"
                " cps = 1000000 1\n}\n" % (PORT, HELLO))
    return ["xinetd", "-dontfork", "-pidfile", os.path.join(d, "x.pid"),
            "-f", path]


def start_tcpserver(d):
    return ["tcpserver", "-c", "10000", "-H", "-R", "-l", "0", "127.0.0.1",
            str(PORT), HELLO]


def start_limit(d):
    return [VFORKD, str(PORT), HELLO]


def start_limit_fork(d):
    return [VFORKD, str(PORT), HELLO, "fork"]


def wait_port():
    import socket
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen")


def loadgen(n, conc):
    out = subprocess.run([LOADGEN, str(PORT), str(n), str(conc)],
                         capture_output=True, text=True, timeout=600)
    fields = out.stdout.split()
    values = dict(zip(fields[::2], fields[1::2]))
    if out.returncode != 0:
        raise RuntimeError("loadgen: %s %s" % (out.stdout, out.stderr))
    return float(values["rate"]), float(values["p50_ms"]), \
        float(values["p99_ms"])


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 5000
    results = {}
    servers = (("vfork+exec loop", start_limit),
               ("fork+exec loop", start_limit_fork),
               ("tend", start_tend), ("xinetd", start_xinetd),
               ("tcpserver", start_tcpserver))
    for name, start in servers:
        d = tempfile.mkdtemp(prefix="tend-bench-")
        proc = subprocess.Popen(start(d), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            wait_port()
            loadgen(300, 4)  # warm up
            for conc in (1, 16):
                results[name, conc] = loadgen(n, conc)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            time.sleep(0.5)
    for conc in (1, 16):
        # The limit: the faster of the two minimal loops.
        limit = max(results["vfork+exec loop", conc][0],
                    results["fork+exec loop", conc][0])
        print("concurrency %d, %d connections:" % (conc, n))
        for name, _ in servers:
            rate, p50, p99 = results[name, conc]
            print("  %-20s %7.0f conn/s  p50 %6.3f ms  p99 %6.3f ms  "
                  "%5.1f%% of the limit"
                  % (name, rate, p50, p99, 100 * rate / limit))


if __name__ == "__main__":
    main(sys.argv)

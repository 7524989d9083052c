#!/usr/bin/python3
"""What max_per_source and env_file cost a per-request connection
(issue 15).

    make bench-keys
    [ROUNDS=R] bench/keys.py [N]

Three tendds serve bench/hello on 127.0.0.1, each on its own port: one
plain, one with `max_per_source = 1000` (every connection counted against
its source, the cap never reached), one with `env_file` (a file of 20
KEY=VALUE lines, read at every spawn). build/bench/loadgen opens N
connections (300) at concurrency 1 and 16, as bench/requests.py does, in
ROUNDS rounds (30) of short bursts in a rotating order: the ratio of each
to the plain tendd is taken round by round, and reported as its median
with a 95% bootstrap interval. A ratio whose interval holds 100% is within
the noise.
"""
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "tend_bench_requests", os.path.join(HERE, "requests.py"))
rq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rq)

ROUNDS = int(os.environ.get("ROUNDS", "30"))
BASE_PORT = 17101


def manifest(d, port, extra):
    path = os.path.join(d, "tend.ini")
    with open(path, "w") as f:
        f.write("[tend]\ncontrol_socket = %s/tend.sock\n"
                "[task:hello]\nclass = per-request\ncommand = %s\n"
                "listen = tcp:127.0.0.1:%d\nstderr = null\n"
                "max_instances = 64\n%s" % (d, rq.HELLO, port, extra))
    return [rq.TENDD, "-f", path]


def plain(d, port):
    return manifest(d, port, "")


def per_source(d, port):
    return manifest(d, port, "max_per_source = 1000\n")


def env_file(d, port):
    path = os.path.join(d, "env")
    with open(path, "w") as f:
        for i in range(20):
            f.write("KEY_%d=\"value number %d\"\n" % (i, i))
    return manifest(d, port, "env_file = %s\n" % path)


SERVERS = (("plain", plain), ("max_per_source", per_source),
           ("env_file", env_file))


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 300
    procs, ports = [], {}
    try:
        for i, (name, start) in enumerate(SERVERS):
            port = BASE_PORT + i
            d = tempfile.mkdtemp(prefix="tend-bench-")
            procs.append(subprocess.Popen(
                start(d, port), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=rq.ENV, cwd="/",
                start_new_session=True))
            rq.wait_port(port)
            rq.loadgen(port, 300, 4)  # warm up
            ports[name] = port
        results = {}
        for rnd in range(ROUNDS):
            k = rnd % len(SERVERS)
            for name, _ in SERVERS[k:] + SERVERS[:k]:
                for conc in (1, 16):
                    results.setdefault((name, conc), []).append(
                        rq.loadgen(ports[name], n, conc)[0])
        print("| concurrency | tend | conn/s (median) | to plain, round "
              "by round: median (95% interval) |")
        print("|---|---|---|---|")
        for conc in (1, 16):
            for name, _ in SERVERS:
                rates = results[name, conc]
                ratios = sorted(x / y for x, y in
                                zip(rates, results["plain", conc]))
                low, high = rq.median_interval(ratios)
                print("| %d | %s | %.0f | %.1f%% (%.1f%% to %.1f%%) |"
                      % (conc, name, rq.median(rates),
                         100 * rq.median(ratios), 100 * low, 100 * high))
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()


if __name__ == "__main__":
    main(sys.argv)

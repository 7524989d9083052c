#!/usr/bin/python3
"""How long a status query takes with N services, side by side (issue 4).

    make bench-control           # N = 1000
    bench/control.py [N] [RUNS]

Times, as a user sees them (the whole command, process start included):
`tendctl status --json` against tendd, `supervisorctl status` against
Debian's supervisord, and `sv status` over runit services under runsvdir.
Each supervisor runs N services of `sleep`, one after the other, and is
torn down before the next starts. Needs root for nothing; needs the
Debian packages supervisor and runit (make bench-control installs them).
"""
import os
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
SLEEP = "/bin/sleep"


def timed(argv, runs, env=None):
    """Median and worst wall time of argv in milliseconds, over runs."""
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env)
        times.append((time.monotonic() - t0) * 1000)
        if r.returncode not in (0, 3):
            raise RuntimeError("%s exited %d" % (argv, r.returncode))
    return statistics.median(times), max(times)


def wait_until(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError("timed out")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def bench_tend(d, n, runs):
    sock = os.path.join(d, "tend.sock")
    path = os.path.join(d, "tend.ini")
    with open(path, "w") as f:
        f.write("[tend]\ncontrol_socket = %s\n" % sock)
        for i in range(n):
            f.write("[task:s%d]\nclass = durable\ncommand = %s 100000\n"
                    "stdout = null\nstderr = null\n" % (i, SLEEP))
    proc = subprocess.Popen([TENDD, "-f", path], stderr=subprocess.DEVNULL,
                            start_new_session=True)
    argv = [TENDCTL, "-s", sock, "status", "--json"]

    def all_running():
        r = subprocess.run(argv, capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.count('"running"') == n
    wait_until(all_running)
    result = timed(argv, runs)
    stop(proc)
    return result


def bench_supervisor(d, n, runs):
    conf = os.path.join(d, "supervisord.conf")
    sock = os.path.join(d, "supervisor.sock")
    with open(conf, "w") as f:
        f.write("[unix_http_server]\nfile=%s\n"
                "[supervisord]\nnodaemon=true\nlogfile=%s/sd.log\n"
                "pidfile=%s/sd.pid\nchildlogdir=%s\n"
                "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory"
                " = supervisor.rpcinterface:make_main_rpcinterface\n"
                "[supervisorctl]\nserverurl=unix://%s\n" % (sock, d, d, d, sock))
        for i in range(n):
            f.write("[program:s%d]\ncommand=%s 100000\n"
                    "stdout_logfile=NONE\nstderr_logfile=NONE\n" % (i, SLEEP))
    proc = subprocess.Popen(["supervisord", "-c", conf],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    argv = ["supervisorctl", "-c", conf, "status"]

    def all_running():
        r = subprocess.run(argv, capture_output=True, text=True)
        return r.stdout.count("RUNNING") == n
    wait_until(all_running, timeout=300)
    result = timed(argv, runs)
    stop(proc)
    return result


def bench_runit(d, n, runs):
    svdir = os.path.join(d, "service")
    os.mkdir(svdir)
    for i in range(n):
        s = os.path.join(svdir, "s%d" % i)
        os.mkdir(s)
        with open(os.path.join(s, "run"), "w") as f:
            f.write("#!/bin/sh\nexec %s 100000\n" % SLEEP)
        os.chmod(os.path.join(s, "run"), 0o755)
    proc = subprocess.Popen(["runsvdir", svdir], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    names = sorted(os.listdir(svdir))
    argv = ["sv", "status"] + [os.path.join(svdir, s) for s in names]

    def all_running():
        r = subprocess.run(argv, capture_output=True, text=True)
        return r.stdout.count("run: ") == n
    wait_until(all_running, timeout=300)
    result = timed(argv, runs)
    # runsvdir leaves its runsv children on SIGTERM: take the group down.
    os.killpg(proc.pid, signal.SIGHUP)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return result


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 1000
    runs = int(argv[2]) if len(argv) > 2 else 20
    base, _ = timed(["/bin/true"], runs)
    print("%-22s the cost of starting any command here: median %.1f ms"
          % ("/bin/true", base))
    for name, fn, r in (("tendctl status --json", bench_tend, runs),
                        ("supervisorctl status", bench_supervisor,
                         max(3, runs // 4)),
                        ("sv status", bench_runit, max(3, runs // 4))):
        d = tempfile.mkdtemp(prefix="tend-bench-")
        try:
            median, worst = fn(d, n, r)
            print("%-22s %d services: median %.1f ms, worst %.1f ms (%d runs)"
                  % (name, n, median, worst, r))
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv)

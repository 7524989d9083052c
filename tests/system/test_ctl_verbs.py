"""tendctl's verbs beyond status and the state changes (SPEC section 6, issue
13): log (the ring, -n, -f, a follower that never reads), metrics, `all` as
a task name, -h and -V, and what an unprivileged peer may ask (section 7).

Every wait is bounded polling (conftest.wait_for); timeouts are generous
enough for tendd under valgrind.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import (TIMEOUT, ctl, ctl_popen, finish, run, sock_of,
                      status_json, task_of, wait_for, wait_state)

PY = sys.executable
VALGRIND = "valgrind" in os.environ.get("TENDD", "")
LATENCY = 5.0 if VALGRIND else 1.0  # seconds a status may take


def wait_up(run_tendctl, d):
    """Wait until tendd answers on its control socket."""
    def up():
        return ctl(run_tendctl, d, "status").returncode != 4 or not d.alive()
    wait_for(up, what="the control socket", details=d.tail)
    assert d.alive(), d.tail()


def as_nobody(tendctl_bin, *args):
    return run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                "--clear-groups", tendctl_bin, *args])


# metrics.

def test_metrics_prints_the_exposition(start_tendd, run_tendctl):
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000
        """)
    wait_state(run_tendctl, d, "web", "running")
    r = ctl(run_tendctl, d, "metrics")
    assert r.returncode == 0, r
    assert r.stderr == ""
    assert "# TYPE tend_up gauge\n" in r.stdout
    assert "\ntend_up 1\n" in r.stdout
    assert r.stdout.endswith("\n")
    assert ctl(run_tendctl, d, "metrics", "web").returncode == 1

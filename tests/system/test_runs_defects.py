"""Defects of runs, listeners and clocks (issue 12, points 8, 9, 13 and
14): a second tendd must not probe a live unix listener by connecting to
it, durations must not follow the wall clock, an exec failure is a spawn
step failing (not a run), and connections accepted while tendd is out of
fds are served once fds are back.

Every wait is bounded polling (conftest.wait_for), generous enough for
tendd under valgrind.
"""

import os
import pathlib
import socket
import subprocess

import pytest

from conftest import (CLIENT_TIMEOUT, ctl, low_fds, read_to_eof, run,
                      sock_of, status, task_of, wait_for, wait_state)

VALGRIND = "valgrind" in os.environ.get("TENDD", "")
LIBFAKETIME = pathlib.Path("/usr/lib/x86_64-linux-gnu/faketime/"
                           "libfaketime.so.1")


def faketime_env(stamp_file):
    """The environment that runs tendd with a wall clock the test steps by
    writing stamp_file ("+SECONDS"), and the real monotonic clock."""
    if not LIBFAKETIME.exists():
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "faketime"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           env={**os.environ,
                                "DEBIAN_FRONTEND": "noninteractive"},
                           timeout=300)
        if r.returncode != 0 or not LIBFAKETIME.exists():
            pytest.skip("libfaketime (Debian package faketime) is not "
                        "installed and cannot be: " + r.stderr.decode()[-200:])
    stamp_file.write_text("+0\n")
    return {
        "LD_PRELOAD": LIBFAKETIME,
        "DONT_FAKE_MONOTONIC": "1",  # only the wall clock is stepped
        "FAKETIME_NO_CACHE": "1",    # read stamp_file at every call
        "FAKETIME_TIMESTAMP_FILE": stamp_file,
    }


# Point 9: every duration is on the monotonic clock.

def test_wall_clock_step_neither_resets_backoff_nor_skews_uptime(
        start_tendd, run_tendctl, tmp_path):
    """A crash-looping task's second run is in progress when the wall clock
    steps an hour forward: the run did not last healthy_after (300s), so the
    backoff goes on (restart 2 waits 2 x backoff_min), and neither the
    daemon's nor the task's uptime jumps by the hour."""
    stamp = tmp_path / "faketime"
    d = start_tendd("""
        [task:crashy]
        class         = durable
        command       = /bin/sleep 3
        backoff_min   = 250ms
        backoff_max   = 10s
        healthy_after = 300s
        """, env=faketime_env(stamp))
    d.wait_log(r"^task crashy \(pid \d+\): exit status 0 after .*; "
               r"restart 1 in 250ms$", level="err")
    t = wait_state(run_tendctl, d, "crashy", "running", restarts=1)
    stamp.write_text("+3600\n")
    st = status(run_tendctl, d)
    t = st["tasks"][0]
    assert t["pid"] and t["uptime_s"] < 60, st
    assert st["daemon"]["uptime_s"] < 120, st
    m = d.wait_log(r"^task crashy \(pid \d+\): exit status 0 after (.*); "
                   r"restart 2 in (.*)$", level="err")[0]
    assert m[2] == "500ms", m[0]
    assert "h" not in m[1], m[0]  # not "1h0m3s"
    st = status(run_tendctl, d)
    assert st["daemon"]["uptime_s"] < 120, st
    assert d.terminate() == 0

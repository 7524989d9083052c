"""Backpressure on task output (issue 13): while the log sink a task's pipe
feeds is full, tendd leaves the pipe unread and the task waits in its own
write(2), as on a terminal; nothing is lost while the reader makes
progress. A reader that makes none for the stall bound (5 s, tendd(8))
lets the tasks go on: lines are then dropped and counted, until it drains.

The syslog sink is a datagram socket of the test's at /dev/log, in a
private mount namespace (test_logging.py's fixtures); the console sink is
tendd's stdout, a pipe the test reads as it pleases.
"""

import json
import os
import re
import select
import signal
import socket
import time

from conftest import WAIT, wait_for, wait_state
from test_logging import (CTL_TIMEOUT, VALGRIND, ctl_ok, fake_syslog,  # noqa: F401
                          log_dropped, private_dev)

LINES = 50_000 if VALGRIND else 200_000
STALL = 5.0  # LOGSINK_STALL
SLOW_START = 2.0  # seconds a reader reads nothing at first: under STALL
FINISH = 300 if VALGRIND else 60  # seconds a flood may take to get through


def printer(name, lines, out="syslog", autostart="yes"):
    """A log-only task printing 1..lines, one number a line."""
    return (f"[task:{name}]\nclass = log-only\ncommand = seq 1 {lines}\n"
            f"stdout = {out}\nautostart = {autostart}\n\n")


def slow_then_fast_dgrams(sock, until, timeout=FINISH):
    """Datagrams read from sock: none for SLOW_START seconds, then one at a
    time for a while, then as fast as they come, until one matches until.
    Returns them as text."""
    rx = re.compile(until)
    seen = []
    time.sleep(SLOW_START)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(seen) < 500:
            time.sleep(0.001)  # a slow reader, still making progress
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        seen.append(data.decode("utf-8", "replace"))
        if rx.search(seen[-1]):
            return seen
    raise AssertionError(f"no datagram matching {until!r} within {timeout}s;"
                         f" {len(seen)} read, the last ones: {seen[-3:]}")


def numbers_of(name, lines_seen):
    """The numbers NAME[PID] printed, in the order they arrived."""
    rx = re.compile(rf"\b{name}\[\d+\]: (\d+)$")
    return [int(m[1]) for m in map(rx.search, lines_seen) if m]


def test_slow_syslog_reader_loses_nothing(start_tendd, run_tendctl,
                                          private_dev, fake_syslog):
    """A task printing many lines to a syslog that reads nothing at first,
    then slowly: every line arrives, in order, and none is dropped."""
    fake_syslog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    d = start_tendd(printer("count", LINES),
                    prefix=private_dev(fake_syslog.path), mirror=False)
    # The last lines of a run may come after tendd's line of its exit.
    seen = slow_then_fast_dgrams(fake_syslog.sock, rf"count\[\d+\]: {LINES}$")
    assert numbers_of("count", seen) == list(range(1, LINES + 1))
    assert log_dropped(run_tendctl, d) == 0
    assert not any("dropped" in s for s in seen)
    assert d.terminate(timeout=CTL_TIMEOUT) == 0


def read_pipe(fd, until, timeout=FINISH):
    """Bytes of the pipe fd: nothing for SLOW_START seconds, then small
    reads for a while, then large ones, until a line matches until."""
    rx = re.compile(until, re.M)
    data = bytearray()
    time.sleep(SLOW_START)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        slow = len(data) < 64 * 1024
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        if slow:
            time.sleep(0.001)
        chunk = os.read(fd, 512 if slow else 1 << 20)
        assert chunk, "tendd's stdout closed"
        data += chunk
        # Only the tail can hold a new match.
        if rx.search(data[-4096:].decode("utf-8", "replace")):
            return data.decode("utf-8", "replace")
    raise AssertionError(f"no line matching {until!r} within {timeout}s; "
                         f"the last bytes: {bytes(data[-300:])!r}")


def test_slow_console_reader_loses_nothing(start_tendd, run_tendctl,
                                           private_dev):
    """The same through console, tendd's stdout a pipe the test reads
    nothing from at first, then little at a time: every line arrives."""
    r, w = os.pipe()
    try:
        d = start_tendd(printer("count", LINES, "console"),
                        prefix=private_dev(),
                        preexec_fn=lambda: os.dup2(w, 1))
        os.close(w)
        w = -1
        text = read_pipe(r, rf"^count: {LINES}$")
        got = [int(x) for x in re.findall(r"^count: (\d+)$", text, re.M)]
        assert got == list(range(1, LINES + 1))
        assert log_dropped(run_tendctl, d) == 0
        assert d.terminate(timeout=CTL_TIMEOUT) == 0
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def task_state(run_tendctl, d, name):
    r = ctl_ok(run_tendctl, d, "status", "--json")
    return next(t for t in json.loads(r.stdout)["tasks"]
                if t["name"] == name)["state"]


def test_stalled_syslog_reader_delays_then_drops(start_tendd, run_tendctl,
                                                 private_dev, fake_syslog):
    """A syslog reader that stops for good: the task first waits (nothing
    dropped, still running), status answers throughout; after the stall
    bound the task goes on, finishes, and the lines that did not fit are
    counted. Once the reader drains the socket, backpressure applies
    again: a second flood loses nothing."""
    d = start_tendd(printer("count", LINES)
                    + printer("again", LINES // 4, autostart="no"),
                    prefix=private_dev(fake_syslog.path), mirror=False)
    start = time.monotonic()
    wait_state(run_tendctl, d, "count", "running")
    # Paused, not dropping: without backpressure seq is done in an instant.
    while time.monotonic() - start < STALL - 2:
        assert log_dropped(run_tendctl, d) == 0
        assert task_state(run_tendctl, d, "count") == "running"
        time.sleep(0.2)
    # After the bound the task goes on, its lines dropped and counted.
    wait_for(lambda: task_state(run_tendctl, d, "count") == "done",
             timeout=FINISH, what="the task to finish after the stall")
    assert time.monotonic() - start >= STALL - 0.5
    dropped = log_dropped(run_tendctl, d)
    assert dropped > 0
    ctl_ok(run_tendctl, d, "status")

    # The reader comes back: the queue, then the note, then new lines.
    fake_syslog.sock.settimeout(WAIT)
    seen = []
    while not any(re.search(r"log lines? dropped$", s) for s in seen):
        seen.append(fake_syslog.sock.recv(65536).decode(errors="replace"))
    first = numbers_of("count", seen)
    assert first == list(range(1, len(first) + 1)), first[:10]
    ctl_ok(run_tendctl, d, "start", "again")
    seen = slow_then_fast_dgrams(fake_syslog.sock,
                                 rf"again\[\d+\]: {LINES // 4}$")
    assert numbers_of("again", seen) == list(range(1, LINES // 4 + 1))
    assert log_dropped(run_tendctl, d) == dropped
    assert d.terminate(timeout=CTL_TIMEOUT) == 0


def test_last_words_at_shutdown_reach_a_slow_console(start_tendd,
                                                     private_dev):
    """A task that prints much as it stops, tendd's stdout a slow reader,
    SIGTERM to tendd: tendd exits once every line went out, none lost
    (found in review: the lines waiting for the sink were dropped at exit,
    uncounted)."""
    n = 20_000
    r, w = os.pipe()
    try:
        d = start_tendd(f"""
            [task:last]
            class   = durable
            command = sh -c 'trap "seq 1 {n}; exit 0" TERM; echo up; sleep 1000 & wait'
            stdout  = console
            """, prefix=private_dev(), preexec_fn=lambda: os.dup2(w, 1))
        os.close(w)
        w = -1
        read_pipe(r, r"^last: up$")  # the trap is set
        d.signal(signal.SIGTERM)
        text = read_pipe(r, rf"^last: {n}$")
        got = [int(x) for x in re.findall(r"^last: (\d+)$", text, re.M)]
        assert got == list(range(1, n + 1))
        assert "dropped" not in text
        assert d.wait() == 0
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)

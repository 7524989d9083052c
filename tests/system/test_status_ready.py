"""Readiness in status and metrics (SPEC sections 6 and 8, issue 14): the
fields ready, waiting_for, status_text, health and health_failures of
status --json, the daemon's notify_dropped, the table's STATE column, and
the metrics tend_task_ready, tend_task_health_failures_total and
tend_notify_dropped_total, of a real tendd and its real processes.

Every wait is bounded polling (conftest.wait_for) with limits generous
enough for tendd under valgrind.
"""

import re
import socket

import pytest

from conftest import (REPO, ctl, proc_stat, status, status_json, task_of,
                      wait_for, wait_state)

READY_KEYS = ["ready", "waiting_for", "status_text", "health",
              "health_failures"]


def every_class_manifest(tmp_path):
    return f"""
        [task:web]
        class   = durable
        command = sleep 1000

        [task:ok]
        class   = log-only
        command = true

        [task:ko]
        class   = log-only
        command = false

        [task:later]
        class     = log-only
        command   = true
        autostart = no

        [task:echo]
        class   = per-request
        command = echo hello
        listen  = unix:{tmp_path}/echo.sock

        [task:oneshot]
        class   = per-request
        command = echo hello
        """


def settled(run_tendctl, d):
    """Wait until every task of every_class_manifest has settled."""
    wait_state(run_tendctl, d, "web", "running")
    wait_state(run_tendctl, d, "ok", "done")
    wait_state(run_tendctl, d, "ko", "failed")
    wait_state(run_tendctl, d, "echo", "listening")
    wait_state(run_tendctl, d, "oneshot", "idle")


def by_name(doc):
    return {t["name"]: t for t in doc["tasks"]}


def metric_samples(text):
    """{(family, task or None): value} of an exposition; also checks
    that every family has its HELP and TYPE before its samples."""
    samples, typed = {}, {}
    for line in text.splitlines():
        if m := re.fullmatch(r"# TYPE (\S+) (counter|gauge)", line):
            typed[m[1]] = m[2]
            continue
        if line.startswith("# HELP "):
            continue
        m = re.fullmatch(r'([a-z_]+)(?:\{task="([^"]*)",class="[^"]*"\}|'
                         r'\{[^}]*\})? (\S+)', line)
        assert m, line
        assert m[1] in typed, f"{m[1]}: no TYPE before its samples"
        samples[(m[1], m[2])] = float(m[3])
    return samples, typed


def test_ready_of_each_class(start_tendd, run_tendctl, tmp_path):
    """ready: a running durable task, a log-only task that exited 0, a
    per-request task listening or without listen; not a failed or never
    started log-only task. No check: health null, 0 failures."""
    d = start_tendd(every_class_manifest(tmp_path))
    settled(run_tendctl, d)
    code, doc = status_json(run_tendctl, d)
    assert code == 3  # ko failed
    tasks = by_name(doc)
    want = {"web": True, "ok": True, "ko": False, "later": False,
            "echo": True, "oneshot": True}
    for name, ready in want.items():
        t = tasks[name]
        assert list(t)[-5:] == READY_KEYS, t
        assert t["ready"] is ready, t
        assert t["waiting_for"] == [], t
        assert t["status_text"] is None, t
        assert t["health"] is None, t
        assert t["health_failures"] == 0, t
    assert tasks["later"]["state"] == "stopped"
    assert doc["daemon"]["notify_dropped"] == 0
    assert list(doc["daemon"])[-2:] == ["log_dropped", "notify_dropped"]
    assert proc_stat(tasks["web"]["pid"]) is not None


def test_ready_follows_the_task(start_tendd, run_tendctl, tmp_path):
    """A durable task stopped, or crashing in backoff, is not ready; a
    log-only task run again to success is."""
    d = start_tendd(f"""
        [task:web]
        class   = durable
        command = sleep 1000

        [task:crash]
        class       = durable
        command     = sh -c 'exit 3'
        backoff_min = 1h
        backoff_max = 1h

        [task:flip]
        class   = log-only
        command = sh -c 'test -e {tmp_path}/go'
        """)
    wait_state(run_tendctl, d, "web", "running", ready=True)
    wait_state(run_tendctl, d, "crash", "backoff", ready=False)
    wait_state(run_tendctl, d, "flip", "failed", ready=False)

    assert ctl(run_tendctl, d, "stop", "web").returncode == 0
    wait_state(run_tendctl, d, "web", "stopped", ready=False)

    (tmp_path / "go").touch()
    assert ctl(run_tendctl, d, "start", "flip").returncode == 0
    wait_state(run_tendctl, d, "flip", "done", ready=True)

    assert ctl(run_tendctl, d, "start", "web").returncode == 0
    wait_state(run_tendctl, d, "web", "running", ready=True)


def test_exit_status_of_status(start_tendd, run_tendctl, tmp_path):
    """SPEC section 6: 3 for a durable task that is not running; 0 when
    every durable task runs and no log-only task failed."""
    d = start_tendd("""
        [task:web]
        class   = durable
        command = sleep 1000

        [task:ok]
        class   = log-only
        command = true
        """)
    wait_state(run_tendctl, d, "web", "running")
    wait_state(run_tendctl, d, "ok", "done")
    assert status_json(run_tendctl, d)[0] == 0
    assert ctl(run_tendctl, d, "stop", "web").returncode == 0
    assert status_json(run_tendctl, d)[0] == 3
    assert status_json(run_tendctl, d, "ok")[0] == 0


def test_table_states(start_tendd, run_tendctl, tmp_path):
    """The STATE column: plain states, a backoff with its delay; no health
    mark without a check."""
    d = start_tendd(f"""
        [task:web]
        class   = durable
        command = sleep 1000

        [task:crash]
        class       = durable
        command     = sh -c 'exit 3'
        backoff_min = 1h
        backoff_max = 1h

        [task:ok]
        class   = log-only
        command = true

        [task:echo]
        class   = per-request
        command = echo hello
        listen  = unix:{tmp_path}/echo.sock
        """)
    wait_state(run_tendctl, d, "web", "running")
    wait_state(run_tendctl, d, "crash", "backoff")
    wait_state(run_tendctl, d, "ok", "done")
    wait_state(run_tendctl, d, "echo", "listening")
    r = ctl(run_tendctl, d, "status")
    assert r.returncode == 3, r
    rows = {line.split()[0]: line for line in r.stdout.splitlines()
            if line and not line.startswith("NAME")}
    assert re.search(r"\s{2}running\s{2}", rows["web"]), rows
    assert re.search(r"\s{2}backoff (\d+m\d\ds|\d+\.\ds)\s{2}",
                     rows["crash"]), rows
    assert re.search(r"\s{2}done\s{2}", rows["ok"]), rows
    assert re.search(r"\s{2}listening\s{2}", rows["echo"]), rows
    assert "health" not in r.stdout and "waiting" not in r.stdout


def test_metrics_match_status(start_tendd, run_tendctl, tmp_path):
    """tend_task_ready is status's ready for every task; health failures
    0 without a check; tendd's notify_dropped counter is there, at 0."""
    d = start_tendd(every_class_manifest(tmp_path))
    settled(run_tendctl, d)
    tasks = by_name(status_json(run_tendctl, d)[1])
    r = ctl(run_tendctl, d, "metrics")
    assert r.returncode == 0, r
    samples, typed = metric_samples(r.stdout)
    assert typed["tend_notify_dropped_total"] == "counter"
    assert typed["tend_task_ready"] == "gauge"
    assert typed["tend_task_health_failures_total"] == "counter"
    assert samples[("tend_notify_dropped_total", None)] == 0
    for name, t in tasks.items():
        assert samples[("tend_task_ready", name)] == int(t["ready"]), name
        assert samples[("tend_task_health_failures_total", name)] == 0
    assert "until issue" not in r.stdout


def test_ready_under_load_of_requests(start_tendd, run_tendctl, tmp_path):
    """A per-request task stays ready while it serves: ready is about the
    socket, not the instances."""
    d = start_tendd(f"""
        [task:slow]
        class   = per-request
        command = sleep 1000
        listen  = unix:{tmp_path}/slow.sock
        """)
    wait_state(run_tendctl, d, "slow", "listening", ready=True)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(tmp_path / "slow.sock"))
        wait_state(run_tendctl, d, "slow", "listening", active=1, ready=True)
        assert ctl(run_tendctl, d, "stop", "slow").returncode == 0
    t = wait_state(run_tendctl, d, "slow", "stopped", ready=False)
    assert t["active"] == 0


# With the engine, the manifest keys and the probes of issue 14: these
# run once tendd takes after, ready and health (tendd --check says so).

def needs_keys(run_tendd, write_manifest, text):
    """Skip unless tendd --check takes the manifest text."""
    path = write_manifest(text, name="probe-keys.ini")
    r = run_tendd("--check", "-f", path)
    if r.returncode != 0:
        pytest.skip(f"tendd does not take this manifest yet: {r.stderr}")


def table_rows(text):
    return {line.split()[0]: line for line in text.splitlines()
            if line and not line.startswith("NAME")}


def test_waiting_rows(start_tendd, run_tendctl, run_tendd, write_manifest,
                      tmp_path):
    """A task waiting on a failed log-only task: state waiting, ready
    false, waiting_for naming it, "waiting (for gate)" in the table,
    status exit 3; released once the gate runs to success."""
    manifest = f"""
        [task:gate]
        class   = log-only
        command = test -e {tmp_path}/open

        [task:app]
        class   = durable
        command = sleep 1000
        after   = gate

        [task:cgi]
        class   = per-request
        command = echo hello
        after   = app gate
        """
    needs_keys(run_tendd, write_manifest, manifest)
    d = start_tendd(manifest)
    wait_state(run_tendctl, d, "gate", "failed")
    app = wait_state(run_tendctl, d, "app", "waiting", waiting_for=["gate"])
    assert app["ready"] is False and app["pid"] is None, app
    cgi = wait_state(run_tendctl, d, "cgi", "waiting",
                     waiting_for=["app", "gate"])
    assert cgi["ready"] is False, cgi

    r = ctl(run_tendctl, d, "status")
    assert r.returncode == 3, r
    rows = table_rows(r.stdout)
    assert "  waiting (for gate)  " in rows["app"], r.stdout
    assert "  waiting (for app, gate)  " in rows["cgi"], r.stdout

    r = ctl(run_tendctl, d, "metrics")
    samples, _ = metric_samples(r.stdout)
    assert samples[("tend_task_ready", "app")] == 0
    assert samples[("tend_task_ready", "gate")] == 0

    (tmp_path / "open").touch()
    assert ctl(run_tendctl, d, "start", "gate").returncode == 0
    wait_state(run_tendctl, d, "gate", "done", ready=True)
    wait_state(run_tendctl, d, "app", "running", ready=True, waiting_for=[])
    wait_state(run_tendctl, d, "cgi", "idle", ready=True, waiting_for=[])
    assert status_json(run_tendctl, d)[0] == 0
    r = ctl(run_tendctl, d, "status")
    assert "waiting" not in r.stdout, r.stdout


def test_starting_row(start_tendd, run_tendctl, run_tendd, write_manifest,
                      tmp_path):
    """A durable task whose ready probe does not succeed yet is starting:
    it has a process, ready false, status exit 3; then running."""
    manifest = f"""
        [task:db]
        class         = durable
        command       = sleep 1000
        ready         = exec:test -e {tmp_path}/up
        ready_timeout = 1h
        """
    needs_keys(run_tendd, write_manifest, manifest)
    d = start_tendd(manifest)
    t = wait_state(run_tendctl, d, "db", "starting", ready=False)
    assert proc_stat(t["pid"]) is not None, t
    r = ctl(run_tendctl, d, "status")
    assert r.returncode == 3, r
    assert re.search(r"  starting  ", table_rows(r.stdout)["db"]), r.stdout
    samples, _ = metric_samples(ctl(run_tendctl, d, "metrics").stdout)
    assert samples[("tend_task_ready", "db")] == 0
    assert samples[("tend_task_up", "db")] == 1

    (tmp_path / "up").touch()
    wait_state(run_tendctl, d, "db", "running", ready=True, pid=t["pid"])
    assert status_json(run_tendctl, d)[0] == 0


def test_health_failing_row(start_tendd, run_tendctl, run_tendd,
                            write_manifest, tmp_path):
    """A running task whose health probe fails: health failing and its
    failures counted, "running (health failing)" in the table, the same
    count in the metrics, status exit 0; health ok once it succeeds."""
    (tmp_path / "healthy").touch()
    manifest = f"""
        [task:api]
        class           = durable
        command         = sleep 1000
        health          = exec:test -e {tmp_path}/healthy
        health_interval = 300ms
        health_retries  = 100
        """
    needs_keys(run_tendd, write_manifest, manifest)
    d = start_tendd(manifest)
    t = wait_state(run_tendctl, d, "api", "running", health="ok")
    assert t["health_failures"] == 0 and t["ready"] is True, t
    assert "(health" not in table_rows(
        ctl(run_tendctl, d, "status").stdout)["api"]

    (tmp_path / "healthy").unlink()
    wait_for(lambda: task_of(run_tendctl, d, "api")["health_failures"] >= 2,
             what="two failed probes", details=d.tail)
    t = task_of(run_tendctl, d, "api")
    assert t["health"] == "failing" and t["state"] == "running", t
    r = ctl(run_tendctl, d, "status")
    assert r.returncode == 0, r
    assert "  running (health failing)  " in table_rows(r.stdout)["api"], \
        r.stdout
    samples, _ = metric_samples(ctl(run_tendctl, d, "metrics").stdout)
    assert samples[("tend_task_health_failures_total", "api")] >= 2
    assert samples[("tend_task_ready", "api")] == 1

    (tmp_path / "healthy").touch()
    t = wait_state(run_tendctl, d, "api", "running", health="ok")
    assert t["health_failures"] >= 2, t
    assert "(health" not in table_rows(
        ctl(run_tendctl, d, "status").stdout)["api"]


def test_status_text_row(start_tendd, run_tendctl, run_tendd, write_manifest,
                         tmp_path):
    """The last STATUS= of a notify task, quotes and UTF-8 included, in
    status --json as valid JSON."""
    sdnotify = REPO / "build" / "tests" / "sdnotify"
    if not sdnotify.exists():
        pytest.skip("no build/tests/sdnotify (make build/tests/sdnotify)")
    text = 'serving "all" caf\u00e9 100%'
    script = tmp_path / "notifier.sh"
    script.write_text(
        f"#!/bin/sh\n{sdnotify} 'STATUS=warming up'\n"
        f"{sdnotify} READY=1 'STATUS={text}'\nexec sleep 1000\n")
    script.chmod(0o755)
    manifest = f"""
        [task:svc]
        class   = durable
        command = {script}
        ready   = notify
        """
    needs_keys(run_tendd, write_manifest, manifest)
    d = start_tendd(manifest)
    t = wait_state(run_tendctl, d, "svc", "running", ready=True,
                   status_text=text)
    assert t["health"] is None, t
    assert status(run_tendctl, d)["daemon"]["notify_dropped"] == 0

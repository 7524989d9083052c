"""tendctl metrics (SPEC section 6, issue 13): the Prometheus text
exposition 0.0.4 of a real tendd, read by a strict parser written here, and
by promtool (Debian's prometheus package) when it is installed.

Every wait is bounded polling (conftest.wait_for) with limits generous
enough for tendd under valgrind.
"""

import math
import re
import shutil
import socket
import subprocess

import pytest

from conftest import ctl, status, wait_for, wait_state

# The metric families of SPEC section 6, and tendd's own, in order.
DAEMON_FAMILIES = {
    "tend_up": "gauge",
    "tend_build_info": "gauge",
    "tend_log_dropped_total": "counter",
    "tend_notify_dropped_total": "counter",
}
TASK_FAMILIES = {
    "tend_task_up": "gauge",
    "tend_task_restarts_total": "counter",
    "tend_task_last_exit_code": "gauge",
    "tend_task_uptime_seconds": "gauge",
    "tend_task_next_start_seconds": "gauge",
    "tend_task_requests_total": "counter",
    "tend_task_failures_total": "counter",
    "tend_task_active": "gauge",
    "tend_task_refused_total": "counter",
    "tend_task_ready": "gauge",
    "tend_task_health_failures_total": "counter",
}

# A strict reader of the text format, version 0.0.4.

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'  # only \\, \" and \n escaped
FLOAT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN"
HELP_RX = re.compile(rf"# HELP ({METRIC_NAME}) ((?:[^\\\n]|\\[\\n])*)")
TYPE_RX = re.compile(
    rf"# TYPE ({METRIC_NAME}) (counter|gauge|histogram|summary|untyped)")
SAMPLE_RX = re.compile(
    rf"({METRIC_NAME})"
    rf"(?:\{{((?:{LABEL_NAME}={LABEL_VALUE},)*"
    rf"(?:{LABEL_NAME}={LABEL_VALUE})?)\}})?"
    rf" ({FLOAT})(?: (-?\d+))?")
LABEL_RX = re.compile(rf"({LABEL_NAME})=({LABEL_VALUE}),?")


def unescape(quoted):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]),
                  quoted[1:-1])


def parse_exposition(text):
    """Check text as strictly as the format allows; return
    (families {name: type}, in order, and samples {(name, labels): value}).

    Each line is "# HELP", "# TYPE" or a sample; every family has its HELP
    and its TYPE once, before its samples, which are together; no series
    twice; labels valid and not twice in a series; values floats; the text
    ends with a newline."""
    assert text.endswith("\n"), "no newline at the end"
    families, helped, samples = {}, set(), {}
    current, finished = None, set()
    for no, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {no}: {line!r}"
        if line.startswith("#"):
            m = HELP_RX.fullmatch(line) or TYPE_RX.fullmatch(line)
            assert m, f"{where}: neither HELP nor TYPE"
            name = m[1]
            assert name not in finished, f"{where}: {name} again"
            assert name != current or not any(
                k[0] == name for k in samples), \
                f"{where}: after a sample of {name}"
            if line.startswith("# HELP"):
                assert name not in helped, f"{where}: second HELP"
                helped.add(name)
            else:
                assert name not in families, f"{where}: second TYPE"
                families[name] = m[2]
            if current is not None and current != name:
                finished.add(current)
            current = name
            continue
        m = SAMPLE_RX.fullmatch(line)
        assert m, f"{where}: not a sample"
        name, labels, value = m[1], m[2] or "", m[3]
        assert name in families, f"{where}: no TYPE before it"
        assert families[name] in ("counter", "gauge", "untyped"), where
        assert name == current, f"{where}: not with its family"
        pairs = [(k, unescape(v)) for k, v in LABEL_RX.findall(labels)]
        keys = [k for k, _ in pairs]
        assert len(set(keys)) == len(keys), f"{where}: a label twice"
        assert not any(k.startswith("__") for k in keys), where
        series = (name, tuple(sorted(pairs)))
        assert series not in samples, f"{where}: series twice"
        samples[series] = float(value)
    for name in families:
        assert name in helped, f"{name}: no HELP"
    return families, samples


def value(samples, family, task, cls):
    return samples.get((family, (("class", cls), ("task", task))))


def metrics(run_tendctl, d):
    r = ctl(run_tendctl, d, "metrics")
    assert r.returncode == 0 and r.stderr == "", (r, d.tail())
    return r.stdout


def test_the_parser_is_strict():
    """What parse_exposition must refuse: a test of the test."""
    good = ('# HELP a_total A.\n# TYPE a_total counter\n'
            'a_total{task="x",class="durable"} 1\n')
    parse_exposition(good)
    bad = [
        good[:-1],                                    # no newline at the end
        good + good,                                  # declared twice
        good.replace("# HELP a_total A.\n", ""),      # no HELP
        good.replace("# TYPE a_total counter\n", ""),  # no TYPE
        good.replace(" 1\n", " one\n"),               # not a float
        good.replace('"x"', '"a\\qb"'),               # bad escape
        good.replace('"x"', '"a"b"'),                 # unescaped quote
        good.replace("task=", "1task="),              # bad label name
        good + 'a_total{task="x",class="durable"} 2\n',  # series twice
        good.replace("class=", "task="),              # label twice
        good + "# just a comment\n",
        good + "\n",
        good + "# HELP b B.\n# TYPE b gauge\nb 1\na_total 3\n",  # apart
    ]
    for text in bad:
        with pytest.raises(AssertionError):
            parse_exposition(text)
    assert math.isnan(parse_exposition(
        "# HELP n N.\n# TYPE n gauge\nn NaN\n")[1][("n", ())])


def crash_looping_manifest(tmp_path):
    return f"""
        [task:web]
        class   = durable
        command = sleep 1000

        [task:crash]
        class       = durable
        command     = sh -c 'exit 3'
        backoff_min = 200ms
        backoff_max = 200ms

        [task:killed]
        class       = durable
        command     = sh -c 'kill -9 $$'
        backoff_min = 1h
        backoff_max = 1h

        [task:once]
        class   = log-only
        command = true

        [task:never]
        class     = log-only
        command   = true
        autostart = no

        [task:echo.srv-1]
        class   = per-request
        command = echo hello
        listen  = unix:{tmp_path}/echo.sock
        """


def test_metrics_of_every_class(start_tendd, run_tendctl, tmp_path):
    d = start_tendd(crash_looping_manifest(tmp_path))
    wait_state(run_tendctl, d, "web", "running")
    wait_state(run_tendctl, d, "once", "done")
    wait_state(run_tendctl, d, "echo.srv-1", "listening")
    wait_state(run_tendctl, d, "killed", "backoff")

    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(str(tmp_path / "echo.sock"))
        got = b""
        while chunk := s.recv(100):
            got += chunk
    assert got == b"hello\n"

    def served():
        fams, samples = parse_exposition(metrics(run_tendctl, d))
        ok = (value(samples, "tend_task_requests_total", "echo.srv-1",
                    "per-request") == 1 and
              value(samples, "tend_task_active", "echo.srv-1",
                    "per-request") == 0 and
              value(samples, "tend_task_restarts_total", "crash",
                    "durable") >= 2)
        return (fams, samples) if ok else None

    fams, samples = wait_for(served, what="a request served, crash restarts",
                             details=d.tail)

    # Every family, in order, with its type; each task once in each task
    # family (last_exit_code: only the tasks that ended a run).
    assert list(fams) == [*DAEMON_FAMILIES, *TASK_FAMILIES]
    assert fams == {**DAEMON_FAMILIES, **TASK_FAMILIES}
    tasks = {("web", "durable"), ("crash", "durable"), ("killed", "durable"),
             ("once", "log-only"), ("never", "log-only"),
             ("echo.srv-1", "per-request")}
    for family in TASK_FAMILIES:
        have = {(dict(labels)["task"], dict(labels)["class"])
                for name, labels in samples if name == family}
        if family == "tend_task_last_exit_code":
            assert have == tasks - {("web", "durable"),
                                    ("never", "log-only")}
        else:
            assert have == tasks, family
    assert samples[("tend_up", ())] == 1
    assert samples[("tend_build_info", (("version", "0.1.0"),))] == 1
    assert samples[("tend_log_dropped_total", ())] == 0

    def v(family, task, cls="durable"):
        return value(samples, family, task, cls)

    # A durable task that runs.
    assert v("tend_task_up", "web") == 1
    assert v("tend_task_ready", "web") == 1
    assert v("tend_task_restarts_total", "web") == 0
    assert v("tend_task_uptime_seconds", "web") > 0
    assert v("tend_task_next_start_seconds", "web") == 0
    # One that exits 3, and one killed by SIGKILL: 128 + 9.
    assert v("tend_task_last_exit_code", "crash") == 3
    assert v("tend_task_last_exit_code", "killed") == 137
    assert v("tend_task_up", "killed") == 0
    assert v("tend_task_ready", "killed") == 0
    assert v("tend_task_uptime_seconds", "killed") == 0
    assert 3000 < v("tend_task_next_start_seconds", "killed") <= 3600
    assert v("tend_task_restarts_total", "killed") == 1
    # Log-only: done with 0 is ready; never started is neither.
    assert v("tend_task_ready", "once", "log-only") == 1
    assert v("tend_task_up", "once", "log-only") == 0
    assert v("tend_task_last_exit_code", "once", "log-only") == 0
    assert v("tend_task_ready", "never", "log-only") == 0
    # Per-request: listening is up and ready.
    assert v("tend_task_up", "echo.srv-1", "per-request") == 1
    assert v("tend_task_ready", "echo.srv-1", "per-request") == 1
    assert v("tend_task_failures_total", "echo.srv-1", "per-request") == 0
    for family in ("tend_task_refused_total",
                   "tend_task_health_failures_total"):
        assert all(n == 0 for (name, _), n in samples.items()
                   if name == family)

    # The crash loop goes on: its restart count grows, as status says.
    before = v("tend_task_restarts_total", "crash")

    def grown():
        _, later = parse_exposition(metrics(run_tendctl, d))
        n = value(later, "tend_task_restarts_total", "crash", "durable")
        return n if n > before else None

    after = wait_for(grown, what="more restarts of crash", details=d.tail)
    now = status(run_tendctl, d, "crash")["tasks"][0]["restarts"]
    assert before < after <= now


def test_metrics_of_a_thousand_tasks(start_tendd, run_tendctl, write_manifest):
    """Far more than one part of the answer (16 KiB): written as the client
    reads, each task once in each family, nothing cut or doubled."""
    names = [f"t{i:04d}" for i in range(1000)]
    d = start_tendd("".join(
        f"[task:{n}]\nclass = log-only\ncommand = true\nautostart = no\n\n"
        for n in names))
    wait_for(lambda: ctl(run_tendctl, d, "status").returncode != 4,
             what="the control socket", details=d.tail)
    text = metrics(run_tendctl, d)
    assert len(text) > 1000 * 10 * 40
    _, samples = parse_exposition(text)
    for family in TASK_FAMILIES:
        have = [dict(labels)["task"] for name, labels in samples
                if name == family]
        if family == "tend_task_last_exit_code":
            assert have == []
        else:
            assert have == names, family  # in the manifest's order


def test_promtool_check_metrics(start_tendd, run_tendctl, tmp_path):
    """promtool, from Debian's prometheus package, when installed: its
    parser and its lint (HELP, counters named _total, ...)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install "
                    "--no-install-recommends prometheus)")
    d = start_tendd(crash_looping_manifest(tmp_path))
    wait_state(run_tendctl, d, "killed", "backoff")
    wait_state(run_tendctl, d, "once", "done")
    text = metrics(run_tendctl, d)
    r = subprocess.run([promtool, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", (
        r, text)

"""Manifest defects of issue 12 (SPEC section 3): continuation lines joined in
linear time and capped at 64 KiB, and messages that say what is wrong; and of
issue 15: a long value on one line, read in linear time too.
"""

import time

from conftest import ctl, status, wait_state

# The bound of a check or reload that must be quick. Joining pieces by
# copying the whole value each time took over 60 s for BIG_MB (120 s
# measured); linear joining and the cap take milliseconds, under valgrind
# seconds.
QUICK = 30
BIG_MB = 7


def write_big_command(path, megabytes):
    """A task whose command is continued over indented lines up to megabytes:
    one value far over the 64 KiB cap. Returns the line of its last piece."""
    piece = "    " + "a" * 95 + "\n"
    count = megabytes * 1024 * 1024 // len(piece)
    path.write_text("[task:a]\nclass = durable\ncommand = /bin/echo\n"
                    + piece * count)
    return 3 + count


def write_many_values(path, tasks, kib):
    """tasks tasks, each with a command of about kib KiB over indented
    lines, all under the cap: a valid manifest of tasks * kib KiB."""
    piece = "    " + "b" * 95 + "\n"
    with open(path, "w") as f:
        for t in range(tasks):
            f.write(f"[task:t{t}]\nclass = durable\nautostart = no\n"
                    f"command = /bin/echo\n")
            f.write(piece * (kib * 1024 // len(piece)))


def test_huge_continued_value_is_refused_quickly(run_tendd, tmp_path):
    path = tmp_path / "big.ini"
    write_big_command(path, BIG_MB)
    start = time.monotonic()
    r = run_tendd("--check", "-f", path, timeout=QUICK)
    took = time.monotonic() - start
    assert r.returncode == 1, r
    assert r.stderr.splitlines() == [
        f"{path}:3: value of 'command' is longer than 65536 bytes (64 KiB), "
        f"past it at line 686"], r
    assert took < QUICK


def test_many_long_values_are_checked_quickly(run_tendd, tmp_path):
    path = tmp_path / "many.ini"
    write_many_values(path, 40, 60)
    with open(path, "a") as f:
        f.write("bogus = 1\n")
    r = run_tendd("--check", "-f", path, timeout=QUICK)
    assert r.returncode == 1, r
    assert r.stderr.splitlines() == [
        f"{path}:{sum(1 for _ in open(path))}: unknown key 'bogus' in task "
        f"t39"], r


def test_many_long_lines_are_checked_quickly(run_tendd, tmp_path):
    """40 tasks, each with a 60 KiB command on one line (far over libinih's
    200-byte buffer): accepted, and as quickly as continued values."""
    path = tmp_path / "lines.ini"
    with open(path, "w") as f:
        for t in range(40):
            f.write(f"[task:t{t}]\nclass = durable\nautostart = no\n"
                    f"command = /bin/echo {'b ' * (30 * 1024)}\n")
    r = run_tendd("--check", "-f", path, timeout=QUICK)
    assert (r.returncode, r.stderr) == (0, ""), r
    with open(path, "a") as f:
        f.write("bogus = 1\n")
    r = run_tendd("--check", "-f", path, timeout=QUICK)
    assert r.returncode == 1, r
    assert r.stderr.splitlines() == [f"{path}:161: unknown key 'bogus' in "
                                     f"task t39"], r


def test_reload_of_huge_value_does_not_block_status(
        start_tendd, run_tendctl, write_manifest, tmp_path):
    path = write_manifest("""
        [task:a]
        class   = durable
        command = sleep 1000
        """)
    d = start_tendd(path)
    wait_state(run_tendctl, d, "a", "running")
    write_big_command(path, BIG_MB)
    r = ctl(run_tendctl, d, "reload", timeout=QUICK)
    assert r.returncode == 1, r
    assert "value of 'command' is longer than 65536 bytes" in r.stderr, r
    r = ctl(run_tendctl, d, "status", timeout=QUICK)
    assert r.returncode == 0, r
    assert [t["name"] for t in status(run_tendctl, d)["tasks"]] == ["a"]
    assert d.terminate() == 0


def check_problems(run_tendd, write_manifest, text):
    """tendd --check of text: its exit status and stderr lines, without
    the file name."""
    path = write_manifest(text)
    r = run_tendd("--check", "-f", path)
    prefix = f"{path}:"
    lines = r.stderr.splitlines()
    assert all(line.startswith(prefix) for line in lines), r
    return r.returncode, [line[len(prefix):] for line in lines]


def test_durations_are_said_as_written(run_tendd, write_manifest):
    assert check_problems(run_tendd, write_manifest, """
        [task:a]
        class       = durable
        command     = /bin/true
        backoff_min = 2m
        backoff_max = 90
        """) == (1, ["4: backoff_min (2m) is longer than backoff_max (1m30s)"])


def test_missing_equals_is_named(run_tendd, write_manifest):
    assert check_problems(run_tendd, write_manifest, """
        [task:a]
        class   = per-request
        command = /bin/cat
        listen tcp:127.0.0.1:8080
        [task:b]
        class = durable
        command /bin/true
        command = /bin/true
        """) == (1, ["4: missing '=' after 'listen'",
                     "7: missing '=' after 'command'"])


def test_unknown_key_names_the_nearest(run_tendd, write_manifest):
    assert check_problems(run_tendd, write_manifest, """
        [tend]
        stop_timout = 5s
        [task:a]
        class       = durable
        command     = /bin/true
        stop_timout = 5s
        bogus       = 1
        """) == (1, [
        "2: unknown key 'stop_timout' in [tend] (did you mean "
        "'stop_timeout'?)",
        "6: unknown key 'stop_timout' in task a (did you mean "
        "'stop_timeout'?)",
        "7: unknown key 'bogus' in task a"])

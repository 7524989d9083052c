"""Values of any length and ' ;' in values (issue 15, SPEC section 3): a
line of up to 64 KiB is taken whole, never split or cut; in command, ' ;'
inside quotes is part of the value; elsewhere it starts a comment, which
--check and tendd's start-up note when it follows a command or env value.
"""

import re

import pytest

from conftest import ctl, wait_for, wait_state

LIMIT = 65536  # bytes of a line (INIFILE_VALUE_MAX)


def classpath(size):
    """A CLASSPATH-like value of exactly size bytes, with ':' and '='."""
    jars = ""
    i = 0
    while len(jars) < size:
        jars += f"/usr/share/java/lib{i:05d}=x.jar:"
        i += 1
    return jars[:size]


def proc_list(pid, name):
    """The NUL-separated strings of /proc/PID/name (cmdline, environ)."""
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def check(run_tendd, path):
    r = run_tendd("--check", "-f", path)
    return r.returncode, r.stderr.splitlines()


@pytest.mark.parametrize("size", [300, 60 * 1024], ids=["300B", "60KiB"])
def test_long_values_reach_the_task(start_tendd, run_tendd, run_tendctl,
                                    write_manifest, size):
    value = classpath(size)
    path = write_manifest(
        "[task:java]\nclass = durable\n"
        f"env = CLASSPATH={value}\n"
        f"command = /bin/sh -c 'sleep 1000; : \"$0\"' {value}\n")
    assert max(len(line) for line in path.read_text().split("\n")) > size
    assert check(run_tendd, path) == (0, [])
    d = start_tendd(path)
    pid = wait_state(run_tendctl, d, "java", "running")["pid"]
    want = ["/bin/sh", "-c", "sleep 1000; : \"$0\"", value]
    wait_for(lambda: proc_list(pid, "cmdline") == want, what="the exec",
             details=lambda: proc_list(pid, "cmdline")[:3])
    assert f"CLASSPATH={value}" in proc_list(pid, "environ")


def test_line_over_64k_is_refused(start_tendd, run_tendd, write_manifest,
                                  tmp_path, sock_dir):
    marker = tmp_path / "ran"
    prefix = f"command = /bin/sh -c 'echo \"${{#1}}\" >\"$0\"' {marker} "

    def write(length):
        line = prefix + "x" * (length - len(prefix))
        return write_manifest(
            f"[task:a]\nclass = log-only\n{line}\nstdout = null\n")

    path = write(LIMIT + 1)
    want = [f"{path}:3: line too long ({LIMIT + 1} bytes; at most {LIMIT}, "
            f"64 KiB)"]
    assert check(run_tendd, path) == (1, want)
    r = run_tendd("-f", path, "-s", sock_dir / "tend.sock")
    assert r.returncode == 1 and r.stderr.splitlines() == want, r
    assert not marker.exists()

    # At the limit, nothing is cut: sh gets the whole last word.
    path = write(LIMIT)
    assert check(run_tendd, path) == (0, [])
    start_tendd(path)
    wait_for(lambda: marker.exists() and marker.read_text().endswith("\n"),
             what="the task ran")
    assert marker.read_text() == f"{LIMIT - len(prefix)}\n"


def test_check_and_tendd_read_the_same_value(run_tendd, write_manifest,
                                             sock_dir):
    """A value's problem quotes the value whole: --check and tendd say the
    same, so both read the same 60 KiB."""
    value = classpath(60 * 1024)
    path = write_manifest(
        f"[task:a]\nclass = durable\ncommand = /bin/echo {value} 'x\n")
    want = [f"{path}:3: command = /bin/echo {value} 'x: unterminated "
            f"single quote"]
    assert check(run_tendd, path) == (1, want)
    r = run_tendd("-f", path, "-s", sock_dir / "tend.sock")
    assert r.returncode == 1 and r.stderr.splitlines() == want, r


def test_semicolon_inside_quotes_is_part_of_the_command(
        start_tendd, run_tendd, write_manifest, tmp_path):
    path = write_manifest(f"""
        [task:both]
        class   = log-only
        command = /bin/sh -c 'echo a ; echo b' ; a comment
        stdout  = console
        [task:find]
        class   = log-only
        command = /usr/bin/find {tmp_path} -maxdepth 0 -exec /bin/echo found {{}} \\;
        stdout  = console
        """)
    rc, lines = check(run_tendd, path)
    assert rc == 0 and len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:3: note: command: text after ' ;' "
                               f"is a comment, not part of the value: "
                               f"'; a comment'"), lines
    d = start_tendd(path)
    wait_for(lambda: {"both: a", "both: b", f"find: found {tmp_path}"}
             <= set(d.output().splitlines()), what="the tasks' output",
             details=d.output)


def test_semicolon_outside_quotes_is_a_noted_comment(
        start_tendd, run_tendd, run_tendctl, write_manifest, tmp_path):
    path = write_manifest(f"""
        [task:find]
        class   = log-only
        command = /usr/bin/find {tmp_path} -maxdepth 0 -exec /bin/echo {{}} ;
        stdout  = null
        stderr  = console
        [task:sleep]
        class   = durable
        command = /bin/sleep 1000 ; or longer
        env     = A=1 ; one
        """)
    note = (f"{path}:3: note: command: text after ' ;' is a comment, not "
            f"part of the value: ';' (to keep it, quote it or write \\;)")
    notes = [
        note,
        f"{path}:8: note: command: text after ' ;' is a comment, not part "
        f"of the value: '; or longer' (to keep it, quote it or write \\;)",
        f"{path}:9: note: env: text after ' ;' is a comment, not part of "
        f"the value: '; one'",
    ]
    assert check(run_tendd, path) == (0, notes)

    # tendd runs what --check read, and says so on its stderr at start.
    d = start_tendd(path)
    pid = wait_state(run_tendctl, d, "sleep", "running")["pid"]
    wait_for(lambda: proc_list(pid, "cmdline") == ["/bin/sleep", "1000"],
             what="the exec", details=lambda: proc_list(pid, "cmdline"))
    assert "A=1" in proc_list(pid, "environ")
    assert d.log_lines()[:3] == notes
    wait_for(lambda: "find: /usr/bin/find: missing argument to `-exec'"
             in d.log_lines(), what="find's complaint", details=d.tail)

    # A reload logs the notes of the manifest it reads, as warnings.
    r = ctl(run_tendctl, d, "reload")
    assert r.returncode == 0, r
    d.wait_log("reload: " + re.escape(note), level="warning")

"""Faults of the manifest reader, includes and env files found in review
(issue 15), each seen failing before its fix."""

import os
import subprocess
import threading
import time

from conftest import wait_state


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def test_env_file_reads_quotes_as_systemd(start_tendd, run_tendctl, tmp_path):
    """Issue 15 point 4: "optional quotes as systemd reads them". systemd's
    EnvironmentFile takes a quote inside an unquoted value as itself
    (parse_env_file_internal, state VALUE), and skips blanks between quoted
    parts (state PRE_VALUE). tendd's parser makes A=it's an unterminated
    quote: the task never starts."""
    env = tmp_path / "app.env"
    env.write_text("GREETING=it's\nB=a\"b\"c\nC=\"x\" y\n")
    d = start_tendd(f"""
        [task:a]
        class = durable
        clear_env = yes
        env_file = {env}
        command = /bin/sleep 1000
        backoff_min = 10s
        """)
    pid = wait_state(run_tendctl, d, "a", "running", timeout=5)["pid"]
    got = environ_of(pid)
    assert "GREETING=it's" in got
    assert 'B=a"b"c' in got      # tend: B=abc
    assert "C=xy" in got         # tend: C=x y


def test_key_padded_past_libinih_buffer(run_tendd, write_manifest):
    """SPEC 3: a line of any length is never refused for libinih's buffer;
    a key aligned with many blanks before '=' is (only 197 bytes of the
    line, from the key, are given to libinih)."""
    path = write_manifest("[task:a]\nclass = log-only\n"
                          "command" + " " * 200 + "= /bin/true\n")
    r = run_tendd("--check", "-f", path)
    assert (r.returncode, r.stderr) == (0, "")


def test_include_swapped_for_fifo_blocks(tendd_bin, tmp_path):
    """include.c checks S_ISREG with stat(), manifest.c then fopen()s the
    path: a FIFO swapped in between blocks the reader in open(2) (at a
    reload, tendd's whole loop). Races a renamer against --check."""
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (tmp_path / "real.ini").write_text(
        "[task:x]\nclass = log-only\ncommand = /bin/true\n")
    os.mkfifo(tmp_path / "fifo")
    link = conf / "a.ini"
    os.symlink("../real.ini", link)
    manifest = tmp_path / "tend.ini"
    manifest.write_text("[tend]\ninclude = conf.d/*.ini\n")
    stop = threading.Event()

    def flip():
        tmp = conf / ".t"
        while not stop.is_set():
            for target in ("../fifo", "../real.ini"):
                os.symlink(target, tmp)
                os.replace(tmp, link)

    t = threading.Thread(target=flip)
    t.start()
    hung = False
    try:
        deadline = time.monotonic() + 10  # it hung within seconds
        while time.monotonic() < deadline and not hung:
            try:
                subprocess.run(
                    [str(tendd_bin), "--check",
                     "-f", str(manifest)],
                    stdin=subprocess.DEVNULL, capture_output=True,
                    timeout=2)
            except subprocess.TimeoutExpired:
                hung = True
    finally:
        stop.set()
        t.join()
    assert not hung, "tendd --check blocked opening a FIFO in conf.d"

"""file:PATH outputs resolved safely by root tendd (issue 13, point 2;
tend.ini(5)): PATH's directory walked a component at a time, a symbolic
link followed only in a directory root alone can write, an existing file
taken only when it is a regular file with one link, a device never
opened."""

import ctypes
import os
import pathlib
import pwd
import shutil
import stat
import struct
import subprocess
import tempfile

from conftest import TIMEOUT, ctl, task_of, wait_for, wait_state

VALGRIND = "valgrind" in os.environ.get("TENDD", "")
CTL_TIMEOUT = 30 if VALGRIND else 10  # seconds a tendctl may take
IN_OPEN = 0x20

# Writes a line every 0.1 s, so that tendd looks at its file every second.
TICKS = "sh -c 'i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done'"


def as_nobody(script, cwd):
    """Run sh -c script as nobody:nogroup with no other group, in cwd
    (entered as root: nobody need not reach it)."""
    r = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                        "--clear-groups", "sh", "-c", script], cwd=cwd,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r


def give_to_nobody(*paths):
    nobody = pwd.getpwnam("nobody")
    for p in paths:
        os.chown(p, nobody.pw_uid, nobody.pw_gid)
    return nobody


class Opens:
    """The files of directory opened (IN_OPEN; not O_PATH) since created."""

    def __init__(self, directory):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        assert libc.inotify_add_watch(self.fd, bytes(directory), IN_OPEN) >= 0

    def names(self):
        found = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return found
            i = 0
            while i < len(data):
                _, mask, _, size = struct.unpack_from("iIII", data, i)
                name = data[i + 16:i + 16 + size].rstrip(b"\0").decode()
                if mask & IN_OPEN:
                    found.append(name)
                i += 16 + size

    def close(self):
        os.close(self.fd)


def test_directory_swapped_for_a_link_by_the_task_user(start_tendd,
                                                       run_tendctl, tmp_path):
    """The reproduced attack: nobody owns a directory of PATH and swaps
    the next one for a symbolic link to a directory only root may write;
    tendd's once-a-second look neither creates a file there nor follows
    the link, logs why, and goes on writing to the file it has."""
    ud = tmp_path / "ud"
    sub = ud / "sub"
    target = tmp_path / "target"
    sub.mkdir(parents=True)
    target.mkdir(mode=0o700)
    nobody = give_to_nobody(ud, sub)
    log = sub / "app.log"
    d = start_tendd(f"""
        [task:app]
        class        = durable
        user         = nobody
        command      = {TICKS}
        stdout       = file:{log}
        log_max_size = 200
        log_backups  = 2
    """)
    wait_for(lambda: log.exists() and log.stat().st_size > 0,
             what="the log written")
    assert log.stat().st_uid == nobody.pw_uid
    as_nobody(f"mv sub sub.old && ln -s {target} sub", cwd=ud)
    d.wait_log(rf"^cannot reopen {log}: {sub} is a symbolic link in a "
               rf"directory that uid {nobody.pw_uid} can write \(not "
               r"followed\) \(task output lost\)$", level="err")
    moved = ud / "sub.old" / "app.log"
    ino = moved.stat().st_ino
    # Lines still go to the file tendd has, rotated where it is.
    wait_for(lambda: moved.stat().st_ino != ino,
             what="a rotation in the moved directory")
    wait_for(lambda: (ud / "sub.old" / "app.log.2").exists(),
             what="a second backup in the moved directory")
    assert list(target.iterdir()) == []
    assert d.alive()
    assert task_of(run_tendctl, d, "app")["state"] == "running"
    assert d.terminate(timeout=CTL_TIMEOUT) == 0


def test_directory_renamed_and_made_again(start_tendd, run_tendctl,
                                          tmp_path):
    """A directory of PATH renamed away and made again (as root): the
    path, walked anew, no longer names tendd's file, which is opened in
    the new directory."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    d = start_tendd(f"""
        [task:app]
        class   = durable
        command = {TICKS}
        stdout  = file:{log}
    """)
    wait_for(lambda: log.exists() and log.stat().st_size > 0,
             what="the log written")
    logs.rename(tmp_path / "logs.old")
    logs.mkdir()
    wait_for(lambda: log.exists() and log.stat().st_size > 0,
             what="app.log made in the new directory")
    size = (tmp_path / "logs.old" / "app.log").stat().st_size
    wait_for(lambda: log.stat().st_size > 200, what="more lines")
    assert (tmp_path / "logs.old" / "app.log").stat().st_size == size
    assert d.terminate(timeout=CTL_TIMEOUT) == 0


def test_link_planted_before_start_is_refused(start_tendd, run_tendctl,
                                              tmp_path):
    """A link already in the user's directory fails the spawn: nothing is
    created where it points."""
    ud = tmp_path / "ud"
    target = tmp_path / "target"
    ud.mkdir()
    target.mkdir(mode=0o700)
    nobody = give_to_nobody(ud)
    as_nobody(f"ln -s {target} logs", cwd=ud)
    log = ud / "logs" / "app.log"
    d = start_tendd(f"""
        [task:app]
        class   = log-only
        user    = nobody
        command = echo hello
        stdout  = file:{log}
    """)
    d.wait_log(rf"^task app: cannot open {log}: {ud}/logs is a symbolic "
               rf"link in a directory that uid {nobody.pw_uid} can write "
               r"\(not followed\)$", level="err")
    wait_state(run_tendctl, d, "app", "failed")
    assert list(target.iterdir()) == []


def test_links_in_root_only_directories_are_followed(start_tendd,
                                                     run_tendctl, tmp_path):
    """A symbolic link in a directory only root can write (as /var/run ->
    /run) is followed, absolute or relative, with "..", also as the
    target of another such link; the file is created where it points,
    for the task's user."""
    real = tmp_path / "real"
    links = tmp_path / "links"
    real.mkdir(mode=0o755)
    links.mkdir(mode=0o755)
    (links / "abs").symlink_to(real)
    (links / "rel").symlink_to("../real")
    (links / "chain").symlink_to(links / "rel")
    d = start_tendd(f"""
        [task:a]
        class   = log-only
        user    = nobody
        command = echo via abs
        stdout  = file:{links}/abs/a.log

        [task:b]
        class   = log-only
        command = echo via rel
        stdout  = file:{links}/rel/./b.log

        [task:c]
        class   = log-only
        command = echo via chain
        stdout  = file:{links}/chain/../real/c.log
    """)
    for name in "abc":
        wait_state(run_tendctl, d, name, "done")
    assert (real / "a.log").read_text() == "via abs\n"
    assert (real / "b.log").read_text() == "via rel\n"
    assert (real / "c.log").read_text() == "via chain\n"
    assert (real / "a.log").stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert stat.S_IMODE((real / "a.log").stat().st_mode) == 0o640


def test_hard_linked_file_is_refused(start_tendd, run_tendctl, tmp_path):
    """An existing PATH with a second hard link (a file of root's linked
    where protected_hardlinks is off) is neither written nor opened."""
    secret = tmp_path / "secret"
    secret.write_text("root's\n")
    log = tmp_path / "h.log"
    os.link(secret, log)
    opens = Opens(tmp_path)
    try:
        d = start_tendd(f"""
            [task:h]
            class   = log-only
            command = echo x
            stdout  = file:{log}
        """)
        d.wait_log(rf"^task h: cannot open {log}: 2 hard links \(taken "
                   r"only with one\)$", level="err")
        wait_state(run_tendctl, d, "h", "failed")
        assert not {"h.log", "secret"} & set(opens.names())
        assert secret.read_text() == "root's\n"
    finally:
        opens.close()


def test_device_and_fifo_are_refused(start_tendd, run_tendctl, tmp_path):
    """A device or a FIFO at PATH is refused without being opened (opening
    some devices has side effects; a FIFO's reader would see a writer).
    tendd answers meanwhile."""
    dev = tmp_path / "d.log"
    fifo = tmp_path / "f.log"
    os.mknod(dev, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # as /dev/null
    os.mkfifo(fifo)
    opens = Opens(tmp_path)
    try:
        d = start_tendd(f"""
            [task:d]
            class   = log-only
            command = echo x
            stdout  = file:{dev}

            [task:f]
            class   = log-only
            command = echo x
            stdout  = file:{fifo}
        """)
        d.wait_log(rf"^task d: cannot open {dev}: not a regular file$",
                   level="err")
        d.wait_log(rf"^task f: cannot open {fifo}: not a regular file$",
                   level="err")
        for name in "df":
            wait_state(run_tendctl, d, name, "failed")
        # 3: log-only tasks failed; tendd answered.
        assert ctl(run_tendctl, d, "status",
                   timeout=CTL_TIMEOUT).returncode == 3
        assert "d.log" not in opens.names()
        assert "f.log" not in opens.names()
    finally:
        opens.close()


def test_a_tendd_not_root_follows_links_of_its_own(tendd_bin):
    """A tendd run as nobody, whose log directory is a link nobody made in
    a directory of its own: followed (the task writes as nobody anyway)."""
    # Not under tmp_path: nobody cannot reach pytest's directories.
    home = pathlib.Path(tempfile.mkdtemp(prefix="tend-nobody-", dir="/tmp"))
    try:
        (home / "real").mkdir()
        (home / "logs").symlink_to(home / "real")
        manifest = home / "tend.ini"
        manifest.write_text(f"""
[tend]
control_socket = {home}/tend.sock
[task:a]
class   = log-only
command = echo written
stdout  = file:{home}/logs/a.log
""")
        give_to_nobody(home, home / "real", manifest)
        os.lchown(home / "logs", pwd.getpwnam("nobody").pw_uid, -1)
        p = subprocess.Popen(["setpriv", "--reuid", "nobody", "--regid",
                              "nogroup", "--clear-groups", tendd_bin, "-e",
                              "-f", manifest], stderr=subprocess.PIPE,
                             text=True)
        try:
            wait_for(lambda: (home / "real/a.log").exists() and
                     (home / "real/a.log").read_text() == "written\n",
                     what="a.log written through the link")
        finally:
            p.terminate()
            err = p.communicate(timeout=TIMEOUT)[1]
        assert p.returncode == 0, err
        assert "not followed" not in err, err
    finally:
        shutil.rmtree(home)

"""include = GLOB (SPEC section 3): files read after the manifest, each
glob's matches sorted, each file once, [task:NAME] sections only, their
problems at their own FILE:LINE, in tendd --check, at start and in
tendctl reload; a reload re-reads every file.

Every wait is bounded polling (conftest.wait_for), so the tests also pass
with tendd under valgrind.
"""

import os
import re
import textwrap

from conftest import ctl, status, wait_for, wait_state


def ini(text):
    return textwrap.dedent(text).lstrip("\n")


def sleeper(name, n):
    return ini(f"""
        [task:{name}]
        class   = durable
        command = sleep {n}
        """)


def layout(tmp_path, main, files):
    """tmp_path/tend.ini holding main, and conf.d/NAME holding each text of
    files ({NAME: text}); returns the manifest's path."""
    confd = tmp_path / "conf.d"
    confd.mkdir(exist_ok=True)
    for name, text in files.items():
        (confd / name).write_text(ini(text))
    path = tmp_path / "tend.ini"
    path.write_text(main)
    return path


MAIN = ini("""
    [tend]
    include = conf.d/*.ini
    """)


def names(run_tendctl, d):
    return [t["name"] for t in status(run_tendctl, d)["tasks"]]


def check(run_tendd, path, cwd=None):
    """(exit status, stderr lines) of tendd --check -f path."""
    r = run_tendd("--check", "-f", path, cwd=cwd)
    assert r.stdout == "", r
    return r.returncode, r.stderr.splitlines()


def reload(run_tendctl, d):
    r = ctl(run_tendctl, d, "reload")
    assert (r.returncode, r.stderr) == (0, ""), (r, d.tail())
    return r.stdout.splitlines()


def test_conf_d_sorted_after_main(start_tendd, run_tendctl, tmp_path):
    """Two files of conf.d, written out of order, are read sorted and after
    the manifest's own tasks; a file that does not match the glob is not
    read; their tasks run."""
    path = layout(tmp_path, MAIN + sleeper("main", 1001), {
        "20-web.ini": sleeper("web", 1003),
        "10-db.ini": sleeper("db", 1002) + sleeper("cache", 1004),
        "README": "not an ini file at all\n",
    })
    d = start_tendd(path)
    for name in ("main", "db", "cache", "web"):
        wait_state(run_tendctl, d, name, "running")
    assert names(run_tendctl, d) == ["main", "db", "cache", "web"]
    assert d.terminate() == 0


def test_glob_matching_nothing(run_tendd, tmp_path):
    """A glob that matches nothing (an empty directory, or one that does not
    exist) is no error; a path without a wildcard that names no file is."""
    (tmp_path / "empty.d").mkdir()
    path = layout(tmp_path, ini("""
        [tend]
        include = empty.d/*.ini
        include = missing.d/*.ini
        include = /nonexistent/tend.d/*.ini
        """) + sleeper("a", 1001), {})
    assert check(run_tendd, path) == (0, [])
    path.write_text(path.read_text() + "[tend]\ninclude = extra.ini\n")
    rc, err = check(run_tendd, path)
    assert rc == 1, err
    assert err == [f"{path}:8: duplicate section [tend] (first at line 1)",
                   f"{path}:9: include = extra.ini: "
                   "No such file or directory"], err


def test_included_tend_section_refused(run_tendd, tmp_path):
    """[tend], or any section but [task:NAME], in an included file is an
    error at the included file's FILE:LINE."""
    path = layout(tmp_path, MAIN, {
        "a.ini": """
            [task:a]
            class   = durable
            command = sleep 1001

            [tend]
            stop_timeout = 5s
            [other]
            """,
    })
    a = tmp_path / "conf.d" / "a.ini"
    rc, err = check(run_tendd, path)
    assert rc == 1, err
    assert err == [
        f"{a}:5: [tend] in an included file, which holds [task:NAME] "
        "sections only",
        f"{a}:7: [other] in an included file, which holds [task:NAME] "
        "sections only"], err


def test_duplicate_across_files(run_tendd, tmp_path):
    """A task name defined in two files: an error at the second, naming the
    first place."""
    path = layout(tmp_path, MAIN + "\n" + sleeper("web", 1001), {
        "a.ini": "; web again\n\n" + sleeper("web", 1002),
        "b.ini": sleeper("db", 1003) + sleeper("db", 1004),
    })
    confd = tmp_path / "conf.d"
    rc, err = check(run_tendd, path)
    assert rc == 1, err
    assert err == [
        f"{confd}/a.ini:3: task web: already defined at {path}:4",
        f"{confd}/b.ini:4: duplicate task 'db' (first at line 1)"], err


def test_bad_value_in_included_file(run_tendd, start_tendd, run_tendctl,
                                    tmp_path):
    """A bad value in an included file is reported at its own FILE:LINE:
    by --check (relative to the manifest's directory when the manifest is
    named relatively), at start, and by tendctl reload, which changes
    nothing."""
    bad = """
        [task:b]
        class   = durable
        command = sleep 1002
        stop_timeout = soon
        """
    path = layout(tmp_path, MAIN + sleeper("a", 1001), {"b.ini": bad})
    rc, err = check(run_tendd, path)
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith(f"{tmp_path}/conf.d/b.ini:4: stop_timeout = "
                             "soon: "), err
    rc, err = check(run_tendd, "tend.ini", cwd=tmp_path)
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith("conf.d/b.ini:4: stop_timeout = soon"), err
    # At start: the same, and tendd exits 1.
    d = start_tendd(path)
    assert d.wait() == 1
    assert f"{tmp_path}/conf.d/b.ini:4: stop_timeout = soon" in d.tail()
    # At reload: printed by tendctl, nothing changes.
    (tmp_path / "conf.d" / "b.ini").write_text(ini(sleeper("b", 1002)))
    d = start_tendd(path)
    a = wait_state(run_tendctl, d, "a", "running")
    b = wait_state(run_tendctl, d, "b", "running")
    (tmp_path / "conf.d" / "b.ini").write_text(ini(bad))
    r = ctl(run_tendctl, d, "reload")
    assert (r.returncode, r.stdout) == (1, ""), r
    problems = r.stderr.splitlines()
    assert len(problems) == 1, r
    assert problems[0].startswith(f"{tmp_path}/conf.d/b.ini:4: "
                                  "stop_timeout = soon"), r
    now = {t["name"]: t["pid"] for t in status(run_tendctl, d)["tasks"]}
    assert now == {"a": a["pid"], "b": b["pid"]}
    assert d.terminate() == 0


def test_reload_added_and_removed_file(start_tendd, run_tendctl, tmp_path):
    """A reload re-reads the directory: a file dropped in adds its task
    (seen by --dry-run too), a file removed removes its task, a file
    changed restarts its task; the others keep their pid."""
    path = layout(tmp_path, MAIN + sleeper("main", 1001),
                  {"a.ini": sleeper("a", 1002)})
    confd = tmp_path / "conf.d"
    d = start_tendd(path)
    main = wait_state(run_tendctl, d, "main", "running")
    a = wait_state(run_tendctl, d, "a", "running")
    (confd / "b.ini").write_text(ini(sleeper("b", 1003)))
    r = ctl(run_tendctl, d, "reload", "--dry-run")
    assert (r.returncode, r.stdout) == (0, "added b\n"), r
    assert names(run_tendctl, d) == ["main", "a"]
    assert reload(run_tendctl, d) == ["added b"]
    assert names(run_tendctl, d) == ["main", "a", "b"]
    b = wait_state(run_tendctl, d, "b", "running")
    (confd / "a.ini").unlink()
    assert reload(run_tendctl, d) == ["removed a"]
    assert names(run_tendctl, d) == ["main", "b"]
    wait_for(lambda: not os.path.exists(f"/proc/{a['pid']}"),
             what="a's process to be gone", details=d.tail)
    (confd / "b.ini").write_text(ini(sleeper("b", 2003)))
    assert reload(run_tendctl, d) == ["restarted b"]
    now = {t["name"]: t["pid"] for t in status(run_tendctl, d)["tasks"]}
    assert now["main"] == main["pid"] and now["b"] != b["pid"], now
    assert d.terminate() == 0


def test_same_file_read_once(run_tendd, start_tendd, run_tendctl, tmp_path):
    """A file matched by two globs, through a symlink, or the manifest
    itself matched by a glob, is read once: no duplicate task."""
    path = layout(tmp_path, ini("""
        [tend]
        include = conf.d/*.ini
        include = conf.d/a.*
        include = link.d/*.ini
        include = *.ini
        """) + sleeper("main", 1001), {"a.ini": sleeper("a", 1002)})
    (tmp_path / "link.d").mkdir()
    (tmp_path / "link.d" / "same.ini").symlink_to(
        tmp_path / "conf.d" / "a.ini")
    assert check(run_tendd, path) == (0, [])
    d = start_tendd(path)
    wait_state(run_tendctl, d, "a", "running")
    assert names(run_tendctl, d) == ["main", "a"]
    assert d.terminate() == 0


def test_after_across_files(run_tendd, tmp_path):
    """after = may name a task of another file; an unknown name is reported
    at the included file's FILE:LINE."""
    path = layout(tmp_path, MAIN + sleeper("db", 1001), {
        "web.ini": sleeper("web", 1002) + "after = db\n",
        "bad.ini": sleeper("bad", 1003) + "after = nosuch\n",
    })
    rc, err = check(run_tendd, path)
    assert rc == 1, err
    assert err == [f"{tmp_path}/conf.d/bad.ini:4: task bad: after: "
                   "no task named 'nosuch'"], err


def test_bounded(run_tendd, tmp_path):
    """At most 1000 included files: beyond, an error at the include line."""
    confd = tmp_path / "conf.d"
    confd.mkdir()
    for i in range(1001):
        (confd / f"{i:04}.ini").write_text("; empty\n")
    path = layout(tmp_path, MAIN, {})
    rc, err = check(run_tendd, path)
    assert rc == 1, err
    assert len(err) == 1 and re.fullmatch(
        re.escape(f"{path}:2: include = conf.d/*.ini: more than 1000 ") +
        ".*", err[0]), err

"""A shared folder prepared by an attacker or a careless admin: links out of it, odd file names.

Ingest reads only regular files inside the folders it was given; every link out of them,
dangling link and special file gets a one-line reason, and no file name the OS can hold
stops the folder.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.conftest import REPORTS
from tests.reliability import tally

SECRET = "绝密口令甲乙丙丁"
BEILIU = next(p for p in REPORTS.iterdir() if p.name.startswith("北留镇"))
JIUYUAN = next(p for p in REPORTS.iterdir() if p.name.startswith("旧院镇"))


def run(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def linked(tmp_path):
    """A report folder whose links point at files and folders outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"青石镇内部资料\n\n管理员口令：{SECRET}。\n", encoding="utf-8")
    (outside / "more").mkdir()
    (outside / "more" / "secret2.md").write_text(f"# 机密\n\n{SECRET}\n", encoding="utf-8")
    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(BEILIU, folder / BEILIU.name)
    (folder / "passwd.txt").symlink_to("/etc/passwd")
    (folder / "shadow.md").symlink_to(outside / "secret.txt")
    (folder / "relative.txt").symlink_to(os.path.join("..", "outside", "secret.txt"))
    (folder / "more").symlink_to(outside / "more", target_is_directory=True)
    (folder / "gone.txt").symlink_to(folder / "no-such-file.txt")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "same.txt").symlink_to(folder / BEILIU.name)  # inside the folder: allowed
    os.mkfifo(folder / "pipe.txt")  # reading it would block the ingest forever
    return folder


def test_links_out_of_the_folder_are_refused(linked, tmp_path):
    db = tmp_path / "db"
    code, out, err = run("ingest", linked, "--db", db, "--json")
    assert code == 0, err
    report = json.loads(out)
    errors = {os.path.basename(e["path"]): e["error"] for e in report["errors"]}
    for name in ("passwd.txt", "shadow.md", "relative.txt", "more"):
        assert "之外" in errors[name] and "\n" not in errors[name], (name, errors)
    assert "失效" in errors["gone.txt"]
    assert "普通文件" in errors["pipe.txt"]
    assert "loop" not in errors  # a link back into the folder is not an error (and is not followed)
    assert report["documents"] == 1 and report["skipped"] == 1  # same.txt: same bytes as the report

    code, out, _ = run("search", SECRET, "--k", "5", "--json", "--db", db)
    assert code == 0 and SECRET not in out and "root:" not in out
    code, out, _ = run("docs", "--json", "--db", db)
    assert [d["town"] for d in json.loads(out)] == ["北留镇"]
    tally.record("hostile links and special files", faults=7)


def test_a_named_link_is_what_the_user_chose(linked, tmp_path):
    """A path given on the command line is trusted, even through a link; a device is not a report."""
    db = tmp_path / "db"
    code, out, err = run("ingest", linked / "same.txt", "/dev/null", "--db", db, "--json")
    report = json.loads(out)
    assert code == 0 and report["documents"] == 1, err
    assert [e["path"] for e in report["errors"]] == ["/dev/null"] and "普通文件" in report["errors"][0]["error"]
    tally.record("hostile links and special files", faults=1)


def _bytes_name(folder, name: bytes):
    return os.path.join(os.fsencode(folder), name)


def test_any_file_name_the_os_gives_is_handled(tmp_path):
    folder = tmp_path / "unzipped"
    folder.mkdir()
    # A zip made on Chinese Windows unpacks with GBK bytes in names, which are not UTF-8.
    bad_report = _bytes_name(folder, "北留镇报告".encode("gbk") + b".txt")
    shutil.copy(BEILIU, bad_report)
    raw = _bytes_name(folder, b"\xff\xfex.docx")
    with open(raw, "wb") as handle:
        handle.write(b"PK\x03\x04broken")
    sub = _bytes_name(folder, b"\xc3\x28dir")  # an invalid UTF-8 folder name
    os.mkdir(sub)
    shutil.copy(JIUYUAN, os.path.join(sub, "旧院镇.txt".encode()))
    with open(_bytes_name(folder, b"notes\xe9.xls"), "wb") as handle:
        handle.write(b"x")

    db = tmp_path / "db"
    code, out, err = run("ingest", folder, "--db", db, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["documents"] == 2, report
    bad = {e["path"].rsplit("/", 1)[-1]: e["error"] for e in report["errors"]}
    assert set(bad) == {"\ufffd\ufffdx.docx", "notes\ufffd.xls"}, bad
    assert "Word" in bad["\ufffd\ufffdx.docx"]

    code, out, err = run("ingest", folder, "--db", db, "--json", "--prune")
    again = json.loads(out)
    assert code == 0 and again["skipped"] == 2 and again["pruned"] == 0, (again, err)
    code, out, err = run("docs", "--json", "--db", db)
    assert code == 0, err
    assert sorted(d["town"] for d in json.loads(out)) == ["北留镇", "旧院镇"]
    code, out, err = run("docs", "--db", db)  # the plain listing prints paths too
    assert code == 0, err

    os.remove(bad_report)
    code, out, err = run("ingest", folder, "--db", db, "--json", "--prune")
    assert code == 0 and json.loads(out)["pruned"] == 1, err
    tally.record("undecodable file names", faults=4)

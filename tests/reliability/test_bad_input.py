"""Bad input never crashes ingest or loses what is indexed; every rejected file has a one-line reason."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.conftest import REPORTS, seed_embedding_cache
from tests.reliability import tally

BEILIU_2023 = """北发〔2024〕2号

中共北留镇委员会
北留镇人民政府
2023年法治政府建设工作情况的报告

一年来，北留镇深入贯彻落实习近平法治思想，现将本年度法治政府建设工作总结如下：

一、主要举措和成效

全年办理行政处罚案件 9 起，罚款 5.2 万元；开展普法宣传8次，发放普法资料3000余份。

二、存在问题短板

执法人员专业培训不足，执法力度偏软。

中共北留镇委员会

2024年1月18日
"""


def ingest(paths, db, *extra):
    result = CliRunner().invoke(cli, ["ingest", *map(str, paths), "--db", str(db), "--json", *extra])
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """The demo corpus plus everything an office's shared folder holds."""
    folder = tmp_path_factory.mktemp("messy")
    shutil.copytree(REPORTS, folder / "reports")
    bad = folder / "reports"
    (bad / "空.txt").write_bytes(b"")
    (bad / "假文本.txt").write_bytes(b"\x00\x01\x02\xff" * 1000)
    (bad / "坏的.docx").write_bytes(b"PK\x03\x04broken")
    (bad / "截断.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    (bad / "图片.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    with open(bad / "巨大.txt", "wb") as handle:  # sparse: 51 MB on paper, nothing on disk
        handle.seek(51 * 1024 * 1024)
        handle.write(b"\n")
    (bad / "长行.txt").write_text(
        "青石镇2024年工作总结\n\n" + "青石镇开展法治宣传活动。" * 20000 + "\n", encoding="utf-8"
    )
    (bad / "GBK编码.txt").write_bytes(
        "柳河镇2024年法治建设总结\n\n一、成效\n\n柳河镇调解矛盾纠纷12起。\n".encode("gbk")
    )
    (bad / "UTF16.txt").write_bytes(
        "白桦镇2024年法治建设总结\n\n一、成效\n\n白桦镇发放宣传资料800余份。\n".encode("utf-16")
    )
    (bad / "无镇名.txt").write_text(
        "2024年度工作总结\n\n一、成效\n\n全年开展法治讲座3次，效果良好。\n", encoding="utf-8"
    )
    shutil.copy(next(REPORTS.glob("北留镇*")), bad / "北留镇-副本.txt")
    (bad / "北留镇2023.txt").write_text(BEILIU_2023, encoding="utf-8")
    return bad


def test_messy_folder_ingests_what_it_can(messy, tmp_path, demo_db):
    seed_embedding_cache(tmp_path / "db", demo_db)  # the demo reports' vectors: this test is about the bad files
    code, report = ingest([messy], tmp_path / "db")
    assert code == 0
    errors = {e["path"].rsplit("/", 1)[-1]: e["error"] for e in report["errors"]}
    assert errors["空.txt"] == "文件为空"
    assert "不是文本文件" in errors["假文本.txt"]
    assert "Word 文件损坏" in errors["坏的.docx"]
    assert "PDF" in errors["截断.pdf"]
    assert "不支持的文件类型" in errors["图片.jpg"]
    assert "文件过大" in errors["巨大.txt"]
    assert all("\n" not in e and "Traceback" not in e for e in errors.values())
    # 5 demo + 长行 + GBK + UTF-16 + 无镇名 + 北留镇2023; the copy is the same bytes: skipped.
    assert report["documents"] == 10 and report["skipped"] == 1
    assert any("未能从文档内容中识别镇名" in w["warning"] for w in report["warnings"])
    tally.record("bad input files", faults=len(errors) + 5)

    docs = json.loads(CliRunner().invoke(cli, ["docs", "--db", str(tmp_path / "db"), "--json"]).stdout)
    towns = {d["town"] for d in docs}
    assert {"柳河镇", "白桦镇", "青石镇"} <= towns
    beiliu = sorted((d["year"], d["doc_number"]) for d in docs if d["town"] == "北留镇")
    assert beiliu == [(2023, "北发〔2024〕2号"), (2024, "北发〔2025〕4号")]


def test_two_years_of_one_town_are_both_kept_and_cited_by_year(messy, tmp_path):
    from assistant.service import Assistant
    from assistant.settings import Settings

    assistant = Assistant(Settings(db=str(tmp_path / "db")))
    assistant.ingest([next(REPORTS.glob("北留镇*")), messy / "北留镇2023.txt"])
    older = assistant.ask("北留镇2023年罚款多少？")
    newer = assistant.ask("北留镇2024年行政处罚罚款金额是多少？")
    assert "5.2" in older.answer and "〔北留镇（2023年） ·" in older.answer
    assert "11.88" in newer.answer and "〔北留镇（2024年） ·" in newer.answer
    assert older.citations[0].year == 2023
    tally.record("multi-year reports", faults=1)


def test_failed_reingest_keeps_the_previous_version(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    target = folder / "北留镇.txt"
    shutil.copy(next(REPORTS.glob("北留镇*")), target)
    db = tmp_path / "db"
    ingest([folder], db)
    target.write_bytes(b"\x00\x00binary garbage now")
    code, report = ingest([folder], db)
    assert code == 1 and report["documents"] == 0
    hits = json.loads(CliRunner().invoke(cli, ["search", "北留镇罚款", "--db", str(db), "--json"]).stdout)
    assert "11.88" in hits[0]["text"]  # the previous version still answers
    tally.record("corrupted re-ingest", faults=1)

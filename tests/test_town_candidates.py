"""Per-town candidates by meaning: the chunk-vector matrix (vectorstore/chunk_vectors.py) and its use."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.fusion import CANDIDATE_FEATURES
from vectorstore.chunk_vectors import VECTORS_FILE, ChunkVectors, chunk_vectors


def test_similarity_is_the_best_covering_chunks():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    # Rows: 0 ← chunks 0 and 2; 1 ← none; 2 ← chunk 1.
    matrix = ChunkVectors.compute(
        ["p0", "p1", "p2"],
        {"c0": ("p0",), "c1": ("p2",), "c2": ("p0", "gone")},
        {"c0": "k0", "c1": "k1", "c2": "k2"},
        lambda keys: {k: vectors[int(k[1])] for k in keys},
    )
    sims = matrix.similarities(np.array([0.0, 2.0]))  # not unit length: normalised
    assert sims.tolist() == pytest.approx([0.8, 0.0, 1.0])
    assert matrix.rows == 3


def test_a_chunk_vector_missing_from_the_cache_is_an_error():
    with pytest.raises(ValueError, match="missing"):
        ChunkVectors.compute(["p0"], {"c0": ("p0",)}, {"c0": "k0"}, lambda keys: {})


def test_ingest_saves_the_matrix_and_it_scores_as_chroma_does(demo):
    kb = demo.kb
    path = kb.dir / VECTORS_FILE
    assert path.exists()
    saved = ChunkVectors.load(path, kb.catalog.get_state("generation", "0"), len(kb.row_ids))
    assert saved is not None and not saved.vectors.flags.writeable  # memory-mapped, read-only
    assert saved.vectors.dtype == np.float32 and saved.vectors.shape == (kb.store.count(), kb.embedder.dim)
    question = kb.embedder.embed(["哪些镇开展了法律明白人培训？"], "query")[0]
    sims = saved.similarities(question)
    row = {pid: r for r, pid in enumerate(kb.row_ids)}
    hits = kb.store.query(question, 20)
    assert hits
    for hit in hits:
        best = max(sims[row[pid]] for pid in kb.chunk_paragraphs[hit.chunk_id])
        assert best >= hit.similarity - 1e-4  # a paragraph's is its best covering chunk's
        for pid in kb.chunk_paragraphs[hit.chunk_id]:
            assert sims[row[pid]] >= hit.similarity - 1e-4


def test_an_older_knowledge_base_computes_the_same_matrix_in_memory(fresh_copy):
    from assistant.service import Assistant
    from assistant.settings import Settings

    kb = Assistant(Settings(db=str(fresh_copy))).kb
    saved = chunk_vectors(kb)
    (fresh_copy / VECTORS_FILE).unlink()
    computed = chunk_vectors(kb)
    assert computed is not None and computed.vectors.flags.writeable  # computed, not read
    assert np.array_equal(np.asarray(saved.vectors), computed.vectors)
    assert np.array_equal(np.asarray(saved.pair_chunk), computed.pair_chunk)
    assert np.array_equal(np.asarray(saved.row_starts), computed.row_starts)
    assert not (fresh_copy / VECTORS_FILE).exists()  # the query side writes nothing
    stale = ChunkVectors.load(fresh_copy / "nothing.npz", "0", len(kb.row_ids))
    assert stale is None


def test_every_town_gets_candidates_by_meaning(demo):
    retriever = demo.retriever
    query = retriever.understand("哪些地方在帮老百姓打官司方面下了功夫？")  # the reports' words are others
    topic = retriever.topic(query)
    found = retriever._candidates(query, topic, None, 1, per_town=1, with_evidence=True, meaning_per_town=2)
    towns = {demo.kb.paragraphs[pid].town for pid in found.fused}
    assert towns == set(demo.kb.towns())
    assert set(found.dense) == set(found.lexical)  # every candidate carries its similarity
    # One Chroma chunk alone reaches one town at most.
    chroma = retriever._candidates(query, topic, None, 1, per_town=1, with_evidence=True)
    assert len(chroma.dense) < len(found.dense)


def test_town_by_town_reads_the_matrix_not_chroma(demo, monkeypatch):
    retriever = demo.retriever
    query = retriever.understand("哪些镇提到了执法力量薄弱？")
    topic = retriever.topic(query)

    def no_chroma(*args, **kwargs):
        raise AssertionError("the capped Chroma query is not needed for a cross-town question")

    monkeypatch.setattr(retriever.dense_signal, "search", no_chroma)
    result = retriever.town_by_town(query, 5, topic)
    assert any(m.matched for m in result.towns)
    dense_z = CANDIDATE_FEATURES.index("dense_z")
    assert all(not np.isnan(m.features[:, dense_z]).all() for m in result.towns)  # known in every town


def test_the_meaning_signal_gives_each_town_its_nearest(demo):
    from assistant.signals import Scope, TopicQuery

    retriever = demo.retriever
    query = retriever.understand("哪些镇提到了执法力量薄弱？")
    asked = TopicQuery(query, retriever.topic(query))
    scope = Scope(towns=None, docs=None, rows=np.ones(len(retriever.row_ids), dtype=bool))
    hits = retriever.meaning_signal.search(asked, scope, 2)
    similarity = retriever.meaning_signal.similarities(asked, scope)
    by_town: dict[str, list[float]] = {}
    for hit in hits:
        by_town.setdefault(demo.kb.paragraphs[hit.id].town, []).append(hit.score)
    assert set(by_town) == set(demo.kb.towns()) and all(len(v) == 2 for v in by_town.values())
    for town, scores in by_town.items():
        rows = [r for r, pid in enumerate(retriever.row_ids) if demo.kb.paragraphs[pid].town == town]
        assert scores == sorted(similarity[rows].tolist(), reverse=True)[:2]

"""Fusion, the town decision and the signal contract of retrieval."""

from __future__ import annotations

import numpy as np

from assistant.fusion import EXACT_BONUS, SignalHit, TownDecision, decide_towns, fuse, relevance
from assistant.signals import Scope, TopicQuery


def test_fusion_ranks_by_reciprocal_rank_and_puts_verbatim_quotes_first():
    fused = fuse([[("a", 5.0), ("b", 4.0)], [("b", 0.9), ("c", 0.8)]], exact={"d"})
    assert list(fused) == ["d", "b", "a", "c"] and fused["d"] == EXACT_BONUS


def test_relevance_blends_coverage_and_similarity():
    assert relevance(0.0, 0.0) == 0.0 and relevance(1.0, 0.0) == 0.65 and relevance(0.0, 0.99) == 0.35
    assert relevance(0.5, 0.85) == 0.65 * 0.5 + 0.35 * 0.5


def test_town_decision_needs_support_and_a_share_of_the_best_town():
    town = {"a1": "甲", "a2": "甲", "b1": "乙", "c1": "丙"}
    rel = {"a1": 0.2, "a2": 0.9, "b1": 0.5, "c1": 0.1}
    supported = {"a1", "b1", "c1"}
    decided = decide_towns(["a1", "a2", "b1", "c1"], town.get, rel.get, supported.__contains__, threshold=0.5)
    assert decided == [
        TownDecision("乙", True, 0.5, ("b1",)),
        TownDecision("甲", False, 0.2, ("a1",)),  # a2 does not support it; its lead a1 is below half of 乙
        TownDecision("丙", False, 0.1, ("c1",)),
    ]


def test_signals_rank_within_their_scope(demo):
    retriever = demo.retriever
    query = retriever.understand("北留镇执法力量薄弱")
    topic = retriever.topic(query)
    rows = np.array([demo.kb.paragraphs[pid].town == "北留镇" for pid in retriever.row_ids])
    scope = Scope(towns=["北留镇"], docs=None, rows=rows)
    asked = TopicQuery(query, topic)
    for signal, k in ((retriever.bm25_signal, 3), (retriever.dense_signal, 10), (retriever.evidence_signal, 2)):
        hits = signal.search(asked, scope, k)
        assert hits, type(signal).__name__
        assert all(isinstance(h, SignalHit) and h.signal == type(signal).__name__.lower() for h in hits)
        assert all(demo.kb.paragraphs[h.id].town == "北留镇" for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert retriever.exact_signal.search(asked, scope) == []  # too short to count as a quote


def test_document_frequencies_are_the_catalogues_and_agree_with_bm25(demo):
    """The catalogue owns the rows and the term frequencies; BM25 scores a paragraph iff it holds the term."""
    kb, retriever = demo.kb, demo.retriever
    assert retriever.row_ids == kb.row_ids == kb.catalog.paragraph_ids()
    terms = ["执法", "普法", "法治", "北留镇", "不存在的词"]
    df = kb.term_frequencies(terms)
    for term in terms:
        assert df[term] == int(np.count_nonzero(retriever.bm25_scores([term]))), term
    assert df["不存在的词"] == 0 and df["普法"] > 0

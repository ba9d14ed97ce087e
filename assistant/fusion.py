"""Fusing retrieval signals and deciding towns: pure functions over ranked paragraph ids, with every weight named.

The retriever (:mod:`assistant.retrieve`) runs the signals — BM25 over every paragraph, one dense
(Chroma) query, sentence-level lexical evidence, verbatim phrase matches — each giving paragraph
ids best first. Here they are combined (:func:`fuse`), blended into one relevance per paragraph
(:func:`relevance`) and, for town-by-town questions, turned into one decision per town
(:func:`decide_towns`).

Weights (module constants, each documented where it is defined):

======================  =======  ====================================================================
name                    value    role
======================  =======  ====================================================================
``RRF_K``               60       reciprocal-rank-fusion constant: 1 / (RRF_K + rank) per signal
``EXACT_BONUS``         1.0      added to a paragraph quoting the question verbatim (outranks all)
``DENSE_ZERO``          0.75     cosine similarity counted as no dense evidence at all
``DENSE_SPAN``          0.2      similarity above DENSE_ZERO that counts as full dense evidence
``COVERAGE_SHARE``      0.65     share of lexical coverage in a paragraph's relevance
``DENSE_SHARE``         0.35     share of dense evidence in a paragraph's relevance
``TOWN_PASSAGES``       3        paragraphs a matched town shows (and among which its lead is sought)
======================  =======  ====================================================================

The retriever's own settings (candidates per town, the town threshold, the coverage bar, the
dense floor) are the documented arguments of :class:`assistant.retrieve.HybridRetriever`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

RRF_K = 60
"""Reciprocal-rank-fusion constant (the usual 60: later ranks still count, the top ranks dominate)."""
EXACT_BONUS = 1.0
"""Fused-score bonus of a paragraph that contains the question verbatim: more than any fused score (≤ 3/61)."""
DENSE_ZERO = 0.75
"""Cosine similarity at or below which the dense signal says nothing (e5 puts unrelated Chinese text near 0.75-0.8)."""
DENSE_SPAN = 0.2
"""Similarity above :data:`DENSE_ZERO` that counts as full dense evidence (0.95: a near paraphrase)."""
COVERAGE_SHARE = 0.65
"""Share of lexical coverage in :func:`relevance`: the words of the question weigh more than similarity."""
DENSE_SHARE = 0.35
"""Share of dense evidence in :func:`relevance` (with :data:`COVERAGE_SHARE`, sums to 1)."""
TOWN_PASSAGES = 3
"""Paragraphs a matched town shows; its lead (the supporting paragraph) is sought among its best this many."""


class SignalHit(NamedTuple):
    """One paragraph a retrieval signal found.

    A named tuple, not :class:`assistant.retrieve.Hit` (the answer-facing record with the
    paragraph's text): a which-towns question over 2,000 towns has ~8,000 signal hits, and
    building that many frozen dataclasses cost tens of milliseconds.

    Attributes:
        id: Paragraph id (a row of the catalogue, :attr:`vectorstore.kb.KnowledgeBase.row_ids`).
        score: The signal's score (higher is better; scales differ between signals).
        signal: Which signal: ``bm25``, ``dense``, ``evidence`` or ``exact``.
    """

    id: str
    score: float
    signal: str


Ranking = Sequence[SignalHit]
"""A signal's hits, best first."""


def fuse(rankings: Iterable[Ranking], exact: Iterable[str] = (), rrf_k: int = RRF_K) -> dict[str, float]:
    """Reciprocal-rank fusion of several signals' hits, verbatim matches on top; best first.

    Args:
        rankings: Each signal's hits, best first (:class:`SignalHit`, or any sequence whose
            first item is the paragraph id).
        exact: Paragraphs quoting the question verbatim.
        rrf_k: Reciprocal-rank-fusion constant.

    >>> fuse([[SignalHit("a", 9.0, "bm25"), SignalHit("b", 1.0, "bm25")], [SignalHit("b", 0.9, "dense")]], exact=["c"])
    {'c': 1.0, 'b': 0.03252247488101534, 'a': 0.01639344262295082}
    """
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            pid = hit[0]
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (rrf_k + rank + 1)
    for pid in exact:
        fused[pid] = fused.get(pid, 0.0) + EXACT_BONUS
    return dict(sorted(fused.items(), key=lambda kv: -kv[1]))


def fuse_rows(
    rankings: Sequence[np.ndarray], exact: Sequence[int], size: int, rrf_k: int = RRF_K
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fuse` over index rows: the fused rows best first and their scores, the same floats in the same order.

    A which-towns question over 2,000 towns fuses ~8,000 paragraphs; summing and sorting them
    in Python dictionaries took ~10 ms. Each row's reciprocal ranks are added in the order of
    the rankings (as :func:`fuse` adds them) and ties keep the order of first appearance.

    Args:
        rankings: Each signal's rows, best first (a row at most once per ranking).
        exact: Rows quoting the question verbatim, in the order :func:`fuse` would visit them.
        size: Number of index rows.
        rrf_k: Reciprocal-rank-fusion constant.

    >>> rows, scores = fuse_rows([np.array([0, 1]), np.array([1, 2])], [3], size=4)
    >>> rows.tolist(), scores.tolist() == list(fuse([[(0,), (1,)], [(1,), (2,)]], [3]).values())
    ([3, 1, 0, 2], True)
    """
    exact = np.asarray(exact, dtype=np.int64)
    appear = np.concatenate([*(np.asarray(r, dtype=np.int64) for r in rankings), exact])
    _, first = np.unique(appear, return_index=True)
    rows = appear[np.sort(first)]  # first appearance: the insertion order of fuse's dictionary
    total = np.zeros(size)
    for ranking in rankings:
        total[ranking] += 1.0 / (rrf_k + np.arange(len(ranking)) + 1)
    for row in exact.tolist():
        total[row] += EXACT_BONUS
    scores = total[rows]
    best = np.argsort(-scores, kind="stable")
    return rows[best], scores[best]


def relevance(coverage: float, similarity: float) -> float:
    """Blend of sentence-level lexical evidence and dense similarity, roughly in [0, 1].

    >>> relevance(1.0, 0.95), relevance(0.0, 0.7)
    (1.0, 0.0)
    """
    dense = max(0.0, (similarity - DENSE_ZERO) / DENSE_SPAN) if similarity else 0.0
    return COVERAGE_SHARE * coverage + DENSE_SHARE * min(1.0, dense)


def relevances(coverage: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """:func:`relevance` of many paragraphs at once (the same floats: the same operations in the same order).

    >>> relevances(np.array([1.0, 0.0]), np.array([0.95, 0.7])).tolist()
    [1.0, 0.0]
    """
    dense = np.where(similarity != 0, np.maximum(0.0, (similarity - DENSE_ZERO) / DENSE_SPAN), 0.0)
    return COVERAGE_SHARE * coverage + DENSE_SHARE * np.minimum(1.0, dense)


@dataclass(frozen=True)
class TownDecision:
    """Whether one town speaks of the question's topic.

    Attributes:
        town: Canonical town.
        matched: Its lead paragraph supports the question and is relevant enough.
        relevance: Relevance of its first paragraph.
        ids: Its paragraphs to show, lead first (up to :data:`TOWN_PASSAGES` when matched, else one).
    """

    town: str
    matched: bool
    relevance: float
    ids: tuple[str, ...]


def decide_towns(
    fused: Iterable[str],
    town_of: Callable[[str], str],
    relevance_of: Callable[[str], float],
    supports: Callable[[str], bool],
    threshold: float,
) -> list[TownDecision]:
    """One decision per town of the fused candidates: matched towns first, each by relevance.

    A town's lead is its most relevant paragraph (of its best :data:`TOWN_PASSAGES`) that
    supports the question; a town with a lead matches when its relevance reaches ``threshold``
    of the best such town's.

    Args:
        fused: Candidate paragraph ids (fusion order).
        town_of: The town of a paragraph.
        relevance_of: A paragraph's relevance (:func:`relevance`, or coverage alone where the dense
            query could not reach).
        supports: Whether a paragraph is real evidence for the question.
        threshold: Share of the best town's relevance a town needs.
    """
    ids = list(fused)
    codes: dict[str, int] = {}
    towns = np.array([codes.setdefault(town_of(pid), len(codes)) for pid in ids], dtype=np.int64)
    scores = np.array([relevance_of(pid) for pid in ids], dtype=np.float64)
    return decide_ranked_towns(ids, towns, list(codes), scores, lambda at: [supports(ids[i]) for i in at], threshold)


def decide_ranked_towns(
    ids: Sequence[str],
    towns: np.ndarray,
    town_names: Sequence[str],
    scores: np.ndarray,
    supports: Callable[[list[int]], list[bool]],
    threshold: float,
) -> list[TownDecision]:
    """:func:`decide_towns` over arrays: the same decisions, without a Python call per candidate.

    A question over 2,000 towns has ~8,000 candidates; grouping and ranking them with Python
    dictionaries and callbacks took ~40 ms of it. Towns are taken in the order they first
    appear among the candidates and each town's paragraphs by relevance, ties in fusion order
    (as the dictionary and stable sorts of :func:`decide_towns` order them). The support decision
    is asked for many candidates at once, and only for those it decides: every town's best, then
    the next of the towns it refused, up to :data:`TOWN_PASSAGES` deep.

    Args:
        ids: Candidate paragraph ids (fusion order).
        towns: Town code of each candidate (an index into ``town_names``).
        town_names: Town of each code.
        scores: Relevance of each candidate.
        supports: Whether each candidate at these positions is real evidence for the question.
        threshold: Share of the best town's relevance a town needs.
    """
    n = len(ids)
    if not n:
        return []
    position = np.arange(n)
    # Each candidate's town ranked by its first appearance in fusion order.
    _, first, inverse = np.unique(towns, return_index=True, return_inverse=True)
    town_rank = first[inverse.reshape(-1)]
    order = np.lexsort((position, -scores, town_rank))
    ranked = town_rank[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]]).tolist()
    ends = [*starts[1:], n]
    order_list, score_list, town_list = order.tolist(), scores.tolist(), towns.tolist()
    groups = [order_list[start:end] for start, end in zip(starts, ends)]
    # A town's lead is the first of its best TOWN_PASSAGES that supports the question: every town's
    # first is judged in one call, then the second of those still without a lead, and so on.
    lead_of: list[int | None] = [None] * len(groups)
    undecided = list(range(len(groups)))
    for depth in range(TOWN_PASSAGES):
        asked = [(g, groups[g][depth]) for g in undecided if depth < len(groups[g])]
        if not asked:
            break
        undecided = []
        for (g, i), ok in zip(asked, supports([i for _, i in asked])):
            if ok:
                lead_of[g] = i
            else:
                undecided.append(g)
    leads = []
    for group, lead in zip(groups, lead_of):
        if lead is not None:
            group.remove(lead)
            group.insert(0, lead)
        leads.append((town_names[town_list[group[0]]], group, score_list[group[0]], lead is not None))
    best = max((score for _, _, score, ok in leads if ok), default=0.0)
    decided = []
    for town, group, score, ok in leads:
        matched = ok and score >= threshold * best
        shown = tuple(ids[i] for i in group[: TOWN_PASSAGES if matched else 1])
        decided.append(TownDecision(town, matched, score, shown))
    decided.sort(key=lambda d: (-d.matched, -d.relevance))
    return decided


__all__ = [
    "Ranking",
    "SignalHit",
    "TownDecision",
    "decide_ranked_towns",
    "decide_towns",
    "fuse",
    "relevance",
    "relevances",
]

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
from dataclasses import dataclass, field
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


CANDIDATE_FEATURES = (
    "support", "support_logit_gap", "support_z", "question_support", "relevance_share", "relevance_z",
    "dense_z", "dense_gap", "window_z", "window_gap", "bigram", "bigram_share", "bigram_z",
    "coverage_known", "coverage_share", "rule",
)  # fmt: skip
"""Features of a candidate paragraph for the fitted town decision (:func:`candidate_features`, each
read relative to the question's other candidates; ``scripts/fit_town_decision.py`` fits which it reads)."""
MEANING_FEATURES = ("window_z", "window_gap")
"""Candidate features read from sentence-window vectors: computed only for a town model that reads them."""


@dataclass(frozen=True)
class Judged:
    """The paragraph support decision's reading of some candidates (arrays aligned with the candidates asked).

    Attributes:
        probability: The fitted support probability of each (:mod:`assistant.support`).
        supports: Whether each supports the question (the probability at the model's threshold).
        dense: Dense similarity of each (NaN: beyond the dense query's reach, or not comparable).
        bigram: IDF-weighted share of the question's character bigrams in its best sentence.
        coverage_known: Lexical coverage of the question's words some report uses.
        rule: The lexical rule's verdict on each.
        window: Similarity of the question and each one's best sentence window (NaN: not read).
    """

    probability: np.ndarray
    supports: np.ndarray
    dense: np.ndarray
    bigram: np.ndarray
    coverage_known: np.ndarray
    rule: np.ndarray
    window: np.ndarray | None = None

    @classmethod
    def of_verdicts(cls, verdicts: Sequence[bool]) -> Judged:
        """A reading with only yes/no verdicts (probability 1 or 0, every other feature unknown)."""
        ok = np.asarray(verdicts, dtype=bool)
        unknown = np.full(len(ok), np.nan)
        return cls(ok.astype(np.float64), ok, unknown, unknown, unknown, ok)


@dataclass(frozen=True)
class TownDecision:
    """Whether one town speaks of the question's topic.

    Attributes:
        town: Canonical town.
        matched: Its lead paragraph supports the question and is relevant enough.
        relevance: Relevance of its first paragraph.
        ids: Its paragraphs to show, lead first (up to :data:`TOWN_PASSAGES` when matched, else one).
        probability: The town decision's probability that the town matches (the lead's support
            probability where no town model decides).
        judged: The town's candidates the decision read (its best :data:`TOWN_PASSAGES`).
        features: Their :data:`CANDIDATE_FEATURES`, one row each (kept for fitting the town model).
        ruled: The relevance-share rule alone matches it (``matched`` may add the town model's towns).
    """

    town: str
    matched: bool
    relevance: float
    ids: tuple[str, ...]
    probability: float = field(default=0.0, compare=False)
    judged: tuple[str, ...] = field(default=(), compare=False, repr=False)
    features: np.ndarray | None = field(default=None, compare=False, repr=False)
    ruled: bool = field(default=False, compare=False)


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

    def judge(at: list[int]) -> Judged:
        return Judged.of_verdicts([supports(ids[i]) for i in at])

    return decide_ranked_towns(ids, towns, list(codes), scores, judge, threshold)


def _share(values: np.ndarray) -> np.ndarray:
    """Each value over the question's largest (0 where every value is 0; NaN stays unknown)."""
    known = values[~np.isnan(values)]
    top = float(known.max()) if len(known) else 0.0
    return values / top if top > 0 else np.where(np.isnan(values), np.nan, 0.0)


def _standard(values: np.ndarray) -> np.ndarray:
    """Standard deviations above the question's mean (0 where every value is the same; NaN stays unknown)."""
    known = values[~np.isnan(values)]
    if len(known) < 2 or float(known.std()) == 0.0:
        return np.where(np.isnan(values), np.nan, 0.0)
    return (values - known.mean()) / known.std()


def _below_best(values: np.ndarray) -> np.ndarray:
    """How far each value lies below the question's best (NaN stays unknown)."""
    known = values[~np.isnan(values)]
    return values - float(known.max()) if len(known) else values


def candidate_features(relevance: np.ndarray, read: Judged) -> dict[str, np.ndarray]:
    """The :data:`CANDIDATE_FEATURES` of one question's judged candidates (every town's best few).

    A question in an official's own words shares few words with any report, so every
    paragraph's absolute support is low alike, and the embedder's cosines of every pair crowd into
    one narrow band. What survives paraphrase is a candidate's standing among the same question's
    other candidates: its support's log-odds below the best, its z-scores of support, relevance,
    similarity (of the whole paragraph and of its best sentence window) and bigram coverage, its
    shares of the best. ``question_support`` (the best support of any candidate) tells a question
    that some report answers from one none does.

    Args:
        relevance: Relevance of each candidate (:func:`relevance`).
        read: The support decision's reading of the same candidates.

    >>> read = Judged(np.array([0.8, 0.2]), np.array([True, False]), np.array([0.9, np.nan]),
    ...               np.array([0.5, 0.0]), np.array([0.5, 0.25]), np.array([True, False]))
    >>> x = candidate_features(np.array([0.8, 0.4]), read)
    >>> x["relevance_share"].tolist(), x["support_logit_gap"].round(2).tolist(), x["dense_gap"].tolist()
    ([1.0, 0.5], [0.0, -2.77], [0.0, nan])
    """
    n = len(relevance)
    clipped = np.clip(read.probability, 1e-6, 1 - 1e-6)
    logit = np.log(clipped / (1 - clipped))
    window = read.window if read.window is not None else np.full(n, np.nan)
    return {
        "support": read.probability,
        "support_logit_gap": logit - logit.max() if n else logit,
        "support_z": _standard(logit),
        "question_support": np.full(n, read.probability.max() if n else 0.0),
        "relevance_share": _share(relevance),
        "relevance_z": _standard(relevance),
        "dense_z": _standard(read.dense),
        "dense_gap": _below_best(read.dense),
        "window_z": _standard(window),
        "window_gap": _below_best(window),
        "bigram": read.bigram,
        "bigram_share": _share(read.bigram),
        "bigram_z": _standard(read.bigram),
        "coverage_known": read.coverage_known,
        "coverage_share": _share(read.coverage_known),
        "rule": read.rule.astype(np.float64),
    }


def _first_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Position of each segment's ``np.argmax`` (segments start at ``starts``, the last runs to the end).

    Without a Python call per segment (2,000 towns): the first maximum, a NaN counting as the
    maximum as ``np.argmax`` counts it.

    >>> _first_max(np.array([1.0, 3.0, 3.0, 2.0, np.nan, 5.0]), np.array([0, 3]))
    array([1, 4])
    """
    n = len(values)
    segment = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    missing = np.isnan(values)
    order = np.lexsort((np.arange(n), -np.where(missing, 0.0, values), ~missing, segment))
    firsts = np.flatnonzero(np.r_[True, segment[order][1:] != segment[order][:-1]])
    return order[firsts]


def decide_ranked_towns(
    ids: Sequence[str],
    towns: np.ndarray,
    town_names: Sequence[str],
    scores: np.ndarray,
    judge: Callable[[list[int]], Judged],
    threshold: float,
    town_model=None,
) -> list[TownDecision]:
    """:func:`decide_towns` over arrays: one decision per candidate town, without a Python call per candidate.

    A question over 2,000 towns has ~8,000 candidates. Towns are taken in the order they first
    appear among the candidates and each town's paragraphs by relevance, ties in fusion order.
    The support decision reads every town's best :data:`TOWN_PASSAGES` paragraphs in one call;
    a town's lead is the first of them that supports the question (else the one it finds most
    likely to). A town matches when its lead supports and its relevance reaches ``threshold`` of the
    best such town's; the fitted town decision (``town_model``, over :func:`candidate_features`)
    adds the towns whose likeliest candidate clears its threshold (that candidate then leads them).

    Args:
        ids: Candidate paragraph ids (fusion order).
        towns: Town code of each candidate (an index into ``town_names``).
        town_names: Town of each code.
        scores: Relevance of each candidate.
        judge: The support decision's reading of the candidates at these positions.
        threshold: Share of the best town's relevance a town needs (without ``town_model``).
        town_model: The fitted town decision (:class:`assistant.support.SupportModel` over
            :data:`CANDIDATE_FEATURES`); None, or fewer candidate towns than its ``min_towns``:
            the relevance-share rule alone.
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
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    depth = position - np.repeat(starts, np.diff(np.r_[starts, n]))
    asked = order[depth < TOWN_PASSAGES]  # every town's best few, town by town
    asked_starts = np.flatnonzero(np.r_[True, town_rank[asked][1:] != town_rank[asked][:-1]])
    read = judge(asked.tolist())
    asked_ends = [*asked_starts[1:].tolist(), len(asked)]
    features = candidate_features(scores[asked], read)
    # The relevance-share rule: the lead is the first of the town's best that supports, else its best.
    at_depth = depth[depth < TOWN_PASSAGES]
    preference = np.where(read.supports, 3.0 * TOWN_PASSAGES - at_depth, -at_depth.astype(np.float64))
    lead_at = _first_max(preference, asked_starts)
    has_lead = read.supports[lead_at]
    supported = scores[asked[lead_at]][has_lead]
    best = float(supported.max()) if len(supported) else 0.0
    probability = read.probability[lead_at]
    matched = has_lead & (scores[asked[lead_at]] >= threshold * best)
    ruled = matched.tolist()
    if town_model is not None and len(asked_starts) >= town_model.min_towns:
        # The fitted decision adds the towns it finds (a town's probability is its likeliest candidate's, which
        # then leads it) to the rule's: it was fitted on questions few towns answer (at most 32 of 112), and on a
        # broad one that most towns answer, read relative to the others, it cuts most of them (at 2,000 reports
        # the benchmark's which-towns recall fell from 1.00 to 0.69).
        likely = town_model.probabilities(features, len(asked))
        model_at = _first_max(likely, asked_starts)
        added = ~matched & (likely[model_at] >= town_model.threshold)
        lead_at = np.where(added, model_at, lead_at)
        probability = np.where(added, likely[model_at], probability)
        matched = matched | added
    lead_at = lead_at.tolist()
    lead_score = scores[asked[lead_at]].tolist()
    matrix = np.column_stack([features[name] for name in CANDIDATE_FEATURES])
    order_list, town_list, asked_list = order.tolist(), towns.tolist(), asked.tolist()
    # Python values once, not a numpy scalar per town (2,000 towns a question).
    matched_list, probabilities, firsts = (
        matched.tolist(),
        probability.astype(np.float64).tolist(),
        asked_starts.tolist(),
    )
    id_of = ids.__getitem__
    decided = []
    for g, (start, end) in enumerate(zip(starts.tolist(), [*starts[1:].tolist(), n])):
        lead = asked_list[lead_at[g]]
        if matched_list[g]:  # the lead, then the town's next best
            group = order_list[start:end]
            group.remove(lead)
            shown = (ids[lead], *map(id_of, group[: TOWN_PASSAGES - 1]))
        else:
            shown = (ids[lead],)
        first, last = firsts[g], asked_ends[g]
        decided.append(
            TownDecision(
                town_names[town_list[lead]],
                matched_list[g],
                lead_score[g],
                shown,
                probabilities[g],
                tuple(map(id_of, asked_list[first:last])),
                matrix[first:last],
                ruled[g],
            )  # fmt: skip
        )
    decided.sort(key=lambda d: (-d.matched, -d.relevance))
    return decided


__all__ = [
    "CANDIDATE_FEATURES",
    "Judged",
    "MEANING_FEATURES",
    "Ranking",
    "SignalHit",
    "TownDecision",
    "decide_ranked_towns",
    "decide_towns",
    "fuse",
    "relevance",
    "relevances",
    "candidate_features",
]

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
``GAP_TOWNS``           30       best-supported towns among which a question's steepest drop of support is sought
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
GAP_TOWNS = 30
"""Towns (best support first) among which a question's largest drop of support is sought (:func:`town_features`)."""


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


TOWN_FEATURES = (
    "support", "support_logit_gap", "support_share", "support_z", "support_rank", "support_drop", "support_rise",
    "question_support", "relevance_share", "relevance_z", "relevance_rank", "dense_gap", "dense_z", "bigram",
    "bigram_share", "coverage_known", "coverage_share", "rule", "rule_towns", "share_rule",
    "above_gap", "largest_gap", "window_z", "window_gap",
)  # fmt: skip
MEANING_FEATURES = ("window_z", "window_gap")
"""Town features read from sentence-window vectors: computed only for a town model that reads them."""
"""Features of a town for the fitted town decision (:func:`town_features`, ``scripts/fit_town_decision.py``)."""


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
        features: The town's :data:`TOWN_FEATURES` (what the town model reads; kept for fitting it).
    """

    town: str
    matched: bool
    relevance: float
    ids: tuple[str, ...]
    probability: float = field(default=0.0, compare=False)
    features: tuple[float, ...] = field(default=(), compare=False, repr=False)


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
    """Each value over the question's largest (0 where every value is 0 or unknown)."""
    known = values[~np.isnan(values)]
    top = float(known.max()) if len(known) else 0.0
    return values / top if top > 0 else np.where(np.isnan(values), np.nan, 0.0)


def _standard(values: np.ndarray) -> np.ndarray:
    """Standard deviations above the question's mean (0 where every value is the same)."""
    known = values[~np.isnan(values)]
    if len(known) < 2 or float(known.std()) == 0.0:
        return np.where(np.isnan(values), np.nan, 0.0)
    return (values - known.mean()) / known.std()


def _ranked(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each value's rank (0: the largest), how far it lies above the next (the last: above 0) and below the previous.

    >>> [v.tolist() for v in _ranked(np.array([0.2, 0.9, 0.5]))]
    [[2.0, 0.0, 1.0], [0.2, 0.4, 0.3], [0.3, 0.0, 0.4]]
    """
    order = np.argsort(-values, kind="stable")
    rank = np.empty(len(values))
    rank[order] = np.arange(len(values))
    ranked = values[order]
    drop, rise = np.empty(len(values)), np.empty(len(values))
    drop[order] = ranked - np.r_[ranked[1:], 0.0]
    rise[order] = np.r_[ranked[:1], ranked[:-1]] - ranked  # the top town has none above it
    return rank, drop, rise


def town_features(
    relevance: np.ndarray,
    support: np.ndarray,
    dense: np.ndarray,
    bigram: np.ndarray,
    coverage_known: np.ndarray,
    rule: np.ndarray,
    share_rule: np.ndarray,
    window: np.ndarray | None = None,
) -> np.ndarray:
    """The :data:`TOWN_FEATURES` of every candidate town of one question (one row per town).

    Each argument holds one value per town, the best over its :data:`TOWN_PASSAGES` best
    paragraphs. A question in an official's own words shares few words with any report, so
    every town's absolute support is low alike; what survives paraphrase is a town's standing
    among the question's other towns — its share of the best town's relevance, support, bigrams
    and words, its z-score, rank and lead over the next town, its similarity below the best town's.

    Args:
        relevance: Relevance of each town's best paragraph (:func:`relevance`).
        support: Best support probability among its paragraphs (:mod:`assistant.support`).
        dense: Best dense similarity (NaN: beyond the dense query's reach or not comparable).
        bigram: Best bigram coverage.
        coverage_known: Best coverage of the question's known words.
        rule: Whether the lexical rule accepts one of its paragraphs.
        share_rule: The decision without a town model (its lead supports and reaches half the
            best such town's relevance): the fit learns how far to trust it.
        window: Best sentence-window similarity to the question (None or NaN: not read).

    >>> x = town_features(np.array([0.8, 0.4]), np.array([0.6, 0.2]), np.array([0.9, np.nan]),
    ...                   np.array([0.5, 0.0]), np.array([0.5, 0.25]), np.array([True, False]), np.array([True, False]))
    >>> dict(zip(TOWN_FEATURES, x[1].round(2).tolist()))["relevance_share"], float(x[0, TOWN_FEATURES.index("support_rank")])
    (0.5, 1.0)
    """
    n = len(relevance)
    if not n:
        return np.zeros((0, len(TOWN_FEATURES)))
    support_rank, drop, rise = _ranked(support)
    relevance_rank, _, _ = _ranked(relevance)
    logit = np.log(np.clip(support, 1e-6, 1 - 1e-6) / (1 - np.clip(support, 1e-6, 1 - 1e-6)))
    known = dense[~np.isnan(dense)]
    peak = float(known.max()) if len(known) else np.nan
    rule = rule.astype(np.float64)
    window = np.full(n, np.nan) if window is None else window
    # Where the towns' support falls most steeply (in log-odds) among the best GAP_TOWNS: a question
    # in other words than the reports' lowers every town's support alike, but its answering towns
    # still stand apart from the rest.
    ranked_logit = np.sort(logit)[::-1][:GAP_TOWNS]
    drops = ranked_logit[:-1] - ranked_logit[1:]
    cut = int(np.argmax(drops)) if len(drops) else 0
    largest = float(drops[cut]) if len(drops) else 0.0
    above = support_rank <= cut
    columns = {
        "support": support,
        "support_logit_gap": logit - logit.max(),
        "support_share": _share(support),
        "support_z": _standard(support),
        "support_rank": 1.0 / (1.0 + support_rank),
        "support_drop": drop,
        "support_rise": rise,
        "question_support": np.full(n, support.max()),
        "relevance_share": _share(relevance),
        "relevance_z": _standard(relevance),
        "relevance_rank": 1.0 / (1.0 + relevance_rank),
        "dense_gap": dense - peak,
        "dense_z": _standard(dense),
        "bigram": bigram,
        "bigram_share": _share(bigram),
        "coverage_known": coverage_known,
        "coverage_share": _share(coverage_known),
        "rule": rule,
        "rule_towns": np.full(n, rule.mean()),
        "share_rule": share_rule.astype(np.float64),
        "above_gap": above.astype(np.float64),
        "largest_gap": np.full(n, largest),
        "window_z": _standard(window),
        "window_gap": window - (np.nanmax(window) if (~np.isnan(window)).any() else np.nan),
    }
    return np.column_stack([columns[name] for name in TOWN_FEATURES])


def _best(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each group's largest value, NaN where all of a group's are unknown."""
    filled = np.where(np.isnan(values), -np.inf, values)
    best = np.maximum.reduceat(filled, starts)
    return np.where(np.isneginf(best), np.nan, best)


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
    likely to). Then either the fitted town decision (``town_model``, over :func:`town_features`)
    says which towns match — none clearing its threshold: no town — or, without one, a town
    matches when its lead supports and its relevance reaches ``threshold`` of the best such town's.

    Args:
        ids: Candidate paragraph ids (fusion order).
        towns: Town code of each candidate (an index into ``town_names``).
        town_names: Town of each code.
        scores: Relevance of each candidate.
        judge: The support decision's reading of the candidates at these positions.
        threshold: Share of the best town's relevance a town needs (without ``town_model``).
        town_model: The fitted town decision (:class:`assistant.support.SupportModel` over
            :data:`TOWN_FEATURES`); None: the relevance-share rule.
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
    # The lead: the first of the town's best that supports, else (for the town model) the one most
    # likely to, else its best.
    at_depth = depth[depth < TOWN_PASSAGES]
    fallback = read.probability if town_model is not None else -at_depth.astype(np.float64)
    preference = np.where(read.supports, 3.0 * TOWN_PASSAGES - at_depth, fallback)
    ends = [*asked_starts[1:].tolist(), len(asked)]
    lead_at = [int(s + np.argmax(preference[s:e])) for s, e in zip(asked_starts.tolist(), ends)]
    has_lead = read.supports[lead_at]
    lead_score = scores[asked[lead_at]]
    support = _best(read.probability, asked_starts)
    best = float(lead_score[has_lead].max()) if has_lead.any() else 0.0
    share_rule = has_lead & (lead_score >= threshold * best)
    features = town_features(
        scores[asked[asked_starts]], support, _best(read.dense, asked_starts), _best(read.bigram, asked_starts),
        _best(read.coverage_known, asked_starts), np.maximum.reduceat(read.rule.astype(np.int64), asked_starts) > 0,
        share_rule, None if read.window is None else _best(read.window, asked_starts),
    )  # fmt: skip
    if town_model is not None:
        columns = {name: features[:, i] for i, name in enumerate(TOWN_FEATURES)}
        probability = town_model.probabilities(columns, len(features))
        matched = probability >= town_model.threshold
    else:
        probability = read.probability[lead_at]
        matched = share_rule
    order_list, town_list = order.tolist(), towns.tolist()
    group_starts, group_ends = starts.tolist(), [*starts[1:].tolist(), n]
    decided = []
    for g, (start, end) in enumerate(zip(group_starts, group_ends)):
        group = order_list[start:end]
        lead = int(asked[lead_at[g]])
        group.remove(lead)
        group.insert(0, lead)
        shown = tuple(ids[i] for i in group[: TOWN_PASSAGES if matched[g] else 1])
        decided.append(
            TownDecision(
                town_names[town_list[lead]],
                bool(matched[g]),
                float(lead_score[g]),
                shown,
                float(probability[g]),
                tuple(features[g].tolist()),
            )  # fmt: skip
        )
    decided.sort(key=lambda d: (-d.matched, -d.relevance))
    return decided


__all__ = [
    "TOWN_FEATURES",
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
    "town_features",
]

"""Which-towns questions: "哪些镇提到执法力量薄弱？" — every town whose report speaks of the topic, each with its evidence.

Recognised by its wording; retrieved town by town (each town is decided on its own best evidence,
see :meth:`assistant.retrieve.HybridRetriever.town_by_town`); answered with one quoted sentence per
matched town.

Over a county (at least the model's ``min_towns`` candidate towns) the list is the fitted
which-towns decision's (:func:`decide`): the towns the relevance-share rule matches, and those a
logistic regression over each town's :data:`TOWN_FEATURES` finds likely. Its features read a
whole town (its best candidates' support, how many of them support, their standing among the
question's other candidates, the meaning of its likeliest paragraph's best sentence window) and
the question (its best support anywhere, how many towns the rule found). The regression is fitted
by ``scripts/fit_town_decision.py`` on labelled which-towns questions, among them questions no
report answers and towns whose related-looking sentence does not answer (``near``), and stored
under ``which_towns`` in ``assistant/data/town_model.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import re
from typing import TYPE_CHECKING

import numpy as np

from assistant import phrasing
from assistant.compose import Answer, best_sentences, quotable, topic_weights
from assistant.fusion import CANDIDATE_FEATURES, TOWN_PASSAGES
from assistant.judging import comparable
from assistant.kinds.abstain import abstain
from assistant.kinds.base import QuestionKind, _unit_scope
from assistant.parts import Bold, Item, Line
from assistant.query import MULTI_TOWN, topic_phrase
from assistant.signals import dense_text
from assistant.support import TOWN_MODEL_FILE, SupportModel
from assistant.units import UNIT, WHICH, unit_word

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query
    from assistant.retrieve import HybridRetriever, Retrieval, Topic, TownMatch

_WHICH = re.compile(rf"(?:{WHICH})(?:{UNIT}|地方)|which towns?\b|what towns?\b")
# Asking to pick among towns the question lists ("北留、旧院中哪些提到…", "…里有没有…？是哪几个？").
_PICK = re.compile(WHICH)


class WhichTowns(QuestionKind):
    """ "哪些镇…", "哪个镇…", "which towns…"."""

    name = MULTI_TOWN
    generative = True

    def names(self, query: Query) -> bool:
        # 哪些 + a unit word, or a request for towns the fitted question grammar reads as one
        # ("请列出…的乡镇", "有没有街道…？是哪些？", "哪些报告提到…"); about one named town it is a fact,
        # about several only when it asks which of them (else a comparison: "北留、旧院…分别…").
        return (query.asked == MULTI_TOWN and picks_among(query)) or bool(_WHICH.search(query.folded))

    def town_by_town(self, query: Query) -> bool:
        # A which-towns question about one named town is a fact question about that town.
        return len(query.towns) != 1

    def recognise(self, query: Query) -> bool:
        return super().recognise(query) and self.town_by_town(query)

    def retrieve(self, retriever: HybridRetriever, query: Query, topic: Topic, k: int) -> Retrieval:
        retrieval = super().retrieve(retriever, query, topic, k)
        model = which_towns_model()
        if model is None or query.towns or len(retrieval.towns) < model.min_towns:
            return retrieval  # the demo's handful of towns, or towns the question names: as retrieved
        return decide(retriever, retrieval, model, k)

    def compose(self, ctx: Context, retrieval: Retrieval) -> Answer:
        matched = [m.town for m in retrieval.towns if m.matched and quotable(m.lead)]
        query = retrieval.query
        lead = phrasing.towns_mentioning(len(matched), topic_phrase(query.text, query.search_text), unit_word(matched))
        return town_lines(ctx, retrieval, lead)


def picks_among(query: Query) -> bool:
    """Whether a question asks for towns: of all (no town named) or of the two or more it names ("…中哪些…").

    Any other question the model reads as a request for towns, naming several, asks about each of them.
    """
    return not query.towns or (len(query.towns) >= 2 and bool(_PICK.search(query.folded)))


def town_lines(ctx: Context, retrieval: Retrieval, lead: str) -> Answer:
    """A lead line, then one quoted sentence per matched town (an item: **北留镇**：…〔…〕)."""
    query = retrieval.query
    forms = ctx.retriever.sentence_forms
    weights = topic_weights(retrieval)
    # A town decided on a paragraph that gives the assistant orders is not asserted: that
    # paragraph is no evidence of anything the town did.
    matched = [m for m in retrieval.towns if m.matched and quotable(m.lead)]
    if not matched:
        return abstain(ctx, retrieval)
    # Every quoted paragraph's sentences scored at once, not term by term per town.
    scores = ctx.retriever.quote_scores([m.lead.id for m in matched], weights, query.numeric)
    citations = []
    blocks = [Line((lead,))]
    for m in matched:
        hit = m.lead
        sentence = best_sentences(hit, weights, query.numeric, forms=forms(hit.id), scores=scores.get(hit.id))[0]
        c = ctx.cite(hit.id, sentence)
        citations.append(c)
        blocks.append(Item((Bold(m.town), "：", sentence, c)))
    return Answer(
        question=query.text, blocks=tuple(blocks), towns=tuple(m.town for m in matched), abstained=False,
        citations=tuple(citations), kind=query.kind,
    )  # fmt: skip


TOWN_FEATURES = (
    "support", "support_second", "support_logit_gap", "support_z", "question_support", "rule_towns", "dense_z", "bigram_z", "relevance_z", "coverage_known", "window_z",
    "window_any_z", "wording_gap", "window_any_gap",
)  # fmt: skip
"""A candidate town's features for the which-towns decision (:func:`town_table`):

- ``support``, ``support_second``: the paragraph support probability of its likeliest and second candidates;
- ``support_logit_gap``, ``support_z``, ``dense_z``, ``bigram_z``, ``relevance_z``, ``coverage_known``: its best
  candidate's (:data:`assistant.fusion.CANDIDATE_FEATURES`, read relative to the question's other candidates);
- ``question_support``: the best support of any candidate of the question;
- ``rule_towns``: log(1 + the number of towns the relevance-share rule matches): a question the reports
  answer in their own words is matched by the rule somewhere, one none answers rarely;
- ``window_z``: the question's similarity to the best sentence window of its likeliest candidate, in
  standard deviations over the likeliest towns the rule leaves open (NaN: not read, or not comparable);
- ``window_any_z``: the same over the best window of any of its candidates (its likeliest by support is
  the one whose words match the question best; a question in the asker's own words is answered by
  the candidate whose meaning matches, which support may rank second or third);
- ``wording_gap``: 1 − the best coverage of the question's words among all towns' candidates: how far the
  question's wording is from the reports' (an official asking in everyday words: near 1);
- ``window_any_gap``: ``window_any_z`` × ``wording_gap``: meaning counts the more, the less the words match.
"""


@functools.lru_cache(maxsize=1)
def which_towns_model() -> SupportModel | None:
    """The packaged which-towns decision (``which_towns`` in ``assistant/data/town_model.json``; None: none)."""
    data = (
        json.loads(TOWN_MODEL_FILE.read_text(encoding="utf-8")).get("which_towns") if TOWN_MODEL_FILE.exists() else None
    )
    if not data:
        return None
    return SupportModel(
        features=tuple(data["features"]), mean=tuple(data["mean"]), scale=tuple(data["scale"]),
        weights=tuple(data["weights"]), bias=float(data["bias"]), threshold=float(data["threshold"]),
        provenance=data.get("provenance", {}),
        bounds={name: (float(lo), float(hi)) for name, (lo, hi) in data.get("bounds", {}).items()},
        min_towns=int(data.get("min_towns", 0)),
    )  # fmt: skip


def _column(match: TownMatch, name: str) -> np.ndarray:
    values = match.features[:, CANDIDATE_FEATURES.index(name)] if match.features is not None else np.array([])
    return np.asarray(values, dtype=np.float64)


class _Candidates:
    """Every candidate town's feature rows stacked in one array, town after town.

    At 2,000 reports a which-towns question has ~2,000 candidate towns; reading each town's best
    value feature by feature in Python cost ~50 ms a question, one grouped numpy reduction per
    feature costs well under 1 ms.
    """

    def __init__(self, towns: tuple[TownMatch, ...]) -> None:
        width = len(CANDIDATE_FEATURES)
        blocks = [m.features if m.features is not None else np.empty((0, width)) for m in towns]
        self.counts = np.fromiter((len(b) for b in blocks), dtype=np.intp, count=len(blocks))
        self.rows = np.concatenate(blocks).astype(np.float64) if self.counts.sum() else np.empty((0, width))
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.intp)
        self.has = self.counts > 0

    def column(self, name: str) -> np.ndarray:
        return self.rows[:, CANDIDATE_FEATURES.index(name)]

    def best(self, name: str) -> np.ndarray:
        """Each town's highest known value of ``name`` (NaN: none known), the largest value that is not NaN."""
        values = self.column(name)
        values = np.where(np.isnan(values), -np.inf, values)
        out = np.full(len(self.counts), -np.inf)
        if self.has.any():
            out[self.has] = np.maximum.reduceat(values, self.starts[self.has])
        out[np.isneginf(out)] = np.nan
        return out


def town_table(retriever: HybridRetriever, retrieval: Retrieval) -> tuple[dict[str, np.ndarray], list[str]]:
    """The :data:`TOWN_FEATURES` of every candidate town of a which-towns retrieval (one row per town).

    Returns:
        Feature name → one value per town of ``retrieval.towns`` (NaN: unknown), and each town's
        likeliest candidate (the paragraph with the highest support probability).
    """
    towns = retrieval.towns
    candidates = _Candidates(towns)
    support = candidates.column("support")
    if np.isnan(support).any():  # the grouped sort below orders NaN unlike argmax; read town by town
        first, second, at = _support_by_town(towns)
    else:
        group = np.repeat(np.arange(len(towns)), candidates.counts)
        order = np.lexsort((-support, group))  # by town, each town's likeliest first (ties: first row)
        ranked = support[order]
        starts, has = candidates.starts, candidates.has
        first = np.where(has, ranked[np.minimum(starts, max(len(ranked) - 1, 0))] if len(ranked) else 0.0, 0.0)
        two = candidates.counts > 1
        second = np.zeros(len(towns))
        second[two] = ranked[starts[two] + 1]
        at = np.where(has, order[np.minimum(starts, max(len(order) - 1, 0))] - starts if len(order) else 0, 0)
    likeliest = [m.judged[int(j)] if n and m.judged else m.ids[0] for m, n, j in zip(towns, candidates.counts, at)]
    rule_towns = sum(m.ruled for m in towns)
    table = {
        "support": np.asarray(first, dtype=np.float64),
        "support_second": np.asarray(second, dtype=np.float64),
        "question_support": np.full(
            len(towns), max((float(v) for v, n in zip(first, candidates.counts) if n), default=0.0)
        ),
        "rule_towns": np.full(len(towns), float(np.log1p(rule_towns))),
    }
    for name in ("support_logit_gap", "support_z", "dense_z", "bigram_z", "relevance_z", "coverage_known"):
        table[name] = candidates.best(name)
    table["window_z"], table["window_any_z"] = _window_z(retriever, retrieval, likeliest, table["support"])
    known = table["coverage_known"]
    gap = 1.0 - (float(np.nanmax(known)) if np.any(~np.isnan(known)) else 0.0)
    table["wording_gap"] = np.full(len(towns), gap)
    table["window_any_gap"] = np.nan_to_num(table["window_any_z"], nan=0.0) * gap
    return table, likeliest


def _support_by_town(towns: tuple[TownMatch, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each town's highest and second support and the row of its highest, town by town (NaN-safe)."""
    support = [_column(m, "support") for m in towns]
    ranked = [np.sort(s)[::-1] for s in support]
    first = np.array([r[0] if len(r) else 0.0 for r in ranked])
    second = np.array([r[1] if len(r) > 1 else 0.0 for r in ranked])
    at = np.array([int(np.argmax(s)) if len(s) else 0 for s in support], dtype=np.intp)
    return first, second, at


WINDOW_TOWNS = 100
"""How many towns the window standing is read for: the likeliest of those the rule leaves open."""
ANY_CANDIDATES = 3
"""How many of a town's candidates (its likeliest by support first) ``window_any_z`` reads."""


def _window_z(
    retriever: HybridRetriever, retrieval: Retrieval, likeliest: list[str], support: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The best window similarity of each open town's likeliest candidate, and of any of its candidates, standardised.

    Read for the :data:`WINDOW_TOWNS` towns the rule leaves open with the highest support (the
    rule's towns are matched whatever their meaning; a town far down is not added on meaning
    alone, and at 2,000 reports reading every town's windows would cost more than the rest of the
    answer), with the question vector the dense query already embedded; NaN for the others.
    Each series is standardised over the towns read (its own mean and spread).
    """
    query = retrieval.query
    n = len(likeliest)
    if not comparable(query):  # another script or language: every similarity is lower alike
        return np.full(n, np.nan), np.full(n, np.nan)
    open_towns = [i for i, m in enumerate(retrieval.towns) if not m.ruled]
    open_at = sorted(open_towns, key=lambda i: -support[i])[:WINDOW_TOWNS]
    vectors, _ = retriever.sentence_vectors()
    vector = retriever.embed_query(dense_text(query, _unit_scope(retriever, query), retriever.aliases))
    paragraphs = retriever.kb.paragraphs
    towns = retrieval.towns
    # The likeliest candidates of the towns read, in one catalogue read; the likeliest first.
    read = [[pid for pid in _likeliest_first(towns[i], likeliest[i]) if pid in paragraphs] for i in open_at]
    found = vectors.best_many([paragraphs[pid] for pids in read for pid in pids], vector)
    lead, best, at = [], [], 0
    for i, pids in zip(open_at, read):
        values = [v for v in found[at : at + len(pids)] if v is not None]
        first = found[at] if pids and pids[0] == likeliest[i] else None
        lead.append(np.nan if first is None else first)
        best.append(max(values) if values else np.nan)
        at += len(pids)
    return _standardised(lead, open_at, n), _standardised(best, open_at, n)


def _likeliest_first(match: TownMatch, likeliest: str) -> list[str]:
    """A town's :data:`ANY_CANDIDATES` candidates of highest support, its likeliest first."""
    support = _column(match, "support")
    ranked = (
        [match.judged[j] for j in np.argsort(-np.nan_to_num(support, nan=0.0), kind="stable")] if len(support) else []
    )
    return list(dict.fromkeys((likeliest, *ranked)))[:ANY_CANDIDATES]


def _standardised(values: list[float], at: list[int], n: int) -> np.ndarray:
    """``values`` (of the towns ``at``) in standard deviations over those known; NaN elsewhere or with no spread."""
    out = np.full(n, np.nan)
    array = np.array(values, dtype=np.float64)
    known = array[~np.isnan(array)]
    if len(known) >= 2 and float(known.std()) > 0:
        out[at] = (array - known.mean()) / known.std()
    return out


def decide(retriever: HybridRetriever, retrieval: Retrieval, model: SupportModel, k: int) -> Retrieval:
    """The retrieval with the which-towns decision's towns: the rule's, and those the model finds likely.

    A town the model adds is led by its likeliest candidate; a town it does not keep shows only its
    lead. With no town left the retrieval abstains (报告中未找到提及该内容的镇).
    """
    table, likeliest = town_table(retriever, retrieval)
    probability = model.probabilities(table, len(retrieval.towns))
    decided = []
    for m, p, lead in zip(retrieval.towns, probability.tolist(), likeliest):
        if m.ruled:
            decided.append(dataclasses.replace(m, matched=True))
        elif p >= model.threshold:
            rest = [pid for pid in m.judged if pid != lead]
            decided.append(dataclasses.replace(m, matched=True, ids=(lead, *rest)[:TOWN_PASSAGES], probability=p))
        else:
            decided.append(dataclasses.replace(m, matched=False, ids=m.ids[:1], probability=p))
    decided.sort(key=lambda m: (-m.matched, -m.relevance))
    matched = [m for m in decided if m.matched]
    # Every matched town's lead, then the passages retrieval showed (other towns the rule or the
    # candidate-level model found: the nearest), then the matched towns' second and third: a
    # shortlist of k passages reaches as many towns as it can.
    leads = [m.ids[0] for m in matched]
    deeper = [m.ids[depth] for depth in range(1, TOWN_PASSAGES) for m in matched if depth < len(m.ids)]
    by_id = {h.id: h for h in retrieval.hits}
    build = retrieval.towns[0].build
    order = dict.fromkeys(itertools.chain(leads, by_id, deeper))
    hits = tuple(by_id.get(pid) or build(pid) for pid in itertools.islice(order, k))
    return dataclasses.replace(
        retrieval, hits=hits, towns=tuple(decided), abstain=not matched, reason="" if matched else phrasing.NO_TOWN
    )

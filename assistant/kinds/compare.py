"""Per-town comparisons: "各镇在普法方面分别做了什么？" — a table with every town's sentence, or 未提及.

Figures asked per town ("各镇分别发放了多少普法宣传资料？") are answered from the statistics table
first (:mod:`assistant.kinds.figures`); this kind compares what the reports say.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.answerable import Verdict, default_fact_model, judge
from assistant.compose import Answer, best_sentences, quotable, topic_weights
from assistant.kinds.abstain import abstain
from assistant.kinds.base import ANSWER_PASSAGES, Answered, QuestionKind
from assistant.parts import Gap, Line, Table
from assistant.query import COMPARE, FACT, MULTI_TOWN
from assistant.units import unit_word

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query
    from assistant.retrieve import Hit, Retrieval, TownMatch

RANKING = "最多|最少|最高|最低"
"""Superlatives that make a question a comparison (:mod:`assistant.kinds.figures` adds 最大/最小 for figures)."""
# Abstentions of a comparison's own retrieval that its named towns' fact decisions may overrule: the
# question's words were not found in the towns' passages, which may state the asked item in others.
OVERRULABLE = (phrasing.NO_TOWN, phrasing.NO_SUPPORT, phrasing.NO_FIGURE)
# English comparisons (a Chinese question's kind is read by the fitted question model).
_COMPARE_EN = re.compile(r"\beach town\b|compare|\bmost\b|\bleast\b|per town")


class Compare(QuestionKind):
    """ "各镇…", "…分别…", "对比…" over all towns or several named ones."""

    name = COMPARE
    generative = False  # a table: an LLM rewrite would lose the towns that do not mention it

    def names(self, query: Query) -> bool:
        asked = query.asked == COMPARE or bool(_COMPARE_EN.search(query.folded))
        # Two or more towns listed, read as a request for towns but asking none of them to be picked
        # (:func:`assistant.kinds.which_towns.picks_among` took those): what each of them did.
        listed = len(query.towns) >= 2 and query.asked == MULTI_TOWN
        return (asked and len(query.towns) != 1) or listed

    def town_by_town(self, query: Query) -> bool:
        return len(query.towns) != 1

    def recognise(self, query: Query) -> bool:
        return super().recognise(query) and self.town_by_town(query)

    def answer(self, ctx: Context, query: Query) -> Answered | None:
        """The comparison's table; over named towns, also where the retriever found none of them stating it.

        "三道沟镇和西兴街道分片管网格的人员各有多少个" found the question's words in neither report and
        abstained before any town was judged, though 三道沟镇's states 「34名网格员」: each named town
        is asked as its own fact question (:func:`town_verdicts`), and the comparison abstains only
        when none of them states the asked item.
        """
        retrieval = ctx.retriever.retrieve(query, k=ANSWER_PASSAGES)
        if not retrieval.abstain:
            return Answered(self.compose(ctx, retrieval), retrieval)
        if len(query.towns) < 2 or retrieval.reason not in OVERRULABLE or not retrieval.towns:
            return Answered(abstain(ctx, retrieval), retrieval)
        rows = town_sentences(ctx, retrieval)
        if all(hit is None for _, hit, _ in rows):
            return Answered(abstain(ctx, retrieval), retrieval)
        retrieval = replace(retrieval, abstain=False, reason="")
        return Answered(self.table(ctx, retrieval, rows), retrieval)

    def compose(self, ctx: Context, retrieval: Retrieval) -> Answer:
        return self.table(ctx, retrieval, town_sentences(ctx, retrieval))

    def table(self, ctx: Context, retrieval: Retrieval, found: list[tuple[TownMatch, Hit | None, str]]) -> Answer:
        """Every town's row: its sentence and citation (``found``: :func:`town_sentences`), or 未提及."""
        query = retrieval.query
        citations = []
        rows = []
        stated = []
        for m, hit, sentence in found:
            if hit is None:
                rows.append(((m.town,), (phrasing.NOT_MENTIONED,), (phrasing.NO_CELL,)))
                continue
            c = ctx.cite(hit.id, sentence)
            citations.append(c)
            rows.append(((m.town,), (sentence,), (c,)))
            stated.append(m)
        matched = stated
        unit = unit_word([m.town for m in retrieval.towns])
        blocks = (
            Line((phrasing.comparison(len(matched), unit),)), Gap(), Table(phrasing.compare_header(unit), tuple(rows)),
        )  # fmt: skip
        return Answer(
            question=query.text, blocks=blocks, towns=tuple(m.town for m in matched),
            abstained=False, citations=tuple(citations), kind=query.kind,
        )  # fmt: skip


def town_sentences(ctx: Context, retrieval: Retrieval) -> list[tuple[TownMatch, Hit | None, str]]:
    """Each town of a town-by-town retrieval with the paragraph and sentence quoted for it (None, "": not stated).

    A named town's sentence is the one the fact decision finds stating the asked item
    (:func:`town_verdicts`); otherwise the town's matched paragraph's best sentence, as before.
    """
    query = retrieval.query
    forms = ctx.retriever.sentence_forms
    weights = topic_weights(retrieval)
    decided = town_verdicts(ctx, query)
    # Every quoted paragraph's sentences scored at once, not term by term per town.
    scores = ctx.retriever.quote_scores([m.lead.id for m in retrieval.towns if m.matched], weights, query.numeric)
    out: list[tuple[TownMatch, Hit | None, str]] = []
    for m in retrieval.towns:
        verdict = decided.get(m.town)
        if verdict is not None and verdict.answers and verdict.candidate is not None:
            best = verdict.candidate
            out.append((m, best.hit, best.sentence + best.following if verdict.with_next else best.sentence))
        elif m.matched and quotable(m.lead):  # a paragraph giving orders is no evidence
            hit = m.lead
            sentence = best_sentences(hit, weights, query.numeric, forms=forms(hit.id), scores=scores.get(hit.id))[0]
            out.append((m, hit, sentence))
        else:
            out.append((m, None, ""))
    return out


def town_verdicts(ctx: Context, query: Query) -> dict[str, Verdict]:
    """The fact decision (:mod:`assistant.answerable`) on each town a comparison names, asked of it alone.

    Town by town, the retriever quotes a town's best passage only where the question's words are
    found in it; a report stating the figure in other words ("开会之前先学一段法" for 会前学法), or in a
    paragraph the comparison's ranking put lower, left the town 未提及. Asked as that town's own fact
    question, the fitted decision reads its passages by meaning and by the asked item's shape. Only
    for named towns (two or more): over every town it would be one retrieval per report.
    """
    model = default_fact_model()
    if model is None or len(query.towns) < 2:
        return {}
    out = {}
    for town in query.towns:
        single = replace(query, towns=(town,), kind=FACT)
        retrieval = ctx.retriever.retrieve(single, k=ANSWER_PASSAGES)
        if retrieval.abstain and retrieval.reason not in (phrasing.NO_SUPPORT, phrasing.NO_FIGURE):
            continue
        out[town] = judge(ctx.retriever, retrieval, not retrieval.abstain, model)
    return out

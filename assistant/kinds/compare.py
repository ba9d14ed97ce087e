"""Per-town comparisons: "各镇在普法方面分别做了什么？" — a table with every town's sentence, or 未提及.

Figures asked per town ("各镇分别发放了多少普法宣传资料？") are answered from the statistics table
first (:mod:`assistant.kinds.figures`); this kind compares what the reports say.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.compose import Answer, best_sentences, quotable, topic_weights
from assistant.kinds.base import QuestionKind
from assistant.parts import Gap, Line, Table
from assistant.query import COMPARE, MULTI_TOWN
from assistant.units import unit_word

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query
    from assistant.retrieve import Retrieval

RANKING = "最多|最少|最高|最低"
"""Superlatives that make a question a comparison (:mod:`assistant.kinds.figures` adds 最大/最小 for figures)."""
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

    def compose(self, ctx: Context, retrieval: Retrieval) -> Answer:
        query = retrieval.query
        forms = ctx.retriever.sentence_forms
        weights = topic_weights(retrieval)
        citations = []
        rows = []
        # Every quoted paragraph's sentences scored at once, not term by term per town.
        scores = ctx.retriever.quote_scores([m.lead.id for m in retrieval.towns if m.matched], weights, query.numeric)
        for m in retrieval.towns:
            if not m.matched or not quotable(m.lead):  # a paragraph giving orders is no evidence
                rows.append(((m.town,), (phrasing.NOT_MENTIONED,), (phrasing.NO_CELL,)))
                continue
            hit = m.lead
            sentence = best_sentences(hit, weights, query.numeric, forms=forms(hit.id), scores=scores.get(hit.id))[0]
            c = ctx.cite(hit.id, sentence)
            citations.append(c)
            rows.append(((m.town,), (sentence,), (c,)))
        matched = [m for m in retrieval.towns if m.matched and quotable(m.lead)]
        unit = unit_word([m.town for m in retrieval.towns])
        blocks = (
            Line((phrasing.comparison(len(matched), unit),)), Gap(), Table(phrasing.compare_header(unit), tuple(rows)),
        )  # fmt: skip
        return Answer(
            question=query.text, blocks=blocks, towns=tuple(m.town for m in matched),
            abstained=False, citations=tuple(citations), kind=query.kind,
        )  # fmt: skip

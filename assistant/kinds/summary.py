"""Summary questions: "北留镇在法治政府建设中存在哪些问题短板？" — one town's points, grouped by part of the report.

Retrieval follows the best paragraph's section (its siblings are the other points); the answer
groups quoted sentences under 存在问题 / 成效与做法 / 下一步 (:mod:`assistant.sections`).
Drafting a 汇总 across towns is :mod:`assistant.kinds.draft`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.compose import Answer, best_sentences, quotable, topic_weights
from assistant.kinds.abstain import abstain
from assistant.kinds.base import QuestionKind
from assistant.parts import Gap, Item, Line, Strong
from assistant.query import SUMMARY
from assistant.sections import ORDER as GROUP_ORDER
from assistant.sections import asked_group, section_group

if TYPE_CHECKING:
    from assistant.cite import Citation
    from assistant.kinds.base import Context
    from assistant.query import Query
    from assistant.retrieve import Retrieval

POINTS = 6  # paragraphs quoted at most
# English summary requests (a Chinese question's kind is read by the fitted question model).
_SUMMARY_EN = re.compile(r"summar|overview|problems|plans?\b|next steps")


class Summary(QuestionKind):
    """ "…存在哪些问题", "…有什么打算", "…做了哪些工作" (not asking for a figure; read by the question model)."""

    name = SUMMARY
    generative = True
    expand_sections = True

    def names(self, query: Query) -> bool:
        # A drafting request is labelled a summary too (Draft answers it, naming no label of its own).
        asked = query.asked in (SUMMARY, "draft") or bool(_SUMMARY_EN.search(query.folded))
        return asked and not query.numeric

    def town_by_town(self, query: Query) -> bool:
        # Points of several named towns ("北留、旧院两个镇存在哪些问题"): each town's own evidence, not the
        # best town's section (the answer is drafted town by town: :mod:`assistant.kinds.draft`).
        return len(query.towns) >= 2

    def compose(self, ctx: Context, retrieval: Retrieval) -> Answer:
        query = retrieval.query
        weights = topic_weights(retrieval)
        quotes = [h for h in retrieval.hits if quotable(h)]  # never a paragraph that gives orders
        if not quotes:
            return abstain(ctx, retrieval)
        top_town = quotes[0].town
        hits = [h for h in quotes if h.town == top_town][:POINTS]
        focus = asked_group(query.folded)
        if focus:  # "有哪些打算" wants the plans: the town's paragraphs of that part of the report
            town_hits = [h for h in quotes if h.town == top_town]
            hits = [h for h in town_hits if section_group(h.section_path) == focus][:POINTS] or hits
        elif retrieval.topic is not None:
            # Only paragraphs that speak of the topic; the rest were retrieved for fusion, not evidence.
            hits = [h for i, h in enumerate(hits) if i == 0 or ctx.retriever.supports(h, retrieval.topic)]
        groups: dict[str, list[tuple[str, Citation]]] = {}
        for h in hits:
            group = section_group(h.section_path)
            sentence = best_sentences(h, weights, False)[0]
            c = ctx.cite(h.id, sentence)
            groups.setdefault(group, []).append((sentence, c))
        blocks = [Line((phrasing.summary(top_town),))]
        for group in GROUP_ORDER:
            if group in groups:
                blocks += [Gap(), Strong(group)]
                blocks += [Item((s, c)) for s, c in groups[group]]
        citations = tuple(c for items in groups.values() for _, c in items)
        return Answer(
            question=query.text, blocks=tuple(blocks), towns=(top_town,), abstained=False,
            citations=citations, kind=query.kind,
        )  # fmt: skip

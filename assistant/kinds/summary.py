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
_SUMMARY = re.compile(
    r"汇总|总结|概括|梳理|起草|归纳|综述|有哪些问题|存在哪些|存在什么|存在的问题|问题短板|哪些不足|不足|短板|"
    r"(?:做|干|开展|采取|提)了?(?:哪些|什么|些什么)|哪些工作|意见建议|哪些(?:意见|建议)|"
    r"下一步|打算|计划|安排|举措|措施|做法|成效|情况如何|怎么样|summar|overview|problems|plans?\b|next steps"
)


class Summary(QuestionKind):
    """"…存在哪些问题", "…有什么打算", "…做了哪些工作" (not asking for a figure)."""

    name = SUMMARY
    generative = True
    expand_sections = True

    def names(self, query: Query) -> bool:
        return bool(_SUMMARY.search(query.folded)) and not query.numeric

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

"""Drafting requests: "起草一份各镇普法工作的汇总" — a cited 汇总 across towns (:mod:`assistant.summarize`).

Two ways in, both owned here: a drafting request anywhere in a question (read by the fitted
question model, any interface), and the app's drafting command at the start of the chat input (:func:`is_command`,
which also takes 草拟 and then drafts for the towns selected in the app's filter). A summary asked of two
or more named towns ("北留、旧院两个镇存在哪些问题？") is drafted too, each town under its own heading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant import question_model
from assistant.compose import Answer
from assistant.kinds.base import Answered, QuestionKind
from assistant.parts import Gap, Strong
from assistant.query import SUMMARY
from assistant.summarize import draft_summary, request_topic
from assistant.text import fold

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query

DRAFT = "draft"
"""The question model's kind of a drafting request (:mod:`assistant.question_model`)."""


def is_command(question: str) -> bool:
    """Whether chat input starts with a drafting command ("请起草…", "草拟…").

    The question model reads a drafting request, and the input opens with scaffolding (请, 帮我,
    起草 …), not with a town or a topic ("北留镇起草了哪些文件？" asks about a town).

    >>> is_command("帮我草拟一份普法工作汇总"), is_command("北留镇起草了哪些文件？")
    (True, False)
    """
    folded = fold(question).strip()
    if not folded or question_model.read(folded).kind != DRAFT:
        return False
    spans = question_model.scaffolding_spans(folded)
    return bool(spans) and spans[0][0] == 0 and spans[0][2]


class Draft(QuestionKind):
    """A drafting request, or a summary asked of several named towns (not asking for a figure); labelled a
    summary, answered with a draft."""

    def recognise(self, query: Query) -> bool:
        # A summary asked of two or more named towns is drafted town by town: each town's own points,
        # cited (the summary kind quotes one town's report).
        several = query.kind == SUMMARY and len(query.towns) >= 2
        return (query.asked == DRAFT or several) and not query.numeric

    def answer(self, ctx: Context, query: Query) -> Answered:
        topic = request_topic(query.text, query.towns)
        draft = draft_summary(ctx.retriever, topic, list(query.towns) or None)
        return Answered(Answer(
            question=query.text, blocks=(Strong(draft.title), Gap(), *draft.blocks), towns=draft.towns,
            abstained=not draft.towns, citations=draft.citations, kind=SUMMARY,
        ))  # fmt: skip

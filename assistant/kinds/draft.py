"""Drafting requests: "起草一份各镇普法工作的汇总" — a cited 汇总 across towns (:mod:`assistant.summarize`).

Two ways in, both owned here: a drafting request anywhere in a question (:data:`REQUEST`, any
interface), and the app's drafting command at the start of the chat input (:func:`is_command`,
which also takes 草拟 and then drafts for the towns selected in the app's filter).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant.compose import Answer
from assistant.kinds.base import Answered, QuestionKind
from assistant.parts import Gap, Strong
from assistant.query import SUMMARY
from assistant.summarize import draft_summary, request_topic

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query

REQUEST = re.compile(r"起草|撰写|拟写|写一份|形成.*(?:汇总|材料)|汇总材料|汇总一下")
"""A request to draft, in a folded question."""
_COMMAND = re.compile(r"^\s*(请|帮我|帮忙)?\s*(起草|草拟|撰写)")


def is_command(question: str) -> bool:
    """Whether chat input starts with a drafting command ("请起草…", "草拟…").

    >>> is_command("帮我草拟一份普法工作汇总"), is_command("北留镇起草了哪些文件？")
    (True, False)
    """
    return bool(_COMMAND.match(question))


class Draft(QuestionKind):
    """A drafting request (not asking for a figure); labelled a summary, answered with a draft."""

    def recognise(self, query: Query) -> bool:
        return bool(REQUEST.search(query.folded)) and not query.numeric

    def answer(self, ctx: Context, query: Query) -> Answered:
        topic = request_topic(query.text, query.towns)
        draft = draft_summary(ctx.retriever, topic, list(query.towns) or None)
        return Answered(Answer(
            question=query.text, blocks=(Strong(draft.title), Gap(), *draft.blocks), towns=draft.towns,
            abstained=not draft.towns, citations=draft.citations, kind=SUMMARY,
        ))  # fmt: skip

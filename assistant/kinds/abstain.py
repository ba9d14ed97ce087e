"""Abstention: what any retrieval-based kind answers when nothing in the reports supports an answer.

It is an outcome of retrieval (no supporting passage, an unknown town, no matching town), not a
shape of question, so it is not in the registry: :class:`~assistant.kinds.base.QuestionKind`
answers with :func:`abstain` whenever its retrieval abstains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.compose import Answer
from assistant.injection import flag
from assistant.parts import Gap, Item, Line

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.retrieve import Retrieval

RELATED_SHOWN = 3  # nearest passages listed under "可能相关"


def abstain(ctx: Context, retrieval: Retrieval) -> Answer:
    """ "报告中未找到…" with the reason and the nearest passages."""
    query = retrieval.query
    scope = phrasing.towns_scope(query.towns)
    related = tuple(ctx.cite(h.id) for h in retrieval.hits[:RELATED_SHOWN])
    blocks = [Line((phrasing.not_found(scope, retrieval.reason),))]
    if related:
        blocks += [Gap(), Line((phrasing.RELATED,))]
        # A paragraph that gives the assistant orders is listed only with a warning in front of it.
        blocks += [Item((c, flag(c.text), phrasing.related_excerpt(c.text))) for c in related]
    return Answer(
        question=query.text, blocks=tuple(blocks), towns=(), abstained=True, citations=(), related=related,
        kind=query.kind,
    )  # fmt: skip

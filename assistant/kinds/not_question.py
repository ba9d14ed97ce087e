"""Input that asks nothing: markup, punctuation, a lone town name, a few random letters.

Such input must never get a cited answer (retrieval always finds *something* nearest, e.g.
a 落款 date for "<script>alert(1)</script>"); it gets a short request to ask about the
reports' content instead. The test is structural — what is left once markup, punctuation,
digits and the town names are taken away — not a list of words.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.compose import Answer
from assistant.kinds.base import Answered, QuestionKind
from assistant.parts import Line
from vectorstore.kb import town_aliases

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query

_MARKUP = re.compile(r"<[^<>]{0,200}>|&[a-z]+;|https?://\S+")
_NOT_CONTENT = re.compile(r"[\W\d_]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z]{3,}")


def asks_nothing(query: Query) -> bool:
    """True when nothing but markup, punctuation, digits, town names or under two Latin words is left.

    >>> from assistant.query import analyse
    >>> [asks_nothing(analyse(q)) for q in ("<script>alert(1)</script>", "？？？", "asdfgh", "北留镇罚款多少？")]
    [True, True, True, False]
    """
    text = _MARKUP.sub(" ", query.folded)
    for town in query.towns:
        for alias in sorted(town_aliases(town), key=len, reverse=True):
            text = text.replace(alias, " ")
    text = _NOT_CONTENT.sub(" ", text)
    return not _CJK.search(text) and len(_WORD.findall(text)) < 2


class NotAQuestion(QuestionKind):
    """Answers input that asks nothing with a request to ask about the reports (never with a citation)."""

    def recognise(self, query: Query) -> bool:
        return asks_nothing(query)

    def answer(self, ctx: Context, query: Query) -> Answered:
        blocks = (Line((phrasing.NOT_A_QUESTION,)),)
        return Answered(
            Answer(question=query.text, blocks=blocks, towns=(), abstained=True, citations=(), kind=query.kind)
        )

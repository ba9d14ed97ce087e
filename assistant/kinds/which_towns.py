"""Which-towns questions: "哪些镇提到执法力量薄弱？" — every town whose report speaks of the topic, each with its evidence.

Recognised by its wording; retrieved town by town (each town is decided on its own best evidence,
see :meth:`assistant.retrieve.HybridRetriever.town_by_town`); answered with one quoted sentence per
matched town.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.compose import Answer, best_sentences, quotable, topic_weights
from assistant.kinds.abstain import abstain
from assistant.kinds.base import QuestionKind
from assistant.parts import Bold, Item, Line
from assistant.query import MULTI_TOWN, topic_phrase
from assistant.units import UNIT, WHICH, unit_word

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query
    from assistant.retrieve import Retrieval

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

"""Fact questions: "北留镇2024年行政处罚罚款金额是多少？" — the sentence that answers, quoted and cited.

The fallback kind: it labels and answers every question no earlier kind takes. A fact asked of
several named towns ("北留镇和旧院镇…") is answered town by town.

A fact asked of one named town is decided by the fitted fact decision (:mod:`assistant.answerable`):
the report may state the asked item in other words ("人民调解员26人" for "专门调解邻里纠纷的人"),
or speak of its topic without stating it ("聘请法律顾问" for "法律顾问花了多少钱"); the retriever's
own verdict is one of its features. It answers with the sentence that clears the decision, and
abstains — listing passages none of whose sentences clears it — when none does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.answerable import FIGURES, Verdict, default_fact_model, judge
from assistant.compose import Answer, drop_leads, quotable, sentence_score, topic_weights
from assistant.kinds.abstain import abstain
from assistant.kinds.base import ANSWER_PASSAGES, Answered, QuestionKind
from assistant.kinds.compare import town_sentences
from assistant.kinds.which_towns import town_lines
from assistant.parts import Bold, Item, Line
from assistant.query import COMPARE, FACT
from assistant.text import NUMBER, split_sentences

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query
    from assistant.retrieve import Retrieval

CANDIDATES = 3  # paragraphs of the top town whose sentences compete
RANK_PENALTY = 0.05  # per rank of the paragraph a sentence comes from: the best paragraph wins a tie
SECOND_SHARE = 0.9  # a second sentence is quoted when it scores this share of the best one
# Retrieval abstentions the fact decision may overrule: the passages are there, the verdict on them is its own.
OVERRULABLE = (phrasing.NO_SUPPORT, phrasing.NO_FIGURE)


class Fact(QuestionKind):
    """Anything else: one town's fact, quoted."""

    name = FACT
    generative = True

    def names(self, query: Query) -> bool:
        return True

    def recognise(self, query: Query) -> bool:
        return True

    def town_by_town(self, query: Query) -> bool:
        return len(query.towns) > 1

    def answer(self, ctx: Context, query: Query) -> Answered | None:
        """One named town's fact by the fitted fact decision; any other question as every kind answers it."""
        retrieval = ctx.retriever.retrieve(query, k=ANSWER_PASSAGES)
        model = default_fact_model()
        if query.kind == FACT and len(query.towns) > 1 and model is not None:
            return Answered(*each_town(ctx, retrieval))
        # A comparison left with one named town (the others have no report of the asked year: assistant.answer)
        # asks that town's fact.
        decided = query.kind in (FACT, COMPARE) and len(query.towns) == 1 and not retrieval.towns
        if model is None or not decided or (retrieval.abstain and retrieval.reason not in OVERRULABLE):
            if retrieval.abstain:
                return Answered(abstain(ctx, retrieval), retrieval)
            return Answered(self.compose(ctx, retrieval), retrieval)
        verdict = judge(ctx.retriever, retrieval, not retrieval.abstain, model)
        if verdict.kept:
            return Answered(self.compose(ctx, retrieval), retrieval)
        if not verdict.answers:
            # "未找到问题所问的数字" only where a figure was asked; a person or name not stated is no figure.
            reason = phrasing.NO_FIGURE if verdict.kind in FIGURES else phrasing.NO_SUPPORT
            retrieval = replace(retrieval, abstain=True, reason=reason)
            return Answered(abstain(ctx, retrieval), retrieval)
        retrieval = replace(retrieval, abstain=False, reason="")
        return Answered(quote_verdict(ctx, retrieval, verdict), retrieval)

    def compose(self, ctx: Context, retrieval: Retrieval) -> Answer:
        if retrieval.towns:
            return town_lines(ctx, retrieval, phrasing.EACH_TOWN)
        return quote_best(ctx, retrieval)


def each_town(ctx: Context, retrieval: Retrieval) -> tuple[Answer, Retrieval]:
    """A fact asked of several named towns: each town's sentence by the fact decision, or 未提及.

    Each town is judged as its own fact question (:func:`assistant.kinds.compare.town_sentences`),
    so a town whose report states the figure in other words is quoted although the question's words
    were not found in it; a town whose report does not state it is listed as not mentioning it.
    """
    rows = town_sentences(ctx, retrieval)
    if all(hit is None for _, hit, _ in rows):
        if not retrieval.abstain:
            retrieval = replace(retrieval, abstain=True, reason=phrasing.NO_TOWN)
        return abstain(ctx, retrieval), retrieval
    citations = []
    blocks: list = [Line((phrasing.EACH_TOWN,))]
    for m, hit, sentence in rows:
        if hit is None:
            blocks.append(Item((Bold(m.town), "：", phrasing.NOT_MENTIONED)))
            continue
        c = ctx.cite(hit.id, sentence)
        citations.append(c)
        blocks.append(Item((Bold(m.town), "：", sentence, c)))
    towns = tuple(m.town for m, hit, _ in rows if hit is not None)
    retrieval = replace(retrieval, abstain=False, reason="")
    answer = Answer(
        question=retrieval.query.text, blocks=tuple(blocks), towns=towns, abstained=False,
        citations=tuple(citations), kind=retrieval.query.kind,
    )  # fmt: skip
    return answer, retrieval


def quote_best(ctx: Context, retrieval: Retrieval) -> Answer:
    """The best sentence of the top town's best paragraphs, plus a second one that adds another figure."""
    query = retrieval.query
    weights = topic_weights(retrieval)
    # A paragraph that gives the assistant orders is never the answer; it is shown, flagged, only
    # when nothing else was found.
    hits = [h for h in retrieval.hits if quotable(h)]
    if not hits:
        return abstain(ctx, retrieval)
    top = hits[0]
    candidates = [h for h in hits[:CANDIDATES] if h.town == top.town]
    scored = []
    for h in candidates:
        parts = drop_leads(split_sentences(h.text) or [h.text], h.section)
        for s in parts:
            scored.append((sentence_score(s, weights, query.numeric) - RANK_PENALTY * candidates.index(h), s, h))
    scored.sort(key=lambda x: -x[0])
    _, sentence, hit = scored[0]
    citations = [ctx.cite(hit.id, sentence)]
    blocks = [Line((phrasing.fact(hit.town), sentence, citations[0]))]
    # A second sentence when it adds a different figure from another paragraph.
    for score, s, h in scored[1:]:
        if h.id != hit.id and score >= scored[0][0] * SECOND_SHARE and (not query.numeric or NUMBER.search(s)):
            c = ctx.cite(h.id, s)
            citations.append(c)
            blocks.append(Line((phrasing.fact(h.town), s, c)))
            break
    return Answer(
        question=query.text, blocks=tuple(blocks), towns=(hit.town,), abstained=False,
        citations=tuple(citations), kind=query.kind,
    )  # fmt: skip


def quote_verdict(ctx: Context, retrieval: Retrieval, verdict: Verdict) -> Answer:
    """The sentence the fact decision found answering (with the next one when the asked item is stated
    there), and a runner-up that clears the decision nearly as well."""
    best = verdict.candidate
    assert best is not None  # an answering verdict has a candidate
    hit = best.hit
    sentence = best.sentence + best.following if verdict.with_next else best.sentence
    citations = [ctx.cite(hit.id, sentence)]
    blocks = [Line((phrasing.fact(hit.town), sentence, citations[0]))]
    if verdict.runner_up is not None:
        second = verdict.runner_up
        citations.append(ctx.cite(second.hit.id, second.sentence))
        blocks.append(Line((phrasing.fact(second.hit.town), second.sentence, citations[1])))
    return Answer(
        question=retrieval.query.text, blocks=tuple(blocks), towns=(hit.town,), abstained=False,
        citations=tuple(citations), kind=retrieval.query.kind,
    )  # fmt: skip

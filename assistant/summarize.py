"""Drafting a 汇总: one topic across towns, grouped points, every point cited.

This is what an official pastes into a summary document: a heading per town,
points grouped under 成效与做法 / 存在问题 / 下一步 / 意见建议 (the report's suggestions to
higher levels), each point a sentence quoted from the report with its citation that reads on
its own. Towns whose reports do not mention the topic are listed as such rather than padded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant import phrasing
from assistant.cite import Citation, citation_for
from assistant.compose import best_sentences, quotable
from assistant.parts import Block, Gap, Heading, Item, Line
from assistant.query import SUMMARY, Query, normalise
from assistant.question_model import scaffolding_words
from assistant.render import markdown
from assistant.sections import PLANS, PRACTICE, PROBLEMS, SUGGESTIONS, asked_group, section_group
from assistant.text import fold, split_sentences
from vectorstore.kb import town_aliases

# A connective that ties a sentence to the one before ("同时，", "此外，", "为此，"): one word of a
# function class (jieba's conjunctions c, adverbs d, pronouns r, localisers f: 同时, 再次, 其中, 最后)
# set off by a comma at the sentence's start. It is cut from a point's start, so the point reads on
# its own (the quote stays a verbatim part of the paragraph).
_CONNECTIVE_TAG = re.compile(r"^[cdrf]")


def _drop_connective(sentence: str) -> str:
    """The sentence without a leading connective and its comma.

    >>> _drop_connective("与此同时，镇里建成调解室5个。"), _drop_connective("全年，调解纠纷32起。")
    ('镇里建成调解室5个。', '全年，调解纠纷32起。')
    """
    from vectorstore.tokenize import default_tokenizer

    words = default_tokenizer().pos.cut(sentence[:12])
    first, second = next(words, None), next(words, None)
    if first is None or second is None or second.word not in "，,、" or not _CONNECTIVE_TAG.match(first.flag):
        return sentence
    return sentence[len(first.word) + 1 :].lstrip()


# A sentence that leans on the one before ("这一做法…", "该制度…", "上述问题…") needs it.
_ANAPHOR = re.compile(r"^(?:这些|这一|这种|这|此项|此类|该|上述|以上|前述)")
# A lead-in that announces what follows ("主要做法如下：").
_LEAD_IN = re.compile(r"[：:]$")
# A report's own preamble ("现将2024年工作总结汇报如下："): says nothing a point could carry.
_PREAMBLE = re.compile(r"^现将.{0,60}(?:如下|报告|汇报)[。：:]?$")


def standalone(sentence: str, text: str) -> str:
    """The quoted point as a sentence that reads on its own, still verbatim from the paragraph.

    A leading connective is dropped; a sentence that leans on the one before takes it along; a
    lead-in ending in a colon takes the sentence after it.

    Args:
        sentence: The chosen sentence (a sentence of ``text``).
        text: The paragraph.

    Returns:
        A contiguous part of ``text``.

    >>> standalone("同时，三道沟镇建成调解室5个。", "一是调解。同时，三道沟镇建成调解室5个。")
    '三道沟镇建成调解室5个。'
    >>> standalone("这一做法得到推广。", "镇里建立了周例会制度。这一做法得到推广。")
    '镇里建立了周例会制度。这一做法得到推广。'
    """
    sentences = split_sentences(text)
    if sentence in sentences:
        i = sentences.index(sentence)
        first, last = i, i
        if _ANAPHOR.match(sentence) and i > 0:
            first = i - 1
        if _LEAD_IN.search(sentence) and i + 1 < len(sentences):
            last = i + 1
        if (first, last) != (i, i):
            start = text.find(sentences[first])
            end = text.find(sentences[last], start) + len(sentences[last]) if start >= 0 else -1
            if start >= 0 and end > start:
                sentence = text[start:end]
    trimmed = _drop_connective(sentence)
    return trimmed if len(trimmed) >= 6 else sentence


@dataclass(frozen=True)
class Draft:
    """A drafted summary.

    Attributes:
        title: Document title.
        blocks: Body as typed parts (:mod:`assistant.parts`): a heading per town, one per group, cited points.
        citations: Every cited paragraph, in order of appearance.
        towns: Towns with at least one cited point.
    """

    title: str
    blocks: tuple[Block, ...]
    citations: tuple[Citation, ...]
    towns: tuple[str, ...]

    @property
    def markdown(self) -> str:
        """Body as Markdown, inline citation labels."""
        return markdown(self.blocks)


def request_topic(text: str, towns: tuple[str, ...] = ()) -> str:
    """The topic of a drafting request: "起草一份各镇普法工作的汇总" → "普法工作".

    The request's scaffolding (起草, 一份, 各镇, 汇总 …) is told from its topic by the fitted token
    model (:mod:`assistant.question_model`), with the towns taken out first.
    """
    from assistant.question_model import topic_span

    folded = normalise(text)
    for town in towns:
        for alias in sorted(town_aliases(town), key=len, reverse=True):
            folded = folded.replace(fold(alias), " ")
    topic = topic_span(folded).strip("的 ")
    return topic or "法治建设"


def draft_summary(source, topic: str, towns: list[str] | None = None, per_town: int = 4) -> Draft:
    """Draft a cited summary of a topic for some or all towns.

    Args:
        source: An :class:`assistant.service.Assistant` or a :class:`assistant.retrieve.HybridRetriever`.
        topic: What to summarise, e.g. ``普法`` or ``执法队伍建设问题``.
        towns: Towns to cover (all when None).
        per_town: Most points per town.

    Returns:
        The draft.
    """
    if per_town < 1:
        raise ValueError(f"per_town must be >= 1, got {per_town}")
    retriever = getattr(source, "retriever", source)
    paragraphs = retriever.kb.paragraphs
    towns = list(towns or retriever.kb.towns())
    title = phrasing.draft_title(towns, topic)
    blocks: list[Block] = []
    citations: list[Citation] = []
    covered: list[str] = []
    # The topic's own scaffolding ("…方面的", "…情况") is no term to search for.
    scaffolding = scaffolding_words(normalise(topic))
    probe = Query(
        text=topic, folded=normalise(topic), kind=SUMMARY, search_text=normalise(topic), scaffolding=scaffolding
    )
    topic_info = retriever.topic(probe)
    weights = {t: w for t, w in topic_info.weights.items() if w > 0}
    missing: list[str] = []
    focus = asked_group(topic)  # "问题汇总" wants only the problems
    for town in towns:
        query = Query(
            text=f"{town}{topic}", folded=normalise(f"{town}{topic}"), kind=SUMMARY,
            search_text=normalise(topic), towns=(town,), scaffolding=scaffolding,
        )  # fmt: skip
        retrieval = retriever.retrieve(query, k=per_town * 4)
        # Title, 文号 and 落款 are no points of a 汇总 (the heading already names the town);
        # a planted instruction is never one either.
        body = [h for h in retrieval.hits if getattr(paragraphs.get(h.id), "role", "body") == "body" and quotable(h)]
        hits = [h for h in body if retriever.supports(h, topic_info)]
        if focus:
            focused = [h for h in body if section_group(h.section_path) == focus]
            hits = focused or hits
        hits = hits[:per_town]
        if not hits:
            missing.append(town)
            continue
        covered.append(town)
        blocks.append(Heading(town, 2))
        grouped: dict[str, list[Item]] = {}
        seen: set[str] = set()
        for hit in sorted(hits, key=lambda h: paragraphs[h.id].ordinal):
            group = section_group(hit.section_path)
            sentence = standalone(best_sentences(hit, weights, False)[0], hit.text)
            if _PREAMBLE.search(sentence.split("，")[-1]) or _PREAMBLE.search(sentence):
                continue  # "…现将工作总结汇报如下：" is no point of a 汇总
            if sentence in seen:  # reports repeat sentences across sections
                continue
            seen.add(sentence)
            citation = citation_for(retriever.kb, hit.id, sentence)
            citations.append(citation)
            grouped.setdefault(group, []).append(Item((sentence, citation)))
        # A 汇总 leads with what was achieved; the suggestions to higher levels close it, apart
        # from the town's own plans.
        for group in (PRACTICE, PROBLEMS, PLANS, SUGGESTIONS):
            if group in grouped:
                blocks += [Heading(group, 3), *grouped[group]]
        blocks.append(Gap())
    if missing:
        blocks.append(Line((phrasing.draft_missing(topic, missing),)))
    if not covered:
        blocks = [Line((phrasing.draft_empty(topic),))]
    while blocks and isinstance(blocks[-1], Gap):
        blocks.pop()
    return Draft(title=title, blocks=tuple(blocks), citations=tuple(citations), towns=tuple(covered))


def write_draft(draft: Draft, path: str) -> str:
    """Write a draft as .docx or .md (by extension), with footnote-style citations."""
    from assistant.export import write_docx, write_markdown

    if path.lower().endswith(".docx"):
        return str(write_docx(path, draft.title, draft.blocks, draft.citations))
    if path.lower().endswith((".md", ".markdown", ".txt")):
        return str(write_markdown(path, draft.title, draft.blocks, draft.citations))
    raise ValueError(f"输出文件须为 .docx 或 .md：{path}")

"""Drafting a 汇总: one topic across towns, grouped points, every point cited.

This is what an official pastes into a summary document: a heading per town,
points grouped under 成效与做法 / 存在问题 / 下一步, each point a sentence quoted
from the report with its citation. Towns whose reports do not mention the topic
are listed as such rather than padded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant import phrasing
from assistant.cite import Citation, citation_for
from assistant.compose import best_sentences, quotable
from assistant.parts import Block, Gap, Heading, Item, Line
from assistant.query import SUMMARY, Query, normalise
from assistant.render import markdown
from assistant.sections import PLANS, PRACTICE, PROBLEMS, asked_group, section_group

_REQUEST = re.compile(
    r"请|帮我|帮忙|起草|撰写|写一份|写个|生成|形成|拟写|一份|一个|汇总|综述|材料|报告|各镇|所有镇|全部|的$"
)


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
    """The topic of a drafting request: "起草一份各镇普法工作的汇总" → "普法工作"."""
    from assistant.query import topic_phrase

    topic = topic_phrase(text)
    for town in towns:
        topic = topic.replace(town, "")
    topic = _REQUEST.sub("", re.sub(r"[？?。！!，,]", "", topic)).strip("的 ")
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
    probe = Query(text=topic, folded=normalise(topic), kind=SUMMARY, search_text=normalise(topic))
    topic_info = retriever.topic(probe)
    weights = {t: w for t, w in topic_info.weights.items() if w > 0}
    missing: list[str] = []
    focus = asked_group(topic)  # "问题汇总" wants only the problems
    for town in towns:
        query = Query(
            text=f"{town}{topic}", folded=normalise(f"{town}{topic}"), kind=SUMMARY,
            search_text=normalise(topic), towns=(town,),
        )  # fmt: skip
        retrieval = retriever.retrieve(query, k=per_town * 4)
        hits = [h for h in retrieval.hits if quotable(h) and retriever.supports(h, topic_info)]
        if focus:
            focused = [h for h in retrieval.hits if quotable(h) and section_group(h.section_path) == focus]
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
            sentence = best_sentences(hit, weights, False)[0]
            if sentence in seen:  # reports repeat sentences across sections
                continue
            seen.add(sentence)
            citation = citation_for(retriever.kb, hit.id, sentence)
            citations.append(citation)
            grouped.setdefault(group, []).append(Item((sentence, citation)))
        for group in (PRACTICE, PROBLEMS, PLANS):  # a 汇总 leads with what was achieved
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

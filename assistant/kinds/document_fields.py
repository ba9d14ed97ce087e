"""Questions about the report itself: "北留镇报告的文号是什么？", "由谁签发？", "落款日期？".

Answered from the document metadata the ingest extracted, each value cited to the front-matter or
sign-off paragraph that states it; no passage retrieval is needed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.compose import Answer
from assistant.kinds.base import Answered, QuestionKind
from assistant.parts import Line
from assistant.query import META
from vectorstore.paragraph_table import ParagraphTable

if TYPE_CHECKING:
    from assistant.kinds.base import Context
    from assistant.query import Query
    from assistant.retrieve import HybridRetriever, Retrieval, Topic

DEFAULT_FIELDS = ("doc_number", "signer", "date")
_SHORT_QUOTE = 60  # a paragraph this short is quoted whole (a masthead line, a sign-off)


class DocumentFields(QuestionKind):
    """文号 / 签发人 / 落款日期 / 标题 / 发文机关 of a town's report (a field asked, no figure)."""

    name = META

    def names(self, query: Query) -> bool:
        return bool(query.fields) and not query.numeric

    def retrieve(self, retriever: HybridRetriever, query: Query, topic: Topic, k: int) -> Retrieval:
        # A search shows the paragraphs the answer cites (each holds a field value of the metadata), then
        # the front-matter/sign-off paragraphs stating such fields; when none does, ordinary passages.
        from assistant.retrieve import Retrieval

        found = retriever.document_fields(query, topic, k)
        holding = _holding_hits(retriever, query)
        if holding:
            seen = {h.id for h in holding}
            rest = [h for h in (found.hits if found else ()) if h.id not in seen]
            hits = tuple([*holding, *rest][:k])
            return Retrieval(query=query, hits=hits, topic_terms=tuple(topic.weights), topic=topic)
        return found or super().retrieve(retriever, query, topic, k)

    def answer(self, ctx: Context, query: Query) -> Answered:
        kb = ctx.retriever.kb
        towns = query.towns or tuple(kb.towns())
        blocks, citations = [], []
        reports = _reports_by_town(kb)
        for town in towns:
            for meta in reports.get(town, ()):
                for name in query.fields or DEFAULT_FIELDS:
                    value = getattr(meta, name)
                    label = phrasing.FIELD_LABELS[name]
                    if not value:
                        blocks.append(Line((phrasing.field_missing(town, label),)))
                        continue
                    para = _holding_paragraph(kb, meta.doc_id, name, value)
                    if para is None:
                        blocks.append(Line((phrasing.field_value(town, label, value, cited=False),)))
                        continue
                    c = ctx.cite(para.id, para.text if len(para.text) <= _SHORT_QUOTE else "")
                    citations.append(c)
                    blocks.append(Line((phrasing.field_value(town, label, value, cited=True), c)))
        if not citations:
            scope = phrasing.TOWN_SEPARATOR.join(towns) if query.towns else phrasing.ALL_TOWNS
            asked = phrasing.TOWN_SEPARATOR.join(phrasing.FIELD_LABELS[f] for f in query.fields)
            return Answered(Answer(
                question=query.text, blocks=(Line((phrasing.fields_not_found(scope, asked),)),), towns=(), abstained=True,
                citations=(), kind=META,
            ))  # fmt: skip
        return Answered(Answer(
            question=query.text, blocks=tuple(blocks), towns=tuple(dict.fromkeys(c.town for c in citations)),
            abstained=False, citations=tuple(citations), kind=META,
        ))  # fmt: skip


def _holding_hits(retriever: HybridRetriever, query: Query) -> list:
    """Hits of the paragraphs stating the asked fields' values, for the question's towns (none named: no hits)."""
    from assistant.retrieve import _hit

    kb = retriever.kb
    out, seen = [], set()
    reports = _reports_by_town(kb)
    for town in query.towns:
        for meta in reports.get(town, ()):
            for name in query.fields or DEFAULT_FIELDS:
                value = getattr(meta, name)
                para = _holding_paragraph(kb, meta.doc_id, name, value) if value else None
                if para is not None and para.id not in seen:
                    seen.add(para.id)
                    out.append(_hit(para, 1.0, 0.0, 0.0, 1.0, "meta"))
    return out


def _reports_by_town(kb) -> dict[str, list]:
    """Each town's document metadata, in the catalogue's order (one pass: a question over all 2,000
    towns scanned the 2,000 records once per town)."""
    out: dict[str, list] = {}
    for meta in kb.metas.values():
        out.setdefault(meta.town, []).append(meta)
    return out


def _holding_paragraph(kb, doc_id: str, field_name: str, value: str):
    """The paragraph of a document that states a metadata value."""
    needle = re.sub(r"\s+", "", value)
    if field_name == "date":
        y, m, d = (int(x) for x in value.split("-"))
        pattern = re.compile(rf"{y}\s*年\s*0?{m}\s*月\s*0?{d}\s*日")
        match = lambda text: bool(pattern.search(text))  # noqa: E731
    else:
        match = lambda text: needle in re.sub(r"\s+", "", text)  # noqa: E731
    paragraphs = kb.paragraphs
    if isinstance(paragraphs, ParagraphTable):  # only this document's paragraphs are made
        own = paragraphs.document_paragraphs(doc_id)
    else:
        own = [p for p in paragraphs.values() if p.doc_id == doc_id]
    candidates = [p for p in own if p.role in ("front", "sign")] + [p for p in own if p.role == "body"]
    return next((p for p in candidates if match(p.text)), None)

"""Grounded extractive answers: quote the sentences that answer, cite their paragraphs.

The default path needs no LLM and is deterministic: every sentence in an
answer is copied verbatim from a cited paragraph, and the citation validator
checks that before the answer leaves this module. An optional LLM (see
``assistant.llm``) may rewrite the answer, under the same citation rules.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from assistant.cite import Citation, citation_for, cite, validate
from assistant.lexicon import coverage
from assistant.query import COMPARE, FACT, META, MULTI_TOWN, SUMMARY, Query, topic_phrase
from assistant.retrieve import Hit, HybridRetriever, Retrieval
from assistant.sections import ORDER as GROUP_ORDER
from assistant.sections import asked_group, section_group
from assistant.text import NUMBER, fold, split_sentences

_DRAFT = re.compile(r"起草|撰写|拟写|写一份|形成.*(?:汇总|材料)|汇总材料|汇总一下")
_SUPERLATIVE = re.compile(r"最多|最少|最高|最低|最大|最小")
_FIELD_LABELS = {"doc_number": "文号", "signer": "签发人", "date": "落款日期", "title": "标题", "issuer": "发文机关"}


@dataclass(frozen=True)
class Answer:
    """An answer with its citations.

    Attributes:
        question: The question as asked.
        answer: Answer text (Chinese, Markdown), citations rendered inline.
        towns: Towns the answer asserts.
        abstained: The reports do not answer the question.
        citations: Paragraphs the answer rests on.
        related: Nearest passages shown with an abstention ("可能相关").
        kind: Question kind.
        notice: A note for the user (e.g. the LLM fell back to the extractive answer).
    """

    question: str
    answer: str
    towns: tuple[str, ...]
    abstained: bool
    citations: tuple[Citation, ...]
    related: tuple[Citation, ...] = ()
    kind: str = FACT
    notice: str = ""
    flags: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """The CLI contract's ask object."""
        return {
            "question": self.question,
            "answer": self.answer,
            "towns": list(self.towns),
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "related": [c.to_dict() for c in self.related],
            "kind": self.kind,
            "notice": self.notice,
        }


def _sentence_score(sentence: str, terms: dict[str, float], numeric: bool) -> float:
    return _folded_score(fold(sentence), terms, numeric)


def _folded_score(folded: str, terms: dict[str, float], numeric: bool) -> float:
    score = coverage(folded, terms)
    if numeric:
        score += 0.5 if NUMBER.search(folded) else -0.3
    return score


_ITEM_LEAD = re.compile(r"^[一二三四五六七八九十]+是[^，,；;。]{0,14}[。；;]?$")
_LEAD_NOISE = re.compile(r"[\s。；：:;,，、()（）]")


def _is_lead(sentence: str, head: str) -> bool:
    """A sentence that only repeats its section heading ("五是强化普法宣教。"); ``head`` without punctuation."""
    if sentence.rstrip().endswith(("：", ":")):  # "…工作计划如下：" introduces, says nothing
        return True
    if _ITEM_LEAD.match(sentence.strip()):  # "一是领导干部带头学。" names an item, says nothing of it
        return True
    core = _LEAD_NOISE.sub("", sentence)
    return bool(core) and (core == head or (len(core) <= len(head) + 2 and core.startswith(head[:4])))


def best_sentences(
    hit: Hit, terms: dict[str, float], numeric: bool, n: int = 1, forms: list[str] | None = None
) -> list[str]:
    """The sentence(s) of a paragraph that best match the question, in reading order.

    A sentence that merely restates the section heading is a last resort: the
    heading is already in the citation.

    Args:
        hit: The paragraph.
        terms: The question's weighted terms.
        numeric: The question asks for a figure (sentences with one are preferred).
        n: How many sentences.
        forms: The index forms of the paragraph's sentences, when known (folding every
            sentence again costs ~0.1 ms each; an answer naming a thousand towns adds up).
    """
    sentences = split_sentences(hit.text) or [hit.text]
    folded = forms if forms is not None and len(forms) == len(sentences) else [fold(s) for s in sentences]
    candidates = range(len(sentences))
    if len(sentences) > 1:
        head = _LEAD_NOISE.sub("", hit.section)
        candidates = [i for i in candidates if not _is_lead(sentences[i], head)] or candidates
    ranked = sorted(candidates, key=lambda i: -_folded_score(folded[i], terms, numeric))
    keep = sorted(ranked[:n])
    return [sentences[i] for i in keep]


class Answerer:
    """Builds answers from retrieval results.

    Args:
        retriever: The hybrid retriever.
        llm: Optional LLM backend (``assistant.llm``); None for extractive only.
    """

    def __init__(self, retriever: HybridRetriever, llm=None) -> None:
        self.retriever = retriever
        self.llm = llm
        self._facts: list | None = None

    def ask(self, question: str) -> Answer:
        """Answer a question.

        Follow-ups are resolved before they get here (``assistant.conversation``).

        Args:
            question: The question.

        Returns:
            The answer; citations validated against the index.
        """
        answer = None
        for item in self.ask_stream(question):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def ask_stream(self, question: str) -> Iterator[str | Answer]:
        """Answer a question, yielding partial LLM text first when an LLM is configured.

        Yields:
            Text pieces of the model's raw answer (LLM path only), then the final
            :class:`Answer` (always last; citations validated).
        """
        query = self.retriever.understand(question)
        retrieval = None
        if _DRAFT.search(query.folded) and not query.numeric:
            answer = self._draft(query)
        elif query.kind == META:
            answer = self._meta(query)
        else:
            # Per-town figures come from the statistics table; no retrieval needed for those.
            answer = self._from_table(query)
            if answer is None:
                retrieval = self.retriever.retrieve(query, k=8)
                answer = self._extractive(retrieval)
        if self.llm is not None and retrieval is not None and not answer.abstained and answer.kind != COMPARE:
            generated = None
            for item in self._generate(retrieval, answer):
                if isinstance(item, Answer):
                    generated = item
                else:
                    yield item
            answer = generated or answer
        validate(list(answer.citations) + list(answer.related), self.retriever.kb.paragraphs)
        yield answer

    def _passages(self, retrieval: Retrieval, answer: Answer) -> list:
        from assistant.llm import Passage

        chosen: list[str] = [c.id for c in answer.citations]
        if retrieval.towns:
            for m in retrieval.towns:
                if m.matched:
                    chosen += [h.id for h in m.hits[:2]]
        chosen += [h.id for h in retrieval.hits[:6]]
        ids = list(dict.fromkeys(chosen))[:10]
        return [Passage(number=i, citation=self._cite(pid)) for i, pid in enumerate(ids, 1)]

    def _generate(self, retrieval: Retrieval, fallback: Answer) -> Iterator[str | Answer]:
        """The LLM path; yields raw text pieces, then the grounded answer (or the fallback with a notice)."""
        from assistant.llm import LLMError, build_messages, ground

        passages = self._passages(retrieval, fallback)
        system, user = build_messages(retrieval.query.text, passages)
        pieces: list[str] = []
        try:
            for piece in self.llm.stream(system, user):
                pieces.append(piece)
                yield piece
        except LLMError as err:
            yield replace(fallback, notice=f"大模型调用失败（{str(err)[:80]}），已改用原文摘录回答。")
            return
        grounded = ground("".join(pieces), passages, retrieval.query.text)
        if not grounded.citations:
            yield replace(fallback, notice="大模型的回答没有可核对的引用，已改用原文摘录回答。", flags=grounded.flags)
            return
        notice = "已删除大模型回答中无法核对的内容。" if grounded.flags else ""
        towns = tuple(dict.fromkeys(c.town for c in grounded.citations))
        if retrieval.towns:
            matched = {m.town for m in retrieval.towns if m.matched}
            towns = tuple(t for t in towns if t in matched) or tuple(sorted(matched))
        yield Answer(
            question=fallback.question, answer=grounded.text, towns=towns, abstained=False,
            citations=grounded.citations, kind=fallback.kind, notice=notice, flags=grounded.flags,
        )  # fmt: skip

    # --- per kind ----------------------------------------------------------
    def _weights(self, retrieval: Retrieval) -> dict[str, float]:
        weights = retrieval.topic.weights if retrieval.topic else {}
        return {t: w for t, w in weights.items() if w > 0} or {t: 1.0 for t in retrieval.topic_terms}

    def _cite(self, pid: str, quote: str = "") -> Citation:
        return citation_for(self.retriever.kb, pid, quote)

    @property
    def facts(self) -> list:
        """The statistics table of the knowledge base (extracted once)."""
        if self._facts is None:
            self._facts = _load_facts(self.retriever.kb)
            gc.freeze()  # long-lived rows: keep them out of every later garbage collection
        return self._facts

    def _extractive(self, retrieval: Retrieval) -> Answer:
        query = retrieval.query
        if retrieval.abstain:
            return self._abstain(retrieval)
        if retrieval.towns:
            return self._cross_town(retrieval)
        if query.kind == SUMMARY:
            return self._summary(retrieval)
        return self._fact(retrieval)

    def _draft(self, query: Query) -> Answer:
        """A drafting request ("起草一份各镇普法工作的汇总") answered with a cited draft."""
        from assistant.summarize import draft_summary, request_topic

        topic = request_topic(query.text, query.towns)
        draft = draft_summary(self.retriever, topic, list(query.towns) or None)
        return Answer(
            question=query.text, answer=f"**{draft.title}**\n\n{draft.markdown}", towns=draft.towns,
            abstained=not draft.towns, citations=draft.citations, kind=SUMMARY,
        )  # fmt: skip

    def _from_table(self, query: Query) -> Answer | None:
        """Per-town figures and superlatives ("各镇分别…多少", "哪个镇…最多") from the statistics table."""
        superlative = _SUPERLATIVE.search(query.folded)
        several = len(query.towns) > 1 or (not query.towns and query.kind in (COMPARE, MULTI_TOWN))
        if not (query.numeric or superlative) or not (several or superlative):
            return None
        from assistant.stats import facts_table, find_metric, normalized_value

        metric = find_metric(query.text)
        if metric is None:
            return None
        towns = list(query.towns) or self.retriever.kb.towns()
        rows = facts_table(self.facts, towns=towns, metrics=[metric], dedupe=True)
        if query.years:
            rows = [f for f in rows if f.year in query.years] or rows
        by_town: dict[str, list] = {}
        for fact in rows:
            by_town.setdefault(fact.town, []).append(fact)
        if not by_town:
            return None
        label = metric.label.split("（")[0]
        lines = [f"| 镇 | {metric.label} | 报告原文 | 出处 |", "| --- | --- | --- | --- |"]
        citations: list[Citation] = []
        cited: set[tuple[str, str]] = set()
        position = {t: i for i, t in enumerate(towns)}
        order = sorted(towns, key=lambda t: (t not in by_town, position[t]))
        for town in order:
            facts = by_town.get(town)
            if not facts:
                lines.append(f"| {town} | 未提及 | — | — |")
                continue
            cells = []
            for fact in facts:
                c = self._cite(fact.paragraph_id, fact.quote)
                if (c.id, c.quote) not in cited:
                    cited.add((c.id, c.quote))
                    citations.append(c)
                cells.append((fact.display, fact.quote, c.render()))
            lines.append(
                f"| {town} | {'；'.join(x[0] for x in cells)} | {'；'.join(x[1] for x in cells)} | "
                f"{''.join(dict.fromkeys(x[2] for x in cells))} |"
            )
        asserted = tuple(t for t in order if t in by_town)
        head = f"各镇{label}情况（{len(by_town)}个镇的报告给出了数字）："
        if superlative:
            most = superlative.group(0) in ("最多", "最高", "最大")
            best = (max if most else min)(rows, key=lambda f: normalized_value(f)[0])
            value, unit = normalized_value(best)
            head = f"{label}{superlative.group(0)}的是{best.town}：{best.quote}{self._cite(best.paragraph_id).render()}。各镇对比："
            asserted = (best.town,)
        return Answer(
            question=query.text, answer=head + "\n\n" + "\n".join(lines), towns=asserted, abstained=False,
            citations=tuple(citations), kind=COMPARE,
        )  # fmt: skip

    def _abstain(self, retrieval: Retrieval) -> Answer:
        query = retrieval.query
        scope = "、".join(query.towns) + "的" if query.towns else ""
        related = tuple(self._cite(h.id) for h in retrieval.hits[:3])
        lines = [f"报告中未找到{scope}相关内容：{retrieval.reason or '没有段落直接回答这个问题'}。"]
        if related:
            lines.append("\n可能相关：")
            lines += [f"- {c.render()} {c.text[:60]}…" for c in related]
        return Answer(
            question=query.text, answer="\n".join(lines), towns=(), abstained=True, citations=(), related=related,
            kind=query.kind,
        )  # fmt: skip

    def _fact(self, retrieval: Retrieval) -> Answer:
        query = retrieval.query
        weights = self._weights(retrieval)
        hits = list(retrieval.hits)
        top = hits[0]
        candidates = [h for h in hits[:3] if h.town == top.town]
        scored = []
        for h in candidates:
            parts = split_sentences(h.text) or [h.text]
            head = _LEAD_NOISE.sub("", h.section)
            parts = [s for s in parts if not _is_lead(s, head)] or parts
            for s in parts:
                scored.append((_sentence_score(s, weights, query.numeric) - 0.05 * candidates.index(h), s, h))
        scored.sort(key=lambda x: -x[0])
        _, sentence, hit = scored[0]
        citations = [self._cite(hit.id, sentence)]
        lines = [f"{hit.town}：{sentence}{citations[0].render()}"]
        # A second sentence when it adds a different figure from another paragraph.
        for score, s, h in scored[1:]:
            if h.id != hit.id and score >= scored[0][0] * 0.9 and (not query.numeric or NUMBER.search(s)):
                c = self._cite(h.id, s)
                citations.append(c)
                lines.append(f"{h.town}：{s}{c.render()}")
                break
        return Answer(
            question=query.text, answer="\n".join(lines), towns=(hit.town,), abstained=False,
            citations=tuple(citations), kind=query.kind,
        )  # fmt: skip

    def _cross_town(self, retrieval: Retrieval) -> Answer:
        query = retrieval.query
        forms = self.retriever.sentence_forms
        weights = self._weights(retrieval)
        matched = [m for m in retrieval.towns if m.matched]
        citations: list[Citation] = []
        topic = topic_phrase(query.text)
        if query.kind == COMPARE:
            lines = ["| 镇 | 报告原文 | 出处 |", "| --- | --- | --- |"]
            for m in retrieval.towns:
                if not m.matched:
                    lines.append(f"| {m.town} | 未提及 | — |")
                    continue
                hit = m.lead
                sentence = best_sentences(hit, weights, query.numeric, forms=forms(hit.id))[0]
                c = self._cite(hit.id, sentence)
                citations.append(c)
                lines.append(f"| {m.town} | {sentence} | {c.render()} |")
            head = f"各镇对比（{len(matched)}个镇的报告提到）："
            text = head + "\n\n" + "\n".join(lines)
        else:
            lines = [f"共{len(matched)}个镇提到{topic}：" if query.kind == MULTI_TOWN else "各镇情况："]
            for m in matched:
                hit = m.lead
                sentence = best_sentences(hit, weights, query.numeric, forms=forms(hit.id))[0]
                c = self._cite(hit.id, sentence)
                citations.append(c)
                lines.append(f"- **{m.town}**：{sentence}{c.render()}")
            text = "\n".join(lines)
        return Answer(
            question=query.text, answer=text, towns=tuple(m.town for m in matched), abstained=False,
            citations=tuple(citations), kind=query.kind,
        )  # fmt: skip

    def _summary(self, retrieval: Retrieval) -> Answer:
        query = retrieval.query
        weights = self._weights(retrieval)
        top_town = retrieval.hits[0].town
        hits = [h for h in retrieval.hits if h.town == top_town][:6]
        focus = asked_group(query.folded)
        if focus:  # "有哪些打算" wants the plans: the town's paragraphs of that part of the report
            town_hits = [h for h in retrieval.hits if h.town == top_town]
            hits = [h for h in town_hits if section_group(h.section_path) == focus][:6] or hits
        elif retrieval.topic is not None:
            # Only paragraphs that speak of the topic; the rest were retrieved for fusion, not evidence.
            hits = [h for i, h in enumerate(hits) if i == 0 or self.retriever.supports(h, retrieval.topic)]
        groups: dict[str, list[tuple[str, Citation]]] = {}
        for h in hits:
            group = section_group(h.section_path)
            sentence = best_sentences(h, weights, False)[0]
            c = self._cite(h.id, sentence)
            groups.setdefault(group, []).append((sentence, c))
        lines = [f"{top_town}报告中的相关内容："]
        for group in GROUP_ORDER:
            if group in groups:
                lines.append(f"\n**{group}**")
                lines += [f"- {s}{c.render()}" for s, c in groups[group]]
        citations = tuple(c for items in groups.values() for _, c in items)
        return Answer(
            question=query.text, answer="\n".join(lines), towns=(top_town,), abstained=False,
            citations=citations, kind=query.kind,
        )  # fmt: skip

    def _meta(self, query: Query) -> Answer:
        kb = self.retriever.kb
        towns = query.towns or tuple(kb.towns())
        lines, citations = [], []
        for town in towns:
            for meta in (m for m in kb.metas.values() if m.town == town):
                for name in query.fields or ("doc_number", "signer", "date"):
                    value = getattr(meta, name)
                    label = _FIELD_LABELS[name]
                    if not value:
                        lines.append(f"{town}：报告中未写明{label}。")
                        continue
                    para = _holding_paragraph(kb, meta.doc_id, name, value)
                    if para is None:
                        lines.append(f"{town}：{label}为 {value}。")
                        continue
                    c = self._cite(para.id, para.text if len(para.text) <= 60 else "")
                    citations.append(c)
                    lines.append(f"{town}：{label}为 {value}{c.render()}")
        if not citations:
            scope = "、".join(towns) if query.towns else "各镇"
            return Answer(
                question=query.text, answer=f"报告中未找到{scope}报告的{'、'.join(_FIELD_LABELS[f] for f in query.fields)}。",
                towns=(), abstained=True, citations=(), kind=META,
            )  # fmt: skip
        return Answer(
            question=query.text, answer="\n".join(lines), towns=tuple(dict.fromkeys(c.town for c in citations)),
            abstained=False, citations=tuple(citations), kind=META,
        )  # fmt: skip


def _load_facts(kb) -> list:
    """The statistics table, cached on disk per index generation and per document.

    Extraction reads every paragraph (~8 s at 2,000 reports); after an ingest only the new
    or renamed documents are read again, the rest comes from the previous table.
    """
    import hashlib
    import json
    import os
    from dataclasses import asdict

    from assistant.stats import METRICS_PATH, Fact, extract_facts

    path = kb.dir / "facts.json"
    generation = kb.catalog.get_state("generation", "0")
    version = "1-" + hashlib.sha1(METRICS_PATH.read_bytes()).hexdigest()[:12]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != version:
            data = {}
    except (OSError, ValueError):
        data = {}
    cached = data.get("docs") if isinstance(data.get("docs"), dict) else {}
    if data.get("generation") == generation:
        try:
            return [Fact(**row) for entry in cached.values() for row in entry["facts"]]
        except (TypeError, KeyError):
            cached = {}
    by_doc: dict[str, list] = {}
    for paragraph in kb.paragraphs.values():
        by_doc.setdefault(paragraph.doc_id, []).append(paragraph)
    docs = {}
    for doc_id, paragraphs in by_doc.items():
        entry = cached.get(doc_id)
        if not (isinstance(entry, dict) and entry.get("town") == paragraphs[0].town and "facts" in entry):
            entry = {"town": paragraphs[0].town, "facts": [asdict(f) for f in extract_facts(paragraphs)]}
        docs[doc_id] = entry
    try:
        facts = [Fact(**row) for entry in docs.values() for row in entry["facts"]]
    except TypeError:  # a cached row of another shape: extract everything again
        docs = {d: {"town": ps[0].town, "facts": [asdict(f) for f in extract_facts(ps)]} for d, ps in by_doc.items()}
        facts = [Fact(**row) for entry in docs.values() for row in entry["facts"]]
    tmp = path.with_suffix(".tmp")
    try:
        payload = {"generation": generation, "version": version, "docs": docs}
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only index still answers; it just extracts again next time
    return facts


def _holding_paragraph(kb, doc_id: str, field_name: str, value: str):
    """The paragraph of a document that states a metadata value."""
    needle = re.sub(r"\s+", "", value)
    if field_name == "date":
        y, m, d = (int(x) for x in value.split("-"))
        pattern = re.compile(rf"{y}\s*年\s*0?{m}\s*月\s*0?{d}\s*日")
        match = lambda text: bool(pattern.search(text))  # noqa: E731
    else:
        match = lambda text: needle in re.sub(r"\s+", "", text)  # noqa: E731
    candidates = [p for p in kb.paragraphs.values() if p.doc_id == doc_id and p.role in ("front", "sign")]
    candidates += [p for p in kb.paragraphs.values() if p.doc_id == doc_id and p.role == "body"]
    return next((p for p in candidates if match(p.text)), None)


__all__ = ["Answer", "Answerer", "Citation", "cite", "best_sentences"]

"""Grounded extractive answers: quote the sentences that answer, cite their paragraphs.

The default path needs no LLM and is deterministic: every sentence in an
answer is copied verbatim from a cited paragraph, and the citation validator
checks that before the answer leaves this module. Which sentences, and in what
shape, is decided by the question's kind (:mod:`assistant.kinds`), dispatched once
in :meth:`Answerer.ask_stream`. An optional LLM (see ``assistant.llm``) may rewrite
the answer of a kind that allows it, under the same citation rules.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import replace

from assistant import kinds, phrasing
from assistant.cite import Citation, citation_for, cite, validate
from assistant.compose import Answer, best_sentences
from assistant.kinds.abstain import abstain
from assistant.kinds.base import ANSWER_PASSAGES, Answered
from assistant.kinds.figures import load_facts
from assistant.parts import Text
from assistant.retrieve import HybridRetriever, Retrieval

LLM_PASSAGES = 10  # numbered passages the model is shown
LLM_TOWN_PASSAGES = 2  # of each matched town (town-by-town answers)
LLM_TOP_PASSAGES = 6  # of the retrieval's best hits


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
        missing = self.retriever.report_years.missing(query)
        if missing is not None and missing.every_town(query):
            # No report of the year asked: no kind answers from another year's report (the retrieval abstains).
            kind = kinds.kind_named(query.kind)
            retrieval = self.retriever.retrieve(query, k=ANSWER_PASSAGES)
            answered = Answered(abstain(self, retrieval), retrieval)
        elif missing is not None:
            # Some named towns lack the year: the others are answered, the missing ones are named.
            lacking = {t for t, _ in missing.loaded}
            kind, answered = kinds.answer(self, replace(query, towns=tuple(t for t in query.towns if t not in lacking)))
            notice = phrasing.no_report_of_year(missing.asked, missing.loaded)
            answered = replace(answered, answer=replace(answered.answer, notice=notice))
        else:
            kind, answered = kinds.answer(self, query)
        answer, retrieval = answered.answer, answered.retrieval
        if self.llm is not None and retrieval is not None and kind.generative and not answer.abstained:
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
                    chosen += [h.id for h in m.hits[:LLM_TOWN_PASSAGES]]
        chosen += [h.id for h in retrieval.hits[:LLM_TOP_PASSAGES]]
        ids = list(dict.fromkeys(chosen))[:LLM_PASSAGES]
        return [Passage(number=i, citation=self.cite(pid)) for i, pid in enumerate(ids, 1)]

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
            yield replace(fallback, notice=phrasing.llm_failed(str(err)))
            return
        grounded = ground("".join(pieces), passages, retrieval.query.text)
        if not grounded.citations:
            yield replace(fallback, notice=phrasing.LLM_UNCITED, flags=grounded.flags)
            return
        notice = phrasing.LLM_TRIMMED if grounded.flags else ""
        towns = tuple(dict.fromkeys(c.town for c in grounded.citations))
        if retrieval.towns:
            matched = {m.town for m in retrieval.towns if m.matched}
            towns = tuple(t for t in towns if t in matched) or tuple(sorted(matched))
        yield Answer(
            question=fallback.question, blocks=(Text(grounded.text),), towns=towns, abstained=False,
            citations=grounded.citations, kind=fallback.kind, notice=notice, flags=grounded.flags,
        )  # fmt: skip

    def cite(self, pid: str, quote: str = "") -> Citation:
        """Citation of paragraph ``pid`` (quoting ``quote``) of the knowledge base."""
        return citation_for(self.retriever.kb, pid, quote)

    @property
    def facts(self) -> list:
        """The statistics table of the knowledge base (extracted once)."""
        if self._facts is None:
            self._facts = load_facts(self.retriever.kb)
            gc.freeze()  # long-lived rows: keep them out of every later garbage collection
        return self._facts


__all__ = ["Answer", "Answerer", "Citation", "cite", "best_sentences"]

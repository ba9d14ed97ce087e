"""Retrieval signals, each behind one small contract: ``search(query, scope, k) -> list[SignalHit]``.

A signal ranks paragraphs of the knowledge base for a question (a :class:`TopicQuery`: the
analysed question with its weighted terms), within a :class:`Scope` (the towns, documents and
catalogue rows allowed), as :class:`assistant.fusion.SignalHit` records (paragraph id, score,
signal name) best first. :mod:`assistant.fusion` combines the hits; the retriever
(:class:`assistant.retrieve.HybridRetriever`) owns the index views the signals read (row order,
town of each row, the evidence index) and builds the scope once per question.

==============  ===============================================================  ==========================
signal          ranks                                                            ``k`` is
==============  ===============================================================  ==========================
:class:`Bm25`   paragraphs by BM25 over the question's weighted terms             paragraphs kept per town
:class:`Dense`  paragraphs by the best cosine similarity of a chunk covering it  chunks fetched from Chroma
:class:`Meaning`  the same similarity, every paragraph scored (one matrix product)  paragraphs kept per town
:class:`Evidence`  paragraphs whose sentence window holds the required terms    paragraphs kept per town
:class:`Exact`  paragraphs containing the question verbatim (punctuation aside)  (all of them)
==============  ===============================================================  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.fusion import SignalHit
from assistant.query import strip_towns
from assistant.views import PUNCT
from vectorstore.tokenize import tokenize

if TYPE_CHECKING:
    from assistant.query import Query
    from assistant.retrieve import HybridRetriever, Topic

EXACT_MIN_CHARS = 8  # a shorter question is too common a phrase to count as quoted


@dataclass(frozen=True)
class Scope:
    """Where a question is searched.

    Attributes:
        towns: Allowed towns (None: all).
        docs: Allowed documents (None: all; set when the question names a year of towns with several reports).
        rows: Index rows in scope (a boolean mask over the retriever's row order).
    """

    towns: list[str] | None
    docs: list[str] | None
    rows: np.ndarray


@dataclass(frozen=True)
class TopicQuery:
    """A question as the signals read it.

    Attributes:
        query: The analysed question.
        topic: Its weighted terms and required evidence (:meth:`HybridRetriever.topic`).
    """

    query: Query
    topic: Topic


class Signal(Protocol):
    """One way of ranking paragraphs for a question."""

    def search(self, query: TopicQuery, scope: Scope, k: int) -> list[SignalHit]:
        """The signal's hits within ``scope``, best first."""


class _OnIndex:
    def __init__(self, retriever: HybridRetriever) -> None:
        self.index = retriever


class Bm25(_OnIndex):
    """BM25 over every paragraph at once; the best ``k`` of every town, so no town is crowded out."""

    def search(self, query: TopicQuery, scope: Scope, k: int) -> list[SignalHit]:
        kb = self.index.kb
        terms = list(query.topic.weights) or tokenize(query.query.text, tokenizer=kb.tokenizer)
        return self.index.per_town_best(self.index.bm25_scores(terms), scope.rows, k, "bm25")


def dense_text(asked: Query, towns: list[str] | None, aliases: dict[str, str]) -> str:
    """The text the dense query embeds for a question searched over ``towns`` (None: all)."""
    # The town filter already scopes the search; the town's name in the query
    # would only pull mastheads and sign-offs up.
    text = asked.search_text if asked.search_text != asked.folded else asked.text
    if towns:
        text = strip_towns(asked.search_text or asked.folded, aliases)
    return text or asked.text


class Dense(_OnIndex):
    """One Chroma query (town and document filter); a paragraph scores its best covering chunk's similarity."""

    def search(self, query: TopicQuery, scope: Scope, k: int) -> list[SignalHit]:
        kb = self.index.kb
        # One embedding per question: the support decision reads the same vector (judging.embed_query).
        vector = self.index.embed_query(dense_text(query.query, scope.towns, self.index.aliases))
        sims: dict[str, float] = {}
        for hit in kb.store.query(vector, k, towns=scope.towns, doc_ids=scope.docs):
            for pid in kb.chunk_paragraphs.get(hit.chunk_id, ()):
                sims[pid] = max(sims.get(pid, -1.0), hit.similarity)
        return [SignalHit(pid, score, "dense") for pid, score in sorted(sims.items(), key=lambda kv: -kv[1])]


class Meaning(_OnIndex):
    """Every paragraph's dense similarity from the chunk-vector matrix (:mod:`vectorstore.chunk_vectors`).

    The best ``k`` of every town in scope, so no town is left without candidates by meaning: the
    one Chroma query of :class:`Dense` returns the nearest few hundred chunks of the whole
    collection, and over a county most towns got none (a colloquial question then found them on
    lexical evidence alone, or not at all). The similarity of a paragraph is the one
    :class:`Dense` gives it (its best covering chunk's cosine), computed exactly.
    """

    def search(self, query: TopicQuery, scope: Scope, k: int) -> list[SignalHit]:
        similarity = self.similarities(query, scope)
        if similarity is None:
            return []
        return self.index.per_town_best(similarity, scope.rows, k, "dense")

    def similarities(self, query: TopicQuery, scope: Scope) -> np.ndarray | None:
        """Similarity of every index row to the question (None: no chunk vectors for this index)."""
        vector = self.index.embed_query(dense_text(query.query, scope.towns, self.index.aliases))
        return self.index.row_similarities(vector)


class Evidence(_OnIndex):
    """Sentence-level lexical evidence (:mod:`assistant.evidence`): coverage of the question's terms."""

    def search(self, query: TopicQuery, scope: Scope, k: int) -> list[SignalHit]:
        """Each town's best ``k`` paragraphs holding the required terms, wherever BM25 ranks them.

        (Town-by-town questions: a town must not be missed because other paragraphs of its report
        repeat the question's common words more often.)
        """
        topic = query.topic
        if not (topic.known and topic.required):
            return []
        bar = self.index.min_coverage
        evidence = self.index.presence(topic.weights).lexical(bar)
        holds = self.index.holding(topic) & (evidence >= bar)
        return self.index.per_town_best(np.where(holds, evidence, 0.0), scope.rows, k, "evidence")

    def scores(self, ids: dict[str, None], topic: Topic) -> dict[str, float]:
        """Evidence of each of ``ids`` (0 for an id outside the index)."""
        evidence = self.index.presence(topic.weights).lexical(self.index.min_coverage)
        rows = self.index.row_of
        known = [pid for pid in ids if pid in rows]
        lexical = dict.fromkeys(ids, 0.0)
        lexical.update(zip(known, evidence[[rows[pid] for pid in known]].tolist()))
        return lexical


class Exact(_OnIndex):
    """Paragraphs quoting the question verbatim (heading + text, punctuation removed)."""

    def search(self, query: TopicQuery, scope: Scope, k: int = 0) -> list[SignalHit]:
        return [SignalHit(pid, 1.0, "exact") for pid in self.found(query.query, scope)]

    def found(self, query: Query, scope: Scope) -> set[str]:
        """The quoting paragraphs as a set (fusion adds its bonus to each)."""
        # Stripped as the paragraphs' folded forms were (views.PUNCT), or a quote would never match.
        needle = PUNCT.sub("", query.folded)
        if len(needle) < EXACT_MIN_CHARS:
            return set()
        paragraphs, order = self.index.kb.paragraphs, self.index.row_ids
        allowed = set(scope.towns) if scope.towns else None
        hits = (order[i] for i in self.index.evidence_index.paragraphs.containing(needle).tolist())
        return {pid for pid in hits if pid in paragraphs and (allowed is None or paragraphs[pid].town in allowed)}


__all__ = ["Bm25", "Dense", "Evidence", "Exact", "Meaning", "Scope", "Signal", "TopicQuery"]

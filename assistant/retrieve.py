"""Hybrid retrieval: BM25 + dense (Chroma) fused per paragraph, town-aware.

Stages, each a small function: analyse the query → score lexically (BM25 over
every paragraph at once) → score densely (one Chroma query, town ``where``
filter) → fuse (reciprocal rank) → for cross-town questions decide, town by
town, whether the town really speaks of the topic → signal abstention when
nothing relevant exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from assistant.query import COMPARE, MULTI_TOWN, QUESTION_WORDS, SUMMARY, Query, understand
from ingest.clean import fold
from ingest.records import Paragraph
from vectorstore.kb import KnowledgeBase, town_aliases
from vectorstore.tokenize import tokenize

RRF_K = 60
_PUNCT = re.compile(r"[\s\W_]+")


@dataclass(frozen=True)
class Hit:
    """One retrieved paragraph.

    Attributes:
        id: Paragraph id.
        town: Canonical town.
        doc: Document id.
        section: Innermost section heading.
        paragraph: 1-based paragraph number in the section.
        text: Full paragraph text (display form).
        score: Fused score (higher is better).
        dense: Best cosine similarity of a chunk covering the paragraph (0 if none).
        bm25: BM25 score.
        coverage: IDF-weighted share of the question's topic terms found in heading + text.
        source: Which signals found it: ``dense``, ``bm25``, ``both`` or ``exact``.
    """

    id: str
    town: str
    doc: str
    section: str
    paragraph: int
    text: str
    score: float
    dense: float = 0.0
    bm25: float = 0.0
    coverage: float = 0.0
    source: str = "both"
    section_path: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The CLI contract's search row."""
        return {
            "id": self.id,
            "town": self.town,
            "doc": self.doc,
            "section": self.section,
            "paragraph": self.paragraph,
            "text": self.text,
            "score": round(float(self.score), 6),
        }


@dataclass(frozen=True)
class TownMatch:
    """Whether one town speaks of the question's topic, with its evidence.

    Attributes:
        town: Canonical town.
        matched: The town's best evidence passed the relevance test.
        relevance: Relevance of the best paragraph (coverage and similarity blended).
        hits: The town's best paragraphs, best first.
    """

    town: str
    matched: bool
    relevance: float
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class Retrieval:
    """Everything retrieval found for one question.

    Attributes:
        query: The analysed question.
        hits: Paragraphs best first (for cross-town questions: interleaved by town).
        towns: Per-town decisions (cross-town questions only).
        abstain: Nothing in the reports answers the question.
        reason: Why retrieval abstained (Chinese, for the user).
        topic_terms: Content terms of the question used for lexical evidence.
    """

    query: Query
    hits: tuple[Hit, ...]
    towns: tuple[TownMatch, ...] = ()
    abstain: bool = False
    reason: str = ""
    topic_terms: tuple[str, ...] = field(default_factory=tuple)


class HybridRetriever:
    """BM25 + dense retrieval over a knowledge base.

    Args:
        kb: The knowledge base.
        rrf_k: Reciprocal-rank-fusion constant.
        dense_candidates: Chunks fetched from Chroma per question (more for cross-town).
        town_threshold: A town matches a cross-town question when its relevance is at
            least this share of the best town's.
        min_relevance: Below this relevance nothing is considered to answer the question.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        rrf_k: int = RRF_K,
        dense_candidates: int = 40,
        town_threshold: float = 0.6,
        min_relevance: float = 0.35,
    ) -> None:
        if rrf_k <= 0:
            raise ValueError(f"rrf_k must be > 0, got {rrf_k}")
        if dense_candidates < 1:
            raise ValueError(f"dense_candidates must be >= 1, got {dense_candidates}")
        if not 0 < town_threshold <= 1:
            raise ValueError(f"town_threshold must be in (0, 1], got {town_threshold}")
        if not 0 <= min_relevance < 1:
            raise ValueError(f"min_relevance must be in [0, 1), got {min_relevance}")
        self.kb = kb
        self.rrf_k = rrf_k
        self.dense_candidates = dense_candidates
        self.town_threshold = town_threshold
        self.min_relevance = min_relevance
        self._folded: dict[str, str] | None = None
        self._aliases: dict[str, str] | None = None
        self._order: list[str] | None = None

    # --- cached views of the knowledge base -----------------------------
    def _prepare(self) -> None:
        if self._folded is None:
            paragraphs = self.kb.paragraphs
            self._folded = {pid: _PUNCT.sub("", fold(" ".join(p.section_path) + p.text)) for pid, p in paragraphs.items()}
            self._aliases = {fold(a): t for t in self.kb.towns() for a in town_aliases(t)}
            self._order = self.kb.bm25.ids

    def refresh(self) -> None:
        """Forget cached views after the knowledge base changed."""
        self._folded = self._aliases = self._order = None

    @property
    def aliases(self) -> dict[str, str]:
        """Folded town alias → canonical town."""
        self._prepare()
        return self._aliases or {}

    def understand(self, question: str) -> Query:
        """Analyse a question against this knowledge base's towns."""
        return understand(question, self.aliases)

    # --- scoring -----------------------------------------------------------
    def topic_terms(self, query: Query) -> list[str]:
        """Content tokens of the question: no question words, towns or years."""
        town_tokens = {fold(a) for t in query.towns for a in town_aliases(t)}
        out = []
        for token in tokenize(query.text):
            if token in QUESTION_WORDS or token in town_tokens or re.fullmatch(r"(19|20)\d{2}", token):
                continue
            if any(token in alias for alias in self.aliases) and len(token) <= 3:
                continue
            if token not in out:
                out.append(token)
        return out

    def _idf(self, terms: list[str]) -> dict[str, float]:
        folded = self._folded or {}
        n = max(1, len(folded))
        out = {}
        for term in terms:
            df = sum(1 for text in folded.values() if term in text)
            out[term] = float(np.log(1 + (n - df + 0.5) / (df + 0.5))) if df else 0.0
        return out

    def _coverage(self, pid: str, idf: dict[str, float]) -> float:
        total = sum(idf.values())
        if not total:
            return 0.0
        text = (self._folded or {}).get(pid, "")
        return sum(w for t, w in idf.items() if t in text) / total

    def _dense(self, query: Query, towns: list[str] | None, n: int) -> dict[str, float]:
        vector = self.kb.embedder.embed([query.text], "query")[0]
        sims: dict[str, float] = {}
        for hit in self.kb.store.query(vector, n, towns=towns):
            for pid in self.kb.chunk_paragraphs.get(hit.chunk_id, ()):
                sims[pid] = max(sims.get(pid, -1.0), hit.similarity)
        return sims

    def _score(self, query: Query, towns: list[str] | None, dense_n: int) -> list[Hit]:
        """Fused hits over the allowed towns, best first (all candidates, not cut to k)."""
        self._prepare()
        paragraphs = self.kb.paragraphs
        order = self._order or []
        terms = tokenize(query.text)
        bm25 = self.kb.bm25.scores([t for t in terms if t not in QUESTION_WORDS] or terms)
        allowed = set(towns) if towns else None
        bm25_rank = [
            (order[i], float(bm25[i]))
            for i in np.argsort(-bm25)
            if bm25[i] > 0 and (allowed is None or paragraphs[order[i]].town in allowed)
        ]
        dense = self._dense(query, towns, dense_n)
        dense_rank = sorted(dense.items(), key=lambda kv: -kv[1])
        fused: dict[str, float] = {}
        for rank, (pid, _) in enumerate(bm25_rank):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        for rank, (pid, _) in enumerate(dense_rank):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        exact = self._exact(query.folded, allowed)
        for pid in exact:
            fused[pid] = fused.get(pid, 0.0) + 1.0  # a verbatim quote outranks everything
        topic = self.topic_terms(query)
        idf = self._idf(topic)
        bm25_by_id = dict(bm25_rank)
        hits = []
        for pid, score in fused.items():
            p = paragraphs[pid]
            source = "exact" if pid in exact else ("both" if pid in dense and pid in bm25_by_id else "dense" if pid in dense else "bm25")
            hits.append(_hit(p, score, dense.get(pid, 0.0), bm25_by_id.get(pid, 0.0), self._coverage(pid, idf), source))
        hits.sort(key=lambda h: -h.score)
        return hits

    def _exact(self, folded_question: str, allowed: set[str] | None) -> set[str]:
        needle = _PUNCT.sub("", folded_question)
        if len(needle) < 8:
            return set()
        paragraphs = self.kb.paragraphs
        return {
            pid
            for pid, text in (self._folded or {}).items()
            if needle in text and (allowed is None or paragraphs[pid].town in allowed)
        }

    # --- public API ----------------------------------------------------------
    def search(self, question: str, k: int = 5) -> list[Hit]:
        """Top-k paragraphs for a question (cross-town questions: interleaved by town)."""
        return list(self.retrieve(question, k).hits)

    def retrieve(self, question: str | Query, k: int = 5) -> Retrieval:
        """Retrieve evidence for a question and decide per town / abstention.

        Args:
            question: The question, or an already analysed :class:`Query`.
            k: Number of hits wanted.

        Returns:
            The retrieval result.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        query = question if isinstance(question, Query) else self.understand(question)
        if not self.kb.paragraphs:
            return Retrieval(query=query, hits=(), abstain=True, reason="知识库为空，请先导入报告")
        topic = tuple(self.topic_terms(query))
        towns = list(query.towns) or None
        if query.cross_town and not towns:
            return self._cross_town(query, k, topic)
        hits = self._score(query, towns, max(self.dense_candidates, k * 4))
        if query.kind == SUMMARY:
            hits = self._expand_sections(hits)
        best = hits[0] if hits else None
        relevance = _relevance(best) if best else 0.0
        abstain = best is None or (relevance < self.min_relevance and best.source != "exact")
        reason = "报告中未找到与问题直接相关的内容" if abstain else ""
        if query.numeric and not abstain and not any(re.search(r"\d|[一二三四五六七八九十百千]+[次个名人件起项条份]", h.text) for h in hits[:k]):
            abstain, reason = True, "报告中未找到问题所问的数字"
        return Retrieval(query=query, hits=tuple(hits[:k]), abstain=abstain, reason=reason, topic_terms=topic)

    def _cross_town(self, query: Query, k: int, topic: tuple[str, ...]) -> Retrieval:
        n_chunks = max(self.dense_candidates, 12 * len(self.kb.towns()))
        hits = self._score(query, None, n_chunks)
        by_town: dict[str, list[Hit]] = {}
        for hit in hits:
            by_town.setdefault(hit.town, []).append(hit)
        scored = {town: max(_relevance(h) for h in town_hits) for town, town_hits in by_town.items()}
        best = max(scored.values(), default=0.0)
        matches = []
        for town, town_hits in by_town.items():
            town_hits.sort(key=lambda h: -_relevance(h))
            relevance = scored[town]
            matched = relevance >= max(self.min_relevance, self.town_threshold * best)
            if query.kind == COMPARE and query.numeric:
                matched = relevance >= self.min_relevance
            matches.append(TownMatch(town=town, matched=matched, relevance=relevance, hits=tuple(town_hits[:3])))
        matches.sort(key=lambda m: (-m.matched, -m.relevance))
        interleaved: list[Hit] = []
        matched = [m for m in matches if m.matched]
        for depth in range(3):
            for m in matched:
                if depth < len(m.hits):
                    interleaved.append(m.hits[depth])
        rest = [h for h in hits if h not in interleaved]
        ordered = (interleaved + rest)[: max(k, len(matched))]
        abstain = not matched
        return Retrieval(
            query=query,
            hits=tuple(ordered[:k] if len(ordered) > k and not query.cross_town else ordered),
            towns=tuple(matches),
            abstain=abstain,
            reason="报告中未找到提及该内容的镇" if abstain else "",
            topic_terms=topic,
        )

    def _expand_sections(self, hits: list[Hit]) -> list[Hit]:
        """For summaries, follow the best paragraph's section: its siblings come next."""
        if not hits:
            return hits
        top = hits[0]
        parent = top.section_path[:-1] if len(top.section_path) > 1 else top.section_path
        siblings = [h for h in hits[1:] if h.doc == top.doc and h.section_path[: len(parent)] == parent]
        others = [h for h in hits[1:] if h not in siblings]
        return [top, *siblings, *others]


def _relevance(hit: Hit) -> float:
    """Blend of lexical coverage and dense similarity, roughly in [0, 1]."""
    dense = max(0.0, (hit.dense - 0.75) / 0.2) if hit.dense else 0.0
    return 0.6 * hit.coverage + 0.4 * min(1.0, dense)


def _hit(p: Paragraph, score: float, dense: float, bm25: float, coverage: float, source: str) -> Hit:
    return Hit(
        id=p.id,
        town=p.town,
        doc=p.doc_id,
        section=p.section,
        paragraph=p.paragraph,
        text=p.text,
        score=score,
        dense=dense,
        bm25=bm25,
        coverage=coverage,
        source=source,
        section_path=p.section_path,
    )


__all__ = ["HybridRetriever", "Hit", "Retrieval", "TownMatch", "MULTI_TOWN", "COMPARE"]

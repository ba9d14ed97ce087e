"""Hybrid retrieval: BM25 + dense (Chroma) fused per paragraph, town-aware.

Stages: analyse the query → the question's kind decides what to retrieve
(:mod:`assistant.kinds`: passages, town by town, document fields) → signals, each a ranking of
paragraph ids over the allowed scope (BM25 over every paragraph at once, one dense Chroma query
with a town filter, sentence-level lexical evidence, verbatim phrase matches) → fusion
(:func:`assistant.fusion.fuse`) → for town-by-town questions one decision per town
(:func:`assistant.fusion.decide_ranked_towns`) → abstention when nothing relevant exists.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from assistant import english, phrasing
from assistant.compose import quote_score
from assistant.evidence import EvidenceIndex, TermPresence
from assistant.fusion import (
    MEANING_FEATURES,
    RRF_K,
    TOWN_PASSAGES,
    Judged,
    Ranking,
    SignalHit,
    decide_ranked_towns,
    fuse,
    fuse_rows,
    relevances,
)
from assistant.judging import QUOTED_BAR, SupportJudge
from assistant.kinds import kind_named, understand
from assistant.lexicon import GENERIC, term_weight
from assistant.query import Query, strip_towns
from assistant.signals import Bm25, Dense, Evidence, Exact, Meaning, Scope, TopicQuery
from assistant.support import SupportModel, default_model, default_town_model
from assistant.text import NUMBER, fold
from assistant.units import strip_asked_units
from assistant.views import INNER_PUNCT, PUNCT, IndexViews, pinyin_aliases  # noqa: F401 - pinyin_aliases: re-exported
from assistant.years import ReportYears
from ingest.parse import DOC_NUMBER, SIGNER_LINE
from ingest.records import Paragraph
from vectorstore.chunk_vectors import ChunkVectors, chunk_vectors
from vectorstore.kb import KnowledgeBase, town_aliases
from vectorstore.tokenize import tokenize, tokenize_precise

MAX_DENSE = 600  # chunks one Chroma query may return
PER_TOWN_CANDIDATES = 12  # BM25 candidates kept per town (questions over up to ``many_towns`` towns)
EVIDENCE_PER_TOWN = 2  # best evidence-holding paragraphs of each town added to a town-by-town question's candidates
DENSE_PER_HIT = 4  # dense chunks fetched per hit wanted (at least ``dense_candidates``)
MEANING_PER_TOWN = 4  # paragraphs nearest in meaning kept per town (town-by-town questions, from the chunk matrix)
PART_WEIGHT = 0.5  # sub-words of a question word count half
UNKNOWN_LATIN_WEIGHT = 0.2  # an English word the glossary could not map says little about evidence
VERB_WEIGHT = 0.6  # questions paraphrase verbs freely ("建立或落实" vs "聘用…担任")
CORE_SHARE = 0.85  # core terms within this share of the rarest one are required evidence
_QUOTED = re.compile(r"[“「『\"]([^“”「」『』\"]{2,16})[”」』\"]")
_FIELD_PATTERNS = {
    "doc_number": DOC_NUMBER,
    "signer": SIGNER_LINE,
    "date": re.compile(r"(?:19|20)\d{2}年\d{1,2}月\d{1,2}日"),
    "issuer": re.compile(r"(?:人民政府|委员会|办事处)$"),
}
_CONTENT_FLAG = re.compile(r"^(?:n|a|b|vn|l|i|eng)")


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
class Topic:
    """What a question is about, for lexical evidence.

    Attributes:
        weights: Term → weight (IDF; generic words and sub-words reduced).
        required: The rarest core terms: evidence must contain each (or a synonym).
        known: At least one term occurs in the knowledge base (False e.g. for English).
        quoted: Terms the asker put in quotation marks: the topic itself (evidence needs less of the rest).
    """

    weights: dict[str, float]
    required: tuple[str, ...]
    known: bool
    quoted: tuple[str, ...] = ()


@dataclass(frozen=True)
class TownMatch:
    """Whether one town speaks of the question's topic, with its evidence.

    Attributes:
        town: Canonical town.
        matched: The town's best evidence passed the relevance test.
        relevance: Relevance of the best paragraph (coverage and similarity blended).
        ids: The town's best paragraph ids, best first (up to three when matched, else one).
        build: Makes the :class:`Hit` of one of ``ids``.
        probability: The town decision's probability that the town matches (see
            :func:`assistant.fusion.decide_ranked_towns`).
        judged: The town's candidates the decision read.
        features: Their features (:data:`assistant.fusion.CANDIDATE_FEATURES`, one row each).
        ruled: The relevance-share rule alone matches it (see :class:`assistant.fusion.TownDecision`).
    """

    town: str
    matched: bool
    relevance: float
    ids: tuple[str, ...]
    build: Callable[[str], Hit] = field(repr=False, compare=False)
    probability: float = field(default=0.0, compare=False)
    judged: tuple[str, ...] = field(default=(), repr=False, compare=False)
    features: np.ndarray | None = field(default=None, repr=False, compare=False)
    ruled: bool = field(default=False, compare=False)

    @functools.cached_property
    def hits(self) -> tuple[Hit, ...]:
        """The town's best paragraphs, best first.

        Built on first use: a question over thousands of towns needs the hits of few of them,
        and building them all took a third of such a question's time.
        """
        return tuple(self.build(pid) for pid in self.ids)

    @functools.cached_property
    def lead(self) -> Hit:
        """The town's best paragraph (its evidence when matched).

        Built once: an answer naming 1,200 towns reads each town's lead three times.
        """
        return self.hits[0] if "hits" in self.__dict__ else self.build(self.ids[0])


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
        topic: The weighted terms and required evidence the decisions were made with.
    """

    query: Query
    hits: tuple[Hit, ...]
    towns: tuple[TownMatch, ...] = ()
    abstain: bool = False
    reason: str = ""
    topic_terms: tuple[str, ...] = field(default_factory=tuple)
    topic: Topic | None = None


@dataclass
class Candidates:
    """One question's candidate paragraphs and their signals, before any :class:`Hit` is built.

    Attributes:
        fused: Paragraph id → fused score, best first.
        dense: Paragraph id → cosine similarity (only paragraphs the dense search returned).
        bm25: Paragraph id → BM25 score (only the BM25 candidates).
        lexical: Paragraph id → lexical evidence (coverage).
        exact: Paragraphs that quote the question verbatim.
        rows: The index row of each of ``fused`` (None when fused over paragraph ids).
        coverage: The lexical evidence of each of ``fused`` (as ``lexical``), when ``rows`` is set.
        similarity: The dense similarity of each of ``fused`` (0 without one), when ``rows`` is set.
    """

    fused: dict[str, float]
    dense: dict[str, float]
    bm25: dict[str, float]
    lexical: dict[str, float]
    exact: set[str]
    rows: np.ndarray | None = None
    coverage: np.ndarray | None = None
    similarity: np.ndarray | None = None


class HybridRetriever(SupportJudge):
    """BM25 + dense retrieval over a knowledge base.

    Args:
        kb: The knowledge base.
        rrf_k: Reciprocal-rank-fusion constant.
        dense_candidates: Chunks fetched from Chroma per question (more for cross-town).
        town_threshold: A town matches a cross-town question when its relevance is at
            least this share of the best town's.
        min_coverage: Evidence must cover at least this weighted share of the question's terms.
        dense_floor: With no lexical handle (e.g. an English question), a passage is evidence
            when its cosine similarity reaches this.
        many_towns: A cross-town question over more towns than this keeps only
            ``town_candidates`` BM25 paragraphs per town (12 otherwise).
        town_candidates: BM25 paragraphs per town for questions over many towns.
        town_chunks: Chunks per town the one dense query of a cross-town question asks for
            (at most ``MAX_DENSE`` in all).
        support_model: The fitted decision whether a town's passage supports a cross-town
            answer (default: ``assistant/data/support_model.json``, see :mod:`assistant.support`).
        town_model: The fitted decision which towns match a which-towns question that names no
            town, read from each town's standing among the question's candidate towns (default:
            ``assistant/data/town_model.json``, :func:`assistant.support.default_town_model`).
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        rrf_k: int = RRF_K,
        dense_candidates: int = 40,
        town_threshold: float = 0.5,
        min_coverage: float = 0.4,
        dense_floor: float = 0.86,
        many_towns: int = 20,
        town_candidates: int = 4,
        town_chunks: int = 12,
        support_model: SupportModel | None = None,
        town_model: SupportModel | None = None,
    ) -> None:
        if rrf_k <= 0:
            raise ValueError(f"rrf_k must be > 0, got {rrf_k}")
        if dense_candidates < 1:
            raise ValueError(f"dense_candidates must be >= 1, got {dense_candidates}")
        if not 0 < town_threshold <= 1:
            raise ValueError(f"town_threshold must be in (0, 1], got {town_threshold}")
        if not 0 <= min_coverage < 1:
            raise ValueError(f"min_coverage must be in [0, 1), got {min_coverage}")
        if not -1 <= dense_floor < 1:
            raise ValueError(f"dense_floor must be in [-1, 1), got {dense_floor}")
        if many_towns < 0:
            raise ValueError(f"many_towns must be >= 0, got {many_towns}")
        if town_candidates < 1:
            raise ValueError(f"town_candidates must be >= 1, got {town_candidates}")
        if town_chunks < 0:
            raise ValueError(f"town_chunks must be >= 0, got {town_chunks}")
        self.kb = kb
        self.rrf_k = rrf_k
        self.dense_candidates = dense_candidates
        self.town_threshold = town_threshold
        self.min_coverage = min_coverage
        self.dense_floor = dense_floor
        self.many_towns = many_towns
        self.town_candidates = town_candidates
        self.town_chunks = town_chunks
        self.support_model = support_model or default_model()
        self.town_model = town_model if town_model is not None else default_town_model()
        self.town_meaning = False  # read every town's window similarity even if the town model does not (fitting)
        self._views: IndexViews | None = None
        self._holding_key: tuple | None = None
        self._holding_rows = np.zeros(0, dtype=bool)
        self.bm25_signal, self.dense_signal = Bm25(self), Dense(self)
        self.evidence_signal, self.exact_signal = Evidence(self), Exact(self)
        self.meaning_signal = Meaning(self)
        self.meaning_per_town = MEANING_PER_TOWN
        self._chunk_vectors: tuple[IndexViews, ChunkVectors | None] | None = None
        self.report_years = ReportYears(kb)

    # --- views of the knowledge base -----------------------------------------
    def _prepare(self) -> None:
        if self._views is None:
            self._views = IndexViews(self.kb)

    def refresh(self) -> None:
        """Forget cached views after the knowledge base changed."""
        self._views = None
        self._holding_key = None
        self._chunk_vectors = None

    def row_similarities(self, vector: np.ndarray) -> np.ndarray | None:
        """Dense similarity of every index row to a question vector (None: no chunk vectors for this index).

        Each row's is its best covering chunk's cosine, as the Chroma query scores it
        (:class:`vectorstore.chunk_vectors.ChunkVectors`), for all rows in one matrix product.
        """
        self._prepare()
        held = self._chunk_vectors
        if held is None or held[0] is not self._views:
            matrix = chunk_vectors(self.kb)
            if matrix is not None and matrix.rows != len(self._views.order):
                matrix = None  # not the views' rows (cannot happen while both are of one generation)
            held = self._chunk_vectors = (self._views, matrix)
        return None if held[1] is None else held[1].similarities(vector)

    def clear_caches(self) -> None:
        """Forget every result a question leaves behind for the next one; the loaded index views stay.

        The term look-ups and presences of the evidence index, the last question's holding rows and
        report-year judgement, the synonym expansions and coverage plans of :mod:`assistant.lexicon` and the injection
        verdicts. The benchmark clears them before every question of its caches-cleared figures.
        """
        from assistant import injection, lexicon

        if self._views is not None:
            self._views.evidence.clear_caches()
        self._holding_key = None
        self.report_years.forget_last()
        self.forget_query_vectors()
        lexicon.expand.cache_clear()
        lexicon._plan.cache_clear()
        injection.is_instruction.cache_clear()

    @property
    def aliases(self) -> dict[str, str]:
        """Folded town alias → canonical town."""
        self._prepare()
        return self._views.aliases

    def understand(self, question: str) -> Query:
        """Analyse a question against this knowledge base's towns and label its kind (:mod:`assistant.kinds`)."""
        # Hook (issue 15.4): English words the glossary left are read as the reports' words (CC-CEDICT).
        return english.read_english(understand(question, self.aliases), self.evidence_index, self.kb.term_frequencies)

    def towns_in(self, question: str) -> tuple[str, ...]:
        """The known towns a question names, in order of mention."""
        return self.understand(question).towns

    # --- scoring -----------------------------------------------------------
    def _content_text(self, query: Query) -> str:
        """What a question asks about: its search text without town names and the wh-phrase's units."""
        return strip_asked_units(strip_towns(query.search_text or query.folded, self.aliases))

    def _terms(self, query: Query) -> tuple[list[str], list[str], dict[str, str]]:
        town_tokens = {fold(a) for t in query.towns for a in town_aliases(t)}
        text = self._content_text(query)

        def keep(token: str) -> bool:
            return not (token in query.scaffolding or token in town_tokens or re.fullmatch(r"(19|20)\d{2}", token))

        tagged = [(t, flag) for t, flag in tokenize_precise(text, tokenizer=self.kb.tokenizer) if keep(t)]
        core = list(dict.fromkeys(t for t, _ in tagged))
        parts = [t for t in dict.fromkeys(tokenize(text, tokenizer=self.kb.tokenizer)) if keep(t) and t not in core]
        # A part is kept only when it is a real piece of a core word, not a bridge
        # across two words ("执法力量" yields "法力").
        parts = [t for t in parts if any(c.startswith(t) or c.endswith(t) for c in core if len(c) > len(t))]
        return core, parts, dict(tagged)

    def topic(self, query: Query) -> Topic:
        """Weighted question terms and the core terms an answer must contain."""
        self._prepare()
        core, parts, flags = self._terms(query)
        n = max(1, len(self._views.order))
        weights: dict[str, float] = {}
        # Document frequencies are the catalogue's (built at ingest from the index tokens).
        df = self.kb.term_frequencies(core + parts)
        for term in core + parts:
            idf = float(np.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5)))
            weights[term] = term_weight(term, idf) * (1.0 if term in core else PART_WEIGHT)
            if not df[term] and re.fullmatch(r"[a-z0-9'-]+", term):
                weights[term] *= UNKNOWN_LATIN_WEIGHT
            if flags.get(term, "").startswith("v") and flags.get(term) != "vn":
                weights[term] *= VERB_WEIGHT
        known = any(df.values())
        # Required evidence: the rarest content words (nouns, adjectives; not verbs,
        # which questions paraphrase freely) that some report actually uses — as a token, or
        # as text the tokenizer cuts differently ("“八五”普法" holds 八五普法).
        specific = [
            t
            for t in core
            if t not in GENERIC
            and len(t) >= 2
            and _CONTENT_FLAG.match(flags.get(t, "n"))
            and weights[t] > 0
            and (df[t] > 0 or self._views.evidence.occurs(t))
        ]
        top = max((weights[t] for t in specific), default=0.0)
        required = tuple(t for t in specific if weights[t] >= CORE_SHARE * top)
        # A term the asker put in quotation marks ("培养农村“法律明白人”") is the topic itself:
        # it alone is required, and it weighs as much as the rarest word. A quoted name the
        # tokenizer splits ("三项制度") still names the topic as a whole.
        quoted = tuple(
            dict.fromkeys(
                phrase
                for phrase in _QUOTED.findall(query.search_text or query.folded)
                if phrase in specific or (phrase not in weights and self._views.evidence.occurs(phrase))
            )
        )
        if quoted:
            required = quoted
            for term in quoted:
                weights[term] = max(weights.get(term, 0.0), top)
        return Topic(weights=weights, required=required, known=known, quoted=quoted)

    # The folded forms as the tests (and debugging) read them; the views own them.
    @property
    def _folded(self) -> dict[str, str]:
        self._prepare()
        return self._views.folded

    @property
    def _headings(self) -> dict[str, str]:
        self._prepare()
        return self._views.headings

    @property
    def _sentences(self) -> dict[str, list[str]]:
        self._prepare()
        return self._views.sentences

    @property
    def row_ids(self) -> list[str]:
        """Paragraph id of every index row (the catalogue's order, :attr:`KnowledgeBase.row_ids`)."""
        self._prepare()
        return self._views.order

    @property
    def row_of(self) -> dict[str, int]:
        """Index row of every paragraph id."""
        self._prepare()
        return self._views.row

    @property
    def evidence_index(self) -> EvidenceIndex:
        """The sentence-level evidence index."""
        self._prepare()
        return self._views.evidence

    def holding(self, topic: Topic) -> np.ndarray:
        """Rows with a sentence window holding every required term of the topic."""
        return self._holding(topic, False)

    def presence(self, weights: dict[str, float]) -> TermPresence:
        """Where each weighted term occurs, with every paragraph's coverage and sentence-window evidence."""
        self._prepare()
        return self._views.evidence.presence(weights)

    def sentence_forms(self, pid: str) -> list[str]:
        """The index forms of a paragraph's sentences (folded, inner punctuation removed)."""
        self._prepare()
        return self._views.sentences_of(pid)

    def quote_scores(self, pids: list[str], weights: dict[str, float], numeric: bool) -> dict[str, list[float]]:
        """The :func:`assistant.compose.quote_score` of every sentence form of each paragraph, for many at once.

        An answer quoting 1,200 towns scored ~4,000 sentences term by term in Python; here each
        term is looked up once in the sentence index (:meth:`EvidenceIndex.sentence_coverage`).
        Paragraphs outside the index or without sentence forms are left out (their sentences are
        scored one by one, as before).
        """
        self._prepare()
        views = self._views
        evidence = views.evidence
        known = [pid for pid in dict.fromkeys(pids) if views.sentences_of(pid)]
        rows = np.array([views.row[pid] for pid in known], dtype=np.int64)
        sentences, owner = evidence.sentences_of(rows)
        covered = evidence.sentence_coverage(weights, sentences).tolist()
        if not numeric:
            figures = [False] * len(covered)
        elif getattr(evidence, "numerals_saved", False):  # NUMBER searched in each sentence at ingest
            figures = evidence.numerals()[sentences].tolist()
        else:  # (an older knowledge base: only these sentences, not all of them)
            texts = evidence.sentence_texts
            figures = [bool(NUMBER.search(texts[j])) for j in sentences.tolist()]
        scores = [quote_score(c, f, numeric) for c, f in zip(covered, figures)]
        bounds = np.searchsorted(owner, np.arange(len(known) + 1)).tolist()
        return {pid: scores[bounds[i] : bounds[i + 1]] for i, pid in enumerate(known)}

    def has_required(self, pid: str, topic: Topic, numeric: bool = False) -> bool:
        """Whether one sentence window of the paragraph holds every required term (and a figure).

        Args:
            pid: Paragraph id.
            topic: The question's topic.
            numeric: Also require a number in the same window (the question asks for a figure).
        """
        self._prepare()
        row = self._views.row.get(pid)
        if row is None:
            return False
        return bool(self._holding(topic, numeric)[row])

    def _holding(self, topic: Topic, numeric: bool) -> np.ndarray:
        """Rows with a window holding every required term (cached for the question being answered)."""
        key = (tuple(topic.weights.items()), topic.required, numeric)
        if self._holding_key != key:
            self._holding_rows = self._views.evidence.holding(self.presence(topic.weights), topic.required, numeric)
            self._holding_key = key
        return self._holding_rows

    def _year_docs(self, query: Query) -> list[str] | None:
        """Documents of the years the question names, when the index has such reports (else no restriction)."""
        if not query.years:
            return None
        # Only narrow when a town in scope really has reports of several years.
        several = self.kb.multi_report_towns
        if not several or (query.towns and not several & set(query.towns)):
            return None
        metas = self.kb.metas.values()
        docs = [m.doc_id for m in metas if m.year in query.years and (not query.towns or m.town in query.towns)]
        return docs or None

    def _candidates(
        self,
        query: Query,
        topic: Topic,
        towns: list[str] | None,
        dense_n: int,
        per_town: int = PER_TOWN_CANDIDATES,
        with_evidence: bool = False,
        meaning_per_town: int = 0,
    ) -> Candidates:
        """Every candidate paragraph over the allowed towns with its signals, fused, best first.

        Args:
            query: The analysed question.
            topic: Its weighted terms and required evidence.
            towns: Restrict to these towns (None: all).
            dense_n: Chunks to fetch from Chroma.
            per_town: BM25 candidates kept per town.
            with_evidence: Also take each town's best paragraphs that hold the required evidence,
                wherever BM25 ranks them (cross-town questions: a town must not be missed because
                other paragraphs of its report repeat the question's common words more often).
            meaning_per_town: When positive and the index has its chunk matrix, the dense signal is
                each town's ``meaning_per_town`` paragraphs nearest in meaning (:class:`Meaning`,
                every row scored) instead of one Chroma query, and every candidate carries its
                similarity (cross-town questions: every town is reached by meaning).
        """
        self._prepare()
        docs = self._year_docs(query)
        rows = self._views.in_scope(set(towns) if towns else None, set(docs) if docs else None)
        scope = Scope(towns=towns, docs=docs, rows=rows)
        asked = TopicQuery(query, topic)
        bm25_hits = self.bm25_signal.search(asked, scope, per_town)
        everywhere = self.meaning_signal.similarities(asked, scope) if meaning_per_town > 0 else None
        if everywhere is not None:
            dense_hits = self._meaning_hits(everywhere, scope.rows, dense_n, meaning_per_town)
        else:
            dense_hits = self.dense_signal.search(asked, scope, dense_n)
        supporting = self.evidence_signal.search(asked, scope, EVIDENCE_PER_TOWN) if with_evidence else []
        exact = self.exact_signal.found(query, scope)
        dense = {h.id: h.score for h in dense_hits}
        bm25 = {h.id: h.score for h in bm25_hits}
        row = self._views.row
        signal_rows = [np.array([row.get(h.id, -1) for h in hits], dtype=np.int64) for hits in (bm25_hits, dense_hits)]
        signal_rows.append(np.array([row.get(h.id, -1) for h in supporting], dtype=np.int64))
        if any((r < 0).any() for r in signal_rows):  # a paragraph outside the index views (stale views)
            return self._fuse_by_id(topic, (bm25_hits, dense_hits, supporting), exact, dense, bm25)
        # Fused over index rows (the same scores and order as fusion.fuse over paragraph ids).
        appear = np.concatenate(signal_rows)
        _, first = np.unique(appear, return_index=True)
        candidates = appear[np.sort(first)]  # BM25's, then dense, then evidence's, each first seen
        evidence = self.presence(topic.weights).lexical(self.min_coverage)
        lexical_rows = evidence[candidates]
        positive = np.flatnonzero(lexical_rows > 0)
        by_evidence = candidates[positive[np.argsort(-lexical_rows[positive], kind="stable")]]
        exact_rows = [row[pid] for pid in exact]
        fused_rows, fused_scores = fuse_rows(
            (signal_rows[0], signal_rows[1], by_evidence), exact_rows, len(self._views.order), self.rrf_k
        )
        order = self._views.order
        fused = dict(zip([order[r] for r in fused_rows.tolist()], fused_scores.tolist()))
        lexical = dict(zip([order[r] for r in candidates.tolist()], lexical_rows.tolist()))
        for pid in exact:
            lexical.setdefault(pid, 1.0)  # a verbatim quote is full evidence
        # The fused rows' signals as arrays, for deciding towns without a look-up per paragraph.
        coverage = np.where(np.isin(fused_rows, candidates), evidence[fused_rows], 1.0)
        if everywhere is not None:  # every candidate's similarity is known
            similarity = everywhere
            dense = dict(zip(lexical, everywhere[candidates].tolist()))
            for pid in exact:
                dense.setdefault(pid, float(everywhere[row[pid]]))
        else:
            similarity = np.zeros(len(order))
            similarity[signal_rows[1]] = [h.score for h in dense_hits]
        return Candidates(
            fused=fused, dense=dense, bm25=bm25, lexical=lexical, exact=exact,
            rows=fused_rows, coverage=coverage, similarity=similarity[fused_rows],
        )  # fmt: skip

    def _meaning_hits(self, similarity: np.ndarray, keep: np.ndarray, nearest: int, per_town: int) -> list[SignalHit]:
        """The dense signal from every row's similarity, best first: the ``nearest`` rows in scope (what
        the Chroma query of ``nearest`` chunks found) and every town's ``per_town`` best.

        Over row arrays (2,000 towns: ~8,000 hits), one sort of the rows in scope by town and similarity.
        """
        scoped = np.flatnonzero(keep & (similarity > 0))
        if not len(scoped):
            return []
        values = similarity[scoped]
        by_town = np.lexsort((-values, self._views.town_id[scoped]))
        town = self._views.town_id[scoped[by_town]]
        first = np.r_[True, town[1:] != town[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(town)), 0))
        chosen = np.zeros(len(scoped), dtype=bool)
        chosen[by_town[np.arange(len(town)) - start < per_town]] = True
        chosen[np.argsort(-values, kind="stable")[:nearest]] = True
        at = np.flatnonzero(chosen)
        at = at[np.argsort(-values[at], kind="stable")]  # ties in row order
        order = self._views.order
        rows, scores = scoped[at].tolist(), values[at].tolist()
        return [SignalHit(order[r], v, "dense") for r, v in zip(rows, scores)]

    def _fuse_by_id(
        self,
        topic: Topic,
        signals: tuple[list[SignalHit], list[SignalHit], list[SignalHit]],
        exact: set[str],
        dense: dict[str, float],
        bm25: dict[str, float],
    ) -> Candidates:
        """:meth:`_candidates`' fusion over paragraph ids, for hits outside the index views."""
        bm25_hits, dense_hits, supporting = signals
        candidates = dict.fromkeys([h.id for h in bm25_hits] + [h.id for h in dense_hits])
        candidates.update(dict.fromkeys(h.id for h in supporting))
        lexical = self.evidence_signal.scores(candidates, topic)
        lex_hits = [
            SignalHit(pid, v, "evidence")
            for pid, v in sorted(((pid, v) for pid, v in lexical.items() if v > 0), key=lambda kv: -kv[1])
        ]
        for pid in exact:
            lexical.setdefault(pid, 1.0)  # a verbatim quote is full evidence
        fused = fuse((bm25_hits, dense_hits, lex_hits), exact, self.rrf_k)
        return Candidates(fused=fused, dense=dense, bm25=bm25, lexical=lexical, exact=exact)

    def _hit(self, found: Candidates, pid: str) -> Hit:
        """The :class:`Hit` of one candidate."""
        dense, bm25 = found.dense.get(pid, 0.0), found.bm25.get(pid, 0.0)
        in_dense, in_bm25 = pid in found.dense, pid in found.bm25
        source = (
            "exact" if pid in found.exact else ("both" if in_dense and in_bm25 else "dense" if in_dense else "bm25")
        )
        return _hit(self.kb.paragraphs[pid], found.fused[pid], dense, bm25, found.lexical.get(pid, 0.0), source)

    def _score(
        self,
        query: Query,
        topic: Topic,
        towns: list[str] | None,
        dense_n: int,
        per_town: int = PER_TOWN_CANDIDATES,
        limit: int | None = None,
    ) -> list[Hit]:
        """Fused hits over the allowed towns, best first (all candidates, or the first ``limit``)."""
        found = self._candidates(query, topic, towns, dense_n, per_town)
        return [self._hit(found, pid) for pid in itertools.islice(found.fused, limit)]

    def per_town_best(self, scores: np.ndarray, keep: np.ndarray, per_town: int, signal: str) -> Ranking:
        """The ``per_town`` best-scoring kept rows of every town (see :meth:`IndexViews.per_town_best`)."""
        return self._views.per_town_best(scores, keep, per_town, signal)

    def bm25_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every row (see :meth:`IndexViews.bm25_scores`)."""
        self._prepare()
        return self._views.bm25_scores(terms)

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
            return Retrieval(query=query, hits=(), abstain=True, reason=phrasing.EMPTY_INDEX)
        topic = self.topic(query)
        if query.unknown_towns and not query.towns:
            names = phrasing.TOWN_SEPARATOR.join(query.unknown_towns)
            hits = self._score(query, topic, None, max(self.dense_candidates, k * DENSE_PER_HIT), limit=k)
            return Retrieval(
                query=query, hits=tuple(hits), abstain=True, reason=phrasing.unknown_towns(names),
                topic_terms=tuple(topic.weights), topic=topic,
            )  # fmt: skip
        gap = self.report_years.gap(query)
        if gap is not None:  # the named towns have no report of the year asked: the loaded ones are only related
            hits = self._score(query, topic, list(query.towns), max(self.dense_candidates, k * DENSE_PER_HIT), limit=k)
            return Retrieval(
                query=query, hits=tuple(hits), abstain=True, reason=phrasing.no_report_of_year(gap.asked, gap.loaded),
                topic_terms=tuple(topic.weights), topic=topic,
            )  # fmt: skip
        # What to retrieve is the question kind's decision: passages, town by town, document fields.
        return kind_named(query.kind).retrieve(self, query, topic, k)

    def passages(self, query: Query, topic: Topic, k: int, expand_sections: bool = False) -> Retrieval:
        """The k best passages over the question's towns (all when it names none), abstaining without support.

        Args:
            query: The analysed question.
            topic: Its weighted terms and required evidence.
            k: Number of hits wanted.
            expand_sections: Follow the best paragraph's section (summaries: its siblings come next).
        """
        found = self._candidates(query, topic, list(query.towns) or None, max(self.dense_candidates, k * DENSE_PER_HIT))
        if expand_sections:
            nearest = self._expand_sections([self._hit(found, pid) for pid in found.fused])
            top = nearest[:k]
        else:
            # A question over all towns has ~12,000 candidates; a Hit (and its Paragraph) is made only
            # for the k shown and, when the fitted decision is asked, for those with a dense similarity
            # (all it reads of the others: hits without one add nothing to its peak similarity).
            top = [self._hit(found, pid) for pid in itertools.islice(found.fused, k)]
            nearest = None
        abstain, reason = False, ""
        # The lexical rule's verdict first (cheap); the fitted decision only when it finds nothing.
        by_rule = [h for h in top if self.supports(h, topic)]
        if by_rule or not top:
            by_model = []
        else:
            if nearest is None:
                nearest = [self._hit(found, pid) for pid in found.fused if found.dense.get(pid)]
            by_model = self.model_supported(query, topic, top, nearest=nearest)
        if not top:
            abstain, reason = True, phrasing.NO_PASSAGES
        elif top[0].source != "exact" and not by_rule and not by_model:
            abstain, reason = True, phrasing.NO_SUPPORT
        elif (
            query.numeric
            and not any(self.has_required(h.id, topic, numeric=True) for h in top)
            and not any(re.search(r"\d", self.kb.paragraphs[h.id].text) for h in by_model)
        ):
            abstain, reason = True, phrasing.NO_FIGURE
        return Retrieval(
            query=query, hits=tuple(top), abstain=abstain, reason=reason, topic_terms=tuple(topic.weights), topic=topic
        )

    def document_fields(self, query: Query, topic: Topic, k: int) -> Retrieval | None:
        """The front-matter/sign-off paragraphs stating the document fields asked for (None when none does)."""
        hits = self._meta_hits(query)
        if not hits:
            return None
        return Retrieval(query=query, hits=tuple(hits[:k]), topic_terms=tuple(topic.weights), topic=topic)

    def _meta_hits(self, query: Query) -> list[Hit]:
        """The front-matter/sign-off paragraphs that state the asked document fields."""
        patterns = [_FIELD_PATTERNS[f] for f in query.fields if f in _FIELD_PATTERNS]
        if not patterns:
            return []
        towns = set(query.towns) if query.towns else None
        roles = ("front", "sign")
        paragraphs = self.kb.paragraphs
        rows_with_role = getattr(paragraphs, "rows_with_role", None)
        if rows_with_role is not None:  # the paragraph table: only front matter and sign-offs are made
            pool = (paragraphs.paragraph_at(r) for r in rows_with_role(roles))
        else:
            pool = (p for p in paragraphs.values() if p.role in roles)
        hits = []
        for p in pool:
            if towns is None or p.town in towns:
                if any(pattern.search(p.text.replace(" ", "")) for pattern in patterns):
                    hits.append(_hit(p, 1.0, 0.0, 0.0, 1.0, "meta"))
        return hits

    def supports(self, hit: Hit, topic: Topic) -> bool:
        """Whether a hit is real evidence: lexical (required terms, coverage) or, with no lexical handle, dense."""
        return self._supports(hit.id, hit.coverage, hit.dense, topic)

    def _supports(self, pid: str, coverage: float, dense: float, topic: Topic) -> bool:
        if not topic.known:  # nothing of the question occurs in any report (e.g. English): trust the embedder
            return dense >= self.dense_floor
        # A quoted topic is named exactly; the rest of the question is context, so half the bar.
        bar = self.min_coverage * (QUOTED_BAR if topic.quoted else 1.0)
        return coverage >= bar and self.has_required(pid, topic)

    def town_by_town(self, query: Query, k: int, topic: Topic, towns: list[str] | None = None) -> Retrieval:
        """Decide for every town (of ``towns``, else all) whether it speaks of the topic, with its evidence.

        Hits are interleaved by town: every matched town's best, then every one's second, …; abstains
        when no town matches.
        """
        n_towns = len(towns or self.kb.towns())
        # Without the chunk matrix: one Chroma query for all towns; towns beyond its reach are judged
        # on BM25 + lexical evidence.
        n_chunks = min(MAX_DENSE, max(self.dense_candidates, self.town_chunks * n_towns))
        # Each town needs only its best few paragraphs judged; with many towns fewer each keeps it bounded.
        per_town = PER_TOWN_CANDIDATES if n_towns <= self.many_towns else self.town_candidates
        found = self._candidates(
            query, topic, towns, n_chunks, per_town=per_town, with_evidence=True, meaning_per_town=self.meaning_per_town
        )
        # The dense query could not give every town its share of chunks: towns it missed have no similarity
        # (with the chunk matrix every candidate has one).
        capped = len(found.dense) < len(found.fused) and n_chunks < max(1, self.town_chunks) * n_towns
        lexical, dense = found.lexical, found.dense
        views = self._views
        ids = list(found.fused)
        # Every candidate's signals as arrays (row order of the index views), decided at once below.
        if found.rows is not None:
            rows, coverage, similarity = found.rows, found.coverage, found.similarity
        else:
            rows = np.array([views.row.get(pid, -1) for pid in ids], dtype=np.int64)
            coverage = np.array([lexical.get(pid, 0.0) for pid in ids], dtype=np.float64)
            similarity = np.array([dense.get(pid, 0.0) for pid in ids], dtype=np.float64)
        # Beyond the dense fan-out a town's paragraphs have no similarity at all; judge them on
        # lexical evidence alone rather than as if they were dissimilar.
        scores = relevances(coverage, similarity)
        if capped:
            scores = np.where(similarity == 0, coverage, scores)
        holds = self._holding(topic, False)
        has_required = (rows >= 0) & holds[np.maximum(rows, 0)]
        bar = self.min_coverage * (QUOTED_BAR if topic.quoted else 1.0)
        # The lexical rule (:meth:`_supports`) of every candidate.
        rules = (similarity >= self.dense_floor) if not topic.known else (coverage >= bar) & has_required
        rule_list = rules.tolist()

        # The fitted paragraph decision (assistant/support.py, features in assistant/judging.py), asked
        # for every town's best few candidates at once.
        # Which of all towns match is the fitted town decision's; towns the question names are
        # compared with each other, not ranked against a county (the relevance-share rule decides).
        town_model = None if query.towns else self.town_model
        meaning = self.town_meaning or (
            town_model is not None and bool(set(town_model.features) & set(MEANING_FEATURES))
        )
        judge = self.town_judge(query, topic, towns, lexical, dense, meaning)

        def read(at: list[int]) -> Judged:
            return judge([ids[i] for i in at], [rule_list[i] for i in at])

        if (rows >= 0).all():
            town_names, town_codes = views.town_names, views.town_id[rows]
        else:  # a candidate outside the index views (cannot happen while they are current): catalogue towns
            code: dict[str, int] = {}
            towns_of = [code.setdefault(self.kb.paragraphs[pid].town, len(code)) for pid in ids]
            town_names, town_codes = list(code), np.array(towns_of, dtype=np.int64)
        decisions = decide_ranked_towns(ids, town_codes, town_names, scores, read, self.town_threshold, town_model)
        build = functools.partial(self._hit, found)
        decided = [
            TownMatch(
                town=d.town,
                matched=d.matched,
                relevance=d.relevance,
                ids=d.ids,
                build=build,
                probability=d.probability,
                judged=d.judged,
                features=d.features,
                ruled=d.ruled,
            )  # fmt: skip
            for d in decisions
        ]
        matched = [m for m in decided if m.matched]
        # Interleaved by town (every town's best, then every town's second, …), then the rest.
        interleaved = (m.ids[depth] for depth in range(TOWN_PASSAGES) for m in matched if depth < len(m.ids))
        taken = {pid for m in matched for pid in m.ids}
        rest = (pid for pid in found.fused if pid not in taken)
        shown = [build(pid) for pid, _ in zip(itertools.chain(interleaved, rest), range(k))]
        abstain = not matched
        return Retrieval(
            query=query,
            hits=tuple(shown[:k]),
            towns=tuple(decided),
            abstain=abstain,
            reason=phrasing.NO_TOWN if abstain else "",
            topic_terms=tuple(topic.weights),
            topic=topic,
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


__all__ = ["HybridRetriever", "Hit", "Retrieval", "TownMatch"]

"""Judging evidence: the support model's features of a paragraph's best sentence, and its verdict.

:class:`SupportJudge` is mixed into :class:`assistant.retrieve.HybridRetriever`; it reads the
retriever's index views (``_prepare``, ``_views``, ``kb``, ``sentence_forms``), its settings
(``min_coverage``, ``dense_floor``, ``support_model``) and its lexical rule (``supports``). One
paragraph is judged by :meth:`SupportJudge.support_features`, thousands at once (a cross-town
question) by :meth:`SupportJudge.support_feature_table`, value for value the same.

Meaning is read relative to the question: a paragraph's best sentence window
(:class:`vectorstore.sentences.SentenceVectors`) is set against the same question's similarities to
an even sample of the reports' windows (:func:`vectorstore.sentences.standing`), since the
embedder's absolute cosines of every pair crowd into one narrow band. Coverage counts only the
question's words some report uses: a word only the question uses ("人手", "本事", "这块") can be no
sentence's evidence, yet as the rarest word it would hold every paragraph's coverage down alike.
A paragraph that reads as an instruction to the assistant (:mod:`assistant.injection`) supports
nothing, however well it matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

from assistant.evidence import Prefixes, weighted_hits
from assistant.fusion import Judged
from assistant.injection import is_instruction
from assistant.lexicon import contains as lexical_contains
from assistant.lexicon import coverage as lexical_coverage
from assistant.query import Query
from assistant.signals import dense_text
from assistant.support import FEATURES, LAZY, bigram_coverage, bigram_weights, question_bigrams
from assistant.text import fold, to_simplified
from assistant.views import INNER_PUNCT, PUNCT
from vectorstore.paragraph_table import ParagraphTable
from vectorstore.sentences import SentenceVectors, standing

if TYPE_CHECKING:
    from assistant.retrieve import Hit, Topic

QUOTED_BAR = 0.5  # share of min_coverage evidence needs when the question quotes its topic
QUERY_MEMO = 8  # question vectors kept: the dense signal and the support decision embed each question once
PEAK_PARAGRAPHS = 20  # a question's peak is the best window of its nearest paragraphs (by the dense query)


def comparable(query: Query) -> bool:
    """Whether the question's dense similarities are on the scale the support model was fitted on.

    The model's similarities were fitted on simplified-Chinese questions; in another script or
    language every similarity is lower alike, so there it weighs nothing.
    """
    return to_simplified(query.text) == query.text and len(re.findall(r"[a-zA-Z]", query.text)) < 4


@dataclass(frozen=True)
class SupportFeatureTable:
    """The support model's features of many paragraphs (:meth:`SupportJudge.support_feature_table`).

    Attributes:
        pids: The paragraphs, by position (:attr:`lexical` and :attr:`position` read by id).
        numeric: The question asks for a figure (then a paragraph's sentences are checked for a digit).
        forms: Paragraph id → its sentence forms.
        rows: The index row of each position.
        views: The index views those rows are of.
        asked: The list of paragraph ids the table was made for and their :meth:`positions`.
        arrays: ``coverage``, ``bigram``, ``coverage_known`` and ``numeric`` (some sentence holds a
            digit, when the question asks for a figure) of every paragraph, by position.
    """

    pids: list[str]
    numeric: bool
    forms: Callable[[str], list[str]] = field(repr=False)
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    views: object = field(default=None, repr=False)
    asked: tuple[list[str], np.ndarray] | None = field(default=None, repr=False)

    # The two dictionaries over ~6,000 paragraphs are made on first use: the support decision reads the
    # table by position (:meth:`columns`), and only a paragraph outside the index rows reads them (~2 ms).
    @functools.cached_property
    def lexical(self) -> dict[str, tuple[float, float, float]]:
        """Paragraph id → (best sentence coverage, bigram coverage, coverage of the known words)."""
        columns = (self.arrays[name].tolist() for name in ("coverage", "bigram", "coverage_known"))
        return dict(zip(self.pids, zip(*columns)))

    @functools.cached_property
    def position(self) -> dict[str, int]:
        """Paragraph id → its position in the arrays."""
        return dict(zip(self.pids, range(len(self.pids))))

    def __contains__(self, pid: str) -> bool:
        return pid in self.position

    def values(self, pid: str, dense: float | None, rule: bool) -> dict[str, float | None]:
        """The features of one paragraph, as :meth:`SupportJudge.support_features` gives them."""
        coverage, bigram, coverage_known = self.lexical[pid]
        if "numeric" in self.arrays:
            numeric = float(self.arrays["numeric"][self.position[pid]])
        else:
            numeric = float(self.numeric and any(re.search(r"\d", form) for form in self.forms(pid) or [""]))
        return {
            "dense": dense, "standing": None, "gap": None, "coverage": coverage, "coverage_known": coverage_known,
            "bigram": bigram, "numeric": numeric, "rule": float(rule),
        }  # fmt: skip

    def positions(self, pids: list[str]) -> np.ndarray:
        """Each paragraph's position in the arrays (-1: not in the table)."""
        if self.asked is not None and self.asked[0] is pids:
            return self.asked[1]
        get = self.position.get
        return np.fromiter(map(get, pids, repeat(-1)), dtype=np.int64, count=len(pids))

    def columns(self, at: np.ndarray, rules: list[bool]) -> dict[str, np.ndarray]:
        """:meth:`values` of many paragraphs (:meth:`positions`, all in the table) as feature columns,
        without ``dense`` and the lazy ones.

        The same floats as stacking :meth:`values` of each (a which-towns question reads ~6,000
        paragraphs: a dictionary per paragraph cost ~10 ms).
        """
        columns = {
            "coverage": self.arrays["coverage"][at],
            "coverage_known": self.arrays["coverage_known"][at],
            "bigram": self.arrays["bigram"][at],
            "numeric": self.arrays["numeric"][at].astype(np.float64),
            "rule": np.array(rules, dtype=bool).astype(np.float64),
        }
        return {name: columns[name] for name in FEATURES if name in columns}


@dataclass
class WindowMeaning:
    """A paragraph's best sentence window set against the same question's other similarities.

    Attributes:
        vectors: The knowledge base's window vectors.
        vector: The question's vector.
        background: The question's similarities to the background sample (None: no sample).
        peak: The best window similarity among the question's nearest paragraphs (None: unknown).
        paragraphs: Paragraph id → paragraph.
    """

    vectors: SentenceVectors
    vector: np.ndarray
    background: np.ndarray | None
    peak: float | None
    paragraphs: dict = field(repr=False)

    def __call__(self, pid: str, sentence: str | None = None) -> dict[str, float | None]:
        """``standing`` and ``gap`` of the paragraph's best window (of the best window holding ``sentence``).

        ``standing``: standard deviations above the background (:func:`standing`); ``gap``: how far
        below the question's peak — the best window among its nearest paragraphs — it lies.
        """
        paragraph = self.paragraphs.get(pid)
        if paragraph is None:
            return {"standing": None, "gap": None}
        if sentence is None:
            similarity = self.vectors.best(paragraph, self.vector)
        else:
            similarity = self.vectors.holding(paragraph, sentence, self.vector)
        gap = None if similarity is None or self.peak is None else round(similarity - self.peak, 6)
        return {"standing": standing(similarity, self.background), "gap": gap}


class _ParagraphsOf(Sequence):
    """Paragraphs by id, each made when read: the background samples every ~80th of them.

    Making all 43,000 paragraphs of 2,000 reports to sample them took ~100 ms of the first
    cross-town question after an open.
    """

    def __init__(self, ids: list[str], paragraphs: Mapping) -> None:
        self.ids, self.paragraphs = ids, paragraphs

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.paragraphs[pid] for pid in self.ids[i]]
        return self.paragraphs[self.ids[i]]


class SupportJudge:
    """The support decision's features and verdict, for :class:`assistant.retrieve.HybridRetriever`."""

    def embed_query(self, text: str) -> np.ndarray:
        """The question's vector (the dense signal's; kept for the support decision of the same question)."""
        memo: dict[str, np.ndarray] = self.__dict__.setdefault("_query_vectors", {})
        # Sessions share the retriever: another thread may clear the memo between a check and a read.
        vector = memo.get(text)
        if vector is None:
            vector = np.asarray(self.kb.embedder.embed([text], "query")[0], dtype=np.float32)
            if len(memo) >= QUERY_MEMO:
                memo.clear()
            memo[text] = vector
        return vector

    def forget_query_vectors(self) -> None:
        """Drop the kept question vectors (a caches-cleared benchmark embeds every question anew)."""
        self.__dict__.pop("_query_vectors", None)

    def sentence_vectors(self) -> tuple[SentenceVectors, np.ndarray | None]:
        """The window vectors of the knowledge base and the background sample, once per index state."""
        self._prepare()
        state = self.__dict__.get("_window_state")
        if state is None or state[0] is not self._views:
            vectors = SentenceVectors(self.kb.embedder.name, self.kb.catalog.cached_vectors)
            paragraphs = self.kb.paragraphs
            order = self._views.order
            # The catalogue's own table holds every row (a look-up per row took ~15 ms).
            whole = isinstance(paragraphs, ParagraphTable) and paragraphs.ids == order
            sample = _ParagraphsOf(order if whole else [pid for pid in order if pid in paragraphs], paragraphs)
            state = (self._views, vectors, vectors.background(sample))
            self.__dict__["_window_state"] = state
        return state[1], state[2]

    def window_meaning(self, query: Query, towns: list[str] | None, dense: dict[str, float]) -> WindowMeaning:
        """The question's background and peak, to set paragraphs' best windows against (see the module doc).

        Args:
            query: The question.
            towns: The towns it is searched over (the dense query's text depends on them).
            dense: Paragraph → dense similarity of the paragraphs the dense query reached; the
                best windows of the :data:`PEAK_PARAGRAPHS` nearest give the question's peak.
        """
        vectors, background = self.sentence_vectors()
        vector = self.embed_query(dense_text(query, towns, self.aliases))
        norm = max(float(np.linalg.norm(vector)), 1e-12)
        sims = background @ vector / norm if background is not None else None
        paragraphs = self.kb.paragraphs
        nearest = [paragraphs[pid] for pid in sorted(dense, key=dense.__getitem__, reverse=True) if pid in paragraphs]
        peaks = [v for v in vectors.best_many(nearest[:PEAK_PARAGRAPHS], vector) if v is not None]
        return WindowMeaning(vectors, vector, sims, max(peaks) if peaks else None, paragraphs)

    def town_judge(
        self,
        query: Query,
        topic: Topic,
        towns: list[str] | None,
        lexical: dict,
        dense: dict,
        meaning: bool = False,
    ) -> Callable[[list[str], list[bool]], Judged]:
        """The fitted support decision's reading of candidate paragraphs of a which-towns question.

        Args:
            query: The question.
            topic: Its topic.
            towns: The towns searched (None: all).
            lexical: Candidate → its lexical evidence (the rule's coverage).
            dense: Candidate → its dense similarity, for those the dense query reached.
            meaning: Also read each candidate's best sentence-window similarity (for a town
                decision that reads :data:`assistant.fusion.MEANING_FEATURES`; unknown where the
                question's similarities are not comparable).

        Returns:
            A function of (paragraph ids, the lexical rule's verdict of each) → their :class:`Judged`
            reading: the features of the paragraphs asked in one call are computed, and the model
            applied, at once (:meth:`assistant.support.SupportModel.probabilities`).
        """
        grams = self.bigram_weights(query)
        model = self.support_model
        same_scale = comparable(query)  # else the similarities weigh nothing
        # The question's background and peak cost a matrix product per question: only for a model that reads them.
        windows = self.window_meaning(query, towns, dense) if same_scale and model.lazy_features else None
        paragraphs = self.kb.paragraphs

        def read(pids: list[str], rules: list[bool]) -> Judged:
            table = self.support_feature_table(query, topic, pids, grams)
            rules = list(rules)
            at = table.positions(pids)
            outside = np.flatnonzero(at < 0).tolist()
            for i in outside:  # not an index row (cannot happen while the views are current)
                rules[i] = self._supports(pids[i], lexical.get(pids[i], 0.0), dense.get(pids[i], 0.0), topic)
            n = len(pids)
            if not outside:
                columns = table.columns(at, rules)
            else:
                values = [
                    table.values(pid, None, rule)
                    if pid in table
                    else self.support_features(query, topic, pid, None, grams, rule)
                    for pid, rule in zip(pids, rules)
                ]
                columns = {
                    name: np.array([v[name] for v in values], dtype=np.float64) for name in FEATURES if name not in LAZY
                }
            near = dense.get
            if same_scale:  # (the dense similarities are floats: NaN where the dense query did not reach)
                columns["dense"] = np.fromiter(map(near, pids, repeat(np.nan)), dtype=np.float64, count=n)
            else:
                columns["dense"] = np.full(n, np.nan)
            if windows is not None:  # a model reading window meaning: beyond the dense query's reach it is unknown
                window_values = [windows(pid) if near(pid) is not None else {} for pid in pids]
                for name in LAZY:
                    columns[name] = np.array([np.nan if m.get(name) is None else m[name] for m in window_values])
            probability = model.probabilities(columns, n)
            # Orders planted in a report are no evidence of anything.
            planted = self._planted(pids, *(() if outside else (table.rows[at], table.views)))
            probability = np.where(planted, 0.0, probability)
            window = None
            if meaning and same_scale:
                vectors, _ = self.sentence_vectors()
                vector = self.embed_query(dense_text(query, towns, self.aliases))
                best = vectors.best_many([paragraphs[pid] for pid in pids], vector)
                window = np.array([np.nan if b is None else b for b in best], dtype=np.float64)
            return Judged(
                window=window,
                probability=probability,
                supports=probability >= model.threshold,
                dense=columns["dense"],
                bigram=columns["bigram"],
                coverage_known=columns["coverage_known"],
                rule=np.array(rules, dtype=bool),
            )

        return read

    def known_weights(self, topic: Topic) -> dict[str, float]:
        """The topic's terms that occur somewhere in the reports (all of them if none does)."""
        self._prepare()
        occurs = self._views.evidence.occurs
        known = {t: w for t, w in topic.weights.items() if occurs(t)}
        return known or dict(topic.weights)

    def bigram_weights(self, query: Query) -> dict[str, float]:
        """IDF of the question's content character bigrams (see :mod:`assistant.support`)."""
        self._prepare()
        text = self._content_text(query)
        evidence = self._views.evidence
        n = max(1, len(self.kb.paragraphs))
        return bigram_weights(question_bigrams(text, query.scaffolding), evidence.document_frequency, n)

    def support_features(
        self,
        query: Query,
        topic: Topic,
        pid: str,
        dense: float | None,
        grams: dict[str, float],
        rule: bool | None = None,
        sentence: str | None = None,
        window: dict[str, float | None] | None = None,
    ) -> dict[str, float | None]:
        """The support model's features of a paragraph (its best sentence), or of one given sentence of it.

        Args:
            query: The question.
            topic: Its topic (term weights for coverage).
            pid: Paragraph id.
            dense: The paragraph's dense similarity to the question (None: not comparable).
            grams: :meth:`bigram_weights` of the question.
            rule: The lexical rule's verdict on the paragraph (the retriever has it at hand when
                deciding towns); computed for ``sentence`` when a single sentence is judged.
            sentence: Judge this sentence of the paragraph instead of its best one.
            window: The ``standing`` and ``gap`` of its best window (of the window holding
                ``sentence``), see :class:`WindowMeaning` (None: unknown).
        """
        heading = PUNCT.sub("", fold(self.kb.paragraphs[pid].section))
        forms = [INNER_PUNCT.sub("", fold(sentence))] if sentence is not None else self.sentence_forms(pid) or [""]
        coverage = max(lexical_coverage(heading + form, topic.weights) for form in forms)
        known = self.known_weights(topic)
        # Computed where the packaged model reads it, or for a labelled sentence (the fit reads every feature).
        wanted = sentence is not None or "coverage_known" in self.support_model.features
        same = not wanted or known == topic.weights
        coverage_known = coverage if same else max(lexical_coverage(heading + f, known) for f in forms)
        bigram = max(bigram_coverage(grams, heading + form) for form in forms)
        numeric = float(query.numeric and any(re.search(r"\d", form) for form in forms))
        if sentence is not None:
            sentence_text = heading + forms[0]
            bar = self.min_coverage * (QUOTED_BAR if topic.quoted else 1.0)
            found = coverage >= bar and all(lexical_contains(sentence_text, t) for t in topic.required)
            rule = found if topic.known else (dense or 0.0) >= self.dense_floor
        return {
            "dense": dense, "standing": None, "gap": None, "coverage": coverage, "coverage_known": coverage_known,
            "bigram": bigram, "numeric": numeric, "rule": float(rule), **(window or {}),
        }  # fmt: skip

    def support_feature_table(
        self, query: Query, topic: Topic, pids: list[str], grams: dict[str, float]
    ) -> SupportFeatureTable:
        """:meth:`support_features` of many paragraphs at once, equal value for value.

        A cross-town question judges thousands of paragraphs; reading each sentence's terms
        with Python substring tests took most of its time. Here each term, near-synonym and
        bigram is looked up once for all the paragraphs' sentences (:meth:`EvidenceIndex.contains_joined`),
        and the coverages are summed with numpy in the same order as :func:`assistant.lexicon.coverage`
        and :func:`assistant.support.bigram_coverage` sum them, so every float is the same.
        """
        self._prepare()
        views = self._views
        asked, get = pids, views.row.get
        # One look-up per paragraph: its row (-1: none); the distinct rows in the order first asked.
        asked_rows = np.fromiter(map(get, asked, repeat(-1)), dtype=np.int64, count=len(asked))
        inside = np.flatnonzero(asked_rows >= 0)
        distinct, first, inverse = np.unique(asked_rows[inside], return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first)] = np.arange(len(first))
        rows = distinct[np.argsort(rank)]
        pids = [asked[i] for i in inside[np.sort(first)].tolist()]
        asked_at = np.full(len(asked), -1, dtype=np.int64)
        asked_at[inside] = rank[inverse.reshape(-1)]
        evidence = views.evidence
        sentences, owner = evidence.sentences_of(rows)
        # The innermost section read with each sentence (as support_features reads it), folded once per section.
        sections, row_section = views.sections_of(rows)
        prefixes = Prefixes([views.folded_section(section) for section in sections])
        prefix_of = row_section[owner] if len(owner) else np.zeros(0, dtype=np.int64)
        looked: dict[str, np.ndarray] = {}  # a word can be a term, a near-synonym and a known word at once

        def has(needle: str) -> np.ndarray:
            found = looked.get(needle)
            if found is None:
                found = looked[needle] = evidence.contains_joined(needle, sentences, prefixes, prefix_of)
            return found

        def covered(weights: dict[str, float]) -> np.ndarray:
            total = sum(weights.values())
            return weighted_hits(weights, has, len(sentences)) / total if total else np.zeros(len(sentences))

        coverage = covered(topic.weights)
        known = self.known_weights(topic)
        wanted = "coverage_known" in self.support_model.features and known != topic.weights
        coverage_known = covered(known) if wanted else coverage
        gram_total = sum(grams.values())
        got = np.zeros(len(sentences))
        for gram, weight in grams.items():
            got = got + np.where(has(gram), weight, 0.0)
        bigram = got / gram_total if gram_total else np.zeros(len(sentences))
        best = [np.zeros(len(pids))] * 3
        digit = np.zeros(len(pids), dtype=bool)
        if len(sentences):
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            best = [np.maximum.reduceat(column, starts) for column in (coverage, bigram, coverage_known)]
            if query.numeric:  # a regex per sentence took ~10 ms a question: the index's digit mask instead
                digit = np.logical_or.reduceat(evidence.digits()[sentences], starts)
        arrays = {"coverage": best[0], "bigram": best[1], "coverage_known": best[2], "numeric": digit}
        return SupportFeatureTable(pids, query.numeric, self.sentence_forms, arrays, rows, views, (asked, asked_at))

    def _planted(self, pids: list[str], rows: np.ndarray | None = None, views: object = None) -> np.ndarray:
        """Whether each paragraph reads as an instruction to the assistant (:func:`is_instruction`).

        Saved per row at ingest (:func:`assistant.views.build_index_forms`; folding and searching
        the ~2,000 paragraphs a first which-towns question reads took ~40 ms), else remembered per
        index row for the index state as checked (a paragraph's text never changes under its id).

        Args:
            pids: The paragraphs.
            rows: Their rows in ``views``, when known (else looked up in the current views).
            views: The index views ``rows`` are of.
        """
        if rows is None or views is None:
            self._prepare()
            views, rows = self._views, None
        state = self.__dict__.get("_planted_state")
        if state is None or state[0] is not views:
            saved = views.planted  # saved at ingest (None: an older knowledge base, checked as read)
            known = saved.astype(np.int8) if saved is not None else np.full(len(views.order), -1, dtype=np.int8)
            state = (views, known)
            self.__dict__["_planted_state"] = state
        known, row_of, paragraphs = state[1], views.row, self.kb.paragraphs
        if rows is None:  # each paragraph's index row (-1: none)
            rows = np.fromiter(map(row_of.get, pids, repeat(-1)), dtype=np.int64, count=len(pids))
        inside = rows >= 0
        unread = np.unique(rows[inside][known[rows[inside]] < 0])
        texts = (paragraphs[views.order[row]].text for row in unread.tolist())
        known[unread] = np.fromiter(map(is_instruction, texts), dtype=bool, count=len(unread))
        out = np.zeros(len(pids), dtype=bool)
        out[inside] = known[rows[inside]] > 0
        for i in np.flatnonzero(~inside).tolist():
            out[i] = is_instruction(paragraphs[pids[i]].text)
        return out

    def model_supported(
        self, query: Query, topic: Topic, hits: list[Hit], nearest: list[Hit] | None = None
    ) -> list[Hit]:
        """The hits the fitted support decision (:mod:`assistant.support`) accepts on their best sentence.

        The same decision that judges every town of a which-towns question: a question in the
        official's own words ("跟监狱连线让服刑人员家属视频见面") shares few terms with the report
        ("远程视频会见"), so the lexical rule alone abstains while meaning and bigrams agree.

        Args:
            query: The question.
            topic: Its topic.
            hits: The hits to judge.
            nearest: Every candidate of the question (their dense similarities give its peak; default ``hits``).
        """
        same_scale, grams = comparable(query), self.bigram_weights(query)  # once per question, not per hit
        dense = {h.id: h.dense for h in (nearest or hits) if h.dense}
        reads_windows = same_scale and self.support_model.lazy_features
        windows = self.window_meaning(query, list(query.towns) or None, dense) if reads_windows else None

        def accepted(hit: Hit) -> bool:
            if is_instruction(hit.text):
                return False
            similarity = hit.dense if same_scale and hit.dense else None
            features = self.support_features(query, topic, hit.id, similarity, grams, self.supports(hit, topic))
            if windows is None or similarity is None:
                return self.support_model.supports(features)
            return self.support_model.supports_lazily(features, lambda: windows(hit.id))

        return [hit for hit in hits if accepted(hit)]

"""Judging evidence: the support model's features of a paragraph's best sentence, and its verdict.

:class:`SupportJudge` is mixed into :class:`assistant.retrieve.HybridRetriever`; it reads the
retriever's index views (``_prepare``, ``_views``, ``kb``, ``sentence_forms``), its settings
(``min_coverage``, ``dense_floor``, ``support_model``) and its lexical rule (``supports``). One
paragraph is judged by :meth:`SupportJudge.support_features`, thousands at once (a cross-town
question) by :meth:`SupportJudge.support_feature_table`, value for value the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from assistant.lexicon import SYNONYM_WEIGHT, expand
from assistant.lexicon import contains as lexical_contains
from assistant.lexicon import coverage as lexical_coverage
from assistant.query import Query
from assistant.support import bigram_coverage, bigram_weights, question_bigrams
from assistant.text import fold, to_simplified
from assistant.views import INNER_PUNCT, PUNCT

if TYPE_CHECKING:
    from assistant.retrieve import Hit, Topic

QUOTED_BAR = 0.5  # share of min_coverage evidence needs when the question quotes its topic


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
        lexical: Paragraph id → (best sentence coverage, best sentence bigram coverage).
        numeric: The question asks for a figure (then a paragraph's sentences are checked for a digit).
        forms: Paragraph id → its sentence forms.
    """

    lexical: dict[str, tuple[float, float]]
    numeric: bool
    forms: Callable[[str], list[str]] = field(repr=False)

    def __contains__(self, pid: str) -> bool:
        return pid in self.lexical

    def values(self, pid: str, dense: float | None, rule: bool) -> dict[str, float | None]:
        """The features of one paragraph, as :meth:`SupportJudge.support_features` gives them."""
        coverage, bigram = self.lexical[pid]
        numeric = float(self.numeric and any(re.search(r"\d", form) for form in self.forms(pid) or [""]))
        return {"dense": dense, "coverage": coverage, "bigram": bigram, "numeric": numeric, "rule": float(rule)}


class SupportJudge:
    """The support decision's features and verdict, for :class:`assistant.retrieve.HybridRetriever`."""

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
        """
        heading = PUNCT.sub("", fold(self.kb.paragraphs[pid].section))
        forms = [INNER_PUNCT.sub("", fold(sentence))] if sentence is not None else self.sentence_forms(pid) or [""]
        coverage = max(lexical_coverage(heading + form, topic.weights) for form in forms)
        bigram = max(bigram_coverage(grams, heading + form) for form in forms)
        numeric = float(query.numeric and any(re.search(r"\d", form) for form in forms))
        if sentence is not None:
            window = heading + forms[0]
            bar = self.min_coverage * (QUOTED_BAR if topic.quoted else 1.0)
            known = coverage >= bar and all(lexical_contains(window, t) for t in topic.required)
            rule = known if topic.known else (dense or 0.0) >= self.dense_floor
        return {"dense": dense, "coverage": coverage, "bigram": bigram, "numeric": numeric, "rule": float(rule)}

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
        views, paragraphs = self._views, self.kb.paragraphs
        pids = [pid for pid in dict.fromkeys(pids) if pid in views.row]
        evidence = views.evidence
        rows = np.array([views.row[pid] for pid in pids], dtype=np.int64)
        sentences, owner = evidence.sentences_of(rows)
        # The innermost section read with each sentence (as support_features reads it), folded once per section.
        section_ids: dict[str, int] = {}
        row_section = np.array(
            [section_ids.setdefault(paragraphs[pid].section, len(section_ids)) for pid in pids], dtype=np.int64
        )
        prefixes = [PUNCT.sub("", fold(section)) for section in section_ids]
        prefix_of = row_section[owner] if len(owner) else np.zeros(0, dtype=np.int64)

        def has(needle: str) -> np.ndarray:
            return evidence.contains_joined(needle, sentences, prefixes, prefix_of)

        got = np.zeros(len(sentences))
        total = sum(topic.weights.values())
        for term, weight in topic.weights.items():
            exact = has(term)
            near = np.zeros(len(sentences), dtype=bool)
            for alt in expand(term):
                near |= has(alt)
            got = got + np.where(exact, weight, np.where(near, weight * SYNONYM_WEIGHT, 0.0))
        coverage = got / total if total else np.zeros(len(sentences))
        gram_total = sum(grams.values())
        got = np.zeros(len(sentences))
        for gram, weight in grams.items():
            got = got + np.where(has(gram), weight, 0.0)
        bigram = got / gram_total if gram_total else np.zeros(len(sentences))
        best_coverage, best_bigram = np.zeros(len(pids)), np.zeros(len(pids))
        if len(sentences):
            best_coverage = np.maximum.reduceat(coverage, np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]))
            best_bigram = np.maximum.reduceat(bigram, np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]))
        lexical = dict(zip(pids, zip(best_coverage.tolist(), best_bigram.tolist())))
        return SupportFeatureTable(lexical, query.numeric, self.sentence_forms)

    def model_supported(self, query: Query, topic: Topic, hits: list[Hit]) -> list[Hit]:
        """The hits the fitted support decision (:mod:`assistant.support`) accepts on their best sentence.

        The same decision that judges every town of a which-towns question: a question in the
        official's own words ("跟监狱连线让服刑人员家属视频见面") shares few terms with the report
        ("远程视频会见"), so the lexical rule alone abstains while meaning and bigrams agree.
        """
        same_scale, grams = comparable(query), self.bigram_weights(query)  # once per question, not per hit

        def accepted(hit: Hit) -> bool:
            similarity = hit.dense if same_scale and hit.dense else None
            features = self.support_features(query, topic, hit.id, similarity, grams, self.supports(hit, topic))
            return self.support_model.supports(features)

        return [hit for hit in hits if accepted(hit)]

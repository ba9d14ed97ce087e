"""A calibrated support decision: does a passage answer the question for its town?

Lexical coverage of the question's words misses paraphrase and is fooled by a related word
("述职" for 述法); dense similarity alone does not separate "about the topic" from "answers
it". The decision here combines them with weights *fitted* on hand-labelled (question,
sentence, supports?) pairs (``tests/data/support_pairs.jsonl``) by ``scripts/fit_support.py``,
which also reports the held-out precision and recall; nothing in it is picked by hand.

Features of a candidate passage:

- ``dense``: the embedder's similarity of the question and the passage's best chunk. It is
  left unknown — the training mean, weighing nothing — where its scale differs from the
  labelled (simplified Chinese) questions: a question in traditional characters or English
  is less similar to every passage alike, and a town beyond the dense query's reach has no
  similarity at all;
- ``standing``: how many standard deviations the passage's best sentence window's similarity
  lies above the same question's similarities to an even sample of the reports' windows
  (:func:`vectorstore.sentences.standing`) — meaning relative to the question, where absolute
  cosines of every pair crowd into one narrow band; unknown where ``dense`` is;
- ``gap``: how far that window's similarity lies below the question's peak, the best window
  among the paragraphs nearest to the question (0 for the best-matching sentence itself);
- ``coverage``: the IDF-weighted share of the question's terms (and near-synonyms) in the
  passage's best sentence window (:mod:`assistant.lexicon`);
- ``coverage_known``: the same, counting only the terms some report uses (a word only the
  question uses can be no sentence's evidence, yet as the rarest word holds every coverage down);
- ``bigram``: the IDF-weighted share of the question's character bigrams in its best sentence
  (with its heading) — word-segmentation free, so a rare term the tokenizer splits ("述法")
  still counts as itself;
- ``numeric``: the question asks for a figure and the sentence states one;
- ``rule``: the lexical rule's own verdict (coverage above its bar and every required term in
  one sentence window), so the fit learns how far to trust it rather than replacing it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).with_name("data") / "support_model.json"
TOWN_MODEL_FILE = Path(__file__).with_name("data") / "town_model.json"
FEATURES = ("dense", "standing", "gap", "coverage", "coverage_known", "bigram", "numeric", "rule")
LAZY = ("standing", "gap")  # read from sentence vectors: computed only where the verdict depends on them
_NOT_CONTENT = re.compile(r"[\W\d_a-z]")


def question_bigrams(text: str, stop: Iterable[str] = ()) -> list[str]:
    """Content character bigrams of a folded question (punctuation, digits, Latin and stop words removed).

    >>> question_bigrams("领导干部述法", stop=["哪些"])
    ['领导', '导干', '干部', '部述', '述法']
    """
    for word in sorted(stop, key=len, reverse=True):
        if len(word) >= 2:
            text = text.replace(word, " ")
    grams = []
    for piece in re.split(r"\s+", text):
        grams += [piece[i : i + 2] for i in range(len(piece) - 1) if not _NOT_CONTENT.search(piece[i : i + 2])]
    return list(dict.fromkeys(grams))


def bigram_weights(grams: list[str], document_frequency: Callable[[str], int], n_documents: int) -> dict[str, float]:
    """IDF weight of each bigram the knowledge base contains (an unseen bigram can be no evidence)."""
    out = {}
    for gram in grams:
        df = document_frequency(gram)
        if df:
            out[gram] = math.log((n_documents + 1) / (df + 0.5))
    return out


def bigram_coverage(weights: dict[str, float], text: str) -> float:
    """IDF-weighted share of the question's bigrams present in ``text`` (folded).

    >>> bigram_coverage({"述法": 3.0, "干部": 1.0}, "领导干部述职")
    0.25
    """
    total = sum(weights.values())
    return sum(w for g, w in weights.items() if g in text) / total if total else 0.0


UNRULED = "_unruled"  # suffix of a feature counted only where the lexical rule is silent


def with_unruled(values: dict[str, float | None]) -> dict[str, float | None]:
    """``values`` with ``<name>_unruled`` = the feature where the lexical rule rejects, 0 where it accepts.

    Meaning relative to the question (``standing``, ``gap``) is what a paraphrased question has
    left when its words are not the report's; where the rule already found the words, the fit
    keeps trusting them as before instead of letting a meaning-only score overrule them.
    """
    rule = values.get("rule")
    out = dict(values)
    for name in LAZY:
        value = values.get(name)
        out[name + UNRULED] = None if value is None or rule is None else value * (1.0 - rule)
    return out


@dataclass(frozen=True)
class SupportModel:
    """Logistic regression over standardised features, with its decision threshold.

    Attributes:
        features: Feature names, in weight order.
        mean: Training mean of each feature.
        scale: Training standard deviation of each feature.
        weights: Coefficient of each standardised feature.
        bias: Intercept.
        threshold: Probability at and above which a passage supports an answer.
        provenance: How the model was fitted (data, held-out figures).
        bounds: Feature → (lowest, highest) value seen in training; a value is read clipped into
            them (a standing far beyond anything labelled must not outweigh everything else).
        min_towns: For the town decision: the fewest candidate towns of a question it was fitted
            on. Its features are read relative to the question's other candidates, which over a
            handful of towns mean something else; such questions keep the relevance-share rule.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    provenance: dict
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    min_towns: int = 0

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.weights) == n) or not 0 < self.threshold < 1:
            raise ValueError(f"SupportModel: {n} features but {len(self.weights)} weights, threshold {self.threshold}")

    @classmethod
    def load(cls, path: str | Path = MODEL_FILE) -> SupportModel:
        """Read a model written by ``scripts/fit_support.py``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            features=tuple(data["features"]),
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            weights=tuple(data["weights"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            provenance=data.get("provenance", {}),
            bounds={name: (float(lo), float(hi)) for name, (lo, hi) in data.get("bounds", {}).items()},
            min_towns=int(data.get("min_towns", 0)),
        )

    def _logit(self, values: dict[str, float | None]) -> float:
        values = with_unruled(values)
        z = self.bias
        for f, m, s, w in zip(self.features, self.mean, self.scale, self.weights):
            value = values.get(f)
            if value is not None:
                lo, hi = self.bounds.get(f, (value, value))
                z += w * (min(max(value, lo), hi) - m) / s
        return z

    def probability(self, values: dict[str, float | None]) -> float:
        """Probability that a passage with these feature values supports an answer (None: unknown)."""
        return 1.0 / (1.0 + math.exp(-self._logit(values)))

    def probabilities(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """:meth:`probability` of ``n`` items at once: one column per feature, NaN where a value is unknown.

        A which-towns question over 1,200 towns judges thousands of paragraphs (and towns); one
        Python call per item and feature took milliseconds each question. The terms are added in
        the order :meth:`_logit` adds them, so each value equals :meth:`probability`'s.

        Args:
            columns: Feature name → values (a feature missing here is unknown for every item).
            n: Number of items.
        """
        columns = dict(columns)
        rule = columns.get("rule")
        for name in LAZY:
            if name in columns and rule is not None:
                columns[name + UNRULED] = np.asarray(columns[name], dtype=np.float64) * (1.0 - rule)
        z = np.full(n, self.bias, dtype=np.float64)
        for f, m, s, w in zip(self.features, self.mean, self.scale, self.weights):
            value = columns.get(f)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float64)
            lo, hi = self.bounds.get(f, (-np.inf, np.inf))
            z = z + np.where(np.isnan(value), 0.0, w * (np.clip(value, lo, hi) - m) / s)
        return 1.0 / (1.0 + np.exp(-z))

    def supports(self, values: dict[str, float | None]) -> bool:
        """The decision at the fitted threshold."""
        return self.probability(values) >= self.threshold

    @property
    def lazy_features(self) -> list[str]:
        """The model's features read from sentence vectors (:data:`LAZY`); none: no question needs them."""
        return [f for f in self.features if f.split(UNRULED)[0] in LAZY]

    def supports_lazily(self, values: dict[str, float | None], compute: Callable[[], dict[str, float | None]]) -> bool:
        """:meth:`supports` with the :data:`LAZY` features computed only when the verdict depends on them.

        Each feature's reach is bounded (:attr:`bounds`): when even their lowest or highest values
        cannot move the passage across the threshold, they are not computed — the same verdict,
        without reading sentence vectors for the many candidates that are clearly in or out.
        """
        lazy = self.lazy_features
        if any(f not in self.bounds for f in lazy):
            return self.supports({**values, **compute()})
        base = self._logit({**values, **dict.fromkeys(LAZY)})
        low = high = 0.0
        for name in lazy:
            i = self.features.index(name)
            reach = sorted(self.weights[i] * (bound - self.mean[i]) / self.scale[i] for bound in self.bounds[name])
            low, high = low + reach[0], high + reach[1]
        cut = math.log(self.threshold / (1 - self.threshold))
        if base + low >= cut:
            return True
        if base + high < cut:
            return False
        return self.supports({**values, **compute()})


@functools.lru_cache(maxsize=1)
def default_model() -> SupportModel:
    """The packaged model (``assistant/data/support_model.json``)."""
    return SupportModel.load()


@functools.lru_cache(maxsize=1)
def default_town_model() -> SupportModel | None:
    """The packaged town decision (``assistant/data/town_model.json``, :func:`assistant.fusion.town_features`).

    The same kind of model as the paragraph decision — a logistic regression with a threshold,
    fitted by ``scripts/fit_town_decision.py`` on labelled which-towns questions — over the
    features of a whole town, read relative to the question's other candidate towns. None
    when no town decision is packaged (refitting from scratch): the relevance-share rule decides.
    """
    return SupportModel.load(TOWN_MODEL_FILE) if TOWN_MODEL_FILE.exists() else None

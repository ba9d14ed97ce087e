"""Lexical evidence for every paragraph at once: does some sentence say what the question asks?

:mod:`assistant.lexicon` defines evidence for one text (IDF-weighted share of the question's
terms, near-synonyms at 0.8, judged on a sentence or a pair of adjacent sentences read with
the section heading). A cross-town question over thousands of reports needs that judgement
for thousands of paragraphs; checking substrings paragraph by paragraph in Python took most
of such a question's time. Here each term is looked up once in character n-gram indexes
(:class:`vectorstore.ngram_index.NgramIndex`) over the folded paragraphs, sentences and
headings, and coverage is summed with numpy over all sentence windows.

A window holds a term when its heading or one of its sentences does (a term straddling the
heading and the first sentence is not counted; sentences end in 。！？； so nothing straddles
two of them).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.lexicon import PAIR_DISCOUNT, SYNONYM_WEIGHT, expand
from assistant.text import NUMBER
from vectorstore.derived import computed_in_memory
from vectorstore.ngram_index import NgramIndex

DIGIT = re.compile(r"\d")  # the support model's "numeric" feature: a sentence holds a digit
_TERM_CACHE = 2048  # terms whose rows are kept (users' questions share most terms)


@dataclass(frozen=True)
class TermPresence:
    """Where one question's weighted terms occur, for every paragraph (rows) and sentence.

    Attributes:
        terms: The weighted terms, in the question's order.
        coverage: Paragraph-level coverage of every row (as :func:`assistant.lexicon.coverage`).
        window: Best sentence-window coverage of every row.
        window_found: Terms × sentences: the window of the sentence and the next one holds the term.
    """

    terms: tuple[str, ...]
    coverage: np.ndarray
    window: np.ndarray
    window_found: np.ndarray

    def lexical(self, bar: float) -> np.ndarray:
        """Lexical evidence of every row.

        The best sentence window where the whole paragraph reaches ``bar``, else the paragraph's
        coverage: a window never covers more than its paragraph, so below the bar that bound stands in.
        """
        return np.where(self.coverage < bar, self.coverage, self.window)


class SentenceRows(Sequence):
    """Each row's sentences as a slice of one flat list (how ``index-forms.npz`` stores them).

    Reading the forms made a list per row (~40,000 at 2,000 reports) that the evidence index
    flattened again at once: here the flat list is kept and a row's list made when asked for.

    Args:
        flat: Every row's sentences, row after row.
        bounds: Where each row's sentences start in ``flat`` (one more than the rows, the last ``len(flat)``).
    """

    def __init__(self, flat: list[str], bounds: np.ndarray) -> None:
        self.flat = flat
        self.bounds = np.asarray(bounds, dtype=np.int64)
        self._bounds = self.bounds.tolist()

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self.flat[self._bounds[row] : self._bounds[row + 1]]

    def __iter__(self) -> Iterator[list[str]]:
        flat, bounds = self.flat, self._bounds
        return (flat[a:b] for a, b in zip(bounds, bounds[1:]))


class Prefixes:
    """Texts read before sentences (their section headings), looked up for many needles.

    A which-towns question checks ~30 terms and bigrams against the ~150 headings of its
    paragraphs; a Python test per heading and needle (and per head of the needle) took ~5 ms.

    Args:
        texts: The prefixes.
    """

    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)
        self._joined = "".join(t + "\0" for t in self.texts)
        self._ends = np.cumsum(np.fromiter(map(len, self.texts), dtype=np.int64, count=len(self.texts)) + 1)
        self._by_end: dict[int, dict[str, list[int]]] = {}

    def containing(self, needle: str) -> np.ndarray:
        """Whether each prefix contains ``needle`` (Python's ``in``)."""
        if not needle:
            return np.ones(len(self.texts), dtype=bool)
        found = np.zeros(len(self.texts), dtype=bool)
        if "\0" in needle:
            found[:] = [needle in t for t in self.texts]
            return found
        at, where = self._joined.find(needle), []
        while at >= 0:
            where.append(at)
            at = self._joined.find(needle, at + 1)
        found[np.searchsorted(self._ends, np.array(where, dtype=np.int64), side="right")] = True
        return found

    def straddling(self, needle: str) -> dict[int, list[str]]:
        """Prefix → the tails of ``needle`` a sentence after it must start with for the needle to straddle them.

        A prefix ending with the needle's first i characters (0 < i < len(needle)) gives the tail
        ``needle[i:]``, in the order of i.
        """
        tails: dict[int, list[str]] = {}
        for i in range(1, len(needle)):
            for k in self._ending(i).get(needle[:i], ()):
                tails.setdefault(k, []).append(needle[i:])
        return dict(sorted(tails.items()))

    def _ending(self, length: int) -> dict[str, list[int]]:
        """The prefixes by their last ``length`` characters (those at least that long)."""
        table = self._by_end.get(length)
        if table is None:
            table = self._by_end[length] = {}
            for k, text in enumerate(self.texts):
                if len(text) >= length:
                    table.setdefault(text[-length:], []).append(k)
        return table


class EvidenceIndex:
    """Paragraphs, their sentences and headings, indexed for term look-ups.

    Args:
        folded: Folded heading + text of each row, punctuation removed.
        headings: Folded heading of each row.
        sentences: Folded sentences of each row (inner punctuation removed; at least one each).
        cache_dir: Where the paragraph and sentence n-gram indexes are saved and reloaded
            (they take ~1.5 s each per 5 M characters to build); None to build in memory only.
        tag: Label of the indexed state (the index generation): a saved index with another
            tag is not used.
        write: Save the n-gram indexes to ``cache_dir`` when they are not there yet (the ingest
            side's builder); otherwise a missing one is built in memory only.
    """

    def __init__(
        self,
        folded: list[str],
        headings: list[str],
        sentences: list[list[str]],
        cache_dir: str | os.PathLike | None = None,
        tag: str = "",
        write: bool = False,
    ) -> None:
        if not len(folded) == len(headings) == len(sentences):
            raise ValueError(
                f"folded ({len(folded)}), headings ({len(headings)}) and sentences ({len(sentences)}) differ in length"
            )
        counts = np.diff(sentences.bounds) if isinstance(sentences, SentenceRows) else None
        if counts is not None and counts.all():  # already flat, every row with a sentence: taken as it is
            self.sentence_texts = sentences.flat
        else:
            sentences = [s or [""] for s in sentences]
            counts = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
            self.sentence_texts = [s for group in sentences for s in group]
        self.rows = len(folded)
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.sentence_row = np.repeat(np.arange(self.rows, dtype=np.int64), counts)
        n = len(self.sentence_texts)
        self.has_next = np.zeros(n, dtype=bool)
        if n:
            self.has_next[:-1] = self.sentence_row[1:] == self.sentence_row[:-1]
        distinct = list(dict.fromkeys(headings))
        heading_id = {h: i for i, h in enumerate(distinct)}
        self.heading_of_sentence = np.array([heading_id[h] for h in headings], dtype=np.int64)[self.sentence_row]
        self.paragraphs = _ngrams(folded, cache_dir, "ngrams-paragraphs.npz", tag, write)
        self.sentences = _ngrams(self.sentence_texts, cache_dir, "ngrams-sentences.npz", tag, write)
        self.headings = NgramIndex.build(distinct)
        self._heading_count = len(distinct)
        self._numerals: np.ndarray | None = None
        self._digits: np.ndarray | None = None
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._presences: dict[tuple, TermPresence] = {}

    def clear_caches(self) -> None:
        """Forget the term look-ups and presences of earlier questions."""
        self._cache.clear()
        self._presences.clear()

    # --- term look-ups -------------------------------------------------------
    def _rows(self, index: str, term: str) -> np.ndarray:
        key = (index, term)
        rows = self._cache.get(key)
        if rows is None:
            if len(self._cache) >= _TERM_CACHE:
                self._cache.clear()
            rows = self._cache[key] = getattr(self, index).containing(term)
        return rows

    def document_frequency(self, text: str) -> int:
        """Number of paragraphs (heading + text, punctuation removed) containing ``text``."""
        return len(self._rows("paragraphs", text))

    def occurs(self, text: str) -> bool:
        """Whether some paragraph (heading + text, punctuation removed) contains ``text``."""
        return len(self._rows("paragraphs", text)) > 0

    def sentences_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sentences of ``rows`` (indices, row by row) and the position in ``rows`` of each."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = self.starts[rows + 1] - self.starts[rows]
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        first = np.cumsum(counts) - counts
        sentences = self.starts[rows][owner] + (np.arange(int(counts.sum()), dtype=np.int64) - first[owner])
        return sentences, owner

    def contains_joined(
        self, needle: str, sentences: np.ndarray, prefixes: list[str] | Prefixes, prefix_of: np.ndarray
    ) -> np.ndarray:
        """Whether ``prefixes[prefix_of[j]] + sentence_texts[sentences[j]]`` contains ``needle``, for every j.

        Exactly Python's ``in`` on the joined text, without building it: the needle is in the
        sentence (n-gram look-up, cached per term), in the prefix, or straddles the two — a
        prefix ending with the needle's head is rare, and only its sentences are checked.
        Many needles over the same prefixes: pass them as one :class:`Prefixes`.
        """
        if not isinstance(prefixes, Prefixes):
            prefixes = Prefixes(prefixes)
        found = np.zeros(len(self.sentence_texts), dtype=bool)
        found[self._rows("sentences", needle)] = True
        out = found[sentences]
        out |= prefixes.containing(needle)[prefix_of]
        texts = self.sentence_texts
        for k, tails in prefixes.straddling(needle).items():
            heads = tuple(tails)  # str.startswith of a tuple: any of them
            for j in np.flatnonzero(prefix_of == k).tolist():
                if not out[j] and texts[sentences[j]].startswith(heads):
                    out[j] = True
        return out

    def sentence_coverage(self, weights: dict[str, float], sentences: np.ndarray) -> np.ndarray:
        """:func:`assistant.lexicon.coverage` of each of ``sentences`` alone (no heading), the same floats.

        Each term and near-synonym is looked up once (cached per term) instead of scanned per
        sentence; the weights are added in the order ``coverage`` adds them.
        """
        sentences = np.asarray(sentences, dtype=np.int64)
        total = sum(weights.values())
        if not total:
            return np.zeros(len(sentences))
        n = len(self.sentence_texts)

        def found(word: str) -> np.ndarray:
            if not word:  # "" in text
                return np.ones(len(sentences), dtype=bool)
            return self._mask("sentences", [word], n)[sentences]

        return weighted_hits(weights, found, len(sentences)) / total

    def _mask(self, index: str, words: list[str], size: int) -> np.ndarray:
        mask = np.zeros(size, dtype=bool)
        for word in words:
            mask[self._rows(index, word)] = True
        return mask

    def _in_sentences(self, words: list[str]) -> np.ndarray:
        """Sentences that (with their heading) hold one of ``words``."""
        n = len(self.sentence_texts)
        in_heading = self._mask("headings", words, self._heading_count)[self.heading_of_sentence]
        return self._mask("sentences", words, n) | in_heading

    def _with_next(self, mask: np.ndarray) -> np.ndarray:
        out = mask.copy()
        out[:-1] |= mask[1:] & self.has_next[:-1]
        return out

    # --- evidence ---------------------------------------------------------------
    def presence(self, weights: dict[str, float]) -> TermPresence:
        """Coverage of every paragraph and sentence window for one question's weighted terms."""
        key = tuple(weights.items())
        if key not in self._presences:
            if len(self._presences) >= 16:
                self._presences.clear()
            self._presences[key] = self._presence(weights)
        return self._presences[key]

    def _presence(self, weights: dict[str, float]) -> TermPresence:
        n_rows, n_sent = self.rows, len(self.sentence_texts)
        window_found = np.zeros((len(weights), n_sent), dtype=bool)
        whole = np.zeros(n_rows)
        single = np.zeros(n_sent)
        pair = np.zeros(n_sent)
        masks = {}
        for term in weights:
            alternatives = sorted(expand(term))
            masks[term] = [
                self._mask("paragraphs", [term], n_rows),
                self._mask("paragraphs", alternatives, n_rows),
                self._in_sentences([term]),
                self._in_sentences(alternatives),
            ]
        # A compound the question spells out may be written split ("普法宣传" as "普法……宣传"): its two
        # halves in the same paragraph / sentence count like a near-synonym.
        for term in weights:
            for head, tail in _halves(term, tuple(weights)):
                h, t = masks[head], masks[tail]
                masks[term][1] = masks[term][1] | ((h[0] | h[1]) & (t[0] | t[1]))
                masks[term][3] = masks[term][3] | ((h[2] | h[3]) & (t[2] | t[3]))
        for j, (term, weight) in enumerate(weights.items()):
            exact, near, exact_s, near_s = masks[term]
            exact_p, near_p = self._with_next(exact_s), self._with_next(near_s)
            # A term found counts its weight, one found only as a near-synonym SYNONYM_WEIGHT of it: added at
            # the (few) positions found, the two sets disjoint, so each float is the sum it was, without the
            # float temporaries of a weighted sum of masks over 120,000 sentences (~0.9 → 0.05 ms a mask).
            synonym = weight * SYNONYM_WEIGHT
            for total, found, near_only in ((whole, exact, near), (single, exact_s, near_s), (pair, exact_p, near_p)):
                total[np.flatnonzero(found)] += weight
                total[np.flatnonzero(near_only & ~found)] += synonym
            window_found[j] = exact_p | near_p
        total = float(sum(weights.values()))
        scale = 1.0 / total if total else 0.0
        scores = np.maximum(single, np.where(self.has_next, PAIR_DISCOUNT * pair, 0.0)) * scale
        window = np.maximum.reduceat(scores, self.starts[:-1]) if n_sent else np.zeros(n_rows)
        return TermPresence(terms=tuple(weights), coverage=whole * scale, window=window, window_found=window_found)

    def _window_holding(self, presence: TermPresence, term: str) -> np.ndarray:
        """Sentence windows holding ``term`` or a near-synonym."""
        if term in presence.terms:
            return presence.window_found[presence.terms.index(term)]
        return self._with_next(self._in_sentences([term, *sorted(expand(term))]))

    def digits(self) -> np.ndarray:
        """Sentences holding a decimal digit (``re.search(r"\\d", sentence)``; computed on first use)."""
        if self._digits is None:
            self._digits = matching(DIGIT, self.sentence_texts)
        return self._digits

    def numerals(self) -> np.ndarray:
        """Sentences stating a figure (computed on first use)."""
        if self._numerals is None:
            self._numerals = np.fromiter(
                (bool(NUMBER.search(s)) for s in self.sentence_texts), dtype=bool, count=len(self.sentence_texts)
            )
        return self._numerals

    def holding(self, presence: TermPresence, required: tuple[str, ...], numeric: bool = False) -> np.ndarray:
        """Rows with one window (a sentence and the next, with the heading) holding every required term.

        Args:
            presence: The question's term presence.
            required: Terms that must all occur (each or a near-synonym).
            numeric: The window must also state a figure.
        """
        ok = np.ones(len(self.sentence_texts), dtype=bool)
        for term in required:
            ok &= self._window_holding(presence, term)
        if numeric:
            ok &= self._with_next(self.numerals())
        if not len(ok):
            return np.zeros(self.rows, dtype=bool)
        return np.logical_or.reduceat(ok, self.starts[:-1])


def weighted_hits(weights: dict[str, float], found: Callable[[str], np.ndarray], size: int) -> np.ndarray:
    """Each row's sum of term weights: a term found counts whole, one found only as a near-synonym
    (:func:`assistant.lexicon.expand`) counts :data:`SYNONYM_WEIGHT` of it — :func:`assistant.lexicon.coverage`'s
    arithmetic, added in its order, over ``size`` rows at once.

    Args:
        weights: Term → weight.
        found: Word → boolean mask of the rows holding it.
        size: Number of rows.
    """
    got = np.zeros(size)
    for term, weight in weights.items():
        near = np.zeros(size, dtype=bool)
        for alt in expand(term):
            near |= found(alt)
        got = got + np.where(found(term), weight, np.where(near, weight * SYNONYM_WEIGHT, 0.0))
    return got


def matching(pattern: re.Pattern, texts: list[str]) -> np.ndarray:
    """Whether ``pattern.search(text)`` finds something, for each of ``texts``.

    For a pattern that never matches across a NUL (such as ``\\d``): one scan of the texts joined
    with NULs (~20 ms over 170,000 sentences) instead of a search per text (~70 ms).
    """
    joined = "\0".join(texts)
    if not texts or joined.count("\0") != len(texts) - 1:  # a text holding a NUL: searched one by one
        return np.fromiter((bool(pattern.search(t)) for t in texts), dtype=bool, count=len(texts))
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
    # Each match runs on to its text's end, so a text is matched at most once.
    hits = [m.start() for m in re.finditer(f"(?:{pattern.pattern})[^\\0]*", joined)]
    found = np.zeros(len(texts), dtype=bool)
    found[np.searchsorted(ends, np.array(hits, dtype=np.int64), side="right")] = True
    return found


def _halves(term: str, words: tuple[str, ...]) -> list[tuple[str, str]]:
    """Ways to write ``term`` as two of ``words`` (each at least two characters)."""
    known = set(words)
    return [(term[:i], term[i:]) for i in range(2, len(term) - 1) if term[:i] in known and term[i:] in known]


def _ngrams(
    texts: list[str], cache_dir: str | os.PathLike | None, name: str, tag: str, write: bool = False
) -> NgramIndex:
    """An n-gram index over ``texts``, read from ``cache_dir`` when it was saved for ``tag``.

    Only the builder (``write``) saves one; a question finding none builds it in memory.
    """
    if cache_dir is None:
        return NgramIndex.build(texts)
    path = Path(cache_dir) / name
    index = NgramIndex.load(path, texts, tag)
    if index is None:
        index = NgramIndex.build(texts)
        if write:
            index.save(path, tag)
        else:
            computed_in_memory(path, tag, "缺失、损坏或不是本代")
    return index


__all__ = ["EvidenceIndex", "Prefixes", "SentenceRows", "TermPresence"]

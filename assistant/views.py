"""The query side's views of one state of the knowledge base: folded forms, rows, towns, the evidence index.

Built once per index state (:meth:`assistant.retrieve.HybridRetriever.refresh` drops them after
a change): the folded heading + text and sentences of every paragraph (``index-forms.npz``),
town aliases (their pinyin spellings saved with the forms), the town and document of every catalogue
row, and the sentence-level evidence index (:mod:`assistant.evidence`). The files are built at ingest
by :func:`build_index_forms` (:mod:`vectorstore.derived`); here they are only read. The forms are
memory-mapped string blocks (parsing the 34 MB ``index-forms.json`` of older knowledge bases took
0.5-1.5 s of the first answer); that JSON file is still read when it is all there is.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Mapping

import numpy as np

from assistant.evidence import DIGIT, EvidenceIndex, SentenceRows
from assistant.fusion import Ranking, SignalHit
from assistant.injection import _INSTRUCTION as PLANTED  # the rule the saved flags were made with
from assistant.injection import is_instruction
from assistant.text import NUMBER, fold, folded_sentences
from ingest.records import Paragraph
from vectorstore.derived import (
    LEGACY,
    ArraysDamaged,
    computed_in_memory,
    load_arrays,
    long_lived,
    pack_strings,
    read_json,
    save_arrays,
    tag_of,
    unpack_strings,
)
from vectorstore.kb import KnowledgeBase, town_aliases
from vectorstore.paragraph_table import ParagraphTable

PUNCT = re.compile(r"[\s\W_]+")
_PSEUDO_SECTIONS = {"文首", "前言", "落款"}
FORMS_VERSION = "2"  # of the cached folded forms (index-forms.npz); bump when folding changes
# Punctuation inside a sentence does not separate words ("谁执法，谁普法" = "谁执法谁普法").
INNER_PUNCT = re.compile(r"[^\w。！？；!?;]+")


def pinyin_aliases(town: str) -> list[str]:
    """Latin spellings of a town for English questions: 东方红镇 → "dongfanghong"."""
    from pypinyin import lazy_pinyin

    short = town_aliases(town)[-1]
    if not re.search(r"[\u4e00-\u9fff]", short):
        return []
    return ["".join(lazy_pinyin(short)).lower()]


class IndexViews:
    """Views of a knowledge base's paragraphs in the catalogue's row order (:attr:`KnowledgeBase.row_ids`).

    Attributes:
        folded: Paragraph id → folded heading + text, punctuation removed.
        headings: Paragraph id → folded heading path.
        sentences: Paragraph id → folded sentences (inner punctuation removed).
        aliases: Folded town alias (full name, short form, pinyin) → canonical town.
        order: Paragraph id of every row.
        row: Row of every paragraph id.
        bm25: The BM25 index (:meth:`bm25_scores` maps its scores onto the rows).
        town_names, town_id: Sorted towns and each row's index into them.
        doc_names, doc_id: Sorted documents and each row's index into them.
        evidence: The sentence-level evidence index over the rows.
    """

    def __init__(self, kb: KnowledgeBase) -> None:
        with long_lived():  # millions of long-lived objects: see vectorstore.derived.long_lived
            self._load(kb)

    def _load(self, kb: KnowledgeBase) -> None:
        paragraphs = kb.paragraphs
        data = read_forms(kb.dir)
        folded, headings, sentences = _index_forms(kb, paragraphs, data)
        self.aliases = _aliases(kb, data)
        # Rows are the catalogue's paragraphs in its order; BM25 is one signal mapped onto them.
        self.order = kb.row_ids
        # Row-aligned; the by-id dictionaries are made only when asked for (a question reads by row).
        self._folded_rows, self._heading_rows, self._sentence_rows = folded, headings, sentences
        # Saved flat: a row's sentences are a slice of the flat list (sentences_of, ~2,400 calls an answer).
        self._flat = (sentences.flat, sentences.bounds.tolist()) if isinstance(sentences, SentenceRows) else None
        self.row = dict(zip(self.order, range(len(self.order))))
        if isinstance(paragraphs, ParagraphTable):  # its coded columns, without a look-up per row
            self.town_names, self.town_id = _sorted_codes(*paragraphs.coded("town"))
            self.doc_names, self.doc_id = _sorted_codes(*paragraphs.coded("doc_id"))
        else:
            towns_of = [paragraphs[pid].town for pid in self.order]
            self.town_names, self.town_id = _sorted_codes(*_coded(towns_of))
            self.doc_names, self.doc_id = _sorted_codes(*_coded([paragraphs[pid].doc_id for pid in self.order]))
        self._paragraphs = paragraphs  # the section of a row is read from it on first use (sections_of)
        self._folded_sections: dict[str, str] = {}
        self.bm25 = kb.bm25
        # Built from the catalogue in its order, BM25's ids are the rows; were they not, its scores are mapped.
        self._bm25_rows = (
            None if self.bm25.ids == self.order else np.array([self.row.get(pid, -1) for pid in self.bm25.ids])
        )
        self.evidence = SavedEvidence(
            folded,
            headings,
            sentences,
            cache_dir=kb.dir,
            tag=kb.catalog.get_state("generation", "0"),
            numerals=_saved_mask(data, self.order, _generation(kb), "numerals", NUMBER),
            digits=_saved_mask(data, self.order, _generation(kb), "digits", DIGIT),
        )
        self.planted = _saved_mask(data, self.order, _generation(kb), "planted", PLANTED)
        # The index views are millions of long-lived objects; a full garbage collection
        # walking them all paused a question for 100-300 ms at 2,000 reports (frozen on return).

    @functools.cached_property
    def folded(self) -> dict[str, str]:
        """Paragraph id → folded heading + text."""
        return dict(zip(self.order, self._folded_rows))

    @functools.cached_property
    def headings(self) -> dict[str, str]:
        """Paragraph id → folded heading path."""
        return dict(zip(self.order, self._heading_rows))

    @functools.cached_property
    def sentences(self) -> dict[str, list[str]]:
        """Paragraph id → folded sentences."""
        return dict(zip(self.order, self._sentence_rows))

    def sentences_of(self, pid: str) -> list[str]:
        """The folded sentences of one paragraph (none for an id outside the rows)."""
        row = self.row.get(pid)
        if row is None:
            return []
        if self._flat is not None:
            flat, bounds = self._flat
            return flat[bounds[row] : bounds[row + 1]]
        return self._sentence_rows[row]

    @functools.cached_property
    def _sections(self) -> tuple[list[str], np.ndarray]:
        """The distinct innermost sections and each row's index into them."""
        paragraphs = self._paragraphs
        if isinstance(paragraphs, ParagraphTable):  # its coded column, without making a paragraph per row
            return paragraphs.coded("section")
        return _coded([paragraphs[pid].section for pid in self.order])

    def folded_section(self, section: str) -> str:
        """A section heading folded (:func:`fold`) and stripped of punctuation, as the support features read it.

        Remembered: a which-towns question reads ~150 sections and folding (OpenCC) each took ~10 ms in all.
        """
        folded = self._folded_sections.get(section)
        if folded is None:
            folded = self._folded_sections[section] = PUNCT.sub("", fold(section))
        return folded

    def sections_of(self, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The distinct innermost sections of ``rows`` and each row's index into them."""
        names, codes = self._sections
        used, inverse = np.unique(codes[np.asarray(rows, dtype=np.int64)], return_inverse=True)
        return [names[c] for c in used.tolist()], inverse.reshape(-1).astype(np.int64, copy=False)

    def bm25_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every row for the terms."""
        scores = self.bm25.scores(terms)
        if self._bm25_rows is None:
            return scores
        out = np.zeros(len(self.order), dtype=scores.dtype)
        known = self._bm25_rows >= 0
        out[self._bm25_rows[known]] = scores[known]
        return out

    def in_scope(self, allowed: set[str] | None, allowed_docs: set[str] | None) -> np.ndarray:
        """Rows of the allowed towns and documents (all rows with a town when unrestricted)."""
        keep = self.town_id >= 0
        if allowed is not None:
            keep &= np.isin(self.town_id, [i for i, t in enumerate(self.town_names) if t in allowed])
        if allowed_docs is not None:
            keep &= np.isin(self.doc_id, [i for i, d in enumerate(self.doc_names) if d in allowed_docs])
        return keep

    def per_town_best(self, scores: np.ndarray, keep: np.ndarray, per_town: int, signal: str) -> Ranking:
        """The ``per_town`` best-scoring kept rows (score > 0) of every town as ``signal``'s hits, best first.

        Ties are broken in row order.
        """
        rows = np.flatnonzero(keep & (scores > 0))
        if not len(rows):
            return []
        rows = rows[np.lexsort((rows, -scores[rows], self.town_id[rows]))]  # by town, best first
        town = self.town_id[rows]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = town[1:] != town[:-1]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))
        rows = rows[np.arange(len(rows)) - group_start < per_town]
        rows = rows[np.lexsort((rows, -scores[rows]))]
        order = self.order
        # Thousands of hits a question: made without a Python-level call each (the named tuple's __new__).
        ids = map(order.__getitem__, rows.tolist())
        made = zip(ids, scores[rows].tolist(), itertools.repeat(signal))
        return list(map(tuple.__new__, itertools.repeat(SignalHit), made))


class SavedEvidence(EvidenceIndex):
    """The views' evidence index, with the sentence masks as the builder saved them.

    Searching :data:`assistant.text.NUMBER` in each of ~170,000 sentences took ~200 ms of CPU, paid by
    the first question asking for a figure after every open at 2,000 reports; :func:`build_index_forms`
    saves that mask with the forms and it is memory-mapped here. So is the mask of sentences holding a
    digit (:data:`assistant.evidence.DIGIT`, the support model's ``numeric`` feature; ~40 ms to compute).
    A knowledge base built before a mask was saved computes it on first use, the same flags.

    Args:
        numerals: The saved mask, one flag per sentence (None: computed on first use, as the base class does).
        digits: The saved digit mask, likewise.
        *args, **kwargs: As :class:`assistant.evidence.EvidenceIndex`.
    """

    def __init__(self, *args, numerals: np.ndarray | None = None, digits: np.ndarray | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        n = len(self.sentence_texts)
        self._saved_numerals = numerals if numerals is not None and len(numerals) == n else None
        self._saved_digits = digits if digits is not None and len(digits) == n else None

    @property
    def numerals_saved(self) -> bool:
        """Whether the mask was saved (reading it costs nothing; computing it searches every sentence)."""
        return self._saved_numerals is not None

    def numerals(self) -> np.ndarray:
        """Sentences stating a figure (the saved mask when there is one)."""
        return self._saved_numerals if self._saved_numerals is not None else super().numerals()

    @property
    def digits_saved(self) -> bool:
        """Whether the digit mask was saved (else the first question asking for a figure computes it)."""
        return self._saved_digits is not None

    def digits(self) -> np.ndarray:
        """Sentences holding a digit (the saved mask when there is one)."""
        return self._saved_digits if self._saved_digits is not None else super().digits()


def _planted_flags(paragraphs: Mapping[str, Paragraph], order: list[str], previous: dict | None) -> np.ndarray:
    """Whether each row's paragraph reads as an instruction to the assistant (:func:`is_instruction`).

    Reused from the previous forms file for unchanged paragraphs (an id names fixed content)
    when the same rule made them; the first build after the flags were added checks every
    paragraph once (~30 µs each).
    """
    known: dict[str, bool] = {}
    if previous and previous.get("planted_pattern") == PLANTED.pattern and previous.get("planted") is not None:
        if len(previous.get("ids") or []) == len(previous["planted"]):
            known = dict(zip(previous["ids"], previous["planted"].tolist()))
    flags = (known[pid] if pid in known else is_instruction(paragraphs[pid].text) for pid in order)
    return np.fromiter(flags, dtype=bool, count=len(order))


def _saved_mask(
    data: dict | None, order: list[str], generation: str, name: str, pattern: re.Pattern
) -> np.ndarray | None:
    """A saved mask (of sentences: ``numerals``, ``digits``; of rows: ``planted``), when the forms it goes with are the rows' and
    the pattern that made it is unchanged (else None: computed on first use)."""
    if not data or data.get("generation") != generation or data.get("ids") != order:
        return None
    mask = data.get(name)
    return mask if mask is not None and data.get(f"{name}_pattern") == pattern.pattern else None


def _coded(values: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct values in order of first appearance, and each value's index into them."""
    code: dict[str, int] = {}
    codes = np.array([code.setdefault(v, len(code)) for v in values], dtype=np.int64)
    return list(code), codes


def _sorted_codes(names: list[str], codes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The sorted distinct names, and each row's index into them (rows coded into ``names``)."""
    ordered = sorted(set(names))
    at = {name: i for i, name in enumerate(ordered)}
    lookup = np.array([at[name] for name in names], dtype=np.int64)
    return ordered, lookup[codes] if len(codes) else np.zeros(0, dtype=np.int64)


FORMS_FILE = "index-forms.npz"
NGRAM_FILES = ("ngrams-paragraphs.npz", "ngrams-sentences.npz")  # written by assistant.evidence


def _generation(kb: KnowledgeBase) -> str:
    return kb.catalog.get_state("generation", "0")


def _fold_forms(paragraphs: Mapping[str, Paragraph], previous: dict | None) -> dict[str, list]:
    """Folded heading + text, heading and sentences of every paragraph, reusing ``previous`` ones.

    Folding (OpenCC, NFKC) every paragraph takes ~1 ms each; after an ingest only new
    paragraphs are folded: a paragraph id names fixed content (document hash + position).
    """
    forms = previous.get("forms") if previous and previous.get("version") == FORMS_VERSION else None
    forms = forms if isinstance(forms, dict) else {}
    kept = {pid: forms[pid] for pid in paragraphs if pid in forms}
    for pid, p in paragraphs.items():
        if pid not in kept:
            text = fold(p.text)
            heading = fold("".join(h for h in p.section_path if h not in _PSEUDO_SECTIONS))
            kept[pid] = [
                PUNCT.sub("", heading + text),
                heading,
                [INNER_PUNCT.sub("", x) for x in folded_sentences(text)],
            ]
    return kept


def _town_pinyin(towns: list[str], data: dict | None) -> dict[str, list[str]]:
    """Each town's Latin spellings: saved in ``index-forms.npz`` at ingest, else computed here.

    Importing pypinyin and its phrase table takes 1-2 s, most of a fresh process's first answer.
    """
    saved = data.get("pinyin") if data else None
    if isinstance(saved, dict) and all(isinstance(saved.get(t), list) for t in towns):
        return {t: saved[t] for t in towns}
    return {t: pinyin_aliases(t) for t in towns}


def _aliases(kb: KnowledgeBase, data: dict | None) -> dict[str, str]:
    """Folded town alias (full name, short form, pinyin) → town: saved at ingest, else made here.

    Folding the aliases of 2,000 towns (OpenCC) took ~0.1 s of the knowledge base's open.
    """
    towns = kb.towns()
    if data and data.get("version") == FORMS_VERSION and data.get("generation") == _generation(kb):
        saved = data.get("aliases")
        if isinstance(saved, dict) and data.get("towns") == towns:
            return saved
    pinyin = _town_pinyin(towns, data)
    return _fold_aliases(towns, pinyin)


def _fold_aliases(towns: list[str], pinyin: dict[str, list[str]]) -> dict[str, str]:
    return {fold(a): t for t in towns for a in town_aliases(t) + pinyin[t]}


def _index_forms(kb: KnowledgeBase, paragraphs: Mapping[str, Paragraph], data: dict | None) -> tuple[list, list, list]:
    """Folded forms, headings and sentences of every row (:attr:`KnowledgeBase.row_ids` order).

    Read from ``index-forms.npz`` (``data``, built at ingest), never written here; computed in
    memory when it is missing or of another generation.
    """
    path = kb.dir / FORMS_FILE
    generation = _generation(kb)
    order = kb.row_ids
    if data and data.get("version") == FORMS_VERSION and data.get("generation") == generation:
        if "ids" in data and data["ids"] == order:
            return data["folded"], data["headings"], data["sentences"]
        forms = data.get("forms")  # an older knowledge base's index-forms.json
        if isinstance(forms, dict) and len(forms) == len(order) and all(pid in forms for pid in order):
            return _rows(forms, order)
    computed_in_memory(path, generation, "缺失或不是本代" if data is None else "不是本代")
    return _rows(_fold_forms(paragraphs, _previous_forms(data)), order)


def _rows(forms: dict, order: list[str]) -> tuple[list, list, list]:
    rows = [forms[pid] for pid in order]
    return [f[0] for f in rows], [f[1] for f in rows], [f[2] for f in rows]


def read_forms(folder) -> dict | None:
    """The saved forms: ``{"generation", "version", "ids", "folded", "headings", "sentences", "pinyin"}``
    (row-aligned; ``sentences`` a :class:`SentenceRows` over the flat block) from ``index-forms.npz``,
    memory-mapped string blocks, with the saved sentence masks (``numerals``, ``digits``); else the
    ``{"generation", "version", "forms": {pid: [folded, heading, sentences]}, "pinyin"}`` of an older
    knowledge base's ``index-forms.json``; None when neither can be read.
    """
    try:
        arrays = load_arrays(folder / FORMS_FILE)
    except (OSError, ArraysDamaged):
        return read_json(folder / LEGACY[FORMS_FILE])
    try:
        ids = unpack_strings(arrays["ids_utf8"], arrays["ids_offsets"])
        folded = unpack_strings(arrays["folded_utf8"], arrays["folded_offsets"])
        headings = unpack_strings(arrays["headings_utf8"], arrays["headings_offsets"])
        flat = unpack_strings(arrays["sentences_utf8"], arrays["sentences_offsets"])
        sentences = SentenceRows(flat, arrays["sentence_starts"])
        meta = json.loads(str(arrays["meta"][()]))
        numerals = arrays.get("numerals")  # absent in files written before it was saved
        digits = arrays.get("digits")  # likewise
        planted = arrays.get("planted")  # likewise
    except (KeyError, ValueError):
        return None
    if not len(ids) == len(folded) == len(headings) == len(sentences) or sentences.bounds[-1] != len(flat):
        return None
    return {
        "generation": tag_of(arrays), "version": meta.get("version"), "ids": ids, "folded": folded,
        "headings": headings, "sentences": sentences,
        "pinyin": meta.get("pinyin"), "towns": meta.get("towns"), "aliases": meta.get("aliases"),
        "numerals": None if numerals is None else numerals.astype(bool, copy=False),
        "numerals_pattern": meta.get("numerals_pattern"),
        "digits": None if digits is None else digits.astype(bool, copy=False),
        "digits_pattern": meta.get("digits_pattern"),
        "planted": None if planted is None else planted.astype(bool, copy=False),
        "planted_pattern": meta.get("planted_pattern"),
    }  # fmt: skip


def _previous_forms(data: dict | None) -> dict | None:
    """Saved forms (either file) in the ``{"version", "forms": {pid: ...}}`` shape :func:`_fold_forms` reuses."""
    if data is None or "ids" not in data:
        return data
    forms = {pid: [f, h, s] for pid, f, h, s in zip(data["ids"], data["folded"], data["headings"], data["sentences"])}
    return {"version": data.get("version"), "forms": forms}


def build_index_forms(kb: KnowledgeBase) -> None:
    """Derived-cache builder (:mod:`vectorstore.derived`): ``index-forms.npz`` and the n-gram arrays.

    Run by the knowledge base after every change of the catalogue and every repair. The forms of
    unchanged paragraphs are taken from the previous file (or an older knowledge base's
    ``index-forms.json``, removed once its replacement is written).
    """
    generation = _generation(kb)
    paragraphs = kb.paragraphs
    legacy = kb.dir / LEGACY[FORMS_FILE]
    if legacy.exists() and not (kb.dir / FORMS_FILE).exists():
        # Converting an older knowledge base: its n-gram files were written unaligned (read, not mapped).
        for name in NGRAM_FILES:
            (kb.dir / name).unlink(missing_ok=True)
    previous = read_forms(kb.dir)
    forms = _fold_forms(paragraphs, _previous_forms(previous))
    towns = kb.towns()
    pinyin = {t: pinyin_aliases(t) for t in towns}
    order = kb.row_ids
    rows = [forms[pid] for pid in order]
    arrays = {}
    for name, values in (("ids", order), ("folded", [f[0] for f in rows]), ("headings", [f[1] for f in rows])):
        packed = pack_strings(values)
        arrays[f"{name}_utf8"], arrays[f"{name}_offsets"] = packed["utf8"], packed["offsets"]
    packed = pack_strings([s for f in rows for s in f[2]])
    arrays["sentences_utf8"], arrays["sentences_offsets"] = packed["utf8"], packed["offsets"]
    arrays["sentence_starts"] = np.concatenate([[0], np.cumsum([len(f[2]) for f in rows], dtype=np.int64)])
    evidence = EvidenceIndex(
        [f[0] for f in rows],
        [f[1] for f in rows],
        [list(f[2]) for f in rows],
        cache_dir=kb.dir,
        tag=generation,
        write=True,
    )
    arrays["numerals"] = evidence.numerals()  # read by SavedEvidence; tied to the pattern that made it
    arrays["digits"] = evidence.digits()  # likewise
    arrays["planted"] = _planted_flags(paragraphs, order, previous)  # read by the support judge
    meta = {
        "version": FORMS_VERSION, "pinyin": pinyin, "towns": towns, "aliases": _fold_aliases(towns, pinyin),
        "numerals_pattern": NUMBER.pattern, "digits_pattern": DIGIT.pattern, "planted_pattern": PLANTED.pattern,
    }  # fmt: skip
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    save_arrays(kb.dir / FORMS_FILE, generation, arrays)
    legacy.unlink(missing_ok=True)

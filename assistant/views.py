"""The query side's views of one state of the knowledge base: folded forms, rows, towns, the evidence index.

Built once per index state (:meth:`assistant.retrieve.HybridRetriever.refresh` drops them after
a change): the folded heading + text and sentences of every paragraph (``index-forms.json``),
town aliases (their pinyin spellings saved with the forms), the town and document of every catalogue
row, and the sentence-level evidence index (:mod:`assistant.evidence`). The files are built at ingest
by :func:`build_index_forms` (:mod:`vectorstore.derived`); here they are only read.
"""

from __future__ import annotations

import gc
import re

import numpy as np

from assistant.evidence import EvidenceIndex
from assistant.fusion import Ranking, SignalHit
from assistant.text import fold, folded_sentences
from ingest.records import Paragraph
from vectorstore.derived import computed_in_memory, read_json, write_json
from vectorstore.kb import KnowledgeBase, town_aliases

PUNCT = re.compile(r"[\s\W_]+")
_PSEUDO_SECTIONS = {"文首", "前言", "落款"}
FORMS_VERSION = "2"  # of the cached folded forms (index-forms.json); bump when folding changes
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
        paragraphs = kb.paragraphs
        data = read_json(kb.dir / FORMS_FILE)
        self.folded, self.headings, self.sentences = _index_forms(kb, paragraphs, data)
        pinyin = _town_pinyin(kb.towns(), data)
        self.aliases = {fold(a): t for t in kb.towns() for a in town_aliases(t) + pinyin[t]}
        # Rows are the catalogue's paragraphs in its order; BM25 is one signal mapped onto them.
        self.order = kb.row_ids
        self.row = {pid: i for i, pid in enumerate(self.order)}
        towns_of = [paragraphs[pid].town for pid in self.order]
        self.town_names = sorted(set(towns_of))
        town_ids = {t: i for i, t in enumerate(self.town_names)}
        self.town_id = np.array([town_ids[t] for t in towns_of], dtype=np.int64)
        docs_of = [paragraphs[pid].doc_id for pid in self.order]
        self.doc_names = sorted(set(docs_of))
        doc_ids = {d: i for i, d in enumerate(self.doc_names)}
        self.doc_id = np.array([doc_ids[d] for d in docs_of], dtype=np.int64)
        self.bm25 = kb.bm25
        # Built from the catalogue in its order, BM25's ids are the rows; were they not, its scores are mapped.
        self._bm25_rows = (
            None if self.bm25.ids == self.order else np.array([self.row.get(pid, -1) for pid in self.bm25.ids])
        )
        self.evidence = EvidenceIndex(
            [self.folded.get(pid, "") for pid in self.order],
            [self.headings.get(pid, "") for pid in self.order],
            [self.sentences.get(pid, []) for pid in self.order],
            cache_dir=kb.dir,
            tag=kb.catalog.get_state("generation", "0"),
        )
        # The index views are millions of long-lived objects; a full garbage collection
        # walking them all paused a question for 100-300 ms at 2,000 reports.
        gc.freeze()

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
        return [SignalHit(order[i], score, signal) for i, score in zip(rows.tolist(), scores[rows].tolist())]


FORMS_FILE = "index-forms.json"


def _generation(kb: KnowledgeBase) -> str:
    return kb.catalog.get_state("generation", "0")


def _fold_forms(paragraphs: dict[str, Paragraph], previous: dict | None) -> dict[str, list]:
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
    """Each town's Latin spellings: saved in ``index-forms.json`` at ingest, else computed here.

    Importing pypinyin and its phrase table takes 1-2 s, most of a fresh process's first answer.
    """
    saved = data.get("pinyin") if data else None
    if isinstance(saved, dict) and all(isinstance(saved.get(t), list) for t in towns):
        return {t: saved[t] for t in towns}
    return {t: pinyin_aliases(t) for t in towns}


def _index_forms(kb: KnowledgeBase, paragraphs: dict[str, Paragraph], data: dict | None) -> tuple[dict, dict, dict]:
    """The folded forms of every paragraph: read from ``index-forms.json`` (``data``, built at ingest), never written here."""
    path = kb.dir / FORMS_FILE
    generation = _generation(kb)
    if data and data.get("version") == FORMS_VERSION and data.get("generation") == generation:
        forms = data.get("forms")
        if isinstance(forms, dict) and forms.keys() == paragraphs.keys():
            return _split_forms(forms)
    computed_in_memory(path, generation, "缺失或不是本代" if data is None else "不是本代")
    return _split_forms(_fold_forms(paragraphs, data))


def build_index_forms(kb: KnowledgeBase) -> None:
    """Derived-cache builder (:mod:`vectorstore.derived`): ``index-forms.json`` and the n-gram arrays.

    Run by the knowledge base after every change of the catalogue and every repair.
    """
    path = kb.dir / FORMS_FILE
    generation = _generation(kb)
    paragraphs = kb.paragraphs
    forms = _fold_forms(paragraphs, read_json(path))
    pinyin = {t: pinyin_aliases(t) for t in kb.towns()}
    write_json(path, {"generation": generation, "version": FORMS_VERSION, "forms": forms, "pinyin": pinyin})
    folded, headings, sentences = _split_forms(forms)
    order = kb.row_ids
    EvidenceIndex(
        [folded.get(pid, "") for pid in order],
        [headings.get(pid, "") for pid in order],
        [sentences.get(pid, []) for pid in order],
        cache_dir=kb.dir,
        tag=generation,
        write=True,
    )


def _split_forms(forms: dict) -> tuple[dict, dict, dict]:
    return (
        {pid: f[0] for pid, f in forms.items()},
        {pid: f[1] for pid, f in forms.items()},
        {pid: f[2] for pid, f in forms.items()},
    )

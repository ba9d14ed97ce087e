"""The query side's views of one state of the knowledge base: folded forms, rows, towns, the evidence index.

Built once per index state (:meth:`assistant.retrieve.HybridRetriever.refresh` drops them after
a change): the folded heading + text and sentences of every paragraph (cached on disk per index
generation, ``index-forms.json``), town aliases, the town and document of every BM25 row, and the
sentence-level evidence index (:mod:`assistant.evidence`).
"""

from __future__ import annotations

import gc
import re

import numpy as np

from assistant.evidence import EvidenceIndex
from assistant.fusion import Ranking
from assistant.text import fold, folded_sentences
from ingest.records import Paragraph
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
    """Views of a knowledge base's paragraphs in BM25 row order.

    Attributes:
        folded: Paragraph id → folded heading + text, punctuation removed.
        headings: Paragraph id → folded heading path.
        sentences: Paragraph id → folded sentences (inner punctuation removed).
        aliases: Folded town alias (full name, short form, pinyin) → canonical town.
        order: Paragraph id of every row.
        row: Row of every paragraph id.
        town_names, town_id: Sorted towns and each row's index into them (-1: no paragraph).
        doc_names, doc_id: Sorted documents and each row's index into them.
        evidence: The sentence-level evidence index over the rows.
    """

    def __init__(self, kb: KnowledgeBase) -> None:
        paragraphs = kb.paragraphs
        self.folded, self.headings, self.sentences = _index_forms(kb, paragraphs)
        self.aliases = {fold(a): t for t in kb.towns() for a in town_aliases(t) + pinyin_aliases(t)}
        self.order = kb.bm25.ids
        # A BM25 id without a paragraph (an index mid-repair) belongs to no town and is skipped.
        towns_of = [paragraphs[pid].town if pid in paragraphs else "" for pid in self.order]
        self.town_names = sorted(set(towns_of) - {""})
        town_ids = {t: i for i, t in enumerate(self.town_names)}
        self.town_id = np.array([town_ids.get(t, -1) for t in towns_of], dtype=np.int64)
        docs_of = [paragraphs[pid].doc_id if pid in paragraphs else "" for pid in self.order]
        self.doc_names = sorted(set(docs_of))
        doc_ids = {d: i for i, d in enumerate(self.doc_names)}
        self.doc_id = np.array([doc_ids[d] for d in docs_of], dtype=np.int64)
        self.row = kb.bm25.position
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

    def in_scope(self, allowed: set[str] | None, allowed_docs: set[str] | None) -> np.ndarray:
        """Rows of the allowed towns and documents (all rows with a town when unrestricted)."""
        keep = self.town_id >= 0
        if allowed is not None:
            keep &= np.isin(self.town_id, [i for i, t in enumerate(self.town_names) if t in allowed])
        if allowed_docs is not None:
            keep &= np.isin(self.doc_id, [i for i, d in enumerate(self.doc_names) if d in allowed_docs])
        return keep

    def per_town_best(self, scores: np.ndarray, keep: np.ndarray, per_town: int) -> Ranking:
        """The ``per_town`` best-scoring kept rows (score > 0) of every town, best first (ties in index order)."""
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
        return list(zip([order[i] for i in rows.tolist()], scores[rows].tolist()))


def _index_forms(kb: KnowledgeBase, paragraphs: dict[str, Paragraph]) -> tuple[dict, dict, dict]:
    """Folded text, headings and sentences of every paragraph, cached on disk.

    Folding (OpenCC, NFKC) every paragraph takes ~1 ms each; at thousands of reports
    that would be paid by the first question of every process. After an ingest only new
    paragraphs are folded: a paragraph id names fixed content (document hash + position).
    """
    import json
    import os

    path = kb.dir / "index-forms.json"
    generation = kb.catalog.get_state("generation", "0")
    forms: dict = {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") == FORMS_VERSION and isinstance(data.get("forms"), dict):
            forms = data["forms"]
            if data.get("generation") == generation and set(forms) == set(paragraphs):
                return _split_forms(forms)
    except (OSError, ValueError):
        pass
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
    try:
        tmp = path.with_suffix(".tmp")
        payload = {"generation": generation, "version": FORMS_VERSION, "forms": kept}
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # read-only index: fold again next time
    return _split_forms(kept)


def _split_forms(forms: dict) -> tuple[dict, dict, dict]:
    return (
        {pid: f[0] for pid, f in forms.items()},
        {pid: f[1] for pid, f in forms.items()},
        {pid: f[2] for pid, f in forms.items()},
    )

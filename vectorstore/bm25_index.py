"""BM25 over paragraphs (bm25s + jieba tokens), persisted beside the Chroma index.

The index is rebuilt once per ingest from the catalogue (building is a sparse
matrix over all paragraphs: ~1 s per 100k paragraphs) and written to a fresh
directory that replaces the old one atomically, so a crash never leaves a
half-written index.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from vectorstore.tokenize import tokenize


class BM25Index:
    """Lexical index over paragraph ids.

    Args:
        ids: Paragraph ids, in index order.
        retriever: A fitted ``bm25s.BM25`` (None for an empty index).
    """

    def __init__(self, ids: list[str], retriever=None) -> None:
        self.ids = ids
        self.retriever = retriever
        self.position = {pid: i for i, pid in enumerate(ids)}

    @classmethod
    def build(cls, ids: list[str], texts: list[str], tokens: list[list[str]] | None = None) -> BM25Index:
        """Fit BM25 on texts (section heading + paragraph text).

        Args:
            ids: Paragraph ids.
            texts: Their texts.
            tokens: The texts' tokens when already known (tokenising is most of the build's time).
        """
        if len(ids) != len(texts) or (tokens is not None and len(tokens) != len(texts)):
            raise ValueError(f"ids ({len(ids)}), texts ({len(texts)}) and tokens differ in length")
        if not ids:
            return cls([])
        import bm25s

        if tokens is None:
            tokens = [tokenize(t) for t in texts]
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        retriever.index([t or ["∅"] for t in tokens], show_progress=False)
        return cls(list(ids), retriever)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every paragraph (index order) for the query tokens."""
        if self.retriever is None or not query_tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        vocab = self.retriever.vocab_dict
        known = [t for t in query_tokens if t in vocab]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)

    def save(self, directory: str | os.PathLike) -> None:
        """Write the index to ``directory``, replacing any previous one atomically."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=target.parent))
        (tmp / "ids.json").write_text(json.dumps(self.ids, ensure_ascii=False), encoding="utf-8")
        if self.retriever is not None:
            self.retriever.save(str(tmp / "bm25s"), show_progress=False)
        old = target.with_name(target.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> BM25Index | None:
        """Load a saved index; None when there is none."""
        path = Path(directory)
        if not (path / "ids.json").exists():
            old = path.with_name(path.name + ".old")  # a crash between the two renames
            if (old / "ids.json").exists():
                path = old
            else:
                return None
        ids = json.loads((path / "ids.json").read_text(encoding="utf-8"))
        if not ids:
            return cls([])
        import bm25s

        retriever = bm25s.BM25.load(str(path / "bm25s"), show_progress=False, verbosity=0)
        return cls(ids, retriever)

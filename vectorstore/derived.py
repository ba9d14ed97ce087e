"""Caches derived from the catalogue for the query side, built at ingest and repair only.

A derived cache (the folded forms, the n-gram arrays, the statistics table) is a file in the
knowledge-base folder tagged with the index generation it was built for. The knowledge base
builds every registered one after each change of the catalogue (ingest, delete, rename) and
when ``doctor --repair`` or the open-time check rebuilds the indexes; the query side only
reads them. A cache that is missing or of another generation when a question comes is
computed in memory for that process and never written: answering a question changes nothing
on disk (``tests/test_derived.py``).

The builders live with their owners on the question side (:mod:`assistant.views`,
:mod:`assistant.kinds.figures`) and are handed to :class:`vectorstore.kb.KnowledgeBase` by
:class:`assistant.service.Assistant`, so this package imports nothing from the assistant.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Derived:
    """One family of derived cache files and how to build them.

    Attributes:
        files: File names (in the knowledge-base folder) the builder writes.
        build: ``build(kb)`` writes them for the knowledge base's current generation.
    """

    files: tuple[str, ...]
    build: Callable[[Any], None]


def read_json(path: Path) -> dict | None:
    """A JSON cache as a dict (None when it is absent, unreadable or not an object)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, payload: dict) -> None:
    """Write a JSON cache atomically (a reader sees the old file or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def generation_of(path: Path) -> str | None:
    """The generation a derived file was built for (None when absent or unreadable)."""
    if path.suffix == ".npz":
        try:
            import numpy as np

            with np.load(path) as data:
                return str(data["tag"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
    data = read_json(path)
    generation = data.get("generation") if data else None
    return generation if isinstance(generation, str) else None


def computed_in_memory(path: Path, generation: str, why: str) -> None:
    """Log that a question computes a derived cache itself instead of reading it."""
    log.info("%s %s（索引第 %s 代）：本进程在内存中计算，不写入知识库", path.name, why, generation)


def zip_problem(path: Path) -> str | None:
    """Cheap check of a saved ``.npz``: its zip directory lists the arrays (a cut file has none)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except FileNotFoundError:
        return None
    except (OSError, zipfile.BadZipFile) as err:
        return f"n-gram 索引文件损坏（{type(err).__name__}）"
    if not {"keys.npy", "starts.npy", "rows.npy", "tag.npy"} <= names:
        return "n-gram 索引文件缺少数组"
    return None


__all__ = ["Derived", "computed_in_memory", "generation_of", "read_json", "write_json", "zip_problem"]

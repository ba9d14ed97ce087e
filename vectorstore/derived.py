"""Caches derived from the catalogue for the query side, built at ingest and repair only.

A derived cache (the paragraph table, the folded forms, the n-gram arrays, the statistics
table) is a file in the knowledge-base folder tagged with the index generation it was built for. The knowledge base
builds every registered one after each change of the catalogue (ingest, delete, rename) and
when ``doctor --repair`` or the open-time check rebuilds the indexes; the query side only
reads them. A cache that is missing or of another generation when a question comes is
computed in memory for that process and never written: answering a question changes nothing
on disk (``tests/test_derived.py``).

The builders live with their owners on the question side (:mod:`assistant.views`,
:mod:`assistant.kinds.figures`) and are handed to :class:`vectorstore.kb.KnowledgeBase` by
:class:`assistant.service.Assistant`, so this package imports nothing from the assistant.

Storage: every cache is an uncompressed ``.npz`` whose ``.npy`` members start on 64-byte
boundaries (:func:`save_arrays`), so :func:`load_arrays` memory-maps them instead of reading
them: opening a knowledge base at 2,000 reports parsed 65 MB of JSON and read 60 MB of n-gram
arrays before the first answer; now the pages a question touches are read when it touches
them. Strings are stored as one UTF-8 block with character offsets (:func:`pack_strings`).
Knowledge bases written before this kept ``index-forms.json`` and ``facts.json``
(:data:`LEGACY`): they are still read, and converted by the next open or repair.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import os
import struct
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


# The JSON caches of knowledge bases written before the array files, by the file replacing them.
LEGACY = {"index-forms.npz": "index-forms.json", "facts.npz": "facts.json"}
_ALIGN = 64  # .npy headers are padded to 64 bytes: a member starting on 64 has its data on 64
_PAD_FIELD = 0xD935  # zip extra field id used for alignment padding (as Android's zipalign)


@contextlib.contextmanager
def long_lived():
    """Make the objects a knowledge base loads without the cyclic garbage collector, then freeze them.

    Opening a knowledge base makes a few hundred thousand acyclic, long-lived objects (strings,
    lists, dicts); every collection the allocations set off walked them all again (about a
    third of the open time at 2,000 reports). Afterwards they are frozen (``gc.freeze``), so
    later collections skip them too.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


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


def save_arrays(path: str | os.PathLike, tag: str, arrays: dict) -> None:
    """Write arrays to an uncompressed ``.npz`` atomically, each member's data 64-byte aligned.

    ``np.load`` reads the file as any ``.npz``; :func:`load_arrays` memory-maps its members.

    Args:
        path: Target file.
        tag: The generation the arrays were built for (member ``tag``).
        arrays: Name → array (no object arrays).
    """
    import numpy as np

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, array in {"tag": np.array(tag), **arrays}.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            start = archive.fp.tell() + 30 + len(info.filename.encode()) + 4  # local header + pad field
            padding = -start % _ALIGN
            info.extra = struct.pack("<HH", _PAD_FIELD, padding) + b"\0" * padding
            archive.writestr(info, buffer.getvalue())
    os.replace(tmp, path)


class ArraysDamaged(ValueError):
    """A saved array file that cannot be used; ``str(err)`` is a one-line Chinese reason."""


def load_arrays(path: str | os.PathLike, mmap: bool = True) -> dict:
    """The arrays of an ``.npz``, memory-mapped (read-only) where the member is stored aligned.

    A member that is compressed or unaligned (a file written by ``np.savez`` elsewhere) is read
    into memory instead, so any ``.npz`` loads. Only the zip directory and the ``.npy`` headers
    are read here; the data pages are read when used.

    Raises:
        FileNotFoundError: No such file.
        ArraysDamaged: Not a zip, a member cut short, or a member that is not a plain array.
    """
    import numpy as np

    path = Path(path)
    out: dict = {}
    try:
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            size = os.fstat(handle.fileno()).st_size
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[:-4]
                if not mmap or info.compress_type != zipfile.ZIP_STORED:
                    with archive.open(info) as member:
                        out[name] = np.lib.format.read_array(io.BytesIO(member.read()), allow_pickle=False)
                    continue
                handle.seek(info.header_offset)
                local = handle.read(30)
                if len(local) < 30 or local[:4] != b"PK\x03\x04":
                    raise ArraysDamaged(f"{name} 的文件头损坏")
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                start = info.header_offset + 30 + name_len + extra_len
                handle.seek(start)
                version = np.lib.format.read_magic(handle)
                fmt = np.lib.format
                read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, fortran, dtype = read_header(handle)
                if dtype.hasobject:
                    raise ArraysDamaged(f"{name} 不是数值数组")
                offset = handle.tell()
                count = int(np.prod(shape, dtype=np.int64))
                if offset + count * dtype.itemsize > min(size, start + info.file_size):
                    raise ArraysDamaged(f"{name} 数据不完整（文件被截断）")
                if count == 0 or offset % dtype.alignment:
                    handle.seek(offset)
                    data = handle.read(count * dtype.itemsize)
                    out[name] = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
                    continue
                order = "F" if fortran else "C"
                mapped = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
                out[name] = mapped.view(np.ndarray)  # a plain array (the map stays its base)
    except (zipfile.BadZipFile, EOFError, struct.error) as err:
        raise ArraysDamaged(f"数组文件损坏（{type(err).__name__}）") from None
    except ValueError as err:
        if isinstance(err, ArraysDamaged):
            raise
        raise ArraysDamaged(f"数组文件损坏（{str(err)[:60]}）") from None
    return out


def pack_strings(texts: list[str]) -> dict:
    """Strings as arrays: one UTF-8 block of the strings each followed by NUL (``utf8``), and the
    character offset where each starts (``offsets``, one more than there are strings)."""
    import numpy as np

    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    if texts:
        np.cumsum([len(t) + 1 for t in texts], out=offsets[1:])
    joined = "".join(t + "\0" for t in texts)
    return {"utf8": np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8), "offsets": offsets}


def unpack_strings(utf8, offsets) -> list[str]:
    """The strings :func:`pack_strings` stored.

    One decode of the block and one split at the NULs (C loops: ~20 ms for 250,000 strings);
    the offsets are used only when a string itself holds a NUL.
    """
    import numpy as np

    # Decoded straight from the (memory-mapped) buffer: no bytes copy of the block first.
    joined = str(memoryview(np.ascontiguousarray(utf8, dtype=np.uint8)), "utf-8", "surrogatepass")
    n = len(offsets) - 1
    parts = joined.split("\0")
    if len(parts) == n + 1 and not parts[-1]:
        parts.pop()
        return parts
    if n <= 0:
        return []
    bounds = offsets.tolist()
    return [joined[a : b - 1] for a, b in zip(bounds, bounds[1:])]


_NONE = -(2**62)  # an integer column's None


def pack_column(name: str, values: list, kind: str) -> dict:
    """One column of a table as arrays named ``name_*``.

    Args:
        name: Column name (prefix of its arrays).
        values: The column's values, one per row.
        kind: ``str`` (one string per row), ``coded`` (strings with few distinct values: the
            distinct ones once, a code per row), ``int`` (``None`` allowed) or ``float``.
    """
    import numpy as np

    if kind == "str":
        return {f"{name}_{k}": v for k, v in pack_strings(values).items()}
    if kind == "coded":
        distinct = list(dict.fromkeys(values))
        code = {v: i for i, v in enumerate(distinct)}
        packed = {f"{name}_{k}": v for k, v in pack_strings(distinct).items()}
        return {**packed, f"{name}_codes": np.array([code[v] for v in values], dtype=np.int32)}
    if kind == "int":
        return {name: np.array([_NONE if v is None else v for v in values], dtype=np.int64)}
    if kind == "float":
        return {name: np.array(values, dtype=np.float64)}
    raise ValueError(f"unknown column kind {kind!r}")


def unpack_column(arrays: dict, name: str, kind: str) -> list:
    """The values :func:`pack_column` stored (Python objects, one per row)."""
    if kind == "str":
        return unpack_strings(arrays[f"{name}_utf8"], arrays[f"{name}_offsets"])
    if kind == "coded":
        distinct = unpack_strings(arrays[f"{name}_utf8"], arrays[f"{name}_offsets"])
        return [distinct[c] for c in arrays[f"{name}_codes"].tolist()]
    if kind == "int":
        return [None if v == _NONE else v for v in arrays[name].tolist()]
    if kind == "float":
        return arrays[name].tolist()
    raise ValueError(f"unknown column kind {kind!r}")


def tag_of(arrays: dict) -> str | None:
    """The generation recorded in loaded arrays (None when absent)."""
    tag = arrays.get("tag")
    return None if tag is None else str(tag[()])


def generation_of(path: Path) -> str | None:
    """The generation a derived file was built for (None when absent or unreadable)."""
    if path.suffix == ".npz":
        try:
            return tag_of(load_arrays(path))
        except (OSError, ArraysDamaged):
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
    if "tag.npy" not in names:
        return "缓存文件缺少索引代号"
    if path.name.startswith("ngrams-") and not {"keys.npy", "starts.npy", "rows.npy"} <= names:
        return "n-gram 索引文件缺少数组"
    return None


__all__ = [
    "LEGACY", "ArraysDamaged", "Derived", "computed_in_memory", "generation_of", "load_arrays", "long_lived",
    "pack_strings",
    "pack_column", "read_json", "save_arrays", "tag_of", "unpack_column", "unpack_strings", "write_json",
    "zip_problem",
]  # fmt: skip

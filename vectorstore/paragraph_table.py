"""Every paragraph of the catalogue as memory-mapped columns, read at open instead of the catalogue.

Reading 42,800 paragraphs from ``catalog.sqlite`` (sorted by document, each section path a
JSON text) and making a :class:`Paragraph` of each took ~1 s of a 2,000-report knowledge
base's first answer. This table is written beside the other derived caches after every change
of the catalogue (``paragraphs.npz``, tagged with the generation, :mod:`vectorstore.derived`);
a knowledge base whose table is of its generation serves :attr:`KnowledgeBase.paragraphs` from
it, making a :class:`Paragraph` only when one is asked for. Otherwise the catalogue is read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping

import numpy as np

from ingest.records import Paragraph
from vectorstore.derived import ArraysDamaged, load_arrays, pack_strings, save_arrays, tag_of, unpack_strings

TABLE_FILE = "paragraphs.npz"
_STRINGS = ("id", "text")  # one value per row
_CODED = ("doc_id", "town", "section", "section_path", "role")  # few distinct values: codes into a list
_NUMBERS = ("paragraph", "start", "end", "ordinal", "year")
_NO_YEAR = -(2**62)  # ``year=None``


def save_table(
    path: str | os.PathLike,
    paragraphs: list[Paragraph],
    chunks: dict[str, tuple[str, ...]],
    document_towns: list[str],
    tag: str,
) -> None:
    """Write the paragraphs (in the catalogue's order), each chunk's paragraph ids and each
    document's town, labelled with the generation ``tag``."""
    arrays: dict[str, np.ndarray] = {}
    packed = pack_strings(document_towns)
    arrays["document_town_utf8"], arrays["document_town_offsets"] = packed["utf8"], packed["offsets"]
    for name, values in (("chunk", list(chunks)), ("chunk_paragraph", [p for ps in chunks.values() for p in ps])):
        packed = pack_strings(values)
        arrays[f"{name}_utf8"], arrays[f"{name}_offsets"] = packed["utf8"], packed["offsets"]
    arrays["chunk_starts"] = np.concatenate([[0], np.cumsum([len(ps) for ps in chunks.values()], dtype=np.int64)])
    for name in _STRINGS:
        packed = pack_strings([getattr(p, name) for p in paragraphs])
        arrays[f"{name}_utf8"], arrays[f"{name}_offsets"] = packed["utf8"], packed["offsets"]
    # Where each text starts in the UTF-8 block (bytes; the NUL after each counted): one paragraph's
    # text is decoded alone, not the whole 15 MB block for the first one asked for.
    ends = np.cumsum([len(p.text.encode("utf-8", "surrogatepass")) + 1 for p in paragraphs], dtype=np.int64)
    arrays["text_byte_offsets"] = np.concatenate([np.zeros(1, dtype=np.int64), ends])
    for name in _CODED:
        values = [_coded_value(p, name) for p in paragraphs]
        names = list(dict.fromkeys(values))
        code = {v: i for i, v in enumerate(names)}
        packed = pack_strings(names)
        arrays[f"{name}_names_utf8"], arrays[f"{name}_names_offsets"] = packed["utf8"], packed["offsets"]
        arrays[f"{name}_codes"] = np.array([code[v] for v in values], dtype=np.int32)
    for name in _NUMBERS:
        values = [getattr(p, name) for p in paragraphs]
        arrays[name] = np.array([_NO_YEAR if v is None else v for v in values], dtype=np.int64)
    save_arrays(path, tag, arrays)


def _coded_value(p: Paragraph, name: str) -> str:
    value = getattr(p, name)
    return json.dumps(list(value), ensure_ascii=False) if name == "section_path" else value


class ParagraphTable(Mapping):
    """Paragraph id → :class:`Paragraph`, in the catalogue's order, from memory-mapped columns.

    Each :class:`Paragraph` is made on first access and kept. Behaves as the ``dict`` the
    catalogue gives (same keys in the same order, equal values).

    Args:
        arrays: The columns :func:`save_table` wrote (as :func:`vectorstore.derived.load_arrays` gives them).
    """

    def __init__(self, arrays: dict) -> None:
        self._arrays = arrays
        self.ids = unpack_strings(arrays["id_utf8"], arrays["id_offsets"])
        self._row = {pid: i for i, pid in enumerate(self.ids)}
        if len(self._row) != len(self.ids):
            raise ArraysDamaged("段落编号重复")
        self._names = {n: unpack_strings(arrays[f"{n}_names_utf8"], arrays[f"{n}_names_offsets"]) for n in _CODED}
        self._codes = {n: arrays[f"{n}_codes"] for n in _CODED}
        for name, codes in self._codes.items():
            if len(codes) != len(self.ids) or (len(codes) and int(codes.max()) >= len(self._names[name])):
                raise ArraysDamaged(f"段落表的 {name} 列不完整")
        self._texts: list[str] | None = None  # every text, when the table has no byte offsets
        self._text_block: memoryview | None = None
        self._text_bounds: list[int] = []
        self._numbers: dict[str, list] | None = None
        self._code_lists: dict[str, list[int]] = {}
        self._made: dict[str, Paragraph] = {}
        self._all: tuple[Paragraph, ...] | None = None
        self._doc_code: dict[str, int] | None = None  # document id → its code (made on first use)
        self._paths: dict[str, tuple[str, ...]] = {}  # section path JSON → tuple (read once each)

    @classmethod
    def load(cls, path: str | os.PathLike, tag: str) -> ParagraphTable | None:
        """The table saved at ``path`` for generation ``tag`` (None when absent, of another generation or damaged)."""
        try:
            arrays = load_arrays(path)
            if tag_of(arrays) != tag:
                return None
            return cls(arrays)
        except (OSError, KeyError, ArraysDamaged):
            return None

    def document_towns(self) -> list[str]:
        """The town of every document (as the catalogue's document metadata states it)."""
        return unpack_strings(self._arrays["document_town_utf8"], self._arrays["document_town_offsets"])

    def chunk_paragraphs(self) -> Mapping[str, tuple[str, ...]]:
        """Chunk id → the ids of the paragraphs it covers (as :meth:`vectorstore.catalog.Catalog.chunk_paragraphs`)."""
        return _ChunkParagraphs(self._arrays)

    def column(self, name: str) -> list[str]:
        """A coded column's value for every row (``doc_id``, ``town``, ``section``, ``role``), without making paragraphs."""
        names = self._names[name]
        return [names[c] for c in self._codes[name].tolist()]

    def coded(self, name: str) -> tuple[list[str], np.ndarray]:
        """A coded column as stored: its distinct values and each row's index into them."""
        return list(self._names[name]), self._codes[name]

    def distinct(self, name: str) -> list[str]:
        """The distinct values of a coded column."""
        return list(self._names[name])

    def __getitem__(self, pid: str) -> Paragraph:
        made = self._made.get(pid)
        if made is None:
            made = self._made[pid] = self._make(self._row[pid])
        return made

    def _make(self, i: int) -> Paragraph:
        if self._numbers is None:  # the first paragraph asked for: the short columns as Python lists
            self._open_texts()
            self._code_lists = {n: self._codes[n].tolist() for n in _CODED}
            self._numbers = {n: self._arrays[n].tolist() for n in _NUMBERS}  # last: what other threads test
        names, codes, numbers = self._names, self._code_lists, self._numbers
        path_json = names["section_path"][codes["section_path"][i]]
        path = self._paths.get(path_json)
        if path is None:
            path = self._paths[path_json] = tuple(json.loads(path_json))
        year = numbers["year"][i]
        return Paragraph(
            self.ids[i], names["doc_id"][codes["doc_id"][i]], names["town"][codes["town"][i]],
            names["section"][codes["section"][i]], path, numbers["paragraph"][i], self._text(i),
            numbers["start"][i], numbers["end"][i], numbers["ordinal"][i], None if year == _NO_YEAR else year,
            names["role"][codes["role"][i]],
        )  # fmt: skip

    def _open_texts(self) -> None:
        """Prepare to read texts: by their byte offsets one at a time, else (an older table) all decoded at once."""
        block = np.ascontiguousarray(self._arrays["text_utf8"], dtype=np.uint8)
        bounds = self._arrays.get("text_byte_offsets")
        if bounds is not None and len(bounds) == len(self.ids) + 1 and (not len(self.ids) or bounds[-1] == len(block)):
            self._text_block, self._text_bounds = memoryview(block), bounds.tolist()
        else:
            self._texts = unpack_strings(self._arrays["text_utf8"], self._arrays["text_offsets"])

    def _text(self, i: int) -> str:
        if self._texts is not None:
            return self._texts[i]
        start, end = self._text_bounds[i], self._text_bounds[i + 1] - 1  # the NUL after each text left out
        return str(self._text_block[start:end], "utf-8", "surrogatepass")

    def get(self, pid: str, default: Paragraph | None = None) -> Paragraph | None:  # type: ignore[override]
        """The paragraph ``pid``, or ``default`` (without :class:`Mapping`'s exception round trip)."""
        return self[pid] if pid in self._row else default

    def values(self) -> tuple[Paragraph, ...]:  # type: ignore[override]
        """Every paragraph in the catalogue's order, made once and then kept as one tuple.

        A metadata question reads every front-matter and sign-off paragraph by scanning all of
        them (twice per document): through :class:`Mapping`'s view each of the 42,800 of a
        2,000-report base was a ``__getitem__`` call, ~100 ms a question; the tuple is iterated at
        list speed.
        """
        if self._all is None:
            self._all = tuple(map(self.__getitem__, self.ids))
        return self._all

    def document_town_map(self) -> dict[str, str]:
        """Document id → the town of its paragraphs, for every document with a paragraph."""
        docs, towns = self._codes["doc_id"], self._codes["town"]
        _, first = np.unique(docs, return_index=True)
        doc_names, town_names = self._names["doc_id"], self._names["town"]
        return {doc_names[docs[i]]: town_names[towns[i]] for i in sorted(first.tolist())}

    def rows_with_role(self, roles: tuple[str, ...]) -> list[int]:
        """Row numbers (catalogue order) of the paragraphs whose role is one of ``roles``, without making any."""
        names = self._names["role"]
        wanted = [i for i, name in enumerate(names) if name in roles]
        return np.flatnonzero(np.isin(self._codes["role"], wanted)).tolist()

    def document_paragraphs(self, doc_id: str) -> list[Paragraph]:
        """A document's paragraphs in the catalogue's order, making only those (none for an unknown document).

        A metadata answer looks for the paragraph stating a field in its document: scanning every
        paragraph for it made all 42,800 of a 2,000-report base at the first such question.
        """
        if self._doc_code is None:
            self._doc_code = {name: i for i, name in enumerate(self._names["doc_id"])}
        code = self._doc_code.get(doc_id)
        if code is None:
            return []
        ids = self.ids
        return [self[ids[row]] for row in np.flatnonzero(self._codes["doc_id"] == code).tolist()]

    def paragraph_at(self, row: int) -> Paragraph:
        """The paragraph of row ``row`` (catalogue order)."""
        return self[self.ids[row]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, pid: object) -> bool:
        return pid in self._row


class _ChunkParagraphs(Mapping):
    """Chunk id → paragraph ids, a tuple made when a chunk is asked for (a question asks for a few hundred)."""

    def __init__(self, arrays: dict) -> None:
        ids = unpack_strings(arrays["chunk_utf8"], arrays["chunk_offsets"])
        self._paragraphs = unpack_strings(arrays["chunk_paragraph_utf8"], arrays["chunk_paragraph_offsets"])
        self._starts = arrays["chunk_starts"].tolist()
        if len(self._starts) != len(ids) + 1 or self._starts[-1] != len(self._paragraphs):
            raise ArraysDamaged("片段表不完整")
        self._row = {cid: i for i, cid in enumerate(ids)}

    def __getitem__(self, chunk_id: str) -> tuple[str, ...]:
        i = self._row[chunk_id]
        return tuple(self._paragraphs[self._starts[i] : self._starts[i + 1]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._row


__all__ = ["TABLE_FILE", "ParagraphTable", "save_table"]

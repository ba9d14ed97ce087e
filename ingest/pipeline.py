"""One document through the ingest stages: load → clean/parse → metadata → chunk."""

from __future__ import annotations

import os
from dataclasses import replace

from ingest.chunk import chunk_paragraphs
from ingest.limits import Limits
from ingest.load import DEFAULT_MAX_BYTES, LoadError, load_file
from ingest.metadata import extract_metadata
from ingest.parse import parse_paragraphs
from ingest.records import Paragraph, ParsedDocument, SourceText

# Bumped whenever parsing or metadata reading changes what a document yields: an ingest
# parses documents read by an older version again (their embeddings come from the cache).
# 2: real-world layouts (site metadata, single-newline paragraphs, titles, town gazetteer).
# 3: chunk vectors pooled from sentence-window vectors, which the query side reads back
#    (vectorstore/sentences.py): an index built before lacks them until its documents are read again.
PARSER_VERSION = 3


def doc_id_for(sha256: str) -> str:
    """Document id: a prefix of the content hash (the same bytes give the same id)."""
    return sha256[:16]


def parse_source(source: SourceText, limits: Limits | None = None) -> ParsedDocument:
    """Parse a decoded source into metadata, paragraphs and chunks.

    Args:
        source: Output of :func:`ingest.load.load_file`.
        limits: Bounds on the document (its paragraph count is checked before chunking).

    Raises:
        LoadError: When the document has more paragraphs than ``limits`` allow.

    Returns:
        The parsed document.
    """
    doc_id = doc_id_for(source.sha256)
    parsed = parse_paragraphs(source.text)
    if limits is not None and len(parsed) > limits.max_paragraphs:
        raise LoadError(f"段落过多（{len(parsed):,} 段，上限 {limits.max_paragraphs:,} 段），不像单篇报告，已拒绝")
    meta = replace(
        extract_metadata(parsed, source.text, doc_id, path=source.path, sha256=source.sha256), parser=PARSER_VERSION
    )
    paragraphs = tuple(
        Paragraph(
            id=f"{doc_id}:p{i}",
            doc_id=doc_id,
            town=meta.town,
            section=p.section,
            section_path=p.section_path,
            paragraph=p.paragraph,
            text=p.text,
            start=p.start,
            end=p.end,
            ordinal=i,
            year=meta.year,
            role=p.role,
        )
        for i, p in enumerate(parsed)
    )
    return ParsedDocument(meta=meta, paragraphs=paragraphs, chunks=tuple(chunk_paragraphs(list(paragraphs))))


def parse_file(
    path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES, limits: Limits | None = None
) -> ParsedDocument:
    """Load and parse one file (raises :class:`ingest.load.LoadError` on bad input).

    Args:
        path: The report file.
        max_bytes: Largest file read.
        limits: Bounds on what the document may cost (an ingest passes
            :data:`ingest.limits.INGEST_LIMITS`; a library call applies none by default).
    """
    return parse_source(load_file(path, max_bytes=max_bytes, limits=limits), limits=limits)

"""One document through the ingest stages: load → clean/parse → metadata → chunk."""

from __future__ import annotations

import os

from ingest.chunk import chunk_paragraphs
from ingest.load import DEFAULT_MAX_BYTES, load_file
from ingest.metadata import extract_metadata
from ingest.parse import parse_paragraphs
from ingest.records import Paragraph, ParsedDocument, SourceText


def doc_id_for(sha256: str) -> str:
    """Document id: a prefix of the content hash (the same bytes give the same id)."""
    return sha256[:16]


def parse_source(source: SourceText) -> ParsedDocument:
    """Parse a decoded source into metadata, paragraphs and chunks.

    Args:
        source: Output of :func:`ingest.load.load_file`.

    Returns:
        The parsed document.
    """
    doc_id = doc_id_for(source.sha256)
    parsed = parse_paragraphs(source.text)
    meta = extract_metadata(parsed, source.text, doc_id, path=source.path, sha256=source.sha256)
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


def parse_file(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedDocument:
    """Load and parse one file (raises :class:`ingest.load.LoadError` on bad input)."""
    return parse_source(load_file(path, max_bytes=max_bytes))

"""Paragraph-based chunking that keeps every chunk's citation.

One chunk per paragraph, embedded with its section heading as context. A very
long paragraph is cut into sentence windows with one sentence of overlap; a
very short one (a 文号 line, a one-clause item) rides along with its neighbour,
and the chunk then cites every paragraph it covers.
"""

from __future__ import annotations

from ingest.clean import split_sentences
from ingest.records import Chunk, Paragraph

MAX_CHARS = 320
MIN_CHARS = 30


def _windows(text: str, max_chars: int) -> list[str]:
    sentences = split_sentences(text)
    if len(sentences) <= 1:
        return [text[i : i + max_chars] for i in range(0, len(text), max_chars - 40)] or [text]
    windows: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        if current and sum(map(len, current)) + len(sentence) > max_chars:
            windows.append("".join(current))
            current = current[-1:] if len(current[-1]) < max_chars // 2 else []
        current.append(sentence)
    if current and (not windows or "".join(current) not in windows[-1]):
        windows.append("".join(current))
    return windows


def _groups(paragraphs: list[Paragraph], min_chars: int, max_chars: int) -> list[list[Paragraph]]:
    """Group short paragraphs with a neighbour of the same role and top-level section.

    A group stops growing before it would pass ``max_chars``: without the cap, 20,000
    one-line paragraphs became two chunks that no answer could cite usefully. The
    group's length is kept as a running total so grouping stays linear in the input.
    """
    groups: list[list[Paragraph]] = []
    chars = 0  # characters of the paragraphs in groups[-1] (the chunk text adds a newline between them)
    for para in paragraphs:
        prev = groups[-1] if groups else None
        same_place = prev and prev[-1].role == para.role and prev[-1].section_path[:1] == para.section_path[:1]
        short = chars < min_chars or len(para.text) < min_chars
        if same_place and short and chars + len(prev) + len(para.text) <= max_chars:
            prev.append(para)
            chars += len(para.text)
        else:
            groups.append([para])
            chars = len(para.text)
    return groups


def _context(section: str, text: str) -> str:
    return text if text.startswith(section) else f"{section}：{text}"


def chunk_paragraphs(
    paragraphs: list[Paragraph], max_chars: int = MAX_CHARS, min_chars: int = MIN_CHARS
) -> list[Chunk]:
    """Turn a document's paragraphs into chunks to embed.

    Args:
        paragraphs: One document's paragraphs in reading order.
        max_chars: Paragraphs longer than this are split on sentence boundaries.
        min_chars: Paragraphs shorter than this are merged with a neighbour.

    Returns:
        Chunks in reading order; each cites the paragraph ids it covers.
    """
    if max_chars <= min_chars:
        raise ValueError(f"max_chars ({max_chars}) must exceed min_chars ({min_chars})")
    chunks: list[Chunk] = []
    for group in _groups(paragraphs, min_chars, max_chars):
        first = group[0]
        ids = tuple(p.id for p in group)
        texts = _windows(first.text, max_chars) if len(group) == 1 else ["\n".join(p.text for p in group)]
        for text in texts:
            chunks.append(
                Chunk(
                    id=f"{first.doc_id}:c{len(chunks)}",
                    doc_id=first.doc_id,
                    town=first.town,
                    paragraph_ids=ids,
                    section=first.section,
                    text=text,
                    context=_context(first.section, text),
                )
            )
    return chunks

"""The typed parts an answer is made of; renderers (:mod:`assistant.render`) turn them into text.

An answer is a sequence of blocks (lines, list items, headings, tables, blank lines); inside a
block, text is a sequence of inline pieces: plain strings, :class:`Bold` words and
:class:`~assistant.cite.Citation` objects. A citation stays an object until a renderer decides
how it looks: an inline label ``〔北留镇 · 二、存在的问题 · 第3段〕`` in the app and the JSON
contract, a footnote number ``[1]`` in an export. Nothing downstream has to find citations or
layout in rendered text again.

>>> from assistant.render import markdown
>>> markdown((Line(("共1个镇提到普法：",)), Item((Bold("北留镇"), "：开展普法。"))))
'共1个镇提到普法：\\n- **北留镇**：开展普法。'
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.cite import Citation


@dataclass(frozen=True)
class Bold:
    """A word set in bold (a town name leading its line)."""

    text: str


Inline = str | Bold | Citation
"""One piece of a block's text."""


@dataclass(frozen=True)
class Line:
    """A paragraph of one line (a lead line, a fact with its citation, a notice)."""

    inline: tuple[Inline, ...]


@dataclass(frozen=True)
class Item:
    """A bulleted list item."""

    inline: tuple[Inline, ...]


@dataclass(frozen=True)
class Strong:
    """A line set in bold: the title of a group of points, or of a draft."""

    text: str


@dataclass(frozen=True)
class Heading:
    """A heading (a town, a group) of a drafted 汇总; ``level`` 2 or 3."""

    text: str
    level: int


@dataclass(frozen=True)
class Gap:
    """A blank line between blocks."""


@dataclass(frozen=True)
class Table:
    """A table: column names and rows of cells, each cell inline pieces."""

    header: tuple[str, ...]
    rows: tuple[tuple[tuple[Inline, ...], ...], ...]


@dataclass(frozen=True)
class Text:
    """Free Markdown with inline citation labels: a language model's grounded answer (see :func:`assistant.llm.ground`)."""

    markdown: str


Block = Line | Item | Strong | Heading | Gap | Table | Text
"""One block of an answer."""


def citations_in(blocks: tuple[Block, ...]) -> list[Citation]:
    """Every citation object of the blocks, in reading order (repeats kept)."""
    out: list[Citation] = []
    for block in blocks:
        if isinstance(block, Line | Item):
            out += [p for p in block.inline if isinstance(p, Citation)]
        elif isinstance(block, Table):
            out += [p for row in block.rows for cell in row for p in cell if isinstance(p, Citation)]
    return out


__all__ = ["Block", "Bold", "Gap", "Heading", "Inline", "Item", "Line", "Strong", "Table", "Text", "citations_in"]

"""Renderers: an answer's typed parts (:mod:`assistant.parts`) as Markdown (app, JSON contract) or plain text (CLI).

Exports (.md with numbered references, .docx) render the same parts in :mod:`assistant.export`,
numbering citations as they are met instead of finding labels in text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from assistant.cite import Citation
from assistant.parts import Block, Bold, Gap, Heading, Inline, Item, Line, Strong, Table, Text

if TYPE_CHECKING:
    from assistant.compose import Answer

Mark = Callable[[Citation], str]
"""How a citation looks in text."""


def label(citation: Citation) -> str:
    """The inline label of a citation, ``〔北留镇 · 二、存在的问题 · 第3段〕``."""
    return citation.render()


def inline(pieces: Sequence[Inline], mark: Mark = label) -> str:
    """Inline pieces as Markdown."""
    out = []
    for piece in pieces:
        if isinstance(piece, Citation):
            out.append(mark(piece))
        elif isinstance(piece, Bold):
            out.append(f"**{piece.text}**")
        else:
            out.append(piece)
    return "".join(out)


def _cells(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def block_lines(block: Block, mark: Mark = label) -> list[str]:
    """The Markdown lines of one block."""
    if isinstance(block, Line):
        return [inline(block.inline, mark)]
    if isinstance(block, Item):
        return ["- " + inline(block.inline, mark)]
    if isinstance(block, Strong):
        return [f"**{block.text}**"]
    if isinstance(block, Heading):
        return [f"{'#' * block.level} {block.text}"]
    if isinstance(block, Gap):
        return [""]
    if isinstance(block, Table):
        lines = [_cells(block.header), _cells(["---"] * len(block.header))]
        return lines + [_cells([inline(cell, mark) for cell in row]) for row in block.rows]
    if isinstance(block, Text):
        return [block.markdown]
    raise TypeError(f"not an answer block: {block!r}")


def markdown(blocks: Sequence[Block], mark: Mark = label) -> str:
    """Blocks as Markdown, one block per line group (a :class:`Gap` is a blank line).

    This is the ``answer`` text of the JSON contract and of the app's chat bubbles.
    """
    return "\n".join(line for block in blocks for line in block_lines(block, mark))


def plain(answer: Answer) -> str:
    """An answer for the terminal: the text, a notice, then the numbered citations with the start of each paragraph."""
    lines = [answer.answer]
    if answer.notice:
        lines.append(f"\n提示：{answer.notice}")
    if answer.citations:
        lines.append("\n引用：")
        for i, c in enumerate(answer.citations, 1):
            lines.append(f"[{i}] {c.render()} {c.text[:80]}{'…' if len(c.text) > 80 else ''}")
    return "\n".join(lines)


__all__ = ["Mark", "block_lines", "inline", "label", "markdown", "plain"]

"""Export answers, drafted summaries and whole conversations to Markdown and Word (.docx).

Citations become numbered markers ``[1]`` and a closing ``引用`` list gives, per number, the
label and the quoted text — the footnote style officials expect in a written report.

A body is either an answer's typed parts (:mod:`assistant.parts`; what the assistant's own
answers and drafts are) or Markdown text. Parts are rendered directly: citations are numbered
as they are met and Word headings, list items and tables come from the parts, so nothing is
recovered from rendered text. Markdown text (a language model's grounded answer, or any
caller's) is read as before: inline labels ``〔北留镇 · 二、存在的问题 · 第3段〕`` are found and
numbered, and the small Markdown subset (``#`` headings, ``-``/``1.`` lists, ``**bold**``, pipe
tables) becomes Word structure.

Typical use::

    write_docx("答复.docx", answer.question, answer.blocks, answer.citations)
    text = answer_markdown(answer)
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.cite import Citation, cite
from assistant.parts import Block, Bold, Gap, Heading, Inline, Item, Line, Strong, Table, Text
from assistant.render import block_lines

REFERENCES_HEADING = "引用"
_LABEL = re.compile(r"〔[^〔〕\n]{1,200}〕")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)\d{1,3}[.、)]\s+(.*)$")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_INLINE = re.compile(r"(\*\*[^*\n]+?\*\*|\[\d{1,3}\]|`[^`\n]+`)")
_EAST_ASIAN_FONT = "SimSun"
_QUOTE_LIMIT = 200


@dataclass
class Note:
    """One numbered entry of the ``引用`` list.

    Attributes:
        number: 1-based footnote number.
        label: Citation label, e.g. ``〔北留镇 · 二、存在的问题 · 第3段〕``.
        quotes: Distinct quoted sentences (or the paragraph text when nothing was quoted).
    """

    number: int
    label: str
    quotes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The entry as one line: ``[1] 〔…〕：“…”``."""
        quoted = "；".join(f"“{q}”" for q in self.quotes)
        return f"[{self.number}] {self.label}" + (f"：{quoted}" if quoted else "")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def citation_label(citation: Any) -> str:
    """Label of a citation-like object (``Citation``, a stats ``Fact`` or their dicts).

    Args:
        citation: Object with ``town``, ``section`` and ``paragraph`` (attributes or keys),
            or a ``render()`` method / ``label`` key.

    Returns:
        ``〔town · section · 第N段〕``.
    """
    render = getattr(citation, "render", None)
    if callable(render):
        return render()
    label = _get(citation, "label") if isinstance(citation, Mapping) else None
    if isinstance(label, str) and label.startswith("〔"):
        return label
    return cite(_get(citation, "town", ""), _get(citation, "section", ""), _get(citation, "paragraph", ""))


def citation_quote(citation: Any, limit: int = _QUOTE_LIMIT) -> str:
    """The quoted sentence of a citation, or the start of its paragraph when nothing was quoted."""
    quote = (_get(citation, "quote") or "").strip()
    if quote:
        return quote
    text = re.sub(r"\s+", " ", _get(citation, "text") or "").strip()
    return text if len(text) <= limit else text[:limit] + "…"


Body = str | Sequence[Block]
"""Markdown text with inline labels, or typed answer parts."""


class _Numbering:
    """Footnote numbers of an answer's citations, given in order of first mention.

    Two citations of the same paragraph (the same label) share a number; a citation that is not
    among the answer's keeps its label.
    """

    def __init__(self, citations: Iterable[Any]) -> None:
        self.by_label: dict[str, list[Any]] = {}
        for c in citations:
            self.by_label.setdefault(citation_label(c), []).append(c)
        self.numbers: dict[str, int] = {}

    def label(self, label: str) -> str:
        """The marker of a label (numbering it on first mention)."""
        if label not in self.by_label:
            return label
        return f"[{self.numbers.setdefault(label, len(self.numbers) + 1)}]"

    def mark(self, citation: Citation) -> str:
        """The marker of a citation of the parts."""
        return self.label(citation_label(citation))

    def text(self, markdown: str) -> str:
        """Markdown text with its inline labels replaced by markers."""
        return _LABEL.sub(lambda m: self.label(m.group(0)), markdown)

    def notes(self) -> list[Note]:
        """Every citation's note: the mentioned ones in number order, then the rest."""
        for label in self.by_label:
            self.numbers.setdefault(label, len(self.numbers) + 1)
        notes = []
        for label, number in self.numbers.items():
            quotes = list(dict.fromkeys(q for q in (citation_quote(c) for c in self.by_label[label]) if q))
            notes.append(Note(number=number, label=label, quotes=quotes))
        return notes


def _marked_lines(block: Block, numbering: _Numbering) -> list[str]:
    if isinstance(block, Text):
        return [numbering.text(block.markdown)]
    return block_lines(block, numbering.mark)


def footnote(body: Body, citations: Iterable[Any]) -> tuple[str, list[Note]]:
    """Replace citations by ``[n]`` markers.

    Numbers follow the first mention of each citation; citations the body never mentions are
    appended after them. Two citations of the same paragraph share a number.

    Args:
        body: Answer parts, or Markdown text with inline labels.
        citations: The answer's citations.

    Returns:
        (Markdown with markers, notes in number order).
    """
    numbering = _Numbering(citations)
    if isinstance(body, str):
        text = numbering.text(body or "")
    else:
        text = "\n".join(line for block in body for line in _marked_lines(block, numbering))
    return text, numbering.notes()


def mentioned_labels(body: Body) -> Iterator[str]:
    """Every citation label the body mentions, in reading order: the order :func:`footnote` numbers them in.

    Citations of lines, items and table cells, and the inline labels of Markdown text (a
    :class:`assistant.parts.Text` block, or a whole body given as text). Nothing is rendered: the
    app orders a 1,200-town answer's citation list without writing its footnoted text.
    """
    if isinstance(body, str):
        yield from (m.group(0) for m in _LABEL.finditer(body))
        return
    for block in body:
        if isinstance(block, Line | Item):
            yield from (citation_label(p) for p in block.inline if isinstance(p, Citation))
        elif isinstance(block, Table):
            yield from (
                citation_label(p) for row in block.rows for cell in row for p in cell if isinstance(p, Citation)
            )
        elif isinstance(block, Text):
            yield from (m.group(0) for m in _LABEL.finditer(block.markdown))


def references_markdown(notes: Sequence[Note]) -> str:
    """The ``## 引用`` block (empty string when there are no notes)."""
    if not notes:
        return ""
    return f"## {REFERENCES_HEADING}\n\n" + "\n\n".join(n.line() for n in notes) + "\n"


def document_markdown(title: str, markdown: Body, citations: Iterable[Any]) -> str:
    """A complete Markdown document: title, body with ``[n]`` markers, ``引用`` list.

    Args:
        title: Document title (the question or the summary's title).
        markdown: Body: answer parts, or Markdown with inline citation labels.
        citations: Citations of the body.

    Returns:
        Markdown text ending with a newline.
    """
    body, notes = footnote(markdown, citations)
    parts = [f"# {_one_line(title) or '答复'}", body.strip()]
    refs = references_markdown(notes)
    if refs:
        parts.append(refs.strip())
    return _inert("\n\n".join(p for p in parts if p) + "\n")


_LINK_TARGET = re.compile(r"\]\(")


def _inert(markdown: str) -> str:
    """Markdown whose report text stays text in any viewer.

    Report text (and a question, or a model's answer) may carry ``<script>``, ``<img onerror=…>``
    or a link to ``javascript:``; a Markdown viewer renders raw HTML and links. ``<`` becomes
    ``&lt;`` (every Markdown dialect shows it as "<", none then sees a tag or an autolink) and
    ``](`` becomes ``]\\(`` (no inline link or image). Nothing else changes: ``[1]`` markers,
    ``**bold**``, lists and tables are the document's own.

    >>> _inert('罚款<img src=x onerror="alert(1)">[点此](javascript:alert(1))')
    '罚款&lt;img src=x onerror="alert(1)">[点此]\\\\(javascript:alert(1))'
    """
    return _LINK_TARGET.sub(r"]\\(", markdown.replace("<", "&lt;"))


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _answer_parts(answer: Any) -> tuple[str, Body, list[Any]]:
    """(title, body, citations) of an ``Answer``, a summary ``Draft`` or an app turn (or their dicts)."""
    title = _get(answer, "title") or _get(answer, "question") or "答复"
    markdown = _get(answer, "blocks")
    if markdown is None:
        markdown = _get(answer, "markdown")
    if markdown is None:
        markdown = _get(answer, "answer") or ""
    citations = list(_get(answer, "citations") or ())
    if not citations:
        citations = list(_get(answer, "related") or ())
    return str(title), markdown if isinstance(markdown, tuple | list) else str(markdown), citations


def answer_markdown(answer: Any) -> str:
    """An answer (or drafted summary) as a Markdown document with footnote-style citations.

    Args:
        answer: ``assistant.answer.Answer`` (title = question), a summary draft with
            ``title``/``markdown``/``citations``, or the ``to_dict()`` of either.

    Returns:
        Markdown text.
    """
    title, markdown, citations = _answer_parts(answer)
    return document_markdown(title, markdown, citations)


def write_markdown(path: str | Path, title: str, markdown: Body, citations: Iterable[Any]) -> Path:
    """Write a titled Markdown document with a numbered ``引用`` list.

    Args:
        path: Output file (UTF-8).
        title: Document title.
        markdown: Body: answer parts, or Markdown with inline citation labels.
        citations: Citations of the body.

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document_markdown(title, markdown, citations), encoding="utf-8")
    return path


def conversation_markdown(turns: Iterable[Any]) -> str:
    """A whole conversation as Markdown, each answer followed by its own ``引用`` list.

    Args:
        turns: Items with ``question`` and either ``answer`` (an ``Answer`` or its text) plus
            ``citations``, or ``blocks`` or ``markdown`` plus ``citations``; ``assistant.conversation.Turn``
            objects and plain dicts both work. An optional ``resolved`` question is shown when
            it differs from what was typed.

    Returns:
        Markdown text.
    """
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = ["# 对话记录", f"导出时间：{stamp}"]
    for n, turn in enumerate(turns, 1):
        question = _one_line(_get(turn, "question") or "")
        resolved = _one_line(_get(turn, "resolved") or "")
        answer = _get(turn, "answer")
        if answer is not None and not isinstance(answer, str):
            _, markdown, citations = _answer_parts(answer)
        else:
            markdown = _get(turn, "blocks") or _get(turn, "markdown") or answer or ""
            citations = list(_get(turn, "citations") or ())
        body, notes = footnote(markdown, citations)
        parts.append(f"## 第{n}问：{question}")
        if resolved and resolved != question:
            parts.append(f"（按“{resolved}”理解）")
        parts.append(body.strip() or "（无回答）")
        if notes:
            parts.append("**引用**\n\n" + "\n\n".join(note.line() for note in notes))
    return _inert("\n\n".join(parts) + "\n")


# --------------------------------------------------------------------------- Word


def _set_east_asian_font(style: Any, name: str = _EAST_ASIAN_FONT) -> None:
    """Give a style a CJK font so Word does not fall back to a Latin face for Chinese."""
    from docx.oxml.ns import qn

    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), name)


def _add_inline(paragraph: Any, text: str) -> None:
    """Add Markdown inline text to a Word paragraph: bold, ``[n]`` as superscript, code as plain."""
    for piece in _INLINE.split(text):
        if not piece:
            continue
        if piece.startswith("**") and piece.endswith("**") and len(piece) > 4:
            paragraph.add_run(piece[2:-2]).bold = True
        elif re.fullmatch(r"\[\d{1,3}\]", piece):
            paragraph.add_run(piece).font.superscript = True
        elif piece.startswith("`") and piece.endswith("`") and len(piece) > 2:
            paragraph.add_run(piece[1:-1])
        else:
            paragraph.add_run(piece)


def _table_cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells = re.split(r"(?<!\\)\|", line)
    return [c.strip().replace("\\|", "|") for c in cells]


def _add_table(document: Any, lines: list[str]) -> None:
    rows = [_table_cells(line) for line in lines if not _TABLE_SEPARATOR.match(line.strip())]
    if not rows:
        return
    has_header = len(lines) > 1 and bool(_TABLE_SEPARATOR.match(lines[1].strip()))
    width = max(len(r) for r in rows)
    table = document.add_table(rows=len(rows), cols=width)
    try:
        table.style = "Table Grid"
    except (KeyError, ValueError):  # a template without the style: plain table
        pass
    for i, row in enumerate(rows):
        for j in range(width):
            cell = table.cell(i, j)
            paragraph = cell.paragraphs[0]
            _add_inline(paragraph, row[j] if j < len(row) else "")
            if i == 0 and has_header:
                for run in paragraph.runs:
                    run.bold = True


def _style(document: Any, name: str, fallback: str = "Normal") -> str:
    try:
        document.styles[name]
        return name
    except KeyError:
        return fallback


def _add_pieces(paragraph: Any, pieces: Sequence[Inline], numbering: _Numbering) -> None:
    """Inline parts as runs: bold words bold, citation markers superscript, text as it is."""
    for piece in pieces:
        if isinstance(piece, Citation):
            marker = numbering.mark(piece)
            paragraph.add_run(marker).font.superscript = marker.startswith("[")
        elif isinstance(piece, Bold):
            paragraph.add_run(piece.text).bold = True
        elif piece:
            paragraph.add_run(piece)


def _add_blocks(document: Any, blocks: Sequence[Block], numbering: _Numbering) -> None:
    """Answer parts as Word structure: paragraphs, bulleted items, headings, tables.

    Headings keep their order but start at Heading 1 under the title (a draft's towns are
    Heading 1 and its groups Heading 2, the level of the 引用 list after them).
    """
    levels = [b.level for b in blocks if isinstance(b, Heading)]
    shift = min(levels) - 1 if levels else 0
    for block in blocks:
        if isinstance(block, Line):
            _add_pieces(document.add_paragraph(), block.inline, numbering)
        elif isinstance(block, Item):
            _add_pieces(document.add_paragraph(style=_style(document, "List Bullet")), block.inline, numbering)
        elif isinstance(block, Strong):
            document.add_paragraph().add_run(block.text).bold = True
        elif isinstance(block, Heading):
            document.add_heading(block.text, level=max(1, min(block.level - shift, 4)))
        elif isinstance(block, Table):
            _add_table_parts(document, block, numbering)
        elif isinstance(block, Text):
            _add_markdown(document, numbering.text(block.markdown))
        elif not isinstance(block, Gap):
            raise TypeError(f"not an answer block: {block!r}")


def _add_table_parts(document: Any, block: Table, numbering: _Numbering) -> None:
    table = document.add_table(rows=len(block.rows) + 1, cols=len(block.header))
    try:
        table.style = "Table Grid"
    except (KeyError, ValueError):  # a template without the style: plain table
        pass
    for j, name in enumerate(block.header):
        table.cell(0, j).paragraphs[0].add_run(name).bold = True
    for i, row in enumerate(block.rows, 1):
        for j, cell in enumerate(row):
            _add_pieces(table.cell(i, j).paragraphs[0], cell, numbering)


def _add_markdown(document: Any, markdown: str) -> None:
    """Render the Markdown subset of answers into a Word document (headings from Heading 1 on)."""
    lines = (markdown or "").splitlines()
    levels = [len(m.group(1)) for m in (_HEADING.match(line.strip()) for line in lines) if m]
    shift = min(levels) - 1 if levels else 0
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        if not stripped or _RULE.match(stripped):
            i += 1
            continue
        if stripped.startswith("|"):
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i].strip())
                i += 1
            _add_table(document, block)
            continue
        heading = _HEADING.match(stripped)
        bullet = _BULLET.match(line)
        numbered = _NUMBERED.match(line)
        if heading:
            level = max(1, min(len(heading.group(1)) - shift, 4))
            document.add_heading(heading.group(2).strip().strip("#").strip(), level=level)
        elif bullet:
            level = 2 if len(bullet.group(1).expandtabs(4)) >= 2 else 1
            style = _style(document, "List Bullet" if level == 1 else "List Bullet 2")
            _add_inline(document.add_paragraph(style=style), bullet.group(2).strip())
        elif numbered:
            _add_inline(document.add_paragraph(style=_style(document, "List Number")), numbered.group(2).strip())
        elif stripped.startswith(">"):
            _add_inline(document.add_paragraph(style=_style(document, "Quote")), stripped.lstrip("> ").strip())
        else:
            _add_inline(document.add_paragraph(), stripped)
        i += 1


def write_docx(path: str | Path, title: str, markdown: Body, citations: Iterable[Any]) -> Path:
    """Write a Word document: title, body (headings, lists, bold, tables), numbered ``引用`` list.

    Args:
        path: Output ``.docx`` file.
        title: Document title.
        markdown: Body: answer parts, or Markdown with inline citation labels (the subset above).
        citations: Citations of the body.

    Returns:
        The written path.
    """
    from docx import Document
    from docx.shared import Pt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    numbering = _Numbering(citations)
    document = Document()
    for name in ("Normal", "Title", "Heading 1", "Heading 2", "Heading 3", "Heading 4", "Quote"):
        try:
            _set_east_asian_font(document.styles[name])
        except KeyError:
            continue
    document.styles["Normal"].font.size = Pt(11)
    title = _one_line(title) or "答复"
    document.core_properties.title = title
    document.add_heading(title, level=0)
    if isinstance(markdown, str):
        _add_markdown(document, numbering.text(markdown or ""))
    else:
        _add_blocks(document, markdown, numbering)
    notes = numbering.notes()
    if notes:
        # An endnote list at the level of the body's top headings (Heading 1), right after it.
        document.add_heading(REFERENCES_HEADING, level=1)
        for note in notes:
            paragraph = document.add_paragraph()
            paragraph.add_run(f"[{note.number}] ").bold = True
            paragraph.add_run(note.label)
            if note.quotes:
                paragraph.add_run("：" + "；".join(f"“{q}”" for q in note.quotes))
    document.save(str(path))
    return path


__all__ = [
    "Note",
    "answer_markdown",
    "citation_label",
    "citation_quote",
    "conversation_markdown",
    "document_markdown",
    "footnote",
    "references_markdown",
    "write_docx",
    "write_markdown",
]

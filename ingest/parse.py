"""Parse report text into sections and numbered paragraphs.

The reports mix heading schemes (markdown ``#`` with inconsistent depths,
``一、``/``（一）``/``(一)``/``1.``/``（1）`` enumerations, bold ``**一是…**`` items,
inline headings such as "（一）坚持政治引领，扛牢法治之责。正文…") and carry page-break
debris that splits words across blank lines. The enumeration marker, not the
markdown depth, decides a heading's level, because the markdown depths in the
corpus contradict each other.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass

from ingest import header
from ingest.clean import display_line, ends_sentence, strip_markup, to_simplified

FRONT_SECTION = "文首"
LEAD_SECTION = "前言"
SIGN_SECTION = "落款"

_CN_NUM = "一二三四五六七八九十百零〇"
# (pattern, level): the enumeration scheme fixes the depth of a heading.
_MARKERS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(rf"^[{_CN_NUM}]+\s*[、.．]"), 1),
    (re.compile(rf"^[（(]\s*[{_CN_NUM}]+\s*[）)]"), 2),
    (re.compile(r"^\d{1,2}\s*[、.．](?!\d)"), 3),
    (re.compile(r"^[（(]\s*\d{1,2}\s*[）)]"), 4),
    (re.compile(r"^[①-⑳]"), 4),
    (re.compile(rf"^[{_CN_NUM}]{{1,3}}是"), 5),
)
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s*(.*?)\s*#*\s*$")
_BOLD_LINE = re.compile(r"^\*\*(.+?)\*\*[。：:]?$")
_BOLD_LEAD = re.compile(r"\*\*([^*\n]{2,60}?)\*\*")
_INDENT = re.compile(r"^(\u3000|\s{2,}|\t)")
DOC_NUMBER = re.compile(
    r"[\u4e00-\u9fa5A-Za-z]{1,10}\s*[〔\[［【(（]\s*(?:19|20)\d{2}\s*[〕\]］】)）]\s*第?\s*\d{1,4}\s*号"
)
DATE_LINE = re.compile(r"^(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*(?:印发|发布|签发)?$")
SIGNER_LINE = re.compile(r"^签发人\s*[:：]")
# What a 落款 line holds: the issuing body or its date (a truncated sentence holds neither).
_SIGN_BODY = re.compile(
    r"(?:人民政府|委员会|党委|党工委|办事处|政府|镇|乡|街道|苏木)\s*$|(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月|(?:19|20)\d{2}-\d{1,2}-\d{1,2}"
)
_SIGN_HINT = re.compile(r"^(抄送|抄报|共印|印发|[(（]此件)")
_SPACE_NEAR_CJK = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")
_MAX_HEADING = 60
MAX_PARAGRAPH = 3000
# GB/T 9704: a title is 发文机关 + 事由 + 文种; the 文种 of these annual reports closes it.
TITLE_END = re.compile(r"(?:报告|总结|情况|汇报|工作要点|述职|述法|自查|计划|意见)[)）]?$")
# A masthead or 落款 line names a body and stops there; nothing continues it.
_ISSUER_END = re.compile(r"(?:人民政府|委员会|党委|党工委|办事处|政府|文件)$")
# A line this long that holds several enumerated headings is a whole report on one line.
_LONG_LINE = 300
_STRUCTURE_BREAK = re.compile(
    rf"(?<=[。！？；;：:])\s*(?=[{_CN_NUM}]{{1,3}}[、.．]|[（(][{_CN_NUM}]{{1,3}}[）)]|\d{{1,2}}[、．](?!\d))"
    r"|(?<=[。！？；：:”])[ \t\u3000]+(?=\S)|(?<=报告|总结|情况|汇报|報告|總結|情況|匯報)[ \t\u3000]+(?=\S)"
    r"|[ \t\u3000]{2,}(?=\S)"
    rf"|(?<=[\u4e00-\u9fff])(?=[（(][{_CN_NUM}]{{1,3}}[）)])"
)


@dataclass(frozen=True)
class ParsedParagraph:
    """A paragraph before document metadata is known.

    Attributes:
        text: Display text.
        start: Offset of the first character in the source text.
        end: Offset just past the last character in the source text.
        section_path: Headings from outermost to innermost.
        paragraph: 1-based number inside the innermost section.
        role: ``front``, ``body`` or ``sign``.
        fields: Catalogue fields when the paragraph is a website metadata line
            (``(field, value)`` pairs, see :mod:`ingest.header`).
    """

    text: str
    start: int
    end: int
    section_path: tuple[str, ...]
    paragraph: int
    role: str
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def section(self) -> str:
        """Innermost section heading."""
        return self.section_path[-1]


@dataclass
class _Line:
    raw: str  # line content with layout whitespace stripped, markup kept
    start: int  # offset of raw[0] in the source
    indented: bool
    after_blank: bool
    kind: str = "body"  # heading | docnum | signer | date | meta | key | body
    level: int = 0
    heading: str = ""
    fields: tuple[tuple[str, str], ...] = ()


@dataclass
class _Block:
    """Lines joined into one paragraph; ``offsets[i]`` is the source offset of ``raw[i]``.

    ``tail`` is the last joined line: join decisions look at it, never at the whole
    growing block, so joining stays linear in the input.
    """

    raw: str
    offsets: list[int]
    kind: str
    level: int = 0
    heading: str = ""
    role: str = "body"
    tail: str = ""
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def length(self) -> int:
        """Characters joined so far (markup included; join decisions only need a size)."""
        return len(self.raw)


def tidy_heading(text: str) -> str:
    """Return a heading in citation form: markup, '#', trailing 。 and layout spaces removed."""
    text = strip_markup(text).strip().lstrip("#").strip().rstrip("。.：:")
    return _SPACE_NEAR_CJK.sub("", text)


def marker_level(text: str) -> int:
    """Return the heading level implied by an enumeration marker at the start, or 0."""
    text = strip_markup(text).lstrip()
    for pattern, level in _MARKERS:
        if pattern.match(text):
            return level
    return 0


def _classify(raw: str, md: bool) -> tuple[str, int, str]:
    """Classify one stripped source line as heading/docnum/signer/date/body."""
    plain = display_line(raw)
    if DOC_NUMBER.fullmatch(plain.replace(" ", "")):
        return "docnum", 0, plain
    if SIGNER_LINE.match(plain):
        return "signer", 0, plain
    if DATE_LINE.match(plain):
        return "date", 0, plain
    level = marker_level(plain)
    bold = _BOLD_LINE.match(raw.strip())
    if md or bold:
        return "heading", level, tidy_heading(plain)
    short_title = len(plain) <= _MAX_HEADING and not ends_sentence(plain) and "。" not in plain
    if level and level < 5 and short_title:
        return "heading", level, tidy_heading(plain)
    # "（二）行政执法力量薄弱。" alone on its line: a heading that ends in a full stop.
    if level and level < 5 and len(plain) <= 40 and ends_sentence(plain) and len(re.findall("[。！？；]", plain)) == 1:
        return "heading", level, tidy_heading(plain)
    return "body", 0, plain


def _segments(line: str) -> list[tuple[int, str]]:
    """Cut a very long line at the places a lost line break must have been.

    A report pasted as one line keeps its structure only as enumerated headings after
    a sentence end ("…成效。二、存在问题…") and as runs of spaces; an ordinary long
    paragraph has neither and stays whole.
    """
    if len(line) <= _LONG_LINE:
        return [(0, line)]
    cuts = [m.end() for m in _STRUCTURE_BREAK.finditer(line) if 0 < m.end() < len(line)]
    if not cuts:
        return [(0, line)]
    bounds = [0, *cuts, len(line)]
    return [(a, line[a:b]) for a, b in zip(bounds, bounds[1:]) if line[a:b].strip()]


def _lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    pos = 0
    blank_before = False
    for source_line in text.split("\n"):
        any_text = False
        for seg_start, line in _segments(source_line):
            stripped = line.strip(" \t\u3000\u00a0")
            if not stripped:
                continue
            lead = len(line) - len(line.lstrip(" \t\u3000\u00a0"))
            md = _MD_HEADING.match(stripped)
            if md:  # keep the heading text, not its '#' marks, as the line's content
                lead += md.start(2)
                stripped = md.group(2)
            if not strip_markup(stripped).strip():
                continue
            page = header.classify(to_simplified(display_line(stripped)))
            if page is not None and page.kind == "chrome":
                # Page furniture is no part of the report; it still separates what surrounds it.
                blank_before = True
                any_text = True
                continue
            item = _Line(
                raw=stripped,
                start=pos + seg_start + lead,
                indented=bool(_INDENT.match(line)),
                after_blank=blank_before or seg_start > 0,
            )
            if page is not None:
                item.kind, item.fields = page.kind, page.fields
            else:
                item.kind, item.level, item.heading = _classify(stripped, bool(md))
            lines.append(item)
            blank_before = False
            any_text = True
        if not any_text:
            blank_before = True
        pos += len(source_line) + 1
    return lines


def _joinable(block: _Block, line: _Line, layout: _Layout) -> bool:
    """Decide whether ``line`` continues ``block`` across a line or page break."""
    if block.kind == "key" and line.kind == "body":
        # "• 发文字号:" with its value on the next line.
        return header.accepts_value(block.fields[0][0], display_line(line.raw))
    if block.kind != "body" or block.role != "body" or line.kind != "body":
        return False
    if layout.uses_indent and line.indented:
        return False
    tail = strip_markup(block.tail)
    if ends_sentence(tail) or _ISSUER_END.search(tail) or (len(tail) <= 70 and TITLE_END.search(to_simplified(tail))):
        return False
    text = strip_markup(line.raw)
    titled = len(text) <= 70 and bool(TITLE_END.search(to_simplified(text)))
    names_unit = bool(re.search(r"\d|镇|乡|街道|苏木|鎮|鄉", text))
    if titled and names_unit:
        return False  # a whole title ("XX镇人民政府2024年度…报告") starts something new
    if titled and len(text) <= 20 and len(tail) >= 6:
        # "…法治政府建设" + "工作的报告": the 文种 of a title set on two lines (a blank line
        # between them only when the first line is a title, not prose).
        if not line.after_blank or (len(tail) <= 40 and not re.search(r"[，,。；;：:]", tail)):
            return True
    if line.after_blank:
        # A page break leaves a long line cut mid-sentence; a short line before a
        # blank line is a title or a label, never a fragment, and a title after one
        # starts something new.
        return len(tail) >= 25 and bool(re.search(r"[，,、；;]", tail)) and not titled
    # A single newline inside a blank-line layout is a soft wrap. Where single newlines
    # separate paragraphs, only a long line cut mid-sentence is continued: a short
    # one is a heading or a title line.
    return block.length >= 10 if layout.blank_paragraphs else len(tail) >= 25


def _new_block(line: _Line) -> _Block:
    return _Block(
        raw=line.raw,
        offsets=list(range(line.start, line.start + len(line.raw))),
        kind=line.kind,
        level=line.level,
        heading=line.heading,
        tail=line.raw,
        fields=line.fields,
    )


def _append(block: _Block, line: _Line) -> None:
    if block.kind == "key":
        field = block.fields[0][0]
        block.kind, block.fields = "meta", ((field, display_line(line.raw)),)
    elif block.raw[-1:].isascii() and re.match(r"[A-Za-z0-9]", block.raw[-1:]) and re.match(r"[A-Za-z0-9]", line.raw):
        block.raw += " "
        block.offsets.append(block.offsets[-1])
    block.raw += line.raw
    block.offsets.extend(range(line.start, line.start + len(line.raw)))
    block.tail = line.raw


@dataclass(frozen=True)
class _Layout:
    """How a document separates paragraphs.

    Attributes:
        blank_paragraphs: Blank lines separate paragraphs (single newlines are wraps).
        uses_indent: Paragraphs open with an indent (an indented line starts a paragraph).
    """

    blank_paragraphs: bool
    uses_indent: bool


def _layout(lines: list[_Line]) -> _Layout:
    body = [ln for ln in lines if ln.kind == "body"]
    uses_indent = sum(ln.indented for ln in body) >= max(2, len(body) // 2)
    blank_breaks = sum(ln.after_blank for ln in body[1:])
    return _Layout(blank_paragraphs=blank_breaks * 2 >= max(1, len(body) - 1), uses_indent=uses_indent)


def _blocks(text: str) -> list[_Block]:
    lines = _lines(text)
    layout = _layout(lines)
    blocks: list[_Block] = []
    for line in lines:
        if blocks and _joinable(blocks[-1], line, layout):
            _append(blocks[-1], line)
        else:
            blocks.append(_new_block(line))
    _mark_roles(blocks)
    return blocks


def _is_body_start(block: _Block) -> bool:
    text = strip_markup(block.raw)
    return (
        block.kind == "heading"
        and block.level > 0
        # Prose has clause punctuation; a run of site banners ("…政务服务中心") has none.
        or (
            block.kind == "body"
            and re.search(r"[，,。；;！？]", text)
            and (len(text) > 60 or ends_sentence(text) and len(text) > 25)
        )
    )


def _mark_roles(blocks: list[_Block]) -> None:
    """Mark the front matter (masthead, 文号, title, 主送) and the 落款 zone."""
    first_body = next((i for i, b in enumerate(blocks) if _is_body_start(b)), len(blocks))
    for block in blocks[:first_body]:
        block.role = "front"
    # The salutation line ("市依法治市办：") closes the front matter.
    if first_body < len(blocks):
        block = blocks[first_body]
        text = strip_markup(block.raw)
        if block.kind == "body" and len(text) <= 40 and text.endswith(("：", ":")):
            block.role = "front"
    for block in blocks[first_body:]:
        if block.kind in ("docnum", "signer", "meta", "key"):
            block.role = "front"
    for block in reversed(blocks[first_body:]):
        if block.kind in ("meta", "key"):
            continue  # a page's catalogue fields may follow the 落款
        text = strip_markup(block.raw)
        short = len(text) <= 40 and block.kind != "heading"
        # A 落款 names a body or a date; a line cut off mid-clause (a page excerpt that
        # stops) still has its commas and is body text.
        clipped = bool(re.search(r"[，,、；;]", text)) and block.kind == "body"
        signs = block.kind in ("date", "signer", "docnum") or _SIGN_HINT.match(text) or _SIGN_BODY.search(text)
        if short and not clipped and signs and (not ends_sentence(text) or _SIGN_HINT.match(text)):
            block.role = "sign"
        else:
            break


def _split_items(block: _Block) -> list[tuple[str, int, _Block]]:
    """Split a body block at bold item titles ("**一是加强理论学习。**正文").

    Returns (heading, level, block) triples; heading is "" for text that stays
    in the current section.
    """
    cuts = [m for m in _BOLD_LEAD.finditer(block.raw) if marker_level(m.group(1)) and len(tidy_heading(m.group(1))) > 4]
    if not cuts:
        return [("", 0, block)]
    pieces = []
    bounds = [m.start() for m in cuts] + [len(block.raw)]
    if cuts[0].start() > 0 and block.raw[: cuts[0].start()].strip():
        pieces.append(("", 0, _slice(block, 0, cuts[0].start())))
    for m, end in zip(cuts, bounds[1:]):
        piece = _slice(block, m.start(), end)
        pieces.append((tidy_heading(m.group(1)), marker_level(m.group(1)), piece))
    return pieces


def _slice(block: _Block, start: int, end: int) -> _Block:
    raw = block.raw[start:end]
    lead = len(raw) - len(raw.lstrip())
    raw = raw.strip()
    offs = block.offsets[start + lead : start + lead + len(raw)]
    return _Block(raw=raw, offsets=offs, kind=block.kind, role=block.role, tail=raw, fields=block.fields)


def _inline_heading(text: str) -> tuple[str, int]:
    """Return (heading, level) when a body paragraph opens with an enumerated lead sentence."""
    level = marker_level(text)
    if not level or level == 5:
        return "", 0
    m = re.match(r"^(.{3,50}?)[。：:]", text)
    if not m or len(text) <= len(m.group(0)) + 1:
        return "", 0
    return tidy_heading(m.group(1)), level


def _cut(block: _Block, limit: int) -> list[_Block]:
    pieces, start = [], 0
    while start < len(block.raw):
        end = min(len(block.raw), start + limit)
        if end < len(block.raw):
            stop = max(block.raw.rfind(ch, start, end) for ch in "。！？；")
            end = stop + 1 if stop > start else end
        pieces.append(_slice(block, start, end))
        start = end
    return [p for p in pieces if p.raw]


def _empty_section(blocks: list[_Block], i: int) -> bool:
    """True when the heading at ``i`` is followed by no body text before a heading of its level or above."""
    level = blocks[i].level or 1
    for block in blocks[i + 1 :]:
        if block.role != "body":
            continue
        if block.kind == "heading":
            return (block.level or 1) <= level
        return False
    return True


class _Sections:
    """Section stack with per-section paragraph counters."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []
        self.counts: dict[tuple[str, ...], int] = {}

    def open(self, level: int, heading: str) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, heading))

    def path(self, fallback: str) -> tuple[str, ...]:
        return tuple(h for _, h in self.stack) or (fallback,)

    def number(self, path: tuple[str, ...]) -> int:
        self.counts[path] = self.counts.get(path, 0) + 1
        return self.counts[path]


def parse_paragraphs(text: str) -> list[ParsedParagraph]:
    """Parse decoded report text into numbered paragraphs with section paths.

    Args:
        text: Decoded source text (``SourceText.text``).

    Returns:
        Paragraphs in reading order. Front matter is filed under ``文首``, body
        text before the first heading under ``前言``, the sign-off under ``落款``.
    """
    sections = _Sections()
    out: list[ParsedParagraph] = []

    def emit(block: _Block, path: tuple[str, ...], role: str) -> None:
        display = strip_markup(block.raw).strip()
        if not display:
            return
        if len(block.raw) > MAX_PARAGRAPH:
            # A pathological "paragraph" (a whole file on one line) is cut at sentence
            # ends into numbered paragraphs, so no single citation or scan is unbounded.
            for piece in _cut(block, MAX_PARAGRAPH):
                emit(piece, path, role)
            return
        out.append(
            ParsedParagraph(
                text=display,
                start=block.offsets[0],
                end=block.offsets[-1] + 1,
                section_path=path,
                paragraph=sections.number(path),
                role=role,
                fields=block.fields,
            )
        )

    # Parsing allocates many small objects and no reference cycles; the cyclic
    # collector's full passes would make a 200,000-line file cost superlinear time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        blocks = _blocks(text)
    finally:
        if gc_was_enabled:
            gc.enable()
    for i, block in enumerate(blocks):
        if block.role == "front":
            emit(block, (FRONT_SECTION,), "front")
            continue
        if block.role == "sign":
            emit(block, (SIGN_SECTION,), "sign")
            continue
        if block.kind == "heading":
            sections.open(block.level or 1, block.heading)
            if _empty_section(blocks, i):
                # A heading with nothing under it ("三、下一步打算加强队伍建设。" closing a
                # pasted report) is the section's only content: keep it as its paragraph.
                emit(block, sections.path(LEAD_SECTION), "body")
            continue
        for heading, level, piece in _split_items(block):
            if heading:
                sections.open(level, heading)
            else:
                inline, inline_level = _inline_heading(strip_markup(piece.raw))
                if inline:
                    sections.open(inline_level, inline)
            emit(piece, sections.path(LEAD_SECTION), "body")
    return out

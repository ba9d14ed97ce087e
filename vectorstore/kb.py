"""The knowledge base: catalogue + Chroma vectors + BM25, and incremental ingest.

Ingest order is chosen for crash safety: parse and embed everything first
(nothing written), then one SQLite transaction swaps documents in, then Chroma
and BM25 are reconciled with the catalogue. A crash at any point leaves either
the old or the new catalogue, and the next open or ingest repairs the derived
indexes from it (vectors come from the embedding cache, so repair is cheap).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ingest.load import SUPPORTED_SUFFIXES, LoadError, display_path, sha256_bytes, stored_path
from ingest.pipeline import doc_id_for, parse_file
from ingest.records import Chunk, DocumentMeta, Paragraph, ParsedDocument
from vectorstore.bm25_index import BM25Index
from vectorstore.chroma_store import ChromaStore, collection_name
from vectorstore.embedders import Embedder

Progress = Callable[[str, int, int], None]
PARALLEL_MIN_FILES = 200  # below this, starting worker processes costs more than parsing


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
        embedded: Chunks actually run through the embedder (cache misses).
        warnings: ``{"path", "warning"}`` for documents indexed with a problem.
        total_documents: Documents in the knowledge base after the run.
        total_chunks: Chunks in the knowledge base after the run.
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
        }


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _error(path: str | os.PathLike, reason: str) -> dict:
    return {"path": display_path(path), "error": reason}


def _walk(folder: Path, roots: list[Path], files: list[Path], errors: list[dict]) -> None:
    """Collect the report files under ``folder`` without following links out of ``roots``.

    Links to folders are never followed (their files inside the roots are reached by the
    real path; a link cycle cannot recurse). Links to files are read only when the target
    lies inside the roots: ``shadow.md → /etc/shadow`` would make the server's secrets
    searchable by every app user.
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
    except OSError as err:
        errors.append(_error(folder, f"无法读取目录：{err.strerror}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden files and folders (.git, editor backups, our own index)
        path = Path(entry.path)
        try:
            if entry.is_symlink():
                target = Path(os.path.realpath(path))
                if not target.exists():
                    errors.append(_error(path, "符号链接失效：指向的文件不存在"))
                elif not _inside(target, roots):
                    kind = "目录" if target.is_dir() else "文件"
                    errors.append(_error(path, f"符号链接指向所选文件夹之外的{kind}，出于安全不导入"))
                elif target.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                    files.append(path)
                elif target.is_file():
                    errors.append(_error(path, f"不支持的文件类型 {display_path(path.suffix) or '（无扩展名）'}"))
                # a link to a folder inside the roots: its files are found under their real path
            elif entry.is_dir(follow_symlinks=False):
                _walk(path, roots, files, errors)
            elif not entry.is_file(follow_symlinks=False):
                errors.append(_error(path, "不是普通文件（管道、设备或套接字），已跳过"))
            elif path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                errors.append(_error(path, f"不支持的文件类型 {display_path(path.suffix) or '（无扩展名）'}"))
        except OSError as err:  # a name or entry the OS cannot stat costs that entry only
            errors.append(_error(path, f"无法读取：{err.strerror}"))


def find_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[dict]]:
    """Expand files and folders into report files; unusable entries become errors.

    Only regular files inside the given folders are read. A path named by the caller is
    taken as chosen (also through a link), but must be a regular file or a folder.

    Args:
        paths: Files and/or folders.

    Returns:
        (report files, ``{"path", "error"}`` entries with a one-line Chinese reason each).
    """
    files: list[Path] = []
    errors: list[dict] = []
    folders: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            folders.append(path)
        elif path.is_file():
            files.append(path)
        elif path.is_symlink():
            errors.append(_error(path, "符号链接失效：指向的文件不存在"))
        elif path.exists():
            errors.append(_error(path, "不是普通文件（管道、设备或套接字），不能导入"))
        else:
            errors.append(_error(path, "文件或目录不存在"))
    roots = [Path(os.path.realpath(folder)) for folder in folders]
    for folder in folders:
        _walk(folder, roots, files, errors)
    return files, errors


def _parse_one(path: str, max_bytes: int) -> ParsedDocument | str:
    """Worker: parse one file, or return the one-line error."""
    try:
        return parse_file(path, max_bytes=max_bytes)
    except LoadError as err:
        return str(err)
    except Exception as err:  # a parser bug must cost one file, not the run
        return f"解析失败（{type(err).__name__}: {err}）"


def embed_key(embedder_name: str, text: str) -> str:
    """Embedding-cache key: model name + exact text."""
    return hashlib.sha1(f"{embedder_name}\n{text}".encode()).hexdigest()


def town_aliases(town: str) -> list[str]:
    """Forms a user may type for a town: full name and short form (东方红镇 → 东方红)."""
    forms = [town]
    for suffix in ("街道", "镇", "乡", "苏木"):
        if town.endswith(suffix) and len(town) - len(suffix) >= 2:
            forms.append(town[: -len(suffix)])
            break
    return forms


class KnowledgeBase:
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
    """

    def __init__(
        self,
        db_dir: str | os.PathLike,
        embedder: Embedder,
        chroma_url: str | None = None,
        max_bytes: int = 50 * 1024 * 1024,
        workers: int = 0,
    ) -> None:
        from vectorstore.catalog import Catalog

        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.dir = Path(db_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.embedder = embedder
        self.catalog = Catalog(self.dir / "catalog.sqlite")
        self.store = ChromaStore(
            path=str(self.dir / "chroma"), url=chroma_url, collection=collection_name(embedder.name)
        )
        self.max_bytes = max_bytes
        self.workers = workers
        self._bm25: BM25Index | None = None
        self._paragraphs: dict[str, Paragraph] | None = None
        self._chunk_paragraphs: dict[str, tuple[str, ...]] | None = None
        self._metas: dict[str, DocumentMeta] | None = None
        self._multi: set[str] | None = None

    # --- ingest ----------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self):
        handle = open(self.dir / ".ingest.lock", "w")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IngestLocked("另一个导入任务正在使用此知识库，请稍后再试") from None
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
            return self._ingest(paths, prune, progress or (lambda *a: None))

    def _ingest(self, paths: list, prune: bool, progress: Progress) -> IngestReport:
        report = IngestReport()
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
            if digest in seen_hashes or self.catalog.document_by_sha(digest):
                report.skipped += 1  # unchanged, or the same content under another name
                continue
            seen_hashes.add(digest)
            todo.append((path, digest))
            replaced.extend(self.catalog.documents_at(stored_path(path.resolve())))

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

        vectors, report.embedded = self._embed([c for d in docs for c in d.chunks], progress)
        pruned = self._prunable(paths, files) if prune else []
        removed_chunks: list[str] = []
        changed = bool(docs or replaced or pruned)
        if changed:
            with self.catalog.conn:  # one transaction: all of this run, or none of it
                for doc_id in set(replaced) | set(pruned):
                    removed_chunks += self.catalog.delete_document(doc_id)
                for doc in docs:
                    keys = [embed_key(self.embedder.name, c.context) for c in doc.chunks]
                    self.catalog.insert_document(doc, keys)
                self.catalog.cache_vectors(vectors)
                generation = int(self.catalog.get_state("generation", "0")) + 1
                self.catalog.set_state("generation", str(generation))
        report.documents = len(docs)
        report.chunks = sum(len(d.chunks) for d in docs)
        report.pruned = len(pruned)
        # Unchanged files change nothing: no index work unless a crash left the indexes behind.
        if changed or not self._indexes_current():
            progress("更新索引", 0, 1)
            self.sync_indexes()
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

    def _embed(self, chunks: list[Chunk], progress: Progress) -> tuple[dict[str, np.ndarray], int]:
        """Vectors for chunks: cache hits first, misses embedded in length-sorted batches."""
        keys = {embed_key(self.embedder.name, c.context): c.context for c in chunks}
        have = self.catalog.cached_vectors(list(keys))
        missing = sorted((k for k in keys if k not in have), key=lambda k: len(keys[k]))
        out: dict[str, np.ndarray] = {}
        batch = 32
        for i in range(0, len(missing), batch):
            part = missing[i : i + batch]
            for key, vec in zip(part, self.embedder.embed([keys[k] for k in part], "passage")):
                out[key] = vec
            progress("向量化", min(i + batch, len(missing)), len(missing))
        return out, len(missing)

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

    def _indexes_current(self) -> bool:
        generation = self.catalog.get_state("generation", "0")
        marker = self.dir / "indexes.generation"
        return marker.exists() and marker.read_text().strip() == generation

    def sync_indexes(self) -> None:
        """Bring Chroma and BM25 in line with the catalogue (idempotent, crash-safe)."""
        chunk_rows = self.catalog.chunks()
        wanted = {c.id: (c, key) for c, key in chunk_rows}
        stored = self.store.ids()
        stale = sorted(stored - wanted.keys())
        if stale:
            self.store.delete(stale)
        add = [wanted[cid] for cid in wanted.keys() - stored]
        if add:
            vectors = self.catalog.cached_vectors([key for _, key in add])
            missing = [(c, key) for c, key in add if key not in vectors]
            if missing:  # cache lost (should not happen): embed again
                fresh = self.embedder.embed([c.context for c, _ in missing], "passage")
                vectors.update({key: v for (_, key), v in zip(missing, fresh)})
                with self.catalog.conn:
                    self.catalog.cache_vectors({key: v for (_, key), v in zip(missing, fresh)})
            metas = self.catalog.metas()
            self.store.add(
                ids=[c.id for c, _ in add],
                embeddings=[vectors[key] for _, key in add],
                metadatas=[
                    {
                        "town": c.town,
                        "doc_id": c.doc_id,
                        "year": (metas.get(c.doc_id).year or 0) if c.doc_id in metas else 0,
                    }
                    for c, _ in add
                ],
            )
        paragraphs = self.catalog.paragraphs()
        self._teach_tokenizer({p.town for p in paragraphs})
        texts = [f"{p.section}\n{p.text}" for p in paragraphs]
        tokens = self._tokens(paragraphs, texts)
        BM25Index.build([p.id for p in paragraphs], texts, tokens).save(self.dir / "bm25")
        self.catalog.checkpoint()
        (self.dir / "indexes.generation").write_text(self.catalog.get_state("generation", "0"))

    def _tokens(self, paragraphs: list[Paragraph], texts: list[str]) -> list[list[str]]:
        """BM25 tokens of every paragraph, tokenising only texts not seen before.

        The BM25 index is rebuilt over all paragraphs at every changing ingest; re-tokenising
        them all (jieba, ~150 k characters/s) made adding one report to 2,000 cost ~40 s.
        The key includes the paragraph's town because town names are taught to the tokenizer.
        """
        from vectorstore.tokenize import tokenize, version

        label = version()
        keys = [
            hashlib.sha1(f"{label}\x00{p.town}\x00{text}".encode()).hexdigest()[:32]
            for p, text in zip(paragraphs, texts)
        ]
        known = self.catalog.cached_tokens(list(dict.fromkeys(keys)))
        fresh: dict[str, list[str]] = {}
        for key, text in zip(keys, texts):
            if key not in known and key not in fresh:
                fresh[key] = tokenize(text)
        if fresh:
            with self.catalog.conn:
                self.catalog.cache_tokens(fresh)
        return [known[k] if k in known else fresh[k] for k in keys]

    # --- editing -----------------------------------------------------------
    def delete_document(self, doc_id: str) -> bool:
        """Remove one document; returns False when it does not exist."""
        with self._lock():
            with self.catalog.conn:
                if not self.catalog.conn.execute("SELECT 1 FROM documents WHERE doc_id=?", (doc_id,)).fetchone():
                    return False
                self.catalog.delete_document(doc_id)
                self.catalog.set_state("generation", str(int(self.catalog.get_state("generation", "0")) + 1))
            self.sync_indexes()
            self._invalidate()
            return True

    def rename_town(self, doc_id: str, town: str) -> None:
        """Set the town of a document (kept on re-ingest of the same bytes)."""
        town = town.strip()
        if not town:
            raise ValueError("镇名不能为空")
        with self._lock():
            self.catalog.set_town(doc_id, town)
            ids = [c.id for c, _ in self.catalog.chunks(doc_id)]
            if ids:
                self.store.delete(ids)  # re-added with the new town by sync
            with self.catalog.conn:
                self.catalog.set_state("generation", str(int(self.catalog.get_state("generation", "0")) + 1))
            self.sync_indexes()
            self._invalidate()

    # --- query side ----------------------------------------------------------
    def _invalidate(self) -> None:
        self._bm25 = self._paragraphs = self._chunk_paragraphs = self._metas = self._multi = None

    @staticmethod
    def _teach_tokenizer(towns: set[str]) -> None:
        from vectorstore.tokenize import add_terms

        add_terms(sorted({alias for town in towns for alias in town_aliases(town)}))

    def ensure_indexes(self) -> None:
        """Repair derived indexes left behind by a crash (cheap when current).

        While another process is ingesting, queries go on with the indexes as they
        are; that ingest brings them up to date when it finishes.
        """
        if not self._indexes_current() and self.catalog.get_state("generation"):
            try:
                with self._lock():
                    self.sync_indexes()
            except IngestLocked:
                pass

    @property
    def paragraphs(self) -> dict[str, Paragraph]:
        """All paragraphs by id (loaded once)."""
        if self._paragraphs is None:
            self._paragraphs = {p.id: p for p in self.catalog.paragraphs()}
            self._teach_tokenizer({p.town for p in self._paragraphs.values()})
        return self._paragraphs

    @property
    def chunk_paragraphs(self) -> dict[str, tuple[str, ...]]:
        """Chunk id → paragraph ids."""
        if self._chunk_paragraphs is None:
            self._chunk_paragraphs = self.catalog.chunk_paragraphs()
        return self._chunk_paragraphs

    @property
    def metas(self) -> dict[str, DocumentMeta]:
        """Document metadata by id."""
        if self._metas is None:
            self._metas = self.catalog.metas()
        return self._metas

    @property
    def bm25(self) -> BM25Index:
        """The persisted BM25 index (loaded once)."""
        if self._bm25 is None:
            _ = self.paragraphs  # the tokenizer must know the towns before queries are cut
            self._bm25 = BM25Index.load(self.dir / "bm25") or BM25Index([])
        return self._bm25

    @property
    def multi_report_towns(self) -> set[str]:
        """Towns with more than one report (their citations name the report year)."""
        if self._multi is None:
            counts: dict[str, int] = {}
            for meta in self.metas.values():
                counts[meta.town] = counts.get(meta.town, 0) + 1
            self._multi = {town for town, n in counts.items() if n > 1}
        return self._multi

    def towns(self) -> list[str]:
        """Towns in the knowledge base, sorted."""
        return sorted({m.town for m in self.metas.values()})

    def close(self) -> None:
        """Release the catalogue connection."""
        self.catalog.close()


__all__ = ["KnowledgeBase", "IngestReport", "IngestLocked", "find_files", "town_aliases", "doc_id_for"]

"""The knowledge base: catalogue + Chroma vectors + BM25, and incremental ingest.

Ingest order is chosen for crash safety: parse and embed everything first
(nothing written), then one SQLite transaction swaps documents in, then Chroma
and BM25 are reconciled with the catalogue. A crash at any point leaves either
the old or the new catalogue, and the next open or ingest repairs the derived
indexes from it (vectors come from the embedding cache, so repair is cheap).

Every derived store says what it was built from: the BM25 directory's ``stamp.json``
and the Chroma collection's metadata carry the catalogue generation and their counts,
the n-gram arrays and JSON caches carry the generation, and ``indexes.json`` records
the catalogue's fingerprint (generation, counts, digest) with the source paths. On open
a missing, emptied or inconsistent store is found by :meth:`KnowledgeBase.check` and
rebuilt from the catalogue, or, when the catalogue itself is lost, the command stops
with :class:`IndexDamaged` naming the repair command — never a quiet wrong answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ingest.limits import INGEST_LIMITS
from ingest.load import SUPPORTED_SUFFIXES, LoadError, display_path, sha256_bytes, stored_path
from ingest.pipeline import PARSER_VERSION, doc_id_for, parse_file
from ingest.records import Chunk, DocumentMeta, Paragraph, ParsedDocument
from vectorstore.bm25_index import BM25Damaged, BM25Index
from vectorstore.chroma_store import ChromaStore, collection_name
from vectorstore.embedders import Embedder

Progress = Callable[[str, int, int], None]
PARALLEL_MIN_FILES = 200  # below this, starting worker processes costs more than parsing
MANIFEST = "indexes.json"
# Caches the assistant writes beside the indexes: JSON objects tagged with the generation,
# rebuilt by their owner whenever absent. A damaged one is removed, never read.
JSON_CACHES = ("index-forms.json", "facts.json")
NGRAM_CACHES = "ngrams-*.npz"


class IngestLocked(RuntimeError):
    """Another ingest holds the knowledge-base lock."""


class IndexDamaged(RuntimeError):
    """An index is damaged and cannot be rebuilt here; ``str(err)`` is one line naming the repair command."""


@dataclass(frozen=True)
class Problem:
    """One thing :meth:`KnowledgeBase.check` found wrong.

    Attributes:
        store: ``catalogue``, ``manifest``, ``bm25``, ``chroma`` or a cache file name.
        reason: One Chinese line for the user.
        kind: ``stale`` (built for an older generation: normal while an ingest runs),
            ``damaged`` (rebuilt from the catalogue) or ``lost`` (the catalogue itself:
            only the source files can restore it).
    """

    store: str
    reason: str
    kind: str = "damaged"

    def to_dict(self) -> dict:
        """JSON form."""
        return {"store": self.store, "reason": self.reason, "kind": self.kind}


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
        return parse_file(path, max_bytes=max_bytes, limits=INGEST_LIMITS)
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


def _core(fingerprint: dict) -> dict:
    """The part of a catalogue fingerprint the indexes record."""
    return {k: fingerprint[k] for k in ("generation", "documents", "paragraphs", "chunks", "digest")}


def _json_cache_problem(path: Path, deep: bool) -> str | None:
    """Why a JSON cache cannot be trusted (None when it is absent or looks whole).

    The cheap check reads one byte: a cache is a JSON object, and ``[]`` or an emptied file
    crashed the first question. ``deep`` parses it and checks its generation tag.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(64).lstrip()
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"缓存无法读取（{err.strerror}）"
    if not head.startswith(b"{"):
        return "缓存内容不是 JSON 对象（被清空或改写）"
    if deep:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            return f"缓存无法解析（{type(err).__name__}）"
        if not isinstance(data, dict) or not isinstance(data.get("generation"), str):
            return "缓存缺少索引代号"
    return None


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
        self._catalog: Catalog | None = None
        self._lost: str | None = None  # why the catalogue cannot be used, when it cannot
        self._open_catalogue()
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

    def _embed(self, chunks: list[Chunk], progress: Progress) -> tuple[dict[str, np.ndarray], int]:
        """Vectors for chunks: cache hits first, misses embedded in length-sorted batches."""
        keys = {embed_key(self.embedder.name, c.context): c.context for c in chunks}
        have = self.catalog.cached_vectors(list(keys))
        missing = sorted((k for k in keys if k not in have), key=lambda k: len(keys[k]))
        out: dict[str, np.ndarray] = {}
        batch = 32
        for i in range(0, len(missing), batch):
            part = missing[i : i + batch]
            done = dict(zip(part, self.embedder.embed([keys[k] for k in part], "passage")))
            out.update(done)
            # Each batch is kept at once: an ingest that is interrupted (killed, power cut) leaves
            # its vectors in the cache, and the next run embeds only what is still missing. The
            # cache answers no question, so the index stays as it was until the final commit.
            with self.catalog.conn:
                self.catalog.cache_vectors(done)
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

    # --- integrity -----------------------------------------------------------
    @property
    def catalog(self):
        """The catalogue (``catalog.sqlite``), the source of truth.

        Raises:
            IndexDamaged: It was lost or damaged (emptied, replaced, not a database): any
                answer or listing from it would be silently wrong.
        """
        if self._lost:
            raise IndexDamaged(self._lost_message())
        return self._catalog

    def _command(self, args: str) -> str:
        return f"python -m assistant {args} --db {display_path(self.dir)}"

    def _lost_message(self) -> str:
        return f"{self._lost}；请运行 {self._command('doctor --repair')} 从原文件重新导入"

    def _open_catalogue(self) -> None:
        from vectorstore.catalog import Catalog

        try:
            self._catalog = Catalog(self.dir / "catalog.sqlite")
            documents = self._catalog.counts()[0]
        except sqlite3.OperationalError:
            raise  # locked, no permission, disk error: the file may be fine, never set it aside
        except sqlite3.DatabaseError as err:  # not a database, or its pages are malformed
            self._mark_lost(err)
            return
        expected = self._expected_documents()
        if not documents and expected:
            held = f" {expected} 篇" if expected > 0 else ""
            self._lost = f"文档目录 catalog.sqlite 是空的，而索引中还有{held}文档（文件被清空或替换）"

    def _mark_lost(self, err: sqlite3.DatabaseError) -> None:
        """Stop using a catalogue SQLite cannot read (it is set aside at the next ingest or repair)."""
        if self._catalog is not None:
            with contextlib.suppress(sqlite3.Error):
                self._catalog.close()
        self._catalog = None
        self._lost = f"文档目录 catalog.sqlite 已损坏（{str(err)[:60]}）"

    def _expected_documents(self) -> int:
        """Documents the derived indexes were built for: 0 when none, -1 when some but not how many."""
        manifest = self._manifest()
        if manifest is not None:
            return int(manifest.get("catalogue", {}).get("documents", 0) or 0)
        stamp = BM25Index.read_stamp(self.dir / "bm25")  # an index from before indexes.json
        if stamp is not None:
            return -1 if stamp.get("count") else 0
        ids = self.dir / "bm25" / "ids.json"
        return -1 if ids.exists() and ids.stat().st_size > 2 else 0

    def _restart_catalogue(self) -> None:
        """Make a lost catalogue usable again: a fresh file if it was not a database, user renames restored."""
        from vectorstore.catalog import Catalog

        path = self.dir / "catalog.sqlite"
        if self._catalog is None:  # not a database: keep it aside for inspection, start a new one
            os.replace(path, path.with_name(path.name + ".damaged"))
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            self._catalog = Catalog(path)
        self._lost = None
        overrides = (self._manifest() or {}).get("town_overrides")
        if isinstance(overrides, dict) and overrides:
            self._catalog.restore_town_overrides({str(k): str(v) for k, v in overrides.items()})

    def _manifest(self) -> dict | None:
        try:
            data = json.loads((self.dir / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("catalogue"), dict) else None

    def _write_manifest(self, fingerprint: dict, bm25: BM25Index, chunks: int) -> None:
        manifest = {
            "generation": fingerprint["generation"],
            "catalogue": _core(fingerprint),
            "bm25": {"count": len(bm25.ids), "checksum": bm25.checksum()},
            "chroma": {"collection": self.store.collection_name, "chunks": chunks},
            # What doctor --repair needs should the catalogue be lost: where the reports are, renames.
            "sources": self.catalog.sources(),
            "town_overrides": self.catalog.town_overrides(),
        }
        tmp = self.dir / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.dir / MANIFEST)

    def _next_generation(self) -> str:
        """The next generation, also past one the indexes saw before the catalogue was lost.

        Caches are tagged with the generation; a catalogue rebuilt from scratch restarting
        at 1 would make a cache of the old generation 1 look current.
        """
        current = int(self.catalog.get_state("generation", "0") or 0)
        built = (self._manifest() or {}).get("generation", "0")
        return str(max(current, int(built) if str(built).isdigit() else 0) + 1)

    def check(self, deep: bool = False) -> list[Problem]:
        """Find derived stores that do not match the catalogue (nothing is changed).

        Args:
            deep: Also run SQLite's page check, compare every chunk id with Chroma and read
                every cache in full (``doctor``); the default is cheap enough for every open.

        Returns:
            Problems, empty when everything is consistent.
        """
        if self._lost:
            return [Problem("catalogue", self._lost, "lost")]
        catalog = self._catalog
        try:
            if deep and (result := catalog.quick_check()) != "ok":
                raise sqlite3.DatabaseError(result)
            fp = catalog.fingerprint()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as err:  # e.g. a truncated file: "database disk image is malformed"
            self._mark_lost(err)
            return [Problem("catalogue", self._lost, "lost")]
        if (fp["paragraphs"], fp["chunks"]) != (fp["declared_paragraphs"], fp["declared_chunks"]):
            return [
                Problem(
                    "catalogue",
                    f"文档目录内部不一致（登记 {fp['declared_paragraphs']} 段、{fp['declared_chunks']} 个片段，"
                    f"实有 {fp['paragraphs']} 段、{fp['chunks']} 个片段）",
                    "lost",
                )
            ]
        problems: list[Problem] = []
        manifest = self._manifest()
        if manifest is None or manifest.get("catalogue") != _core(fp):
            problems.append(Problem("manifest", "索引记录与文档目录不符（上次导入或修复未完成）", "stale"))
        problems += self._check_bm25(fp, deep)
        problems += self._check_chroma(fp, deep)
        problems += self._check_caches(deep)
        return problems

    def _check_bm25(self, fp: dict, deep: bool = False) -> list[Problem]:
        try:
            index = BM25Index.load(self.dir / "bm25")
        except BM25Damaged as err:
            return [Problem("bm25", f"BM25 索引损坏：{err}")]
        if index is None:
            return [Problem("bm25", "BM25 索引缺失")] if fp["paragraphs"] else []
        stamp = BM25Index.read_stamp(self.dir / "bm25") or {}
        if stamp.get("generation") == fp["generation"] and len(index.ids) == fp["paragraphs"]:
            if deep and index.ids != self._catalog.paragraph_ids():
                return [Problem("bm25", "BM25 索引的段落编号与文档目录不符")]
            self._bm25 = index  # checked: the first question need not load it again
            return []
        if stamp.get("generation") is None:  # built before stamps existed: stale if it still adds up
            kind = "stale" if len(index.ids) == fp["paragraphs"] else "damaged"
        else:
            kind = "stale" if stamp["generation"] != fp["generation"] else "damaged"
        return [
            Problem(
                "bm25",
                f"BM25 索引建于第 {stamp.get('generation', '?')} 代、{len(index.ids)} 段，"
                f"文档目录为第 {fp['generation']} 代、{fp['paragraphs']} 段",
                kind,
            )
        ]

    def _check_chroma(self, fp: dict, deep: bool) -> list[Problem]:
        try:
            count, stamp = self.store.count(), self.store.stamp()
        except Exception as err:  # noqa: BLE001 - a damaged store raises anything
            return [Problem("chroma", f"向量库无法打开（{type(err).__name__}: {str(err)[:80]}）")]
        generation = stamp.get("generation")
        if generation == fp["generation"] and count == stamp.get("chunks") == fp["chunks"]:
            return self._check_vectors() if deep else []
        if generation is not None and generation != fp["generation"]:
            kind = "stale"  # another ingest is bringing it up to date
        else:
            kind = "stale" if generation is None and count == fp["chunks"] else "damaged"
        return [
            Problem(
                "chroma",
                f"向量库有 {count} 个片段（记录为第 {generation or '?'} 代、{stamp.get('chunks', '?')} 个），"
                f"文档目录为第 {fp['generation']} 代、{fp['chunks']} 个",
                kind,
            )
        ]

    def _check_vectors(self, sample: int = 256) -> list[Problem]:
        """Every chunk id in Chroma, and a sample of its vectors equal to the catalogue's cache."""
        keys = {c.id: key for c, key in self.catalog.chunks()}
        have = self.store.ids()
        if keys.keys() != have:
            missing, extra = len(keys.keys() - have), len(have - keys.keys())
            return [Problem("chroma", f"向量库片段编号与文档目录不符（缺 {missing} 个，多 {extra} 个）")]
        ids = sorted(keys)[:: max(1, len(keys) // sample)]
        cached = self.catalog.cached_vectors([keys[i] for i in ids])
        stored = self.store.vectors(ids)
        wrong = sum(
            1
            for i in ids
            if keys[i] in cached and not (i in stored and np.allclose(stored[i], cached[keys[i]], atol=1e-5))
        )
        if wrong:
            return [Problem("chroma", f"向量库中抽查的 {len(ids)} 个向量有 {wrong} 个与缓存不符")]
        return []

    def _check_caches(self, deep: bool) -> list[Problem]:
        from vectorstore.ngram_index import verify_file

        problems = []
        for name in JSON_CACHES:
            reason = _json_cache_problem(self.dir / name, deep)
            if reason:
                problems.append(Problem(name, reason))
        if deep:
            for path in sorted(self.dir.glob(NGRAM_CACHES)):
                reason = verify_file(path)
                if reason:
                    problems.append(Problem(path.name, reason))
        return problems

    def repair(self, problems: list[Problem] | None = None) -> list[str]:
        """Rebuild every derived store from the catalogue (call under the ingest lock).

        Args:
            problems: What :meth:`check` found (damaged caches are removed; their owners rebuild them).

        Returns:
            Names of the stores that were damaged and are rebuilt.

        Raises:
            IndexDamaged: The catalogue itself is lost (see :meth:`doctor`).
        """
        problems = problems or []
        if any(p.kind == "lost" for p in problems):
            raise IndexDamaged(self._lost_message() if self._lost else next(p.reason for p in problems))
        for p in problems:
            if p.store in JSON_CACHES or p.store.endswith(".npz"):
                (self.dir / p.store).unlink(missing_ok=True)
        if any(p.store == "chroma" and p.kind == "damaged" for p in problems):
            # Unopenable, emptied or holding wrong vectors: start over from the catalogue's cached vectors.
            self.store.reset()
        manifest = self._manifest()
        if manifest is not None and manifest.get("catalogue") != _core(self.catalog.fingerprint()):
            built = str(manifest.get("generation", "0"))
            if built.isdigit() and int(built) >= int(self.catalog.get_state("generation", "0") or 0):
                # An older catalogue put back (a restored backup): caches of the newer generation must not match.
                with self.catalog.conn:
                    self.catalog.set_state("generation", self._next_generation())
        self.sync_indexes()
        self._invalidate()
        return sorted({p.store for p in problems if p.kind != "stale" and p.store != "manifest"})

    def doctor(self, repair: bool = False) -> dict:
        """Check every store in depth and, with ``repair``, rebuild what is wrong.

        A lost catalogue is restored by ingesting again the source files recorded in
        ``indexes.json`` (files that are gone or have become links are left out).

        Args:
            repair: Rebuild what is damaged.

        Returns:
            ``{"ok", "problems": [...], "repaired": [...], "remaining": [...], "generation", "documents",
            "chunks", "advice"}``; ``ok`` is true when nothing is wrong after the run.

        Raises:
            IngestLocked: Another ingest is running (repair only).
        """
        problems = self.check(deep=True)
        result = {"problems": [p.to_dict() for p in problems], "repaired": [], "advice": ""}
        remaining = problems
        if repair and problems:
            if any(p.kind == "lost" for p in problems):
                result["repaired"] = self._recover_catalogue()
            else:
                with self._lock():
                    result["repaired"] = self.repair(problems)
            remaining = self.check(deep=True)
        fatal = [p for p in remaining if p.kind != "stale" or repair]
        result["remaining"] = [p.to_dict() for p in fatal]
        result["ok"] = not fatal
        if fatal:
            lost = any(p.kind == "lost" for p in fatal)
            result["advice"] = (
                self._lost_message() if lost and self._lost else f"请运行 {self._command('doctor --repair')}"
            )
        fp = self._catalog.fingerprint() if self._catalog is not None and not self._lost else {}
        result.update(generation=fp.get("generation"), documents=fp.get("documents"), chunks=fp.get("chunks"))
        return result

    def _recover_catalogue(self) -> list[str]:
        """Ingest again the recorded source files of a lost catalogue."""
        sources = [p for p in (self._manifest() or {}).get("sources", []) if isinstance(p, str)]
        # A recorded report that has become a link is not followed: it could now point anywhere.
        files = [p for p in sources if Path(p).is_file() and not Path(p).is_symlink()]
        if not files:
            return []
        report = self.ingest(files)
        return ["catalogue"] if report.documents else []

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
        fingerprint = self.catalog.fingerprint()
        generation = fingerprint["generation"]
        index = BM25Index.build([p.id for p in paragraphs], texts, tokens)
        index.save(self.dir / "bm25", generation)
        stored = self.store.count()
        if stored != len(wanted):
            raise IndexDamaged(
                f"向量库写入后有 {stored} 个片段，应为 {len(wanted)} 个；请运行 {self._command('doctor --repair')}"
            )
        self.store.set_stamp(generation, stored)
        self.catalog.checkpoint()
        self._write_manifest(fingerprint, index, stored)
        (self.dir / "indexes.generation").unlink(missing_ok=True)  # the marker indexes.json replaced

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
                self.catalog.set_state("generation", self._next_generation())
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
                self.catalog.set_state("generation", self._next_generation())
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
        """Check the derived indexes and rebuild damaged or stale ones (cheap when all is well).

        While another process is ingesting, queries go on with indexes that are merely
        behind (that ingest brings them up to date when it finishes); a damaged one stops
        the query with a reason instead.

        Raises:
            IndexDamaged: The catalogue is lost, or an index is damaged and cannot be rebuilt now.
        """
        problems = self.check()
        if not problems:
            return
        if any(p.kind == "lost" for p in problems):
            raise IndexDamaged(self._lost_message())
        try:
            with self._lock():
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
            for meta in self.metas.values():
                counts[meta.town] = counts.get(meta.town, 0) + 1
            self._multi = {town for town, n in counts.items() if n > 1}
        return self._multi

    def towns(self) -> list[str]:
        """Towns in the knowledge base, sorted."""
        return sorted({m.town for m in self.metas.values()})

    def close(self) -> None:
        """Release the catalogue connection."""
        if self._catalog is not None:
            self._catalog.close()


__all__ = [
    "KnowledgeBase", "IngestReport", "IngestLocked", "IndexDamaged", "Problem", "find_files", "town_aliases",
    "doc_id_for",
]  # fmt: skip

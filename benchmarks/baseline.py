"""The naive pipeline the benchmark compares against."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

BASELINE_CHUNK_SIZE = 500
BASELINE_CHUNK_OVERLAP = 50


def run_baseline(
    files: list[Path],
    embedder,
    chroma_url: str | None = None,
    workdir: str | os.PathLike | None = None,
) -> dict:
    """The naive pipeline: LangChain recursive splitter (500/50) + Chroma + the same embedder.

    Every chunk is embedded (no cache) and all chunks go to Chroma in one ``add`` (split only
    where Chroma's maximum batch size requires it).

    Args:
        files: Report files (UTF-8 text).
        embedder: A :class:`vectorstore.embedders.Embedder` (already loaded, to time ingest only).
        chroma_url: Use this Chroma server (a fresh collection, dropped afterwards).
        workdir: Folder for the embedded Chroma (a fresh temporary folder when None).

    Returns:
        ``{"reports", "chars", "chunks", "ingest_s", "chars_per_s", "embed_s", "chunk_chars"}``.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    own_dir = workdir is None
    directory = Path(workdir or tempfile.mkdtemp(prefix="bench-baseline-"))
    name = f"bench-baseline-{uuid.uuid4().hex[:12]}"
    client = None
    try:
        start = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(chunk_size=BASELINE_CHUNK_SIZE, chunk_overlap=BASELINE_CHUNK_OVERLAP)
        chunks, metas, chars = [], [], 0
        for path in files:
            text = Path(path).read_text(encoding="utf-8")
            chars += len(text)
            for piece in splitter.split_text(text):
                chunks.append(piece)
                metas.append({"source": str(path)})
        embed_start = time.perf_counter()
        vectors = embedder.embed(chunks, "passage")
        embed_s = time.perf_counter() - embed_start
        settings = ChromaSettings(anonymized_telemetry=False)
        if chroma_url:
            from urllib.parse import urlparse

            url = urlparse(chroma_url)
            client = chromadb.HttpClient(
                host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https", settings=settings
            )
        else:
            client = chromadb.PersistentClient(path=str(directory / "chroma"), settings=settings)
        collection = client.create_collection(
            name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        ids = [f"c{i}" for i in range(len(chunks))]
        step = max(1, client.get_max_batch_size())
        for i in range(0, len(chunks), step):  # one add unless Chroma's batch limit forces a split
            collection.add(
                ids=ids[i : i + step], embeddings=vectors[i : i + step], documents=chunks[i : i + step],
                metadatas=metas[i : i + step],
            )  # fmt: skip
        elapsed = time.perf_counter() - start
        return {
            "reports": len(files),
            "chars": chars,
            "chunks": len(chunks),
            "ingest_s": round(elapsed, 3),
            "chars_per_s": round(chars / elapsed, 1) if elapsed else None,
            "embed_s": round(embed_s, 3),
            "chunk_chars": sum(map(len, chunks)),
        }
    finally:
        if client is not None and chroma_url:
            try:
                client.delete_collection(name)
            except Exception:  # cleanup only; the measurement is done
                pass
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)

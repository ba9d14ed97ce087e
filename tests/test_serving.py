"""Many officials at once: the served app under 30 simulated users, and the pieces of the load run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.app.query_cache import QueryVectorCache
from assistant.app.server import DEFAULT_CONCURRENCY, concurrency_limit
from assistant.workers import worker_count
from benchmarks.load import LoadResult, reply_text, sequences, serve_and_load
from tests.conftest import LOCAL_DEV


def _dev_questions() -> list[str]:
    return [json.loads(line)["question"] for line in LOCAL_DEV.read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.slow
def test_thirty_users_at_once(demo_db):
    """30 sessions × 3 questions through the HTTP API of the app as deployed, on the demo corpus (loopback only).

    ``python -m assistant serve`` runs in a fresh process with its answer workers, once without its
    answer cache and once with it. Every answer must equal the answer one user alone gets to the same
    question in the same order. Its latency is a benchmark figure (``bench --load-users 30``, README),
    not asserted here: a wall-clock limit only measures how busy the test machine is.
    """
    summary = serve_and_load(demo_db, _dev_questions(), users=30, per_user=3)
    for prefix in ("load_", "load_nocache_"):
        assert summary[f"{prefix}errors"] == 0, summary[f"{prefix}error_samples"]
        assert summary[f"{prefix}answers"] == 90
        assert summary[f"{prefix}mismatches"] == 0, summary[f"{prefix}mismatch_samples"]
        assert summary[f"{prefix}p50_ms"] > 0 and summary[f"{prefix}p95_ms"] >= summary[f"{prefix}p50_ms"]
        assert summary[f"{prefix}kb_per_answer_p50"] > 0 and summary[f"{prefix}cpu_ms_per_answer"] > 0
        assert summary[f"{prefix}workers"] == worker_count()
    # The dev questions repeat across the 30 users: the cache recalls some, the cache-less server none.
    assert summary["load_answers_remembered"] > 0
    assert summary["load_nocache_answers_remembered"] is None


def test_sequences_cover_the_pool():
    seqs = sequences([f"q{i}" for i in range(20)], 3)
    assert len(seqs) == 7 and all(len(s) == 3 for s in seqs)
    assert {q for s in seqs for q in s} == {f"q{i}" for i in range(20)}
    with pytest.raises(ValueError):
        sequences([], 3)


def test_reply_text_and_summary():
    assert reply_text([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"text": "b"}]}]) == "ab"
    assert reply_text([{"role": "assistant", "content": "答"}]) == "答" and reply_text([]) == ""
    result = LoadResult(users=2, per_user=1, latencies_ms=[100.0, 300.0], errors=["x"], wall_s=0.5)
    summary = result.summary()
    assert summary["load_p50_ms"] == 200.0 and summary["load_errors"] == 1 and summary["load_answers_per_s"] == 4.0


def test_concurrency_limit_from_environment():
    assert concurrency_limit({}) == DEFAULT_CONCURRENCY
    assert concurrency_limit({"ASSISTANT_CONCURRENCY": "2"}) == 2
    assert concurrency_limit({}, workers=2) == max(DEFAULT_CONCURRENCY, 4)
    assert concurrency_limit({}, workers=8) == 16 and concurrency_limit({"ASSISTANT_CONCURRENCY": "3"}, workers=8) == 3
    with pytest.raises(ValueError):
        concurrency_limit({"ASSISTANT_CONCURRENCY": "many"})


def test_query_vector_cache_returns_the_first_vector():
    class Counting:
        name, dim, calls = "fake", 2, 0

        def embed(self, texts, role):
            Counting.calls += len(texts)
            return np.array([[len(t), Counting.calls] for t in texts], dtype=np.float32)

    cache = QueryVectorCache(Counting(), size=2)
    first = cache.embed(["甲", "乙乙"], "query")
    again = cache.embed(["乙乙", "甲"], "query")
    assert np.array_equal(again, first[::-1]) and Counting.calls == 2 and cache.hits == 2
    cache.embed(["丙"], "query")  # two kept: "乙乙", used least recently, goes
    cache.embed(["甲"], "query")
    assert Counting.calls == 3
    cache.embed(["乙乙"], "query")
    assert Counting.calls == 4
    cache.embed(["段落"], "passage")
    cache.embed(["段落"], "passage")
    assert Counting.calls == 6  # passages are never cached
    assert cache.name == "fake" and cache.dim == 2


def test_query_vector_cache_embeds_a_question_asked_at_once_only_once():
    import threading
    import time

    class Slow:
        name, dim, calls = "slow", 1, 0

        def embed(self, texts, role):
            Slow.calls += len(texts)
            time.sleep(0.2)
            return np.ones((len(texts), 1), dtype=np.float32)

    cache = QueryVectorCache(Slow())
    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.embed(["同一个问题"], "query"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Slow.calls == 1 and len(out) == 8 and all(v.shape == (1, 1) for v in out)
    assert cache.misses == 1 and cache.hits == 7

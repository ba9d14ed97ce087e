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

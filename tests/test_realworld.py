"""Real public reports as their sites serve them: metadata per field against a hand-checked truth file.

`tests/data/realworld/` holds page openings of township-level 法治政府建设 reports from
many provinces, stored verbatim (see its SOURCES.md). `truth.jsonl` says, per file,
what the text states: town, title, 文号, date and issuing body ("" where it states none).
The test prints accuracy per field and fails under the bar of issue 13.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ingest.clean import squash, to_simplified
from ingest.pipeline import parse_file

REALWORLD = Path(__file__).parent / "data" / "realworld"
BARS = {"town": 0.97, "title": 0.95, "doc_number": 0.95, "date": 0.95, "issuer": 0.90}
# What a body paragraph must never carry: a catalogue field name followed by its value.
_META_IN_BODY = re.compile(r"(?:发文字号|索引号|发布机构|成文日期|发布日期|信息来源|浏览量|浏览次数)\s*[:：\]】]")


def _truth(folder: Path) -> list[dict]:
    path = folder / "truth.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _norm(value) -> str:
    return to_simplified(squash(value or "")).strip("《》")


def field_scores(folder: Path) -> tuple[dict[str, float], list[str]]:
    """Accuracy per metadata field over a folder with a truth file, and the mismatches.

    Args:
        folder: A folder of report files and their ``truth.jsonl``.

    Returns:
        ``({field: accuracy}, ["file field: got … want …", …])``.
    """
    rows = _truth(folder)
    hits = dict.fromkeys(BARS, 0)
    misses = []
    for row in rows:
        meta = parse_file(folder / row["file"]).meta
        got = {
            "town": meta.town if meta.town_found else "",
            "title": meta.title,
            "doc_number": meta.doc_number,
            "date": meta.date,
            "issuer": meta.issuer,
        }
        for field in BARS:
            if _norm(got[field]) == _norm(row.get(field)):
                hits[field] += 1
            else:
                misses.append(f"{row['file']} {field}: got {got[field]!r} want {row.get(field)!r}")
    return {field: hits[field] / len(rows) for field in BARS}, misses


@pytest.fixture(scope="module")
def scores():
    if not (REALWORLD / "truth.jsonl").exists():
        pytest.skip("no real-world corpus")
    return field_scores(REALWORLD)


def test_metadata_fields_meet_the_bar(scores, capsys):
    accuracy, misses = scores
    with capsys.disabled():
        print("\nreal-world metadata accuracy: " + ", ".join(f"{f} {a:.2f}" for f, a in accuracy.items()))
    failing = {f: a for f, a in accuracy.items() if a < BARS[f]}
    assert not failing, (failing, misses)


def test_no_paragraph_mixes_page_metadata_or_title_with_body():
    if not (REALWORLD / "truth.jsonl").exists():
        pytest.skip("no real-world corpus")
    bad = []
    for row in _truth(REALWORLD):
        doc = parse_file(REALWORLD / row["file"])
        title = _norm(row.get("title"))
        for para in doc.paragraphs:
            if para.role != "body":
                continue
            text = _norm(para.text)
            if _META_IN_BODY.search(para.text) or (
                len(title) > 8 and text.startswith(title) and len(text) > len(title)
            ):
                bad.append(f"{row['file']} {para.section}#{para.paragraph}: {para.text[:60]}")
    assert not bad, bad


def test_every_file_parses_into_body_paragraphs():
    if not (REALWORLD / "truth.jsonl").exists():
        pytest.skip("no real-world corpus")
    empty = [
        row["file"]
        for row in _truth(REALWORLD)
        if not any(p.role == "body" for p in parse_file(REALWORLD / row["file"]).paragraphs)
    ]
    assert not empty

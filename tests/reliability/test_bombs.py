"""Hostile sizes: files that are small on disk but cost hours if taken at face value.

A 90 KB .docx whose document.xml inflates to ~100 MB, a PDF of thousands of pages, a
40 MB one-line paste, 25,000 one-line "paragraphs": each is refused within seconds with
a one-line Chinese reason, before anything is embedded, and the rest of its folder is
ingested as usual.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from ingest.limits import INGEST_LIMITS, Limits
from ingest.load import LoadError
from ingest.pipeline import parse_file
from tests.conftest import REPORTS
from tests.reliability import tally

_PARAGRAPH = "<w:p><w:r><w:t>青石镇开展法治宣传活动。</w:t></w:r></w:p>"


def docx_bomb(path, inflated_mb: int = 100) -> None:
    """A valid .docx whose document.xml holds ``inflated_mb`` MB of repeated paragraphs."""
    import docx

    docx.Document().save(path)
    with zipfile.ZipFile(path) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    xml = parts["word/document.xml"].decode("utf-8")
    head, tail = xml.split("<w:body>", 1)
    repeat = inflated_mb * 1024 * 1024 // len(_PARAGRAPH.encode())
    body = (_PARAGRAPH * repeat).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for name, data in parts.items():
            if name == "word/document.xml":
                dst.writestr(name, head.encode() + b"<w:body>" + body + tail.encode())
            else:
                dst.writestr(name, data)


def pdf_bomb(path, pages: int = 2_500) -> None:
    """A valid PDF of ``pages`` blank pages."""
    import pypdf

    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    with open(path, "wb") as fh:
        writer.write(fh)


def _refused(path) -> tuple[str, float]:
    start = time.perf_counter()
    with pytest.raises(LoadError) as err:
        parse_file(path, limits=INGEST_LIMITS)
    return str(err.value), time.perf_counter() - start


def test_docx_bomb_is_refused_from_its_zip_directory(tmp_path):
    path = tmp_path / "bomb.docx"
    docx_bomb(path)
    assert path.stat().st_size < 2 * 1024 * 1024  # small on disk
    reason, seconds = _refused(path)
    assert "解压后过大" in reason and "\n" not in reason
    assert seconds < 1.0
    tally.record("decompression bombs")


def test_pdf_with_too_many_pages_is_refused_before_extraction(tmp_path):
    path = tmp_path / "pages.pdf"
    pdf_bomb(path)
    reason, seconds = _refused(path)
    assert "页数过多" in reason and seconds < 5
    tally.record("decompression bombs")


def test_one_line_text_and_paragraph_floods_are_refused(tmp_path):
    line = tmp_path / "line.txt"
    line.write_text("青石镇开展法治宣传活动" * 300_000, encoding="utf-8")  # 3.3 M characters, one line
    reason, seconds = _refused(line)
    assert "文字过多" in reason and seconds < 5
    flood = tmp_path / "flood.txt"
    flood.write_text("\n\n".join(f"第{i}项" for i in range(25_000)), encoding="utf-8")
    reason, seconds = _refused(flood)
    assert "段落过多" in reason and seconds < 5
    # Without limits (a library call) the same text parses: the bound is the ingest's, not the parser's.
    assert len(parse_file(flood).paragraphs) == 25_000
    tally.record("oversized inputs", faults=2)


def test_limits_reject_bad_values_by_name():
    with pytest.raises(ValueError, match="max_chars"):
        Limits(max_chars=0)


def test_folder_with_bombs_still_ingests_the_reports(tmp_path):
    folder = tmp_path / "reports"
    shutil.copytree(REPORTS, folder)
    docx_bomb(folder / "附件.docx")
    (folder / "粘贴.txt").write_text("青石镇开展法治宣传活动" * 300_000, encoding="utf-8")
    db = tmp_path / "db"
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["ingest", str(folder), "--db", str(db), "--json"])
    seconds = time.perf_counter() - start
    report = json.loads(result.stdout)
    assert report["documents"] == 5
    reasons = {e["path"].rsplit("/", 1)[-1]: e["error"] for e in report["errors"]}
    assert "解压后过大" in reasons["附件.docx"] and "文字过多" in reasons["粘贴.txt"]
    # The five reports cost what they always cost (embedding ~100 chunks); the bombs add seconds, not hours.
    assert seconds < 180, seconds
    tally.record("decompression bombs")

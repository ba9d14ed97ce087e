"""Loading: encodings are detected, .docx/.pdf read, bad files give one-line reasons."""

from __future__ import annotations

import pytest

from ingest.load import LoadError, load_file
from ingest.pipeline import parse_file

SAMPLE = "东方红镇2024年法治政府建设年度报告\n\n一、主要成效\n\n全镇调解矛盾纠纷32起，發放宣传资料5000余份。\n"


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-8", SAMPLE.encode("utf-8")),
        ("utf-8-sig", SAMPLE.encode("utf-8-sig")),
        ("utf-16", SAMPLE.encode("utf-16")),
        ("utf-16-le", SAMPLE.encode("utf-16-le")),
        ("gb18030", SAMPLE.encode("gb18030")),
        ("gbk", SAMPLE.encode("gbk")),
        ("big5", SAMPLE.encode("big5", errors="ignore")),
    ],
)
def test_text_encodings_are_detected(tmp_path, encoding, data):
    path = tmp_path / f"r-{encoding}.txt"
    path.write_bytes(data)
    source = load_file(path)
    expected = data.decode(encoding if encoding != "utf-16-le" else "utf-16-le").lstrip("\ufeff")
    assert source.text == expected.replace("\r\n", "\n")
    assert "调解矛盾纠纷32起" in source.text or encoding == "big5"


def test_long_gbk_report_decodes(tmp_path):
    path = tmp_path / "gbk.txt"
    text = "\n\n".join(["三道沟镇积极开展法治宣传教育活动，发放宣传资料2000余份。"] * 50)
    path.write_bytes(text.encode("gbk"))
    assert load_file(path).text == text


def _docx(path, with_numbering: bool = True):
    import docx

    document = docx.Document()
    document.add_heading("青石镇2024年法治政府建设工作总结", level=1)
    document.add_paragraph("青石镇人民政府")
    document.add_heading("一、主要成效", level=2)
    document.add_paragraph("全年开展法治宣传活动12次，发放宣传资料3000余份。")
    if with_numbering:
        document.add_paragraph("建立健全学法制度。", style="List Number")
        document.add_paragraph("落实法律顾问制度。", style="List Number")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "指标"
    table.cell(0, 1).text = "数量"
    table.cell(1, 0).text = "调解纠纷"
    table.cell(1, 1).text = "15起"
    document.save(str(path))


def test_docx_headings_numbering_and_tables(tmp_path):
    path = tmp_path / "report.docx"
    _docx(path)
    source = load_file(path)
    assert "# 青石镇2024年法治政府建设工作总结" in source.text
    assert "## 一、主要成效" in source.text
    assert "1.建立健全学法制度。" in source.text and "2.落实法律顾问制度。" in source.text
    assert "调解纠纷 | 15起" in source.text
    doc = parse_file(path)
    assert doc.meta.town == "青石镇"
    para = next(p for p in doc.paragraphs if "3000余份" in p.text)
    assert para.section == "一、主要成效"


def _pdf(path, text: str | None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig = plt.figure(figsize=(4, 3))
    if text is None:
        fig.figimage(np.random.default_rng(0).random((50, 50)))
    else:
        fig.text(0.05, 0.5, text)
    fig.savefig(str(path), format="pdf")
    plt.close(fig)


def test_pdf_text_layer(tmp_path):
    path = tmp_path / "report.pdf"
    _pdf(path, "Law enforcement training held 12 times.")
    assert "Law enforcement training held 12 times." in load_file(path).text


def test_scanned_pdf_is_reported(tmp_path):
    path = tmp_path / "scan.pdf"
    _pdf(path, None)
    with pytest.raises(LoadError, match="无文本层，需OCR"):
        load_file(path)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.txt", b"", "文件为空"),
        ("binary.txt", bytes(range(256)) * 40, "不是文本文件"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "Word 文件损坏"),
        ("broken.pdf", b"%PDF-1.4\n garbage", "PDF"),
        ("image.png", b"\x89PNG\r\n", "不支持的文件类型"),
        ("blank.txt", b"\n\n   \n", "没有可用的文字内容"),
    ],
)
def test_bad_files_give_one_line_reasons(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError) as err:
        load_file(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_oversized_file_is_refused_without_reading(tmp_path):
    path = tmp_path / "big.txt"
    with open(path, "wb") as handle:
        handle.seek(2 * 1024 * 1024)
        handle.write(b"x")
    with pytest.raises(LoadError, match="文件过大"):
        load_file(path, max_bytes=1024 * 1024)

"""Document metadata comes from the content (title, 文号, 落款), never from the file name."""

from __future__ import annotations

import shutil

import pytest

from ingest.pipeline import parse_file
from tests.conftest import REPORTS

EXPECTED = {
    "东方红镇": {
        "county": "虎林市",
        "doc_number": "虎东呈[2025]5号",
        "signer": None,
        "date": "2025-02-26",
        "year": 2024,
    },
    "二道甸子镇": {"county": "桦甸市", "doc_number": None, "signer": None, "date": "2025-03-21", "year": 2024},
    "旧院镇": {"county": "万源市", "doc_number": "旧府〔2025〕24号", "signer": "熊思炜", "date": None, "year": 2024},
    "北留镇": {"county": None, "doc_number": "北发〔2025〕4号", "signer": None, "date": "2025-01-20", "year": 2024},
    "三道沟镇": {
        "county": "白山市",
        "doc_number": "三政发〔2025〕3号",
        "signer": None,
        "date": "2025-02-18",
        "year": 2024,
    },
}


@pytest.fixture(scope="module")
def metas(tmp_path_factory):
    # Neutral file names prove nothing is read from them.
    tmp = tmp_path_factory.mktemp("neutral")
    out = {}
    for i, path in enumerate(sorted(REPORTS.iterdir())):
        target = tmp / f"{i:03d}.txt"
        shutil.copy(path, target)
        meta = parse_file(target).meta
        out[meta.town] = meta
    return out


def test_all_five_towns_found(metas):
    assert set(metas) == set(EXPECTED)
    assert all(m.town_found for m in metas.values())


@pytest.mark.parametrize("town", sorted(EXPECTED))
def test_fields(metas, town):
    meta = metas[town]
    for field, value in EXPECTED[town].items():
        assert getattr(meta, field) == value, (town, field)
    assert meta.title and "2024" in meta.title


def test_titles(metas):
    assert metas["北留镇"].title == "中共北留镇委员会 北留镇人民政府 2024年法治政府建设工作情况的报告"
    assert metas["旧院镇"].title == "万源市旧院镇人民政府 关于2024年推进法治政府建设工作的总结"


def test_unknown_town_gets_a_visible_placeholder(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("2024年工作总结\n\n一、情况\n\n今年我们开展了很多工作，取得了一定成效。\n", encoding="utf-8")
    meta = parse_file(path).meta
    assert not meta.town_found
    assert meta.town.startswith("未识别镇-")
    assert meta.warnings

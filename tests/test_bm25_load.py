"""A saved BM25 index whose id list is not a list of strings is reported damaged, never loaded."""

from __future__ import annotations

import json

import pytest

from vectorstore.bm25_index import BM25Damaged, BM25Index


@pytest.mark.parametrize("ids", [["a:p1", 2], ["a:p1", None], [["a:p1"]], {"a": 1}, "a:p1"])
def test_ids_that_are_not_strings_are_damage(tmp_path, ids):
    BM25Index([]).save(tmp_path / "bm25")
    (tmp_path / "bm25" / "stamp.json").unlink()  # the element check alone, not the stamp's count
    (tmp_path / "bm25" / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    with pytest.raises(BM25Damaged, match="段落编号列表"):
        BM25Index.load(tmp_path / "bm25")


def test_string_ids_load(tmp_path):
    BM25Index([]).save(tmp_path / "bm25")
    assert BM25Index.load(tmp_path / "bm25").ids == []
    index = BM25Index.build(["a:p1", "a:p2"], ["执法力量薄弱", "普法宣传"])
    index.save(tmp_path / "two")
    assert BM25Index.load(tmp_path / "two").ids == ["a:p1", "a:p2"]

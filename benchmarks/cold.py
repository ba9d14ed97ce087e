"""The cold start, split honestly: the process's libraries, then one knowledge base's open and first answer.

Three child processes, each a fresh Python (its start is not counted):

- **fresh process** (``first_answer_ms``): nothing loaded; the first question pays for every
  import, jieba's dictionary, Chroma, the embedder and the knowledge base's indexes;
- **warm process**, one per question kind (``cross_town``, ``fact``): the per-process constant is
  paid first and timed (``import_ms``: the libraries and jieba's tables,
  :func:`assistant.service.warm_process` — what the app server does once at start-up), then the
  knowledge base is opened (``kb_open_ms``: :meth:`assistant.service.Assistant.open`) and the
  question answered; ``first_answer_warm_process_ms`` is open + answer, the per-knowledge-base cost.

Run on a kept index: ``python -m benchmarks.cold --db DIR "哪些镇…？" "某镇…多少？"``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from benchmarks.measure import _round

_FRESH = """
import json, sys, time
cpu = time.process_time()
from assistant.service import Assistant
from assistant.settings import Settings
settings = Settings(**json.loads(sys.argv[1]))
start = time.perf_counter()
Assistant(settings).ask(sys.argv[2])
print(json.dumps({"ms": (time.perf_counter() - start) * 1000, "cpu_ms": (time.process_time() - cpu) * 1000}))
"""

_WARM = """
import json, sys, time
start, cpu_start = time.perf_counter(), time.process_time()
from assistant.service import Assistant, warm_process
from assistant.settings import Settings
settings = Settings(**json.loads(sys.argv[1]))
steps = warm_process(chroma=not settings.chroma_url, embedder=settings.embedder)
imported, cpu_imported = time.perf_counter(), time.process_time()
assistant = Assistant(settings)
assistant.open()
opened, cpu_opened = time.perf_counter(), time.process_time()
assistant.ask(sys.argv[2])
answered, cpu_answered = time.perf_counter(), time.process_time()
print(json.dumps({
    "import_ms": (imported - start) * 1000, "import_steps_ms": steps, "kb_open_ms": (opened - imported) * 1000,
    "answer_ms": (answered - opened) * 1000, "total_ms": (answered - imported) * 1000,
    "import_cpu_ms": (cpu_imported - cpu_start) * 1000, "kb_open_cpu_ms": (cpu_opened - cpu_imported) * 1000,
    "answer_cpu_ms": (cpu_answered - cpu_opened) * 1000,
    "rss_mb": next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024,
}))
"""
# (Peak RSS from /proc: a child's ru_maxrss starts at its parent's peak, inherited through fork.)


def _child(script: str, settings, question: str) -> object | None:
    """Run ``script`` in a fresh Python and return its last output line as JSON (None when it fails)."""
    from benchmarks import measure

    config = {"db": str(settings.db), "embedder": settings.embedder, "chroma_url": settings.chroma_url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(config), question],
        capture_output=True, text=True, timeout=600, cwd=str(Path(__file__).resolve().parents[1]),
    )  # fmt: skip
    # The child's memory is the measurement's, not the workload's: it is kept out of the peak RSS.
    if before <= measure._children_before:
        measure._children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def first_answer(settings, question: str) -> dict:
    """The first answer of a fresh process, every import and load included: ``first_answer_ms`` and the
    process's CPU time ``first_answer_cpu_ms`` (all its threads; None when the child fails)."""
    value = _child(_FRESH, settings, question)
    ok = isinstance(value, dict)
    return {
        "first_answer_ms": _round(value["ms"]) if ok else None,
        "first_answer_cpu_ms": _round(value["cpu_ms"]) if ok else None,
    }


def first_answer_ms(settings, question: str) -> float | None:
    """The first answer of a fresh process, every import and load included (None when the child fails)."""
    return first_answer(settings, question)["first_answer_ms"]


def cold_start(settings, cross_town: str | None, fact: str | None) -> dict:
    """The per-process and per-knowledge-base parts of a cold start (see the module docstring).

    Args:
        settings: The knowledge base's settings.
        cross_town: A "哪些镇…" question (None: not measured).
        fact: A fact question about one town (None: not measured).

    Returns:
        ``import_ms``, ``import_steps_ms``, ``kb_open_ms``, ``first_answer_warm_process_ms`` (the
        slower of the two questions' open + answer), ``first_answer_warm_process_cross_town_ms``,
        ``first_answer_warm_process_fact_ms``, the answers alone (``first_answer_after_open_*_ms``)
        and ``cold_start_rss_mb`` (the larger child's peak); ``import_cpu_ms``, ``kb_open_cpu_ms`` and
        ``first_answer_after_open_*_cpu_ms``: the CPU time of the same steps.
    """
    runs = {
        kind: _child(_WARM, settings, question)
        for kind, question in (("cross_town", cross_town), ("fact", fact))
        if question
    }
    runs = {kind: run for kind, run in runs.items() if isinstance(run, dict)}
    first = next(iter(runs.values()), None)
    totals = [run["total_ms"] for run in runs.values()]
    return {
        "import_ms": _round(first["import_ms"]) if first else None,
        "import_steps_ms": first["import_steps_ms"] if first else None,
        "kb_open_ms": _round(max(run["kb_open_ms"] for run in runs.values())) if runs else None,
        "first_answer_warm_process_ms": _round(max(totals)) if totals else None,
        **{
            f"first_answer_warm_process_{kind}_ms": _round(runs[kind]["total_ms"]) if kind in runs else None
            for kind in ("cross_town", "fact")
        },
        **{
            f"first_answer_after_open_{kind}_ms": _round(runs[kind]["answer_ms"]) if kind in runs else None
            for kind in ("cross_town", "fact")
        },
        "cold_start_rss_mb": _round(max(run["rss_mb"] for run in runs.values())) if runs else None,
        # CPU time of the same steps (the process's threads together): on a shared machine the
        # wall-clock figures above measure the other jobs as much as this one.
        "import_cpu_ms": _round(first["import_cpu_ms"]) if first else None,
        "kb_open_cpu_ms": _round(max(run["kb_open_cpu_ms"] for run in runs.values())) if runs else None,
        **{
            f"first_answer_after_open_{kind}_cpu_ms": _round(runs[kind]["answer_cpu_ms"]) if kind in runs else None
            for kind in ("cross_town", "fact")
        },
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.cold --db DIR CROSS_TOWN_QUESTION FACT_QUESTION``: print the cold-start JSON."""
    import argparse

    from assistant.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("cross_town")
    parser.add_argument("fact")
    args = parser.parse_args(argv)
    settings = Settings(db=args.db)
    result = {**first_answer(settings, args.fact), **cold_start(settings, args.cross_town, args.fact)}
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()

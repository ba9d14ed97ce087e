"""Statistics table: quantitative facts extracted from township reports, each with its citation.

Rules and a lexicon, no model: a figure is kept only when a cue word of a metric (from
``assistant/data/metrics.toml``) stands next to it in the same clause, e.g. "调解矛盾纠纷 32 起" or
"34名网格员". Matching runs on a normalised copy of the paragraph (full-width folded, traditional
characters folded, whitespace removed) that keeps a map back to the original characters, so every
:attr:`Fact.quote` is a verbatim substring of the cited paragraph, spaces and all ("罚款 11.88 万元").

Typical use::

    facts = extract_facts(paragraphs)
    metric = find_metric("各镇分别发放了多少普法宣传资料？")
    rows = facts_table(facts, metrics=[metric])
    to_xlsx(rows, "统计表.xlsx")
"""

from __future__ import annotations

import csv
import functools
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.cite import cite
from assistant.text import SENTENCE_END_NORMALISED, fold, to_simplified
from ingest.records import Paragraph

METRICS_PATH = Path(__file__).resolve().parent / "data" / "metrics.toml"
StrPath = str | Path

# Characters that carry no content and would break a match ("2\u200b000").
_INVISIBLE = set("\u200b\u200c\u200d\u2060\ufeff\u00ad")
# Chinese numerals as reports write figures ("近千份", "一百二十件", "1.2万份"); their values come from the
# Unicode database, except 两 (a colloquial 2 that Unicode gives no value).
_CN_CHARS = "零〇一二两三四五六七八九十百千万亿"
_CN_VALUE = {c: 2 if c == "两" else int(unicodedata.numeric(c)) for c in _CN_CHARS}
_CN_DIGITS = {c: v for c, v in _CN_VALUE.items() if v < 10}
_CN_UNITS = {c: v for c, v in _CN_VALUE.items() if 10 <= v < 10_000}  # 十 百 千
_CN_BIG = {c: v for c, v in _CN_VALUE.items() if v >= 10_000}  # 万 亿
# How reports qualify an approximate figure (document convention): a word before the number ("近千份" =
# nearly 1000, "超过"/"约"/"逾") or after number and unit ("500人次以上", "左右"), each with its place.
_QUALIFIERS = {
    "超过": "before", "近": "before", "约": "before", "逾": "before", "超": "before",
    "以上": "after", "左右": "after", "以内": "after", "以下": "after",
}  # fmt: skip
_PREFIXES = tuple(q for q, place in _QUALIFIERS.items() if place == "before")
_SUFFIXES = tuple(q for q, place in _QUALIFIERS.items() if place == "after")
# Clause ends in the normalised text (NFKC turns "，；：！？" into ASCII).
_CLAUSE_END = re.compile(r"[,:](?![0-9])|(?<![0-9])[,:]|[。;!?…]")
_YEAR = re.compile(r"((?:19|20)\d{2})年")


@dataclass(frozen=True)
class Metric:
    """One row type of the statistics table, as described in ``metrics.toml``.

    Attributes:
        key: Stable identifier, e.g. ``propaganda_materials``.
        label: Chinese label shown to users, e.g. ``普法宣传资料（份）``.
        units: Measure words accepted after the number.
        cues: Patterns that may stand before the number in the same clause.
        after_cues: Patterns that may start right after the unit ("34名网格员").
        aliases: Words naming the metric in a question.
        hints: Extra question words that favour this metric on a tie.
        exclude: Drop a candidate whose quoted clause matches this pattern.
        context: Keep a candidate only when its sentence matches this pattern.
        priority: Tie-breaker between equally close cues of two metrics (higher wins).
        max_gap: Characters allowed between a cue and the number.
        base_unit: Unit values are converted to for comparisons ("" keeps the unit as written).
        convert: ``(unit, factor)`` pairs: ``value * factor`` is in ``base_unit``.
    """

    key: str
    label: str
    units: tuple[str, ...]
    cues: tuple[re.Pattern[str], ...] = ()
    after_cues: tuple[re.Pattern[str], ...] = ()
    aliases: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    exclude: re.Pattern[str] | None = None
    context: re.Pattern[str] | None = None
    priority: int = 0
    max_gap: int = 8
    base_unit: str = ""
    convert: tuple[tuple[str, float], ...] = ()

    def normalize(self, value: float, unit: str) -> tuple[float, str]:
        """Convert a value to the metric's base unit (``11880 元`` -> ``1.188 万元``)."""
        if not self.base_unit:
            return value, unit
        factors = dict(self.convert)
        if unit == self.base_unit:
            return value, unit
        if unit in factors:
            return value * factors[unit], self.base_unit
        return value, unit


@dataclass(frozen=True)
class _Lexicon:
    metrics: tuple[Metric, ...]
    after_gap: int
    skip_sections: re.Pattern[str] | None
    delta: re.Pattern[str] | None
    idioms: tuple[str, ...]
    quantity: re.Pattern[str] | None
    mention: re.Pattern[str] = field(repr=False)


@dataclass(frozen=True)
class Fact:
    """One extracted figure with its citation.

    Attributes:
        town: Canonical town of the report.
        year: Year the figure belongs to (an explicit "2024年" in the sentence, else the report year).
        metric: Metric key, e.g. ``propaganda_materials``.
        label: Chinese label, e.g. ``普法宣传资料（份）``.
        value: The number as stated (``百余起`` -> ``100.0``).
        unit: Measure word as stated (``份``, ``人次``, ``万元``, ``%``).
        qualifier: ``余``/``多``/``以上``/``左右``/``%``/``近``…, joined when several apply, else ``""``.
        quote: Verbatim substring of :attr:`text` holding the figure, e.g. ``发放宣传单（册）5000余份``.
        paragraph_id: Id of the cited paragraph.
        section: Section heading of the cited paragraph.
        paragraph: 1-based paragraph number inside the section.
        text: Full text of the cited paragraph.
        doc_id: Document id of the cited paragraph.
    """

    town: str
    year: int | None
    metric: str
    label: str
    value: float
    unit: str
    qualifier: str
    quote: str
    paragraph_id: str
    section: str
    paragraph: int
    text: str
    doc_id: str = ""

    @property
    def display(self) -> str:
        """The figure as a reader writes it: ``5000余份``, ``500人次以上``, ``11.88万元``, ``100%``."""
        prefix = next((p for p in _PREFIXES if self.qualifier.startswith(p)), "")
        middle = "余" if "余" in self.qualifier else "多" if "多" in self.qualifier else ""
        suffix = next((s for s in _SUFFIXES if s in self.qualifier), "")
        return f"{prefix}{format_number(self.value)}{middle}{self.unit}{suffix}"

    @property
    def citation_label(self) -> str:
        """Citation as rendered in answers: ``〔北留镇 · 四是筑牢法治基石 · 第1段〕``."""
        return cite(self.town, self.section, self.paragraph)

    def to_dict(self) -> dict:
        """Return the JSON row ``{town, year, metric, label, value, unit, qualifier, quote, citation}``."""
        value: float | int = int(self.value) if float(self.value).is_integer() else self.value
        return {
            "town": self.town,
            "year": self.year,
            "metric": self.metric,
            "label": self.label,
            "value": value,
            "unit": self.unit,
            "qualifier": self.qualifier,
            "quote": self.quote,
            "citation": {
                "id": self.paragraph_id,
                "town": self.town,
                "doc": self.doc_id,
                "section": self.section,
                "paragraph": self.paragraph,
                "text": self.text,
            },
        }


# --------------------------------------------------------------------------- lexicon


def _patterns(items: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in items)


def _optional(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


@functools.lru_cache(maxsize=8)
def _load_lexicon(path: str) -> _Lexicon:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    settings = data.get("settings", {})
    default_gap = int(settings.get("max_gap", 8))
    metrics = []
    for item in data.get("metric", []):
        metrics.append(
            Metric(
                key=item["key"],
                label=item["label"],
                units=tuple(item["units"]),
                cues=_patterns(item.get("cues", [])),
                after_cues=_patterns(item.get("after_cues", [])),
                aliases=tuple(fold(a) for a in item.get("aliases", [])),
                hints=tuple(fold(h) for h in item.get("hints", [])),
                exclude=_optional(item.get("exclude")),
                context=_optional(item.get("context")),
                priority=int(item.get("priority", 0)),
                max_gap=int(item.get("max_gap", default_gap)),
                base_unit=item.get("base_unit", ""),
                convert=tuple((k, float(v)) for k, v in item.get("convert", {}).items()),
            )
        )
    keys = [m.key for m in metrics]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate metric keys in {path}")
    units = sorted({u for m in metrics for u in m.units}, key=len, reverse=True)
    unit_alt = "|".join(re.escape(u) for u in units)
    # One pattern finds every "number + unit" mention; metrics then decide which ones they own.
    # "万" is a multiplier ("1.2万份") unless it starts a unit ("11.88万元").
    mention = re.compile(
        r"(?P<pre>" + "|".join(_PREFIXES) + r")?"
        r"(?P<num>(?<![0-9.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[" + _CN_CHARS + r"]+)"
        r"(?P<mult>(?!万元)[万千])?"
        r"(?P<yu>[余多])?"
        r"(?P<unit>" + unit_alt + r")"
        r"(?P<suf>" + "|".join((*_SUFFIXES, "余")) + r")?"
    )
    return _Lexicon(
        metrics=tuple(metrics),
        after_gap=int(settings.get("after_gap", 1)),
        skip_sections=_optional(settings.get("skip_sections")),
        delta=_optional(settings.get("delta")),
        idioms=tuple(settings.get("idioms", [])),
        quantity=_optional(settings.get("quantity")),
        mention=mention,
    )


def load_metrics(path: StrPath | None = None) -> list[Metric]:
    """Load the metric lexicon.

    Args:
        path: A ``metrics.toml``; defaults to the one shipped in ``assistant/data``.

    Returns:
        The metrics in file order (the order of the statistics table's columns).
    """
    return list(_load_lexicon(str(path or METRICS_PATH)).metrics)


def get_metric(key: str, path: StrPath | None = None) -> Metric:
    """Return the metric with this key (raises ``KeyError`` when unknown)."""
    for metric in load_metrics(path):
        if metric.key == key:
            return metric
    raise KeyError(key)


# --------------------------------------------------------------------------- numbers


def chinese_to_number(text: str) -> float:
    """Value of a Chinese numeral: ``六`` -> 6, ``十`` -> 10, ``二十三`` -> 23, ``三千五百`` -> 3500.

    Args:
        text: Chinese numeral characters only (``零〇一二两三四五六七八九十百千万亿``).

    Returns:
        The value.

    Raises:
        ValueError: When ``text`` contains another character.
    """
    total = section = digit = 0
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            # A bare unit counts one of itself: "十" is 10, "百余" is 100.
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
        elif ch in _CN_BIG:
            total += (section + digit or 1) * _CN_BIG[ch]
            section = digit = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return float(total + section + digit)


def format_number(value: float) -> str:
    """Format a value without a spurious ``.0`` (``5000.0`` -> ``5000``, ``11.88`` -> ``11.88``)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _number(num: str) -> float:
    if num[0].isdigit():
        return float(num.replace(",", ""))
    return chinese_to_number(num)


def parse_value(quote: str) -> tuple[float, str, str]:
    """Parse the first figure of a phrase: value, unit and qualifier.

    Handles spaces inside numbers, ``余``/``多``/``以上``, percentages, ``万`` multipliers and
    Chinese numerals, e.g. ``罚款 11.88 万元`` -> ``(11.88, "万元", "")``,
    ``十余次`` -> ``(10.0, "次", "余")``, ``500人次以上`` -> ``(500.0, "人次", "以上")``,
    ``100%`` -> ``(100.0, "%", "%")``.

    Args:
        quote: A phrase holding one figure with a unit known to the lexicon.

    Returns:
        ``(value, unit, qualifier)``.

    Raises:
        ValueError: When the phrase holds no figure.
    """
    norm, _ = _normalize(quote)
    lex = _load_lexicon(str(METRICS_PATH))
    for match in lex.mention.finditer(norm):
        if _valid_mention(norm, match, lex.idioms):
            return _mention_value(match)
    raise ValueError(f"no figure in {quote!r}")


def _mention_value(match: re.Match[str]) -> tuple[float, str, str]:
    value = _number(match["num"])
    if match["mult"]:
        value *= _CN_BIG.get(match["mult"], _CN_UNITS.get(match["mult"], 1))
    unit = match["unit"]
    parts = [match["pre"] or "", match["yu"] or "", match["suf"] or ""]
    if unit == "%":
        parts.insert(2, "%")
    return value, unit, "".join(parts)


def _valid_mention(norm: str, match: re.Match[str], idioms: Sequence[str]) -> bool:
    start = match.start("num")
    num = match["num"]
    # "第一次", "第3期" are ordinals, not counts.
    if start > 0 and norm[start - 1] == "第":
        return False
    if not num[0].isdigit():
        for idiom in idioms:
            pos = norm.find(idiom, max(0, start - len(idiom)), match.end() + len(idiom))
            if pos != -1 and pos <= start < pos + len(idiom):
                return False
        if all(ch in _CN_BIG for ch in num):
            return False  # a lone "万" is not a number
    return True


# --------------------------------------------------------------------------- normalised text


def _normalize(text: str) -> tuple[str, list[int]]:
    """Return the match form of ``text`` and, per character, its offset in ``text``.

    NFKC and OpenCC are applied character by character where needed so the map stays exact;
    whitespace is dropped ("11.88 万元" -> "11.88万元").
    """
    chars: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        if ch in _INVISIBLE:
            continue
        for c in unicodedata.normalize("NFKC", ch):
            if c.isspace():
                continue
            chars.append(c)
            offsets.append(i)
    norm = "".join(chars)
    simplified = to_simplified(norm)
    if len(simplified) == len(norm):
        norm = simplified
    else:  # a phrase-level conversion changed the length: fall back to one character at a time
        norm = "".join(c2 if len(c2 := to_simplified(c)) == 1 else c for c in norm)
    return norm, offsets


def _spans(pattern: str, text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(pattern, text)]


def _inside(pos: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(a < pos < b for a, b in spans)


def _segments(text: str, splitter: re.Pattern[str]) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in splitter.finditer(text):
        if m.start() > start:
            out.append((start, m.start()))
        start = m.end()
    if start < len(text):
        out.append((start, len(text)))
    return out


@dataclass
class _Candidate:
    metric: Metric
    gap: int
    cue_len: int
    anchor: int  # where the quote may start at the earliest (cue start, or the number for after-cues)
    end: int  # end of the quote in the normalised text


def _candidates(
    norm: str,
    clause: tuple[int, int],
    match: re.Match[str],
    mentions: Sequence[re.Match[str]],
    lex: _Lexicon,
    books: Sequence[tuple[int, int]],
) -> list[_Candidate]:
    c_start, c_end = clause
    start, end = match.start(), match.end()
    unit = match["unit"]
    previous_end = max((m.end() for m in mentions if m.end() <= start), default=c_start)
    found: list[_Candidate] = []
    for metric in lex.metrics:
        if unit not in metric.units:
            continue
        # Cues before the number: nearest one wins; no other figure may stand in between.
        for pattern in metric.cues:
            for cue in pattern.finditer(norm, max(c_start, previous_end), start):
                if _inside(cue.start(), books):
                    continue
                gap = start - cue.end()
                if 0 <= gap <= metric.max_gap and not re.search(r"\d", norm[cue.end() : start]):
                    found.append(_Candidate(metric, gap, len(cue.group()), cue.start(), end))
        # Cues right after the unit ("34名网格员").
        for pattern in metric.after_cues:
            for gap in range(lex.after_gap + 1):
                pos = end + gap
                if pos >= c_end or re.search(r"[\d、]", norm[end:pos]):
                    break
                cue = pattern.match(norm, pos, c_end)
                if cue:
                    found.append(_Candidate(metric, gap, len(cue.group()), start, cue.end()))
                    break
    found.sort(key=lambda c: (c.gap, -c.metric.priority, -c.cue_len))
    return found


def _quote_start(norm: str, clause_start: int, anchor: int, mentions: Sequence[re.Match[str]]) -> int:
    """Start of the quoted phrase: the clause, cut after the last "、" or figure before the anchor."""
    start = clause_start
    cut = norm.rfind("、", clause_start, anchor)
    if cut != -1:
        start = cut + 1
    for m in mentions:
        if start < m.end() <= anchor:
            start = m.end()
    return start


def _tail_end(norm: str, end: int, clause_end: int, mentions: Sequence[re.Match[str]]) -> int:
    """End of the words that still describe a figure: up to the next "、", figure or clause end."""
    stop = clause_end
    cut = norm.find("、", end, clause_end)
    if cut != -1:
        stop = cut
    return min([stop] + [m.start() for m in mentions if m.start() >= end])


def _sentence_year(norm: str, sentence_start: int, pos: int, books: Sequence[tuple[int, int]]) -> int | None:
    years = [m for m in _YEAR.finditer(norm, sentence_start, pos) if not _inside(m.start(), books)]
    return int(years[-1].group(1)) if years else None


def _skip_paragraph(paragraph: Paragraph, lex: _Lexicon, include_plans: bool, roles: Sequence[str]) -> bool:
    if roles and paragraph.role not in roles:
        return True
    if include_plans or lex.skip_sections is None:
        return False
    headings = (*paragraph.section_path, paragraph.section)
    return any(lex.skip_sections.search(fold(h)) for h in headings if h)


def _paragraph_facts(paragraph: Paragraph, lex: _Lexicon) -> list[Fact]:
    text = paragraph.text
    norm, offsets = _normalize(text)
    # Figures inside book titles and short quoted names are names ("《2024年工作要点》", "“两个维护”").
    books = _spans(r"《[^《》]*》", norm)
    quoted = books + _spans(r"“[^“”]{0,20}”", norm)
    facts: list[Fact] = []
    for s_start, s_end in _segments(norm, SENTENCE_END_NORMALISED):
        sentence = norm[s_start:s_end]
        for rel_start, rel_end in _segments(sentence, _CLAUSE_END):
            clause = (s_start + rel_start, s_start + rel_end)
            mentions = [
                m
                for m in lex.mention.finditer(norm, *clause)
                if _valid_mention(norm, m, lex.idioms) and not _inside(m.start("num"), quoted)
            ]
            for match in mentions:
                for cand in _candidates(norm, clause, match, mentions, lex, books):
                    q_start = _quote_start(norm, clause[0], cand.anchor, mentions)
                    quote_norm = norm[q_start : cand.end]
                    if lex.delta and lex.delta.search(quote_norm):
                        break  # a change ("新增2名") or a rate ("每村3名"), not a level: no metric takes it
                    # Exclusions also see the words right after the figure ("45名执法人员参加培训").
                    scope = norm[q_start : max(cand.end, _tail_end(norm, match.end(), clause[1], mentions))]
                    if cand.metric.exclude and cand.metric.exclude.search(scope):
                        continue
                    if cand.metric.context and not cand.metric.context.search(sentence):
                        continue
                    quote = text[offsets[q_start] : offsets[cand.end - 1] + 1].strip()
                    if quote not in text:  # cannot happen by construction; a citation must be exact
                        raise AssertionError(f"quote {quote!r} not in paragraph {paragraph.id}")
                    value, unit, qualifier = _mention_value(match)
                    year = _sentence_year(norm, s_start, match.start(), books) or paragraph.year
                    facts.append(
                        Fact(
                            town=paragraph.town,
                            year=year,
                            metric=cand.metric.key,
                            label=cand.metric.label,
                            value=value,
                            unit=unit,
                            qualifier=qualifier,
                            quote=quote,
                            paragraph_id=paragraph.id,
                            section=paragraph.section,
                            paragraph=paragraph.paragraph,
                            text=text,
                            doc_id=paragraph.doc_id,
                        )
                    )
                    break
    return facts


# --------------------------------------------------------------------------- public API


def extract_facts(
    paragraphs: Iterable[Paragraph],
    metrics_path: StrPath | None = None,
    include_plans: bool = False,
    roles: Sequence[str] = ("body",),
) -> list[Fact]:
    """Extract every figure of a known metric from paragraphs.

    A figure is kept when a cue of a metric stands next to it in the same clause (split on
    ，；。), the unit fits the metric, and the clause states a level rather than a change.

    Args:
        paragraphs: Paragraphs of one or more reports, in reading order.
        metrics_path: Lexicon to use instead of the shipped ``metrics.toml``.
        include_plans: Also read sections such as "下一步工作计划", whose figures are targets.
        roles: Paragraph roles to read (masthead and 落款 hold dates and 文号, not figures).

    Returns:
        Facts in reading order; every ``quote`` occurs verbatim in its ``text``.
    """
    lex = _load_lexicon(str(metrics_path or METRICS_PATH))
    facts: list[Fact] = []
    for paragraph in paragraphs:
        if not _skip_paragraph(paragraph, lex, include_plans, roles):
            facts.extend(_paragraph_facts(paragraph, lex))
    return facts


def _metric_key(metric: Metric | str) -> str:
    return metric.key if isinstance(metric, Metric) else metric


def normalized_value(fact: Fact, metrics_path: StrPath | None = None) -> tuple[float, str]:
    """Value and unit of a fact in its metric's base unit, for comparing towns (元 -> 万元)."""
    try:
        metric = get_metric(fact.metric, metrics_path)
    except KeyError:
        return fact.value, fact.unit
    return metric.normalize(fact.value, fact.unit)


def facts_table(
    facts: Iterable[Fact],
    towns: Iterable[str] | None = None,
    metrics: Iterable[Metric | str] | None = None,
    dedupe: bool = False,
) -> list[Fact]:
    """Filter facts by town and metric.

    Args:
        facts: Output of :func:`extract_facts`.
        towns: Towns to keep (all when ``None``).
        metrics: Metrics or metric keys to keep (all when ``None``).
        dedupe: Keep only the first of facts repeating the same town, metric, value, unit and
            qualifier (reports often restate a figure in a later section).

    Returns:
        The kept facts, in input order.
    """
    town_set = set(towns) if towns is not None else None
    metric_set = {_metric_key(m) for m in metrics if m is not None} if metrics is not None else None
    seen: set[tuple] = set()
    out: list[Fact] = []
    for fact in facts:
        if town_set is not None and fact.town not in town_set:
            continue
        if metric_set is not None and fact.metric not in metric_set:
            continue
        key = (fact.town, fact.metric, fact.value, fact.unit, fact.qualifier)
        if dedupe and key in seen:
            continue
        seen.add(key)
        out.append(fact)
    return out


# (score, alias start, alias end, metric) for one metric named in a question.
_MetricMatch = tuple[tuple[int, int, int], int, int, Metric]


def _metric_matches(question: str, lex: _Lexicon, numeric: bool) -> list[_MetricMatch]:
    """Metrics named in a question, each with its best (longest) alias."""
    folded = fold(question)
    if numeric and lex.quantity is not None and not lex.quantity.search(folded):
        return []
    found: list[_MetricMatch] = []
    for order, metric in enumerate(lex.metrics):
        spans = [(folded.find(a), len(a)) for a in metric.aliases if a and a in folded]
        if not spans:
            continue
        start, length = max(spans, key=lambda s: (s[1], -s[0]))
        hint = 1 if any(h and h in folded for h in metric.hints) else 0
        found.append(((length + 2 * hint, length, -order), start, start + length, metric))
    return found


def find_metric(question: str, metrics_path: StrPath | None = None, *, numeric: bool = True) -> Metric | None:
    """Map a question to the metric it asks about, via the lexicon's aliases.

    The longest alias found in the (folded) question wins; question words such as a unit
    ("多少份") or a verb ("发放") break ties.

    Args:
        question: e.g. ``各镇分别发放了多少普法宣传资料？`` or ``哪个镇罚款最多？``.
        metrics_path: Lexicon to use instead of the shipped one.
        numeric: Only answer when the question asks for an amount ("多少", "最多",
            "覆盖率"…), so "哪些镇提到执法力量薄弱？" is not sent to the table.

    Returns:
        The metric, or ``None`` when no alias occurs in the question (or it asks no amount).
    """
    matches = _metric_matches(question, _load_lexicon(str(metrics_path or METRICS_PATH)), numeric)
    return max(matches, key=lambda m: m[0])[3] if matches else None


def find_metrics(question: str, metrics_path: StrPath | None = None, *, numeric: bool = True) -> list[Metric]:
    """All metrics a question asks about, in question order ("多少名人民调解员和法律明白人" -> two).

    A metric whose alias lies inside a longer alias of another metric is dropped
    ("普法宣传" inside "普法宣传资料").

    Args:
        question: The user's question.
        metrics_path: Lexicon to use instead of the shipped one.
        numeric: As in :func:`find_metric`.

    Returns:
        The metrics, possibly empty.
    """
    matches = _metric_matches(question, _load_lexicon(str(metrics_path or METRICS_PATH)), numeric)
    kept = []
    for score, start, end, metric in matches:
        covered = any(
            s2 <= start and end <= e2 and ((e2 - s2) > (end - start) or score2 > score)
            for score2, s2, e2, m2 in matches
            if m2 is not metric
        )
        if not covered:
            kept.append((start, metric))
    return [metric for _, metric in sorted(kept, key=lambda k: k[0])]


def answer_comparison(question: str, facts: Iterable[Fact], towns: Sequence[str] | None = None) -> str | None:
    """Answer a "各镇…多少…" question from the table, one line per town with citations.

    Args:
        question: The user's question.
        facts: Extracted facts (all towns).
        towns: Towns to list, in this order; towns without a figure say so. Defaults to the
            towns that have a figure, in input order.

    Returns:
        The answer text, or ``None`` when the question names no known metric or no town has a figure.
    """
    metric = find_metric(question)
    if metric is None:
        return None
    rows = facts_table(facts, metrics=[metric], dedupe=True)
    by_town: dict[str, list[Fact]] = {}
    for fact in rows:
        by_town.setdefault(fact.town, []).append(fact)
    if not by_town:
        return None
    lines = [f"{metric.label.split('（')[0]}："]
    for town in towns if towns is not None else list(by_town):
        items = by_town.get(town)
        if not items:
            lines.append(f"{town}：报告中未找到相关数字")
            continue
        parts = [f"{f.quote}{f.citation_label}" for f in items]
        lines.append(f"{town}：" + "；".join(parts))
    return "\n".join(lines)


# --------------------------------------------------------------------------- export

# What a reader of the export needs, in reading order (the app's table shows the same).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("town", "镇"),
    ("year", "年度"),
    ("label", "指标"),
    ("value", "数值"),
    ("unit", "单位"),
    ("display", "表述"),
    ("quote", "原文"),
    ("citation_label", "出处"),
)
# Identifiers for whoever processes the figures further: the second sheet ``编号`` of the
# workbook, one row per row of the first, joined by 序号.
ID_COLUMNS: tuple[tuple[str, str], ...] = (
    ("citation_label", "出处"),
    ("section", "章节"),
    ("paragraph", "段"),
    ("qualifier", "限定"),
    ("metric", "指标代码"),
    ("paragraph_id", "段落ID"),
    ("doc_id", "文档ID"),
    ("text", "段落全文"),
)


def _row(fact: Fact, columns: tuple[tuple[str, str], ...] = COLUMNS) -> list:
    row = []
    for name, _ in columns:
        value = getattr(fact, name)
        if name == "value" and float(value).is_integer():
            value = int(value)
        row.append("" if value is None else value)
    return row


def to_csv(facts: Iterable[Fact], path: str | Path) -> Path:
    """Write facts as CSV with Chinese headers (UTF-8 with BOM so Excel opens it correctly).

    The columns a reader needs (:data:`COLUMNS`); identifiers are in the workbook's second
    sheet and in ``python -m assistant stats --json``.

    Args:
        facts: Facts to write.
        path: Output file.

    Returns:
        The written path.
    """
    path = Path(path)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([header for _, header in COLUMNS])
        for fact in facts:
            writer.writerow(_row(fact))
    return path


def to_xlsx(facts: Iterable[Fact], path: str | Path) -> Path:
    """Write facts as an Excel workbook with Chinese headers.

    Sheet ``统计表`` holds what a reader reads (:data:`COLUMNS`: 镇, 指标, 数值, 单位, 原文, 出处 …);
    sheet ``编号`` the identifiers of the same rows (:data:`ID_COLUMNS`), joined by 序号.

    Args:
        facts: Facts to write.
        path: Output file (``.xlsx``).

    Returns:
        The written path.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    path = Path(path)
    facts = list(facts)
    wb = Workbook()
    # Column widths by field (the header labels are COLUMNS' and ID_COLUMNS' own).
    widths = {"town": 12, "label": 22, "quote": 40, "citation_label": 36, "section": 30, "paragraph_id": 22,
              "metric": 22, "doc_id": 18, "text": 80, "display": 14}  # fmt: skip
    wrap = Alignment(wrap_text=True, vertical="top")
    sheets = (("统计表", COLUMNS, False), ("编号", ID_COLUMNS, True))
    for index, (title, columns, numbered) in enumerate(sheets):
        ws = wb.active if index == 0 else wb.create_sheet()
        ws.title = title
        names = ([""] if numbered else []) + [name for name, _ in columns]
        headers = (["序号"] if numbered else []) + [header for _, header in columns]
        ws.append(headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for n, fact in enumerate(facts, 1):
            ws.append(([n] if numbered else []) + _row(fact, columns))
        for idx, name in enumerate(names, start=1):
            ws.column_dimensions[ws.cell(row=1, column=idx).column_letter].width = widths.get(name, 10)
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                cell.alignment = wrap
        ws.freeze_panes = "A2"
    wb.save(path)
    return path

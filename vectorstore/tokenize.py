"""Chinese tokenisation for BM25: folded text, jieba search-mode words, domain terms.

Search mode (``cut_for_search``) emits both a compound and its parts
("执法持证人员" → "执法", "持证", "人员", "执法持证人员"), so a query using a
shorter or longer form of a term still matches.
"""

from __future__ import annotations

import collections
import functools
import io
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
def domain_dictionary() -> str:
    """The domain terms in jieba's user-dictionary form, without the comments (jieba would read them as words)."""
    lines = (line.split("#", 1)[0].strip() for line in DOMAIN_TERMS.read_text(encoding="utf-8").splitlines())
    return "\n".join(line for line in lines if line) + "\n"


@functools.lru_cache(maxsize=1)
def version() -> str:
    """Label of the tokenizer's behaviour (code revision + domain dictionary), for caching tokens."""
    import hashlib

    digest = hashlib.sha1(domain_dictionary().encode() + "|".join(sorted(STOPWORDS)).encode()).hexdigest()
    return f"1-{digest[:12]}"


class _Overlay(dict):
    """A tokenizer's own words over the shared base dictionary (jieba reads ``in``, ``[]``, ``get``).

    Measured on a demo report: search-mode cutting at ~0.8x the speed of a plain dict.
    """

    __slots__ = ("base",)

    def __init__(self, base: dict) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, key):
        return self.base[key]

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self.base

    def get(self, key, default=None):
        value = dict.get(self, key, _ABSENT)
        return self.base.get(key, default) if value is _ABSENT else value


_ABSENT = object()


@functools.lru_cache(maxsize=1)
def base_dictionary():
    """jieba with the domain dictionary, loaded once per process and shared by every :class:`Tokenizer`.

    jieba reads its 350,000-word dictionary from the marshal cache it keeps in the temporary
    folder (``jieba.cache``, written on first use: 0.3-0.6 s instead of ~2 s parsing
    ``dict.txt``); the app server loads it at start-up (:func:`assistant.service.warm_process`).
    """
    import os
    import tempfile

    import jieba

    jieba.setLogLevel(logging.WARNING)
    base = jieba.Tokenizer()
    # Where jieba can write its cache (else it parses dict.txt in every process).
    base.tmp_dir = next(
        (d for d in (tempfile.gettempdir(), os.path.expanduser("~/.cache")) if os.access(d, os.W_OK)), None
    )
    base.initialize()
    base.load_userdict(io.StringIO(domain_dictionary()))
    return base


@functools.lru_cache(maxsize=1)
def pos_table():
    """jieba's part-of-speech tables (``jieba.posseg``: the word → tag map of ``dict.txt``, read once per process)."""
    import jieba.posseg as pseg

    return pseg.dt.word_tag_tab


class Tokenizer:
    """jieba with the domain dictionary and the words one knowledge base teaches it.

    Each knowledge base has its own instance (a ``jieba.Tokenizer`` and a part-of-speech
    tagger over it), so the town names one teaches never change how another cuts text;
    jieba's global dictionary is left alone.
    """

    def __init__(self) -> None:
        import jieba

        base = base_dictionary()
        self.jieba = jieba.Tokenizer()
        # The 500k-word dictionary is shared (one per process, ~75 MB): this tokenizer's own words
        # go to an overlay. A dictionary per knowledge base made a test session peak above 5 GB.
        self.jieba.FREQ = _Overlay(base.FREQ)
        self.jieba.total, self.jieba.initialized = base.total, True
        self.jieba.user_word_tag_tab = dict(base.user_word_tag_tab)  # the domain terms' tags, for the tagger
        self.taught: set[str] = set()
        self._pos = None

    def add_terms(self, words: list[str]) -> None:
        """Teach the tokenizer extra words (e.g. the knowledge base's town names)."""
        for word in words:
            if word not in self.taught:
                self.jieba.add_word(word, freq=20000)
                self.taught.add(word)

    @property
    def pos(self):
        """A part-of-speech tagger over this tokenizer (made on first use)."""
        if self._pos is None:
            import jieba.posseg as pseg

            tagger = pseg.POSTokenizer.__new__(pseg.POSTokenizer)
            tagger.tokenizer = self.jieba
            # The base dictionary's tags (read once by jieba.posseg, ~0.5 s) shared, not read again
            # or copied (350k entries); this tokenizer's own words' tags go to the first map only.
            tagger.word_tag_tab = collections.ChainMap({}, pos_table())
            self._pos = tagger
        return self._pos


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The tokenizer of code that has no knowledge base at hand (no town names taught)."""
    return Tokenizer()


def tokenize(text: str, stopwords: frozenset[str] = STOPWORDS, tokenizer: Tokenizer | None = None) -> list[str]:
    """Tokenise text for BM25.

    Args:
        text: Display text or a question (folded here: simplified, half-width, no
            spaces inside numbers).
        stopwords: Tokens to drop.
        tokenizer: The knowledge base's tokenizer (default: one without town names).

    Returns:
        Search-mode tokens without punctuation or stopwords.
    """
    jb = (tokenizer or default_tokenizer()).jieba
    return [t for t in jb.lcut_for_search(fold(text)) if _KEEP.search(t) and t not in stopwords and t.strip()]


def tokenize_precise(
    text: str, stopwords: frozenset[str] = STOPWORDS, tokenizer: Tokenizer | None = None
) -> list[tuple[str, str]]:
    """Precise-mode jieba words with part-of-speech flags: the terms a question is about.

    Returns:
        (word, flag) pairs, e.g. ``("执法力量", "n")``, ``("薄弱", "a")``.
    """
    pos = (tokenizer or default_tokenizer()).pos
    return [
        (w.word, w.flag)
        for w in pos.cut(fold(text))
        if _KEEP.search(w.word) and w.word not in stopwords and w.word.strip()
    ]

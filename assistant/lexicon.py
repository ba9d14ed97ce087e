"""Lexical evidence: does a sentence say what the question asks about?

Paragraph-level term overlap is inflated by long paragraphs that mention every
word somewhere; evidence is judged per sentence (with its section heading),
IDF-weighted, and with the domain's near-synonyms ("力量薄弱" ≈ "力度偏软").
"""

from __future__ import annotations

import functools
from pathlib import Path

SYNONYMS_FILE = Path(__file__).with_name("data") / "synonyms.txt"
# Words that shape a question more than they name its topic: counted, but lightly.
GENERIC = frozenset(
    "存在 问题 方面 情况 开展 提到 进行 有关 相关 工作 建设 镇 全年 累计 共计 共 现有 名 项 次 个 人 起 "
    "金额 数量 人数 次数 数目 总数 总额 规模 比例 多少 效果".split()
)
SYNONYM_WEIGHT = 0.8
# A two-sentence window is slightly weaker evidence than one sentence.
PAIR_DISCOUNT = 0.9
GENERIC_WEIGHT = 0.3


@functools.lru_cache(maxsize=1)
def synonym_groups() -> tuple[frozenset[str], ...]:
    """Synonym groups from ``data/synonyms.txt``."""
    groups = []
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) > 1:
            groups.append(frozenset(words))
    return tuple(groups)


@functools.lru_cache(maxsize=4096)
def expand(term: str) -> frozenset[str]:
    """Alternatives of a term: its synonyms, and compounds with a synonym substituted.

    >>> "执法力度" in expand("执法力量")
    True
    """
    out: set[str] = set()
    for group in synonym_groups():
        if term in group:
            out |= group
        for word in group:
            if len(word) >= 2 and term != word and (term.endswith(word) or term.startswith(word)):
                for alt in group - {word}:
                    out.add(term[: -len(word)] + alt if term.endswith(word) else alt + term[len(word) :])
    out.discard(term)
    return frozenset(out)


def term_weight(term: str, idf: float) -> float:
    """Weight of a question term: its IDF, reduced for generic words."""
    return idf * (GENERIC_WEIGHT if term in GENERIC else 1.0)


def contains(text: str, term: str) -> bool:
    """Whether text holds the term or one of its near-synonyms."""
    return term in text or any(alt in text for alt in expand(term))


@functools.lru_cache(maxsize=256)
def _plan(items: tuple[tuple[str, float], ...]) -> tuple[float, tuple[tuple[str, float, tuple[str, ...]], ...]]:
    """Total weight and (term, weight, synonyms) rows for one question's weights (built once per question)."""
    return sum(w for _, w in items), tuple((t, w, tuple(expand(t))) for t, w in items)


def coverage(text: str, weights: dict[str, float]) -> float:
    """Weighted share of question terms present in ``text`` (folded), synonyms at 0.8."""
    total, rows = _plan(tuple(weights.items()))
    if not total:
        return 0.0
    got = 0.0
    for term, weight, alternatives in rows:
        if term in text:
            got += weight
            continue
        for alt in alternatives:  # a plain loop: this is the hot path of cross-town questions
            if alt in text:
                got += weight * SYNONYM_WEIGHT
                break
    return got / total


def best_window(heading: str, folded_sentences: list[str], weights: dict[str, float]) -> tuple[float, int]:
    """Best coverage over single sentences and adjacent pairs (each read with the heading).

    Returns:
        (coverage, index of the first sentence of the best window).
    """
    best, where = 0.0, 0
    for i, sentence in enumerate(folded_sentences):
        score = coverage(heading + sentence, weights)
        if i + 1 < len(folded_sentences):
            score = max(score, PAIR_DISCOUNT * coverage(heading + sentence + folded_sentences[i + 1], weights))
        if score > best:
            best, where = score, i
    return best, where

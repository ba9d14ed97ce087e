"""Fitted question grammar: what a question asks (its kind, a figure, document fields, a part of the
report) and which of its words are scaffolding rather than topic.

Both are logistic regressions fitted by ``scripts/fit_question_model.py`` on the labelled question corpus
``tests/data/question_kinds.jsonl`` (provenance in ``tests/data/question_kinds.md``); the coefficients
live in ``assistant/data/question_model.json`` and are applied here with numpy (no scikit-learn at
question time):

* the *question* heads read binary character 1–3-grams of the folded question (L2-normalised), so
  "哪几个乡镇", "各街道" and "舊院鎮的文號" need no alternation of their own;
* the *token* head labels each precise-mode jieba word of the question (towns and years removed) as
  scaffolding (哪些, 镇, 提到, 了, 分别, 多少 …) or topic from the word itself, its part of speech,
  its characters, its neighbours and its place in the question. Scaffolding is a closed class: a word
  the corpus never showed as scaffolding is topic.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).with_name("data") / "question_model.json"
NGRAM_SIZES = (1, 2, 3)
BOUNDARY = "\x02"  # marks the question's start and end, so "^起草" differs from "…起草了…"


def ngrams(folded: str) -> set[str]:
    """The character 1–3-grams of a folded question (digits as 0, with start/end marks).

    >>> sorted(ngrams("各镇"))[:4]
    ['\\x02各', '\\x02各镇', '各', '各镇']
    """
    text = BOUNDARY + "".join("0" if c.isdigit() else c for c in folded.strip()) + BOUNDARY
    out = set()
    for n in NGRAM_SIZES:
        out.update(text[i : i + n] for i in range(len(text) - n + 1))
    out.discard(BOUNDARY)
    return out


def token_features(words: list[tuple[str, str]], i: int, freq: int) -> list[str]:
    """The features of word ``i`` of a question's (word, part-of-speech) list.

    Args:
        words: The question's precise-mode words with their flags (towns and years removed).
        i: The word's index.
        freq: The word's frequency in the tokenizer's dictionary (0 when unknown): how common a word it is.
    """
    word, flag = words[i]
    content = [j for j, (w, _) in enumerate(words) if any(c.isalnum() for c in w)]
    prev_word = words[i - 1][0] if i > 0 else "<s>"
    next_word = words[i + 1][0] if i + 1 < len(words) else "</s>"
    return [
        f"w={word}", f"pos={flag}", f"pos1={flag[:1]}", f"len={min(len(word), 4)}", f"first={word[0]}",
        f"last={word[-1]}", f"prev={prev_word}", f"next={next_word}", f"prevpos={words[i - 1][1] if i else '<s>'}",
        f"freq={min(int(math.log10(freq + 1)), 6)}",
        f"at={'start' if content and i == content[0] else 'end' if content and i == content[-1] else 'mid'}",
    ]  # fmt: skip


@dataclass(frozen=True)
class Reading:
    """What the question models read in a question.

    Attributes:
        kind: The most likely kind (``multi_town``, ``compare``, ``summary``, ``draft``, ``meta``,
            ``fact``, ``followup``, ``not_question``).
        numeric: It asks for a figure.
        fields: Document fields it asks for (``doc_number``, ``signer``, ``date``, ``title``, ``issuer``).
        group: The part of a report it asks about (``problems``, ``practice``, ``plans``,
            ``suggestions``), "" for none.
    """

    kind: str
    numeric: bool
    fields: tuple[str, ...]
    group: str


class QuestionModel:
    """The fitted heads (see the module docstring); :func:`model` loads the packaged one."""

    def __init__(self, data: dict) -> None:
        # The n-grams are one newline-joined string and each head's coefficients one base64 float32
        # block: parsing them is ~1 ms, where nested JSON lists of numbers took ~80 ms.
        ngrams_list = data["ngrams"].split("\n")
        self.vocab: dict[str, int] = {g: i for i, g in enumerate(ngrams_list)}
        self.heads = {}
        for name, head in data["heads"].items():
            coef = np.frombuffer(base64.b64decode(head["coef"]), dtype="<f4").reshape(len(head["classes"]), -1)
            self.heads[name] = (head["classes"], coef, np.asarray(head["intercept"], dtype=np.float32))
        token = data["token"]
        self.token_weights: dict[str, float] = token["weights"]
        self.token_intercept: float = token["intercept"]
        # Words the corpus showed as scaffolding (older model files: every word it showed).
        listed = token.get("scaffolding")
        self.scaffolding_vocabulary: frozenset[str] | None = frozenset(listed.split("\n")) if listed else None
        self.provenance = data.get("provenance", {})

    @classmethod
    def load(cls, path: str | Path = MODEL_FILE) -> QuestionModel:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def scores(self, head: str, folded: str) -> dict[str, float]:
        """Decision values of one head for a folded question (class → value; > 0 is "yes" for a binary head)."""
        classes, coef, intercept = self.heads[head]
        idx = [self.vocab[g] for g in ngrams(folded) if g in self.vocab]
        values = intercept + (coef[:, idx].sum(axis=1) / math.sqrt(len(idx)) if idx else 0.0)
        return dict(zip(classes, (float(v) for v in values)))

    def read(self, folded: str) -> Reading:
        """Kind, figure, fields and report part of a folded question."""
        kind = max((s, k) for k, s in self.scores("kind", folded).items())[1]
        group = max((s, k) for k, s in self.scores("group", folded).items())[1]
        fields = tuple(f for f, s in self.scores("fields", folded).items() if s > 0)
        numeric = self.scores("numeric", folded)["numeric"] > 0
        return Reading(kind=kind, numeric=numeric, fields=fields, group="" if group == "none" else group)

    def may_scaffold(self, word: str) -> bool:
        """Whether a word is of the closed class scaffolding is drawn from: the corpus showed it as scaffolding."""
        if self.scaffolding_vocabulary is None:
            return f"w={word}" in self.token_weights
        return word in self.scaffolding_vocabulary

    def scaffolding(self, words: list[tuple[str, str]], freq) -> list[bool]:
        """Whether each (word, flag) of a question is scaffolding; ``freq(word)`` its dictionary frequency."""
        out = []
        for i, (word, _) in enumerate(words):
            if not any(c.isalnum() for c in word):
                out.append(True)  # punctuation frames the question too
                continue
            if any(c.isascii() for c in word):  # a figure, a name in pinyin, an English word: not read here
                out.append(False)
                continue
            if not self.may_scaffold(word):
                # Scaffolding is a closed class (question words, particles, the verbs of asking): a word
                # the corpus never showed as scaffolding is a topic word (嘎查, 律师事务所, 市里; 随机 of
                # 双随机一公开), however it is tagged and whatever its neighbours.
                out.append(False)
                continue
            z = self.token_intercept + sum(self.token_weights.get(f, 0.0) for f in token_features(words, i, freq(word)))
            out.append(z > 0)
        return out


@functools.lru_cache(maxsize=1)
def model() -> QuestionModel:
    """The packaged model (``assistant/data/question_model.json``)."""
    return QuestionModel.load()


@functools.lru_cache(maxsize=2048)
def read(folded: str) -> Reading:
    """:meth:`QuestionModel.read` of the packaged model, cached per question."""
    return model().read(folded)


def words_of(text: str) -> list[tuple[str, str]]:
    """Precise-mode (word, flag) pairs of a folded text, punctuation kept (it shows where a question ends)."""
    from vectorstore.tokenize import default_tokenizer

    return [(w.word, w.flag) for w in default_tokenizer().pos.cut(text) if w.word.strip()]


def _frequency(word: str) -> int:
    from vectorstore.tokenize import default_tokenizer

    return default_tokenizer().jieba.FREQ.get(word, 0) or 0


@functools.lru_cache(maxsize=2048)
def scaffolding_spans(text: str) -> tuple[tuple[int, int, bool], ...]:
    """(start, end, is scaffolding) of each precise-mode word of a folded text, in order."""
    words = words_of(text)
    labels = model().scaffolding(words, _frequency)
    spans, pos = [], 0
    for (word, _), label in zip(words, labels):
        start = text.find(word, pos)
        if start < 0:
            continue
        pos = start + len(word)
        spans.append((start, pos, label))
    return tuple(spans)


def scaffolding_words(text: str) -> frozenset[str]:
    """The words of a folded text that are question scaffolding, with every search-mode piece inside them.

    >>> sorted(scaffolding_words("哪些镇提到了执法力量薄弱"))
    ['了', '哪些', '提到', '镇']
    """
    from vectorstore.tokenize import default_tokenizer

    spans = scaffolding_spans(text)
    out = {text[s:e] for s, e, scaffold in spans if scaffold}
    # A search-mode piece of two or more characters is scaffolding when it lies inside scaffolding words
    # only; a single character cut from one ("几次" → 次) may still be a word the reports use.
    mask = [False] * len(text)
    for s, e, scaffold in spans:
        for i in range(s, e):
            mask[i] = scaffold
    for piece in {p for p in default_tokenizer().jieba.lcut_for_search(text) if len(p) >= 2}:
        start = text.find(piece)
        while start >= 0:
            if all(mask[start : start + len(piece)]):
                out.add(piece)
                break
            start = text.find(piece, start + 1)
    return frozenset(w for w in out if w.strip() and any(c.isalnum() for c in w))


def topic_span(text: str) -> str:
    """The text from the first to the last topic word of a folded question ("" when every word is scaffolding).

    >>> topic_span("哪些乡镇在搞民主法治示范村创建？")
    '民主法治示范村创建'
    """
    content = [(s, e) for s, e, scaffold in scaffolding_spans(text) if not scaffold]
    return text[content[0][0] : content[-1][1]] if content else ""

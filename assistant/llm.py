"""Optional LLM answers through any OpenAI-compatible endpoint, held to the citation rules.

The model sees only numbered retrieved paragraphs (inside a data block it is
told never to obey; a paragraph that gives the assistant orders, see
:mod:`assistant.injection`, is not shown at all) and must mark each claim with a
paragraph number. Its answer is then *grounded* here: unknown numbers are removed
and flagged; a sentence is dropped when it has no valid citation, states a figure
that is not in the cited paragraphs, or is not supported by them (:func:`supports`:
too little of its wording is theirs, or it denies what they say). When the call
fails or nothing grounded remains, the caller falls back to the extractive answer
with a notice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from assistant import phrasing
from assistant.cite import Citation
from assistant.injection import is_instruction
from assistant.prompts import load_prompt
from assistant.text import FIGURE, fold, sentence_pieces

_MARKER = re.compile(r"\[(\d{1,3})\]")

SUPPORT_SHARE = 0.5
"""Share of a claim's content bigrams that must occur in its cited paragraphs (with their town and
heading). A faithful summary keeps most of the report's wording (~0.8–1.0 on the demo corpus); an
invented claim that merely cites a paragraph on the same topic shares little beyond the topic word."""

# Framing a model wraps around a claim ("根据报告，该镇的罚款金额为……") and function characters:
# not content, so not counted either way (they cut the text where they stand).
_FRAMING = re.compile(
    r"根据|报告|显示|指出|提到|提及|表示|其中|此外|另外|同时|该镇|相关|以及|包括|方面|情况|主要|金额|数量|次数|"
    r"[的了为是在和与及等对将把被其共约]"
)
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_WORD = re.compile(r"[a-z]{2,}")
_NEGATOR_CHARS = "没未无不非否"
_NEGATOR = re.compile(rf"没有|[{_NEGATOR_CHARS}]")
# Words that begin with a negator but deny nothing ("不断加强", "非诉执行", "未成年人"): neutralised
# before polarity is compared, so "不断加强" does not read as "加强" denied. ("不足", "不强" do deny:
# a claim may say them only where its paragraph does.)
_LEXICAL = re.compile(
    r"不断|不仅|不少|不良|不法|不动产|不定期|无纸|无证|无偿|无障碍|无人机|未来|未成年|非法|非诉|非公|否则"
)


class LLMError(RuntimeError):
    """The endpoint failed, timed out or answered nothing usable."""


class OpenAICompatibleLLM:
    """Chat completions via ``langchain-openai`` (vLLM, Ollama, Qwen, DeepSeek, …).

    Args:
        url: Base URL of the endpoint, e.g. ``http://127.0.0.1:8000/v1``.
        model: Model name served there.
        api_key_env: Environment variable holding the key (a placeholder is sent when unset,
            as local servers ignore it).
        timeout: Seconds before the call is abandoned.
        chat_model: A ready LangChain chat model (tests pass a fake one); overrides url/model.
    """

    name = "openai"

    def __init__(
        self,
        url: str | None = None,
        model: str = "qwen2.5-7b-instruct",
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 30.0,
        chat_model=None,
    ) -> None:
        if chat_model is None and not url:
            raise ValueError("llm url is required (e.g. http://127.0.0.1:8000/v1)")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.url, self.model, self.timeout = url, model, timeout
        self.api_key_env = api_key_env
        self._chat = chat_model

    @property
    def chat(self):
        if self._chat is None:
            from langchain_openai import ChatOpenAI

            self._chat = ChatOpenAI(
                base_url=self.url,
                model=self.model,
                api_key=os.environ.get(self.api_key_env) or "not-needed",
                timeout=self.timeout,
                max_retries=0,
                temperature=0,
            )
        return self._chat

    def complete(self, system: str, user: str) -> str:
        """One chat completion.

        Raises:
            LLMError: On any failure of the endpoint.
        """
        try:
            message = self.chat.invoke([("system", system), ("human", user)])
        except Exception as err:  # network, HTTP, timeout, parsing: all mean "no answer"
            raise LLMError(f"{type(err).__name__}: {err}") from err
        return str(message.content or "")

    def stream(self, system: str, user: str) -> Iterator[str]:
        """Stream a completion as text pieces.

        Raises:
            LLMError: On any failure of the endpoint.
        """
        try:
            for chunk in self.chat.stream([("system", system), ("human", user)]):
                if chunk.content:
                    yield str(chunk.content)
        except Exception as err:
            raise LLMError(f"{type(err).__name__}: {err}") from err


@dataclass(frozen=True)
class Passage:
    """A numbered paragraph shown to the model.

    Attributes:
        number: 1-based number the model cites.
        citation: The paragraph.
    """

    number: int
    citation: Citation


def build_messages(question: str, passages: list[Passage], task: str = "answer") -> tuple[str, str]:
    """System and user messages for a question over numbered passages.

    Document text goes only into the ``<资料>`` block of the user message, never
    into the system prompt.
    """
    context = "\n\n".join(
        f"[{p.number}] {p.citation.render()}\n{p.citation.text.replace('</资料>', '')}"
        for p in passages
        if not is_instruction(p.citation.text)  # orders planted in a report never reach the model
    )
    user = load_prompt("answer_user").format(question=question, context=context)
    return load_prompt(task), user


@dataclass(frozen=True)
class Grounded:
    """An LLM answer after grounding.

    Attributes:
        text: Answer with ``[n]`` replaced by citation labels.
        citations: Cited paragraphs in order of first citation.
        flags: What was removed: ``invalid_marker``, ``uncited``, ``unsupported_number``,
            ``unsupported_claim``.
    """

    text: str
    citations: tuple[Citation, ...]
    flags: tuple[str, ...]


def ground(raw: str, passages: list[Passage], question: str = "") -> Grounded:
    """Hold a model's answer to its numbered passages.

    Args:
        raw: The model's text.
        passages: The passages it was shown.
        question: The question (figures the user stated, such as a year, may be repeated).

    Returns:
        The grounded answer (``citations`` empty when nothing survived).
    """
    by_number = {p.number: p.citation for p in passages}
    stated = set(FIGURE.findall(fold(question)))
    flags: list[str] = []
    cited: dict[str, Citation] = {}
    out: list[str] = []
    for sentence in sentence_pieces(raw):
        if sentence == "\n":
            out.append("\n")
            continue
        numbers = [int(n) for n in _MARKER.findall(sentence)]
        valid = [n for n in numbers if n in by_number]
        if len(valid) < len(numbers):
            flags.append("invalid_marker")
        body = _MARKER.sub("", sentence).strip()
        if not valid:
            # Only a lead-in ("共3个镇提到……：") may stand without a citation.
            if body and not FIGURE.search(phrasing.after_count_lead(body)) and body.endswith(("：", ":")) or not body:
                out.append(body)
            else:
                flags.append("uncited")
            continue
        # A paragraph that gives the assistant orders supports nothing, whatever cites it.
        sources = [by_number[n] for n in valid if not is_instruction(by_number[n].text)]
        support = "".join(fold(c.text) for c in sources)
        if any(figure not in support and figure not in stated for figure in FIGURE.findall(fold(body))):
            flags.append("unsupported_number")
            continue
        # One cited paragraph must carry the claim: citing many at once pools no evidence.
        if not any(supports(body, fold(c.text), fold(f"{c.town}{c.section}")) for c in sources):
            flags.append("unsupported_claim")
            continue
        labels = "".join(dict.fromkeys(by_number[n].render() for n in valid))
        for n in valid:
            cited.setdefault(by_number[n].id, by_number[n])
        ending = re.search(r"[。！？；!?;]+$", body)
        core = body[: ending.start()] if ending else body
        out.append(f"{core}{labels}{ending.group(0) if ending else '。'}")
    text = re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()
    return Grounded(text=text, citations=tuple(cited.values()), flags=tuple(dict.fromkeys(flags)))


def _bigrams(folded: str) -> set[str]:
    """Content bigrams of folded text: Han character pairs (framing words cut out) and Latin words."""
    text = _FRAMING.sub(" ", folded)
    grams = {run[i : i + 2] for run in _HAN_RUN.findall(text) for i in range(len(run) - 1)}
    return grams | set(_WORD.findall(text))


def _negated_at(text: str, i: int) -> bool:
    """Whether the phrase starting at ``i`` follows a negator ("未发生", "没有发生")."""
    return any(ch in _NEGATOR_CHARS for ch in text[max(0, i - 2) : i])


def _denies(claim: str, support: str) -> bool:
    """Whether a claim says the opposite of its sources.

    Either it negates something they do not negate ("都没有问题" where they say "存在问题"), or it
    asserts plainly what they only ever deny ("发生了执法过错" where they say "未发生执法过错").
    Both texts are folded, with whitespace and punctuation removed.
    """
    claim, support = _LEXICAL.sub("·", claim), _LEXICAL.sub("·", support)
    for m in _NEGATOR.finditer(claim):  # "没有问", "不强": the negator and what it denies
        if claim[m.start() : m.end() + 1] not in support:
            return True
    for m in _NEGATOR.finditer(support):
        for size in (2, 3):  # "未发生" and "无劳动争": the longer tail still works where the short one recurs
            tail = support[m.end() : m.end() + size]
            if len(tail) < size or not _HAN_RUN.fullmatch(tail):
                continue
            denied_only = all(_negated_at(support, i.start()) for i in re.finditer(re.escape(tail), support))
            if denied_only and any(not _negated_at(claim, i.start()) for i in re.finditer(re.escape(tail), claim)):
                return True
    return False


def supports(claim: str, support: str, context: str = "") -> bool:
    """Whether a cited paragraph supports a claim of a model's answer.

    Markers and citation labels are no evidence: the claim must share most of its content
    bigrams (:data:`SUPPORT_SHARE`) with the paragraph (or its town and heading, which the
    citation states), and must not deny what it says (:func:`_denies`). Figures are checked
    separately by :func:`ground`.

    Args:
        claim: The claim without its markers.
        support: A cited paragraph, folded.
        context: Its town and section heading, folded.

    Returns:
        True when the claim may stand.

    >>> supports("北留镇罚款11.88万元", fold("全年罚款 11.88 万元。"), "北留镇")
    True
    >>> supports("所有镇都没有问题", fold("执法人员业务能力存在问题。"), "南湖镇")
    False
    """
    claim = fold(claim)
    grams = _bigrams(claim)
    if grams:
        known = _bigrams(support) | _bigrams(context)
        if len(grams & known) / len(grams) < SUPPORT_SHARE:
            return False
    bare = re.compile(r"[\W_]+")
    return not _denies(bare.sub("", claim), bare.sub("", support))

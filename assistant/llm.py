"""Optional LLM answers through any OpenAI-compatible endpoint, held to the citation rules.

The model sees only numbered retrieved paragraphs (inside a data block it is
told never to obey) and must mark each claim with a paragraph number. Its
answer is then *grounded* here: unknown numbers are removed and flagged,
sentences without a valid citation or with a figure that is not in the cited
paragraphs are dropped. When the call fails or nothing grounded remains, the
caller falls back to the extractive answer with a notice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from assistant import phrasing
from assistant.cite import Citation
from assistant.prompts import load_prompt
from assistant.text import FIGURE, fold, sentence_pieces

_MARKER = re.compile(r"\[(\d{1,3})\]")


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
        f"[{p.number}] {p.citation.render()}\n{p.citation.text.replace('</资料>', '')}" for p in passages
    )
    user = load_prompt("answer_user").format(question=question, context=context)
    return load_prompt(task), user


@dataclass(frozen=True)
class Grounded:
    """An LLM answer after grounding.

    Attributes:
        text: Answer with ``[n]`` replaced by citation labels.
        citations: Cited paragraphs in order of first citation.
        flags: What was removed: ``invalid_marker``, ``uncited``, ``unsupported_number``.
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
            if body and not FIGURE.search(body.split(phrasing.COUNT_LEAD_WORD)[-1]) and body.endswith(("：", ":")) or not body:
                out.append(body)
            else:
                flags.append("uncited")
            continue
        support = "".join(fold(by_number[n].text) for n in valid)
        if any(figure not in support and figure not in stated for figure in FIGURE.findall(fold(body))):
            flags.append("unsupported_number")
            continue
        labels = "".join(dict.fromkeys(by_number[n].render() for n in valid))
        for n in valid:
            cited.setdefault(by_number[n].id, by_number[n])
        ending = re.search(r"[。！？；!?;]+$", body)
        core = body[: ending.start()] if ending else body
        out.append(f"{core}{labels}{ending.group(0) if ending else '。'}")
    text = re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()
    return Grounded(text=text, citations=tuple(cited.values()), flags=tuple(dict.fromkeys(flags)))

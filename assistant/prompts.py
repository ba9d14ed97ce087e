"""Prompt templates are plain files in ``prompts/``, loaded by name."""

from __future__ import annotations

import functools
import os
from pathlib import Path

PROMPTS_DIR = Path(os.environ.get("ASSISTANT_PROMPTS_DIR", Path(__file__).resolve().parents[1] / "prompts"))


@functools.lru_cache(maxsize=32)
def load_prompt(name: str) -> str:
    """The template ``prompts/{name}.txt``.

    Raises:
        FileNotFoundError: No such prompt (the message names the directory searched).
    """
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"prompt {name!r} not found in {PROMPTS_DIR}")
    return path.read_text(encoding="utf-8").strip()

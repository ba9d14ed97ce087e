"""Ingest progress people can read at scale: files done of all, and the time left (CLI and app).

The knowledge base reports ``progress(stage, done, total)``; :class:`IngestProgress` turns that into
"解析文档 120/2000 个文件，约剩 1 分 5 秒". A stage's rate is measured from when it began (the
previous report of any stage), so the estimate of 2,000 files is right after a few of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# What each ingest stage counts (vectorstore.kb.KnowledgeBase.ingest's stage names).
STAGE_UNITS = {"检查文件": "个文件", "解析文档": "个文件", "向量化": "个句段"}
MIN_DONE_FOR_ETA = 1  # an estimate needs one finished item of the stage


@dataclass(frozen=True)
class StageStatus:
    """Where one ingest stage stands.

    Attributes:
        stage: Stage name (``解析文档``).
        done: Items finished.
        total: Items in the stage.
        unit: What an item is (``个文件``; "" for a stage without countable items).
        remaining_s: Estimated seconds left in this stage (None: not known yet).
    """

    stage: str
    done: int
    total: int
    unit: str
    remaining_s: float | None

    def text(self) -> str:
        """One line, e.g. ``解析文档 120/2000 个文件，约剩 1 分 5 秒``.

        >>> StageStatus("解析文档", 120, 2000, "个文件", 65.2).text()
        '解析文档 120/2000 个文件，约剩 1 分 5 秒'
        >>> StageStatus("更新索引", 0, 1, "", None).text()
        '更新索引'
        """
        line = f"{self.stage} {self.done}/{self.total} {self.unit}" if self.unit else self.stage
        if self.remaining_s is not None and self.done < self.total:
            line += f"，约剩 {format_seconds(self.remaining_s)}"
        return line


def format_seconds(seconds: float) -> str:
    """Seconds in Chinese, rounded to what a person plans with.

    >>> format_seconds(4.2), format_seconds(65), format_seconds(3725)
    ('4 秒', '1 分 5 秒', '1 小时 2 分')
    """
    total = max(1, round(seconds))  # never "0 秒" while something remains
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} 小时 {minutes} 分"
    if minutes:
        return f"{minutes} 分 {secs} 秒"
    return f"{secs} 秒"


class IngestProgress:
    """Tracks the stages of one ingest and estimates the time left in the running one.

    Args:
        clock: Seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._last = clock()  # the latest report of any stage: when a new stage begins
        self._began: dict[str, float] = {}

    def update(self, stage: str, done: int, total: int) -> StageStatus:
        """Record a report and return the stage's status with its estimated time left."""
        now = self.clock()
        began = self._began.setdefault(stage, self._last)
        self._last = now
        remaining = None
        if done >= MIN_DONE_FOR_ETA and total > done and now > began:
            remaining = (now - began) / done * (total - done)
        return StageStatus(stage, done, total, STAGE_UNITS.get(stage, ""), remaining)

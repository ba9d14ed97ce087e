"""Which part of a report a section belongs to: problems, achievements and practice, or plans.

Chat summaries and drafted 汇总 both group quoted points this way; the rule lives here once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PROBLEMS = "存在问题"
PRACTICE = "成效与做法"
PLANS = "下一步"
ORDER = (PROBLEMS, PRACTICE, PLANS)  # the order a summary presents the groups in
_PATTERNS = (
    (PROBLEMS, re.compile(r"存在的?问题|问题短板|问题及原因|不足|短板|差距|薄弱|困难")),
    (PLANS, re.compile(r"下一步|计划|安排|打算|思路|建议|意见|展望|\d{4}年度推进")),
)


# What a question asks for, when it names a group ("有哪些打算" wants the plans).
_ASKED = (
    (PROBLEMS, re.compile(r"问题|不足|短板|差距|薄弱")),
    (PLANS, re.compile(r"下一步|计划|打算|安排|思路")),
    (PRACTICE, re.compile(r"成效|做法|举措|经验|亮点")),
)


def asked_group(question: str) -> str | None:
    """The group a question asks about, if it names one.

    >>> asked_group("北留镇2025年推进法治政府建设有哪些打算？")
    '下一步'
    """
    return next((name for name, pattern in _ASKED if pattern.search(question)), None)


def section_group(section_path: Sequence[str]) -> str:
    """The group of a paragraph from its section headings (anything not a problem or a plan is practice).

    >>> section_group(("三、存在的问题", "一是执法力量薄弱"))
    '存在问题'
    """
    path = " ".join(section_path)
    return next((name for name, pattern in _PATTERNS if pattern.search(path)), PRACTICE)


__all__ = ["ORDER", "PLANS", "PRACTICE", "PROBLEMS", "asked_group", "section_group"]

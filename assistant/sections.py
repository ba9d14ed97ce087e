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


def section_group(section_path: Sequence[str]) -> str:
    """The group of a paragraph from its section headings (anything not a problem or a plan is practice).

    >>> section_group(("三、存在的问题", "一是执法力量薄弱"))
    '存在问题'
    """
    path = " ".join(section_path)
    return next((name for name, pattern in _PATTERNS if pattern.search(path)), PRACTICE)


__all__ = ["ORDER", "PLANS", "PRACTICE", "PROBLEMS", "section_group"]

"""Which part of a report a section belongs to: problems, achievements and practice, plans, or
the report's suggestions to higher levels (意见建议).

Chat summaries and drafted 汇总 both group quoted points this way; the rule lives here once. The
patterns below read *section headings* — how reports are written (三、存在的问题, 五、下一步工作打算,
六、对全县…的意见、建议) — and stay hand-written; which group a *question* asks for is read by the
fitted question model (:func:`asked_group`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PROBLEMS = "存在问题"
PRACTICE = "成效与做法"
PLANS = "下一步"
SUGGESTIONS = "意见建议"
ORDER = (PROBLEMS, PRACTICE, PLANS, SUGGESTIONS)  # the order a summary presents the groups in
_PATTERNS = (
    (PROBLEMS, re.compile(r"存在的?问题|问题短板|问题及原因|不足|短板|差距|薄弱|困难")),
    # "六、对全县加强法治政府建设的意见、建议": what the town asks of the county is not its own plan.
    (
        SUGGESTIONS,
        re.compile(
            r"(?:对|向|给)(?:全?[县市区省旗州盟]|县委|县政府|市委|区委|上级)[^，。；]{0,16}(?:意见|建议)"
            r"|意见、?建议|建议、?意见|对策建议|工作建议"
        ),
    ),
    (PLANS, re.compile(r"下一步|计划|安排|打算|思路|建议|意见|展望|\d{4}年度推进")),
)


# The model's name of each group (:class:`assistant.question_model.Reading`).
_READ = {"problems": PROBLEMS, "practice": PRACTICE, "plans": PLANS, "suggestions": SUGGESTIONS}


def asked_group(question: str) -> str | None:
    """The group a question asks about, if it names one (read by the fitted question model).

    >>> asked_group("北留镇2025年推进法治政府建设有哪些打算？")
    '下一步'
    """
    from assistant.question_model import read
    from assistant.text import fold

    return _READ.get(read(fold(question)).group)


def section_group(section_path: Sequence[str]) -> str:
    """The group of a paragraph from its section headings (anything not a problem or a plan is practice).

    >>> section_group(("三、存在的问题", "一是执法力量薄弱"))
    '存在问题'
    >>> section_group(("六、对全县加强法治政府建设的意见、建议",)), section_group(("五、下一步工作打算",))
    ('意见建议', '下一步')
    """
    path = " ".join(section_path)
    return next((name for name, pattern in _PATTERNS if pattern.search(path)), PRACTICE)


__all__ = ["ORDER", "PLANS", "PRACTICE", "PROBLEMS", "SUGGESTIONS", "asked_group", "section_group"]

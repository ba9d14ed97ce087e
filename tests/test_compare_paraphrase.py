"""A fact or comparison asked of several named towns: each town judged by the fact decision (assistant/kinds/compare.py).

Questions written from the demo reports (data/reports), in other words than the reports': a town whose
report states the asked figure is quoted with it, and one whose report does not is said not to mention it.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "question",
    ["北留镇和三道沟镇开会之前先学一段法，各搞了几回？", "北留鎮和三道溝鎮開會之前先學一段法，各搞了幾回？"],
)
def test_each_named_town_gets_its_own_stated_figure_or_not_mentioned(demo, question):
    answer = demo.ask(question)
    assert not answer.abstained and "北留镇" in answer.towns
    # 北留镇's report gives it in its own words ("会前学法 2 次"), cited from the paragraph holding it.
    assert "会前学法" in answer.answer and any("会前学法" in c.text for c in answer.citations)
    lines = [line for line in answer.answer.splitlines() if "三道沟镇" in line]
    assert lines and ("未提及" in lines[0] or "三道沟镇" in answer.towns)

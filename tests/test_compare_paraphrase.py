"""A fact or comparison asked of several named towns: each town judged by the fact decision (assistant/kinds/compare.py).

Questions written from the demo reports (data/reports), in other words than the reports': a town whose
report states the asked figure is quoted with it, and one whose report does not is said not to mention it.
"""

from __future__ import annotations

import pytest


# Strict xfail: the fact decision scores 北留镇's 会前学法 passage 0.36 for this wording, under the fitted
# overrule threshold 0.57 (assistant/data/fact_model.json, fitted on train18 + train17 + train20): the
# retriever found none of the question's words there, and overruling it at 0.36 would also answer with
# a count of something else (train20 t20-036's best sentence at 0.56 counts 远程视频会见, not 学法大课堂;
# the demo holdout's unstated 消防演练 question at 0.39). A fix shows here.
@pytest.mark.xfail(strict=True, reason="fact decision 0.36 < overrule threshold 0.57 (see comment)")
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

"""A fact or comparison asked of several named towns: each town judged by the fact decision (assistant/kinds/compare.py).

Questions written from the demo reports (data/reports), in other words than the reports': a town whose
report states the asked figure is quoted with it, and one whose report does not is said not to mention it.
"""

from __future__ import annotations

import pytest


# Strict xfail: the fact decision scores 北留镇's 会前学法 passage 0.32 for this wording, under the
# overrule floor of 0.47 (scripts/fit_fact.py OVERRULE_FLOOR). The fit's own threshold, 0.25, answers
# it but also invents a figure for the demo holdout's 消防演练 question; the training data has no
# unstated question scored between 0.25 and 0.47 to place the threshold. A fix shows here.
@pytest.mark.xfail(strict=True, reason="fact decision 0.32 < overrule floor 0.47 (see comment)")
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


def test_a_comparison_whose_words_no_report_uses_still_judges_each_named_town(demo):
    # The question's words are in neither report, so the comparison's own retrieval finds no town
    # (报告中未找到提及该内容的镇); 北留镇's report states the figure in its own words
    # ("远程视频会见380余次"), and each named town is asked as its own fact question before abstaining.
    question = "北留镇和三道沟镇帮服刑人员家属和监狱隔着屏幕见面，各弄了多少次？"
    query = demo.retriever.understand(question)
    assert query.kind == "compare" and demo.retriever.retrieve(query, k=5).abstain
    answer = demo.ask(question)
    assert not answer.abstained and "北留镇" in answer.towns
    line = next(line for line in answer.answer.splitlines() if "北留镇" in line)
    assert "380" in line and any("远程视频会见" in c.text for c in answer.citations)

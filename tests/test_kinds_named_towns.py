"""Questions that name two or more towns: which-towns only when they ask which of them.

"北留、旧院两个镇的法律顾问配备有什么不一样？" compares the towns it names; "帮我把北留、旧院的普法做法
汇总成一段材料" drafts a summary of each; only "北留、旧院中哪些提到…" asks to pick among them. A
question labelled which-towns abstains when no named town matches ("报告中未找到提及该内容的镇"), so a
comparison or a summary read as one loses every named town's evidence.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant import kinds
from assistant.kinds.compare import Compare
from assistant.kinds.draft import Draft
from assistant.kinds.figures import Figures
from assistant.kinds.which_towns import WhichTowns
from assistant.text import fold
from assistant.units import WHICH
from vectorstore.kb import town_aliases

ROOT = Path(__file__).resolve().parents[1]
DEMO_TOWNS = ("北留镇", "旧院镇", "东方红镇", "三道沟镇", "二道甸子镇")
ALIASES = {fold(a): t for t in DEMO_TOWNS for a in town_aliases(t)}


def _answering(query):
    return type(next(k for k in kinds.KINDS if k.recognise(query)))


@pytest.mark.parametrize(
    ("question", "label", "answering"),
    [
        # comparisons of the towns listed (short forms, 、 or 和 between)
        ("北留、旧院两个镇的法律顾问配备有什么不一样？", "compare", Compare),
        ("东方红镇和旧院镇的普法工作，分别是怎么做的？有什么区别？", "compare", Compare),
        ("东方红、二道甸子两镇的法治宣传各有什么特点？", "compare", Compare),
        ("请对比北留镇与旧院镇的依法决策情况", "compare", Compare),
        ("三道沟镇和二道甸子镇在行政执法上的案件数差多少？", "compare", Figures),
        ("三道沟镇和北留镇谁的学法次数多？", "compare", Figures),
        # summaries and drafts of the towns listed: drafted town by town
        ("把北留、东方红、旧院这三个镇的矛盾纠纷化解做法汇总成一段材料。", "summary", Draft),
        ("帮我写一段话，概括三道沟、北留两个镇存在的主要问题。", "summary", Draft),
        # which of the listed towns
        ("北留镇、旧院镇中有哪些提到了法律明白人？", "multi_town", WhichTowns),
        ("北留镇和旧院镇里面哪个镇提到了公职律师？", "multi_town", WhichTowns),
        ("这三个镇（北留、旧院、东方红）有没有提到行政复议的？是哪几个？", "multi_town", WhichTowns),
    ],
)  # fmt: skip
def test_named_towns_are_compared_summarised_or_picked(question, label, answering):
    query = kinds.understand(question, ALIASES)
    assert len(query.towns) >= 2
    assert query.unknown_towns == ()
    assert (query.kind, _answering(query)) == (label, answering)


def test_short_form_town_lists_resolve():
    query = kinds.understand("帮我归纳三道沟、东方红、二道甸子、北留、旧院这五个镇的普法做法", ALIASES)
    assert query.towns == ("三道沟镇", "东方红镇", "二道甸子镇", "北留镇", "旧院镇")
    assert query.unknown_towns == ()


def _corpus_rows_naming_towns(kind: str) -> list[dict]:
    rows = [json.loads(line) for line in (ROOT / "tests/data/question_kinds.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == kind and sum(1 for *_, label in r["spans"] if label == "town") >= 2]


def test_no_corpus_comparison_or_draft_naming_towns_is_read_as_which_towns():
    """Corpus questions naming two or more towns: a comparison or a draft is never labelled which-towns
    unless it asks which of them (哪些, 哪个 …)."""
    aliases = {}
    for row in [*_corpus_rows_naming_towns("compare"), *_corpus_rows_naming_towns("draft")]:
        for start, end, label in row["spans"]:
            if label == "town":
                aliases[fold(row["question"][start:end])] = fold(row["question"][start:end])
    checked = 0
    for row in [*_corpus_rows_naming_towns("compare"), *_corpus_rows_naming_towns("draft")]:
        query = kinds.understand(row["question"], aliases)
        if len(query.towns) < 2 or re.search(WHICH, query.folded):
            continue
        checked += 1
        assert query.kind != "multi_town", row["question"]
    assert checked >= 100


@pytest.mark.parametrize(
    "question",
    [
        "北留、旧院两个镇的普法宣传有什么不一样？",
        "帮我把东方红、三道沟的矛盾纠纷化解做法汇总成一段材料",
    ],
)
def test_each_named_town_is_answered_with_its_own_cited_paragraphs(demo, question):
    answer = demo.ask(question)
    query = demo.retriever.understand(question)
    assert not answer.abstained
    assert {c.town for c in answer.citations} == set(query.towns) == set(answer.towns)

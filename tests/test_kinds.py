"""The question-kind registry: labels, the answering kind, and what each kind retrieves."""

from __future__ import annotations

import pytest

from assistant import kinds
from assistant.kinds.compare import Compare
from assistant.kinds.document_fields import DocumentFields
from assistant.kinds.draft import Draft, is_command
from assistant.kinds.fact import Fact
from assistant.kinds.figures import Figures
from assistant.kinds.not_question import NotAQuestion
from assistant.kinds.summary import Summary
from assistant.kinds.which_towns import WhichTowns

ALIASES = {"北留镇": "北留镇", "北留": "北留镇", "旧院镇": "旧院镇", "旧院": "旧院镇"}


def test_registry_order_and_labels():
    assert [type(k) for k in kinds.KINDS] == [
        NotAQuestion, Draft, DocumentFields, Figures, WhichTowns, Compare, Summary, Fact,
    ]  # fmt: skip
    labels = [k.name for k in kinds.KINDS if k.name]
    assert labels == ["meta", "multi_town", "compare", "summary", "fact"]
    assert all(kinds.kind_named(name).name == name for name in labels)


@pytest.mark.parametrize(
    ("question", "label", "answering"),
    [
        ("哪些镇提到执法力量薄弱？", "multi_town", WhichTowns),
        ("哪些镇像北留镇一样提到执法力量薄弱？", "multi_town", Fact),  # one named town: a fact about it
        ("各镇在普法方面分别做了什么？", "compare", Compare),
        ("各镇分别发放了多少普法宣传资料？", "compare", Figures),
        ("哪个镇调解矛盾纠纷最多？", "multi_town", Figures),
        ("北留镇报告的文号是什么？", "meta", DocumentFields),
        ("北留镇存在哪些问题短板？", "summary", Summary),
        ("起草一份各镇普法工作的汇总", "summary", Draft),  # a drafting request is labelled a summary
        ("北留镇和旧院镇罚款多少？", "fact", Figures),
        ("北留镇罚款多少？", "fact", Fact),
    ],
)  # fmt: skip
def test_label_and_answering_kind(question, label, answering):
    query = kinds.understand(question, ALIASES)
    assert query.kind == label
    assert type(next(k for k in kinds.KINDS if k.recognise(query))) is answering


@pytest.mark.parametrize(
    ("question", "town_by_town"),
    [("哪些镇提到执法力量薄弱？", True), ("北留镇和旧院镇罚款多少？", True), ("北留镇罚款多少？", False),
     ("北留镇存在哪些问题短板？", False), ("各镇对比普法", True)],
)  # fmt: skip
def test_the_labelled_kind_decides_retrieval(question, town_by_town):
    query = kinds.understand(question, ALIASES)
    assert kinds.kind_named(query.kind).town_by_town(query) is town_by_town


def test_drafting_is_recognised_in_one_module():
    assert is_command("请起草北留镇法治建设问题汇总") and is_command("草拟一份汇总")
    assert not is_command("北留镇起草了哪些文件？")
    assert Draft().recognise(kinds.understand("帮我写一份普法工作汇总材料"))
    assert not Draft().recognise(kinds.understand("起草了多少份文件？"))  # asks for a figure


def test_every_question_is_answered_by_some_kind(demo):
    kind, answered = kinds.answer(demo.answerer, demo.retriever.understand("青石镇有多少名网格员？"))
    assert answered.answer.abstained and answered.retrieval is not None and answered.retrieval.abstain


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "北留镇", "？？？", "asdfgh", "北留！", "&lt;img&gt;"])
def test_input_that_asks_nothing_gets_a_request_never_a_citation(demo, text):
    answer = demo.ask(text)
    assert answer.abstained and not answer.towns and not answer.citations and not answer.related
    assert answer.answer.startswith("请就报告的内容提问")


@pytest.mark.parametrize(
    "text", ["北留镇罚款多少？", "Which towns mention weak law enforcement capacity?", "執法力量薄弱"]
)
def test_real_questions_are_not_taken_for_noise(demo, text):
    assert not demo.ask(text).answer.startswith("请就报告的内容提问")

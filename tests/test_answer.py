"""Answers: contract, citations that hold, every question kind, drafting, follow-ups."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from assistant.cite import Citation, CitationError, validate
from assistant.cli import cli
from assistant.conversation import Conversation
from ingest.clean import squash

ASK_KEYS = {"question", "answer", "towns", "abstained", "citations"}
CITATION_KEYS = {"id", "town", "doc", "section", "paragraph", "text"}


def test_ask_json_contract(demo_db):
    result = CliRunner().invoke(cli, ["ask", "北留镇2024年行政处罚罚款金额是多少？", "--db", str(demo_db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert ASK_KEYS <= set(data)
    assert data["towns"] == ["北留镇"] and not data["abstained"]
    assert "11.88" in data["answer"] and "〔北留镇 · 四是筑牢法治基石 · 第1段〕" in data["answer"]
    assert all(CITATION_KEYS <= set(c) for c in data["citations"])
    assert "罚款 11.88 万元" in data["citations"][0]["text"]


def test_ask_batch(demo_db, tmp_path):
    batch = tmp_path / "q.jsonl"
    rows = [
        {"id": "x1", "question": "旧院镇有多少名网格员？"},
        {"id": "x2", "question": "东方红镇2023年的地区生产总值是多少？"},
    ]
    batch.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["ask", "--batch", str(batch), "--db", str(demo_db)])
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["x1", "x2"]
    assert "7" in out[0]["answer"] and "3" in out[0]["answer"] and not out[0]["abstained"]
    assert out[1]["abstained"] and out[1]["towns"] == []


def test_every_dev_answer_cites_valid_paragraphs(demo, dev_questions):
    for gold in dev_questions:
        answer = demo.ask(gold["question"])
        validate(list(answer.citations) + list(answer.related), demo.kb.paragraphs)
        for c in answer.citations:
            assert c.render() in answer.answer or answer.kind == "compare"


def test_which_towns_lists_exactly_the_matching_towns(demo):
    answer = demo.ask("哪些镇提到执法力量薄弱？")
    assert set(answer.towns) == {"二道甸子镇", "旧院镇", "北留镇"}
    assert answer.answer.startswith("共3个镇提到执法力量薄弱")
    assert {c.town for c in answer.citations} == set(answer.towns)


def test_comparison_table_from_statistics(demo):
    answer = demo.ask("各镇2024年分别发放了多少普法宣传资料？")
    assert set(answer.towns) == {"东方红镇", "二道甸子镇", "旧院镇", "北留镇", "三道沟镇"}
    assert "| 镇 |" in answer.answer and "5000余份" in answer.answer and "7000余份" in answer.answer
    for c in answer.citations:
        assert squash(c.quote) in squash(c.text)


def test_superlative(demo):
    answer = demo.ask("哪个镇罚款最多？")
    assert answer.towns == ("北留镇",) and "11.88" in answer.answer


def test_metadata_answers_cite_the_holding_paragraph(demo):
    answer = demo.ask("旧院镇的这份报告由谁签发？")
    assert "熊思炜" in answer.answer
    assert answer.citations[0].text == "签发人：熊思炜" and answer.citations[0].section == "文首"
    answer = demo.ask("东方红镇报告的文号是什么？")
    assert "虎东呈[2025]5号" in answer.answer


def test_summary_groups_problems(demo):
    answer = demo.ask("北留镇在法治政府建设中存在哪些问题短板？")
    assert answer.towns == ("北留镇",)
    text = squash(" ".join(c.section + c.text for c in answer.citations))
    assert "基础工作不够扎实" in text and "执法水平有待提升" in text


def test_drafting_request(demo):
    answer = demo.ask("起草北留镇法治建设问题汇总")
    assert answer.towns == ("北留镇",)
    assert "存在问题" in answer.answer and len(answer.citations) >= 3


@pytest.mark.parametrize(
    "question",
    ["青石镇有多少名网格员？", "北留镇开展了多少次消防演练？", "旧院镇2024年的财政收入是多少？"],
)
def test_unanswerable_questions_abstain(demo, question):
    answer = demo.ask(question)
    assert answer.abstained and not answer.towns and not answer.citations
    assert answer.answer.startswith("报告中未找到")


def test_validator_rejects_bad_citations(demo):
    p = next(iter(demo.kb.paragraphs.values()))
    good = Citation.of(p, quote=p.text[:5])
    validate([good], demo.kb.paragraphs)
    for bad in (
        Citation(id="nope:p0", town=p.town, doc=p.doc_id, section=p.section, paragraph=1, text=""),
        Citation.of(p, quote="这句话不在段落里"),
        Citation(id=p.id, town="别的镇", doc=p.doc_id, section=p.section, paragraph=p.paragraph, text=p.text),
    ):
        with pytest.raises(CitationError):
            validate([bad], demo.kb.paragraphs)


def test_follow_ups(demo):
    chat = Conversation(demo)
    chat.ask("北留镇2024年行政处罚罚款金额是多少？")
    resolved, answer = chat.ask("那旧院镇呢？")
    assert resolved == "旧院镇2024年行政处罚罚款金额是多少？"
    resolved, answer = chat.ask("它的文号是？")
    assert resolved == "旧院镇的文号是？" and "旧府〔2025〕24号" in answer.answer
    resolved, _ = chat.ask("三道沟镇有多少名网格员？")
    assert resolved == "三道沟镇有多少名网格员？"  # a complete question is left alone


def test_answers_are_deterministic(demo):
    question = "哪些镇存在普法宣传形式单一的问题？"
    assert demo.ask(question).to_dict() == demo.ask(question).to_dict()


def test_section_groups_are_shared_by_chat_summaries_and_drafts():
    from assistant.sections import PLANS, PRACTICE, PROBLEMS, section_group

    assert section_group(("三、2024年推进法治政府建设存在问题短板及原因", "三是执法水平有待提升")) == PROBLEMS
    assert section_group(("四、2025年工作展望",)) == PLANS
    assert section_group(("四、下一步工作计划",)) == PLANS
    assert section_group(("一、主要举措和成效", "（一）强化普法宣传")) == PRACTICE


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("旧院镇那份法治政府建设总结的文号是多少？", "meta"),  # "是多少" of a 文号 is not a quantity
        ("旧院镇组织国家工作人员学法考法，依据的是哪个文件（文号）？", "fact"),  # a cited document: content
        ("东方红镇在普法宣传方面做了哪些工作？", "summary"),
        ("北留镇对全县加强法治政府建设提了哪些意见建议？", "summary"),
    ],
)
def test_question_kinds_found_by_the_second_blind_set(question, kind):
    from assistant.kinds import understand

    assert understand(question).kind == kind


def test_spelled_out_plan_names_are_shortened():
    from assistant.query import normalise

    assert normalise("第八个五年普法规划") == "八五普法规划"
    assert normalise("第十四个五年规划") == "十四五规划"


@pytest.mark.parametrize(
    ("question", "town", "needle"),
    [
        ("东方红镇在普法宣传方面做了哪些工作？", "东方红镇", "宣传"),  # 普法宣传 written as 普法……宣传
        ("How many criminal cases were opened (filed) in Beiliu town in 2024?", "北留镇", "6"),
        ("旧院镇那份法治政府建设总结的文号是多少？", "旧院镇", "旧府〔2025〕24号"),
    ],
)
def test_answers_found_by_the_second_blind_set(demo, question, town, needle):
    answer = demo.ask(question)
    assert not answer.abstained and answer.towns == (town,)
    assert needle in answer.answer


def test_a_quoted_term_is_the_required_evidence(demo):
    """In 培养或依靠农村“法律明白人” the quoted term decides, not the modifier 农村."""
    retrieval = demo.retriever.retrieve("哪些镇的报告提到培养或依靠农村“法律明白人”？", k=8)
    assert retrieval.topic.required == ("法律明白人",)
    assert {m.town for m in retrieval.towns if m.matched} == {"东方红镇", "二道甸子镇", "北留镇", "三道沟镇"}


def test_a_term_the_tokenizer_cuts_differently_can_be_required(demo):
    """第八个五年普法规划 becomes 八五普法; reports write “八五”普法, which BM25 never sees as one token."""
    retrieval = demo.retriever.retrieve("哪些镇的报告提到了第八个五年普法规划？", k=8)
    assert "八五普法" in retrieval.topic.required
    assert {m.town for m in retrieval.towns if m.matched} == {"二道甸子镇", "旧院镇", "北留镇"}


def test_a_spelled_out_set_phrase_is_read_as_its_abbreviation(demo):
    """Reports write 三重一大; an official may spell it out (assistant/data/abbreviations.txt)."""
    from assistant.query import abbreviate

    assert abbreviate("北留镇的重大决策怎么做的?") == "北留镇的重大决策怎么做的?"  # one component is not the set
    question = "哪些镇对重大决策、重要干部任免、重大项目和大额资金使用实行集体决策？"
    retrieval = demo.retriever.retrieve(question, k=8)
    assert "三重一大" in retrieval.topic.required
    assert {m.town for m in retrieval.towns if m.matched} == {"二道甸子镇", "北留镇"}


def test_summary_quotes_only_paragraphs_on_the_topic(demo):
    """Found reading answers to the second blind set: "一是领导干部带头学。" was quoted for 普法宣传."""
    answer = demo.ask("东方红镇在普法宣传方面做了哪些工作？")
    assert not answer.abstained and "两微一抖" in answer.answer
    assert "一是领导干部带头学" not in answer.answer and "一是强化内部监督" not in answer.answer


def test_third_blind_set_findings(demo):
    """Found by tests/data/blind3.jsonl: a cited notice is content, "有哪些打算" wants the plans, and a
    quoted name the tokenizer splits (“三项制度”) is the topic."""
    from assistant.kinds import understand

    assert understand("旧院镇抓法治政府建设，是照着万源市政府哪个通知办的？文号是多少？").kind == "fact"
    plans = demo.ask("北留镇2025年推进法治政府建设有哪些打算？")
    assert "**下一步**" in plans.answer and "**成效与做法**" not in plans.answer
    retrieval = demo.retriever.retrieve("哪些镇提到执法公示、全过程记录、法制审核这套行政执法“三项制度”？", k=8)
    assert retrieval.topic.required == ("三项制度",)
    assert (
        {"二道甸子镇", "北留镇"} <= {m.town for m in retrieval.towns if m.matched} <= {"二道甸子镇", "北留镇", "旧院镇"}
    )

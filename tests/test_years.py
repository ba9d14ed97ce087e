"""Question year ≠ report year (issue 15): a town with no report of the year asked abstains and says which years are loaded.

Questions are generated from each knowledge base's own metadata (towns, report years, the years their
text states), so no evaluation question is written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.kinds import understand
from assistant.years import asked_years, stated_years

ROOT = Path(__file__).resolve().parents[1]
REALWORLD = ROOT / "tests" / "data" / "realworld"


def test_a_year_asked_of_the_report_is_told_from_a_year_of_its_content():
    assert [(a.year, a.of_report) for a in asked_years("红石镇2021年度报告提到了哪些问题")] == [(2021, True)]
    assert [(a.year, a.of_report) for a in asked_years("2021年红石镇报告中2022年有什么安排")] == [
        (2021, True),
        (2022, False),
    ]
    assert [(a.year, a.of_report) for a in asked_years("红石镇2019年调解了几起纠纷，报告怎么说")] == [(2019, False)]
    # A number among Chinese words is a count, not a year; an English question writes the bare year.
    assert asked_years("红石镇印发了1999份宣传册") == ()
    assert [a.year for a in asked_years("how many mediations did hongshi town hold in 2019?")] == [2019]


def test_years_a_report_states():
    assert stated_years(["2019 年，我镇…较2018年增长", "下一步，2020年将…", "印发1999份"]) == {2018, 2019, 2020}


def _gap_cases(kb):
    """(town, its report years, a year no report of it states) for every town of a knowledge base."""
    from assistant.years import ReportYears

    years = ReportYears(kb)
    for town in kb.towns():
        metas = years.reports(town)
        if any(m.year is None for m in metas):
            continue
        own = {m.year for m in metas}
        stated = set().union(*(years.stated(m.doc_id) for m in metas))
        absent = next(y for y in range(min(own) - 1, 1990, -1) if y not in stated and y not in own)
        yield town, sorted(own), sorted(stated - own), absent


def _check_knowledge_base(assistant) -> bool:
    """Check the year rule on every town of a knowledge base; True when a pair of towns differing in years was asked."""
    kb = assistant.retriever.kb
    cases = list(_gap_cases(kb))
    assert cases
    # The body of a report states its own year somewhere ("2024年，我镇…"): the years are read from its paragraphs.
    assert any(m.year in assistant.retriever.report_years.stated(m.doc_id) for m in kb.metas.values())
    for town, own, stated, absent in cases:
        for question in (
            f"{town}{absent}年的法治政府建设报告里写了什么？",
            f"{absent}年{town}开展了多少次普法宣传活动？",
        ):
            answer = assistant.ask(question)
            assert answer.abstained and not answer.towns and not answer.citations, question
            loaded = "、".join(f"{y}年" for y in own)
            assert f"没有{town}{absent}年的报告" in answer.answer and f"仅有{loaded}的报告" in answer.answer, (
                answer.answer
            )
        # Its own year, a year its text speaks of, and the next year's plans are answered from it.
        for question in (
            f"{town}{own[-1]}年开展了哪些普法宣传活动？",
            *(f"{town}{y}年做了哪些工作？" for y in stated[:2]),
        ):
            query = assistant.retriever.understand(question)
            assert assistant.retriever.report_years.gap(query) is None, question
        for m in assistant.retriever.report_years.reports(town):
            if m.date and int(m.date[:4]) not in (*own, *stated):
                month = int(m.date[5:7])
                dated = assistant.retriever.understand(f"{town}{m.date[:4]}年{month}月印发的报告文号是什么？")
                assert assistant.retriever.report_years.gap(dated) is None
                undated = assistant.retriever.understand(f"{m.date[:4]}年{town}开展了多少次普法宣传活动？")
                assert assistant.retriever.report_years.gap(undated) is not None
        plans = assistant.retriever.understand(f"{town}{own[-1] + 1}年法治建设有哪些工作计划？")
        if plans.group == "plans":
            assert assistant.retriever.report_years.gap(plans) is None
        # The report of a year its text only speaks of is not loaded.
        for y in stated[:1]:
            query = assistant.retriever.understand(f"{town}{y}年度报告提到了哪些问题？")
            assert assistant.retriever.report_years.gap(query) is not None
    # Two towns without a report of the year: one abstention naming both; with one of them loaded, no gap.
    (a, own_a, _, absent_a), (b, own_b, stated_b, _) = cases[0], cases[1]
    if absent_a not in stated_b and absent_a not in own_b:
        answer = assistant.ask(f"{a}和{b}{absent_a}年分别发放了多少份普法资料？")
        assert answer.abstained and not answer.towns, answer.answer
    query = assistant.retriever.understand(f"{a}和{b}{own_b[-1]}年分别发放了多少份普法资料？")
    assert assistant.retriever.report_years.gap(query) is None
    # One named town lacks the year, the other has it: the other is answered, the lacking one only named.
    for (a, own_a, stated_a, _), (b, own_b, _, _) in zip(cases, cases[1:]):
        year = own_b[-1]
        if year in own_a or year in stated_a:
            continue
        answer = assistant.ask(f"{a}和{b}{year}年开展了哪些法治宣传活动？")
        assert a not in answer.towns and all(c.town != a for c in answer.citations), answer.answer
        assert f"没有{a}{year}年的报告" in answer.notice, answer.notice
        return True
    return False


def test_demo_towns_abstain_for_a_year_not_loaded(demo):
    _check_knowledge_base(demo)  # every demo report is of 2024: no pair of towns differs in its years


def test_report_years_read_each_document_alone_and_judge_a_question_once(demo):
    """Grouping by town and reading one document's paragraphs give what scanning them all gives;
    the same question is judged once until the caches are cleared."""
    from assistant.years import ReportYears, stated_years

    retriever = demo.retriever
    kb = retriever.kb
    years = ReportYears(kb)
    for town in kb.towns():
        assert years.reports(town) == [m for m in kb.metas.values() if m.town == town]
    for doc_id in kb.metas:
        body = [p.text for p in kb.paragraphs.values() if p.doc_id == doc_id and p.role == "body"]
        assert years.stated(doc_id) == stated_years(body)
    query = retriever.understand(f"{kb.towns()[0]}1990年办了几场普法讲座？")
    first = retriever.report_years.missing(query)
    assert first is not None and retriever.report_years.missing(query) is first
    retriever.clear_caches()
    again = retriever.report_years.missing(query)
    assert again == first and again is not first


def test_a_question_over_all_towns_is_not_judged_by_year():
    query = understand("2019年哪些镇开展了普法宣传？")
    assert not query.towns


@pytest.fixture(scope="module")
def realworld_sample(tmp_path_factory):
    """A knowledge base of real-world reports whose town and report year the truth file records."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    truth = [json.loads(line) for line in (REALWORLD / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    # Reports of different years and units, the smallest first (ingest time).
    rows = sorted((r for r in truth if r["town"] and r["year"]), key=lambda r: (REALWORLD / r["file"]).stat().st_size)
    chosen, years = [], set()
    for row in rows:
        if row["year"] not in years:
            chosen.append(row)
            years.add(row["year"])
    db = tmp_path_factory.mktemp("years-db")
    assistant = Assistant(Settings(db=str(db)))
    report = assistant.ingest([str(REALWORLD / r["file"]) for r in chosen])
    assert report.documents == len(chosen) and not report.errors
    return assistant, chosen


@pytest.mark.slow
def test_real_world_towns_abstain_for_a_year_not_loaded(realworld_sample):
    assistant, chosen = realworld_sample
    metas = {m.town: m.year for m in assistant.retriever.kb.metas.values()}
    # The report years the rule reads are the years the reports are of (truth.jsonl).
    assert {r["town"]: r["year"] for r in chosen} == metas
    assert _check_knowledge_base(assistant), "no two towns of different years were asked together"

"""Tests for the statistics table (assistant/stats.py).

The gold list below was written by reading the five demo reports, not by copying the extractor's
output: every row is a figure of a lexicon metric stated as a result of the report year. Figures in
plan sections, changes ("新增…2名") and figures of no listed metric (远程视频会见380余次, 摸排场所185个)
are deliberately absent.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from assistant.stats import (
    Fact,
    answer_comparison,
    chinese_to_number,
    extract_facts,
    facts_table,
    find_metric,
    find_metrics,
    format_number,
    load_metrics,
    normalized_value,
    parse_value,
    to_csv,
    to_xlsx,
)
from ingest.pipeline import parse_file
from ingest.records import Paragraph

REPORTS = Path(__file__).resolve().parents[1] / "data" / "reports"
TOWNS = ("东方红镇", "二道甸子镇", "旧院镇", "北留镇", "三道沟镇")

# (town, metric, value, unit, qualifier): hand-verified against the report text.
GOLD: list[tuple[str, str, float, str, str]] = [
    # 三道沟镇
    ("三道沟镇", "study_sessions", 20, "次", "余"),  # 举办各类法治培训活动20余次
    ("三道沟镇", "trainees", 500, "人次", "以上"),  # 参训人员达到500人次以上
    ("三道沟镇", "gov_info_disclosure", 32, "条", ""),  # 公开政府信息32条
    ("三道沟镇", "disputes_mediated", 100, "起", "余"),  # 调解各类矛盾纠纷百余起
    ("三道沟镇", "mediators", 26, "人", ""),  # 人民调解员26人
    ("三道沟镇", "legal_literates", 22, "人", ""),  # 法律明白人22人
    ("三道沟镇", "grid_workers", 34, "名", ""),  # 19名网格长、34名网格员
    ("三道沟镇", "disputes_screened", 15, "件", "余"),  # 排查各类矛盾纠纷隐患15余件
    ("三道沟镇", "disputes_mediated", 14, "件", ""),  # 成功化解14件
    ("三道沟镇", "propaganda_events", 30, "次", "余"),  # 法治宣传活动30余次
    ("三道沟镇", "propaganda_materials", 2000, "份", "余"),  # 发放宣传资料2000余份
    # 东方红镇
    ("东方红镇", "study_sessions", 26, "次", ""),  # 会前学法26次
    ("东方红镇", "study_sessions", 16, "次", ""),  # 理论学习中心组学法学习16次
    ("东方红镇", "enforcement_staff", 19, "名", ""),  # 现有执法持证人员共计19名
    ("东方红镇", "study_sessions", 1, "次", ""),  # 参与行政执法培训 1 次
    ("东方红镇", "enforcement_staff", 17, "人", ""),  # 组建综合执法队 17 人
    ("东方红镇", "legal_consultations", 60, "人次", ""),  # 解答各方面法律咨询 60 人次
    ("东方红镇", "disputes_mediated", 32, "起", ""),  # 调解矛盾纠纷 32 起
    ("东方红镇", "study_sessions", 10, "次", "余"),  # 开展法治学习 10 余次
    ("东方红镇", "propaganda_materials", 5000, "份", "余"),  # 发放宣传单（册）5000余份
    # 二道甸子镇
    ("二道甸子镇", "law_lectures", 2, "次", ""),  # 专题法治讲座2次
    ("二道甸子镇", "legal_consultations", 4, "次", ""),  # 解答法律咨询4次
    ("二道甸子镇", "propaganda_events", 10, "次", "余"),  # 法治宣传教育活动10余次
    ("二道甸子镇", "study_sessions", 6, "次", ""),  # 理论中心组共组织学法6次
    ("二道甸子镇", "study_sessions", 5, "次", ""),  # 党委会学习习近平法治思想5次
    ("二道甸子镇", "study_sessions", 4, "次", ""),  # 全体干部集中学法4次
    ("二道甸子镇", "law_lectures", 3, "次", ""),  # 专题法治讲座3次
    ("二道甸子镇", "propaganda_events", 10, "次", "余"),  # 法治宣传教育活动十余次
    ("二道甸子镇", "law_lectures", 6, "次", ""),  # 开展法律讲座6次
    ("二道甸子镇", "propaganda_materials", 1000, "本", "余"),  # 普法宣传手册1000余本
    ("二道甸子镇", "propaganda_materials", 2000, "份", "余"),  # 宣法传单2000余份
    ("二道甸子镇", "legal_adviser_villages", 13, "个", ""),  # 13个行政村(社区)法律顾问
    ("二道甸子镇", "legal_adviser_coverage", 100, "%", "%"),  # 法律顾问覆盖率达100%
    ("二道甸子镇", "legal_literates", 39, "名", ""),  # 发展法律明白人39名
    ("二道甸子镇", "legal_consultations", 20, "次", ""),  # 解答法律咨询20次
    # 北留镇
    ("北留镇", "study_sessions", 19, "次", ""),  # 集中学法 19 次
    ("北留镇", "study_sessions", 2, "次", ""),  # 会前学法 2 次
    ("北留镇", "study_sessions", 11, "次", ""),  # 镇村干部学法培训 11 次
    ("北留镇", "gov_info_disclosure", 132, "条", ""),  # 网上公开党务政务信息 132 条
    ("北留镇", "penalty_info_disclosure", 21, "条", ""),  # 公开行政处罚信息 21 条
    ("北留镇", "legal_consultations", 750, "次", "余"),  # 提供法律咨询 750 余次
    ("北留镇", "legal_aid", 60, "次", "余"),  # 法律援助 60 余次
    ("北留镇", "disputes_mediated", 21, "起", ""),  # 调处疑难复杂纠纷 21 起
    ("北留镇", "admin_enforcement", 2, "起", ""),  # 办理行政强制案件 2 起
    ("北留镇", "admin_penalties", 26, "起", ""),  # 行政处罚案件 26 起
    ("北留镇", "fines", 11.88, "万元", ""),  # 罚款 11.88 万元
    ("北留镇", "study_sessions", 37, "次", ""),  # “行政执法大讲堂”培训 37 次
    ("北留镇", "study_sessions", 22, "期", ""),  # “农村学法大讲堂”22期
    ("北留镇", "propaganda_events", 12, "次", ""),  # 开展普法宣传12次
    ("北留镇", "propaganda_materials", 1200, "本", "余"),  # 宣传读物1200余本
    ("北留镇", "propaganda_materials", 7000, "份", "余"),  # 普法资料7000余份
    ("北留镇", "gov_info_disclosure", 132, "条", ""),  # （三）…信息数据132条 (restated)
    ("北留镇", "penalty_info_disclosure", 21, "条", ""),  # （三）…公开行政处罚信息21条 (restated)
    ("北留镇", "disputes_mediated", 21, "件", ""),  # 化解重大疑难复杂纠纷 21 件
    ("北留镇", "mediation_success_rate", 100, "%", "%"),  # 成功率达到 100%
    ("北留镇", "legal_consultations", 750, "人次", "余"),  # 提供法律咨询 750 余人次
    ("北留镇", "legal_aid", 60, "人次", "余"),  # 提供法律援助 60 余人次
    # 旧院镇
    ("旧院镇", "admin_inspections", 170, "项", ""),  # 开展行政检查170项
    ("旧院镇", "admin_penalties", 0, "项", ""),  # 行政处罚0项
    ("旧院镇", "admin_enforcement", 0, "项", ""),  # 行政强制0项
    ("旧院镇", "propaganda_events", 12, "次", ""),  # 法治赶场宣传12次
    ("旧院镇", "propaganda_materials", 2000, "份", "余"),  # 共计发放宣传资料2000余份
    ("旧院镇", "grid_workers", 7, "名", ""),  # 兼职网格员 7 名
    ("旧院镇", "grid_workers", 3, "名", ""),  # 专职网格员 3 名
]

# Metrics named in the tracker issue; each must exist in the lexicon.
REQUIRED_METRICS = {
    "study_sessions",
    "trainees",
    "enforcement_staff",
    "legal_adviser_coverage",
    "mediators",
    "legal_literates",
    "disputes_mediated",
    "mediation_success_rate",
    "propaganda_materials",
    "propaganda_events",
    "admin_inspections",
    "admin_penalties",
    "admin_enforcement",
    "fines",
    "gov_info_disclosure",
    "grid_workers",
    "petitions",
}


def _para(text: str, section_path: tuple[str, ...] = ("一、主要工作",), n: int = 0) -> Paragraph:
    return Paragraph(
        id=f"test:p{n}",
        doc_id="test",
        town="测试镇",
        section=section_path[-1],
        section_path=section_path,
        paragraph=1,
        text=text,
        start=0,
        end=len(text),
        ordinal=n,
        year=2024,
    )


def _facts(*texts: str, **kwargs) -> list[Fact]:
    return extract_facts([_para(t, n=i) for i, t in enumerate(texts)], **kwargs)


def _key(fact: Fact) -> tuple[str, str, float, str, str]:
    return (fact.town, fact.metric, float(fact.value), fact.unit, fact.qualifier)


@pytest.fixture(scope="module")
def corpus_paragraphs() -> list[Paragraph]:
    paragraphs: list[Paragraph] = []
    for path in sorted(REPORTS.glob("*")):
        paragraphs.extend(parse_file(path).paragraphs)
    assert {p.town for p in paragraphs} == set(TOWNS)
    return paragraphs


@pytest.fixture(scope="module")
def corpus_facts(corpus_paragraphs: list[Paragraph]) -> list[Fact]:
    return extract_facts(corpus_paragraphs)


# --------------------------------------------------------------------------- lexicon


def test_lexicon_covers_the_issue_metrics():
    metrics = load_metrics()
    keys = {m.key for m in metrics}
    assert REQUIRED_METRICS <= keys
    for metric in metrics:
        assert metric.label and metric.units, metric.key
        assert metric.cues or metric.after_cues, metric.key
        assert metric.aliases, metric.key


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("罚款 11.88 万元", (11.88, "万元", "")),
        ("现有执法持证人员共计19名", (19.0, "名", "")),
        ("发放宣传资料2000余份", (2000.0, "份", "余")),
        ("参训人员达到500人次以上", (500.0, "人次", "以上")),
        ("覆盖率达100%", (100.0, "%", "%")),
        ("组织学法六次", (6.0, "次", "")),
        ("开展法治宣传教育活动十余次", (10.0, "次", "余")),
        ("调解各类矛盾纠纷百余起", (100.0, "起", "余")),
        ("发放普法手册两千余册", (2000.0, "册", "余")),
        ("发放宣传资料1.2万份", (12000.0, "份", "")),
        ("发放资料1,200份", (1200.0, "份", "")),
        ("开展行政检查 1 2 0 次", (120.0, "次", "")),
        ("培训５０人次", (50.0, "人次", "")),
        ("近千份", (1000.0, "份", "近")),
    ],
)
def test_parse_value(phrase, expected):
    assert parse_value(phrase) == expected


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("六", 6), ("十", 10), ("十二", 12), ("二十", 20), ("二十三", 23), ("百", 100), ("一百零五", 105),
     ("两千", 2000), ("三千五百", 3500), ("一万二千", 12000)],
)  # fmt: skip
def test_chinese_to_number(numeral, value):
    assert chinese_to_number(numeral) == value


def test_parse_value_without_figure_raises():
    with pytest.raises(ValueError):
        parse_value("深入学习贯彻党的二十大精神")


def test_format_number():
    assert format_number(5000.0) == "5000"
    assert format_number(11.88) == "11.88"
    assert format_number(0.0) == "0"


# --------------------------------------------------------------------------- demo corpus


def test_every_quote_is_verbatim_and_holds_the_value(corpus_facts):
    assert corpus_facts
    for fact in corpus_facts:
        assert fact.quote in fact.text, fact
        # The stored value is what the quote says, not something inferred elsewhere.
        assert parse_value(fact.quote) == (fact.value, fact.unit, fact.qualifier), fact
        assert fact.town in TOWNS and fact.year == 2024


def test_precision_and_recall_against_gold(corpus_facts):
    extracted = Counter(_key(f) for f in corpus_facts)
    gold = Counter((t, m, float(v), u, q) for t, m, v, u, q in GOLD)
    correct = sum((extracted & gold).values())
    precision = correct / sum(extracted.values())
    recall = correct / sum(gold.values())
    wrong = extracted - gold
    missed = gold - extracted
    assert precision >= 0.95, f"precision {precision:.3f}; not in gold: {sorted(wrong)}"
    assert recall >= 0.85, f"recall {recall:.3f}; missed: {sorted(missed)}"


def test_every_town_has_figures(corpus_facts):
    assert {f.town for f in corpus_facts} == set(TOWNS)


def _one(facts: list[Fact], town: str, metric: str, value: float) -> Fact:
    hits = [f for f in facts if f.town == town and f.metric == metric and f.value == value]
    assert hits, f"{town} {metric} {value} not extracted"
    return hits[0]


@pytest.mark.parametrize(
    ("town", "metric", "value", "quote", "display"),
    [
        # spaces inside the number stay in the quote
        ("北留镇", "fines", 11.88, "罚款 11.88 万元", "11.88万元"),
        ("东方红镇", "enforcement_staff", 19, "现有执法持证人员共计19名", "19名"),
        ("三道沟镇", "disputes_mediated", 100, "调解各类矛盾纠纷百余起", "100余起"),
        ("二道甸子镇", "propaganda_events", 10, "全镇累计开展法治宣传教育活动十余次", "10余次"),
        ("三道沟镇", "trainees", 500, "参训人员达到500人次以上", "500人次以上"),
        ("北留镇", "mediation_success_rate", 100, "成功率达到 100%", "100%"),
        ("二道甸子镇", "legal_adviser_coverage", 100, "法律顾问覆盖率达100%", "100%"),
        ("东方红镇", "propaganda_materials", 5000, "发放宣传单（册）5000余份", "5000余份"),
        # the number comes before its cue, next to a figure of another role (19名网格长)
        ("三道沟镇", "grid_workers", 34, "34名网格员", "34名"),
        ("旧院镇", "admin_penalties", 0, "行政处罚0项", "0项"),
        ("旧院镇", "grid_workers", 7, "兼职网格员 7 名", "7名"),
    ],
)
def test_tricky_figures(corpus_facts, town, metric, value, quote, display):
    _one(corpus_facts, town, metric, value)
    hits = [f for f in corpus_facts if f.town == town and f.metric == metric and quote in f.quote]
    assert hits, f"no {metric} fact quoting {quote!r}"
    assert hits[0].value == value
    assert hits[0].display == display


def test_no_false_figures_in_corpus(corpus_facts):
    quotes = " ".join(f.quote for f in corpus_facts)
    # Wrong roles, changes, names and events of no listed metric.
    for text in ("19名网格长", "新增", "2余次", "380余次", "185个", "75周年", "4%", "二十大", "〔2024〕"):
        assert text not in quotes, text
    # 公开行政处罚信息 is a disclosure count, never a penalty count.
    assert not [f for f in corpus_facts if f.metric == "admin_penalties" and f.unit == "条"]
    # 北留镇's plan section and 东方红镇's "每年至少2次" are targets, not results.
    assert not [f for f in corpus_facts if "下一步" in f.section or "安排" in f.section]


def test_propaganda_materials_comparison(corpus_facts):
    metric = find_metric("各镇分别发放了多少普法宣传资料？")
    assert metric is not None and metric.key == "propaganda_materials"
    rows = facts_table(corpus_facts, metrics=[metric])
    by_town: dict[str, set[str]] = {}
    for fact in rows:
        by_town.setdefault(fact.town, set()).add(fact.display)
    assert by_town == {
        "东方红镇": {"5000余份"},
        "二道甸子镇": {"2000余份", "1000余本"},
        "旧院镇": {"2000余份"},
        "北留镇": {"7000余份", "1200余本"},
        "三道沟镇": {"2000余份"},
    }
    quotes = {f.town: f.quote for f in rows if f.unit == "份"}
    assert "宣法传单2000余份" in quotes["二道甸子镇"]
    assert "普法资料7000余份" in quotes["北留镇"]

    answer = answer_comparison("各镇分别发放了多少普法宣传资料？", corpus_facts, towns=TOWNS)
    assert answer is not None
    for town, figure in [("东方红镇", "5000余份"), ("二道甸子镇", "2000余份"), ("二道甸子镇", "1000余本"),
                         ("旧院镇", "2000余份"), ("北留镇", "7000余份"), ("北留镇", "1200余本"),
                         ("三道沟镇", "2000余份")]:  # fmt: skip
        line = next(line for line in answer.splitlines() if line.startswith(town))
        assert figure in line, (town, figure)
        assert f"〔{town} · " in line


def test_restated_figures_can_be_deduplicated(corpus_facts):
    rows = facts_table(corpus_facts, towns=["北留镇"], metrics=["gov_info_disclosure"])
    assert [f.value for f in rows] == [132, 132]
    assert len({f.paragraph_id for f in rows}) == 2
    assert len(facts_table(rows, dedupe=True)) == 1


# --------------------------------------------------------------------------- rules on other phrasings


def test_ignores_years_dates_doc_numbers_and_titles():
    facts = _facts(
        "2024年，我镇深入学习贯彻党的二十大精神和二十届三中全会精神。",
        "在“6.26国际禁毒日”“12·4”国家宪法日开展宣传，根据〔2024〕26号文件要求开展检查。",
        "学习《信访工作条例》《2024年全面依法治镇工作要点》等内容。",
        "坚持第一次学法就要学深学透，做到“两个维护”，落实“三项制度”。",
    )
    assert facts == []


def test_chinese_numerals_and_qualifiers():
    facts = _facts("全年共组织学法六次，开展法治培训十余次，培训干部300余人次。")
    assert [(f.metric, f.value, f.unit, f.qualifier) for f in facts] == [
        ("study_sessions", 6, "次", ""),
        ("study_sessions", 10, "次", "余"),
        ("trainees", 300, "人次", "余"),
    ]


def test_changes_and_rates_are_not_levels():
    facts = _facts("新增执法人员2名，较上年增加调解矛盾纠纷10起，全镇法律明白人实现每村3名以上。")
    assert facts == []


def test_cue_must_stand_close_to_the_number():
    # The cue names the group, the figure counts a subset far behind it.
    assert _facts("全乡执法人员中具有法律专业背景的仅2人。") == []
    facts = _facts("全乡45名干部参加年度学法考试，参考率100%。")
    assert facts == []  # exam takers, not trainees; a pass rate is no metric


def test_nearest_cue_decides_between_metrics():
    facts = _facts(
        "办理行政强制案件2起、行政处罚案件26起，罚款 1.5 万元，罚款12000元。",
        "公开政府信息132条、行政处罚信息21条。",
        "组织45名执法人员参加培训，全镇共有执法人员12名。",
        "全年共受理各类矛盾纠纷45起，成功调解43起，调解成功率达98.5%以上。",
    )
    got = [(f.metric, f.value, f.unit, f.qualifier) for f in facts]
    assert got == [
        ("admin_enforcement", 2, "起", ""),
        ("admin_penalties", 26, "起", ""),
        ("fines", 1.5, "万元", ""),
        ("fines", 12000, "元", ""),
        ("gov_info_disclosure", 132, "条", ""),
        ("penalty_info_disclosure", 21, "条", ""),
        ("trainees", 45, "名", ""),
        ("enforcement_staff", 12, "名", ""),
        ("disputes_received", 45, "起", ""),
        ("disputes_mediated", 43, "起", ""),
        ("mediation_success_rate", 98.5, "%", "%以上"),
    ]
    fines = [f for f in facts if f.metric == "fines"]
    assert [normalized_value(f) for f in fines] == [(1.5, "万元"), (pytest.approx(1.2), "万元")]


def test_traditional_and_full_width_text_keeps_original_quote():
    facts = _facts("全鎮共有網格員４５名，執法人員 5 名。")
    assert [(f.metric, f.value) for f in facts] == [("grid_workers", 45), ("enforcement_staff", 5)]
    assert facts[0].quote == "全鎮共有網格員４５名"
    assert facts[1].quote == "執法人員 5 名"


def test_plan_sections_are_skipped_unless_asked():
    para = _para("每季度开展学法1次，计划发放宣传资料3000份。", section_path=("三、下一步工作计划",))
    assert extract_facts([para]) == []
    facts = extract_facts([para], include_plans=True)
    assert [(f.metric, f.value) for f in facts] == [("propaganda_materials", 3000)]


def test_front_matter_is_skipped():
    front = Paragraph(
        id="t:p0", doc_id="t", town="测试镇", section="文首", section_path=("文首",), paragraph=1,
        text="共印宣传资料2份", start=0, end=8, ordinal=0, year=2024, role="front",
    )  # fmt: skip
    assert extract_facts([front]) == []


# --------------------------------------------------------------------------- questions and output


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("各镇分别发放了多少普法宣传资料？", "propaganda_materials"),
        ("哪个镇罚款最多？", "fines"),
        ("哪个镇的網格員最多？", "grid_workers"),
        ("各镇开展了多少次普法宣传？", "propaganda_events"),
        ("东方红镇现有执法持证人员多少名？", "enforcement_staff"),
        ("旧院镇2024年开展了多少项行政检查？", "admin_inspections"),
        ("三道沟镇2024年公开了多少条政府信息？", "gov_info_disclosure"),
        ("东方红镇2024年调解矛盾纠纷多少起？", "disputes_mediated"),
        ("二道甸子镇理论中心组全年组织学法几次？", "study_sessions"),
        ("二道甸子镇有多少个行政村（社区）实现了法律顾问全覆盖？", "legal_adviser_villages"),
        ("各镇法律顾问覆盖率是多少？", "legal_adviser_coverage"),
        ("各镇受理了多少信访件？", "petitions"),
    ],
)
def test_find_metric(question, key):
    metric = find_metric(question)
    assert metric is not None and metric.key == key


def test_find_metric_none_for_other_questions():
    assert find_metric("今天天气怎么样？") is None
    # Names a metric's words but asks for no figure: a retrieval question, not a table lookup.
    assert find_metric("哪些镇提到执法力量薄弱？") is None
    assert find_metric("哪些镇提到执法力量薄弱？", numeric=False).key == "enforcement_staff"


def test_find_metrics_lists_every_metric_asked():
    keys = [m.key for m in find_metrics("三道沟镇配备了多少名人民调解员和法律明白人？")]
    assert keys == ["mediators", "legal_literates"]
    keys = [m.key for m in find_metrics("北留镇全年提供了多少法律咨询和法律援助？")]
    assert keys == ["legal_consultations", "legal_aid"]
    # "普法宣传" (events) lies inside "普法宣传资料" (materials): one metric only.
    assert [m.key for m in find_metrics("各镇分别发放了多少普法宣传资料？")] == ["propaganda_materials"]
    assert find_metrics("哪些镇提到执法力量薄弱？") == []


def test_to_dict_row(corpus_facts):
    fact = _one(corpus_facts, "北留镇", "fines", 11.88)
    row = fact.to_dict()
    assert row["town"] == "北留镇" and row["year"] == 2024
    assert row["metric"] == "fines" and row["label"] == "罚款金额（万元）"
    assert (row["value"], row["unit"], row["qualifier"]) == (11.88, "万元", "")
    assert row["quote"] == "罚款 11.88 万元"
    citation = row["citation"]
    assert citation["id"] == fact.paragraph_id and citation["section"] == "四是筑牢法治基石"
    assert citation["paragraph"] == 1 and row["quote"] in citation["text"]
    assert _one(corpus_facts, "东方红镇", "propaganda_materials", 5000).to_dict()["value"] == 5000
    assert fact.citation_label == "〔北留镇 · 四是筑牢法治基石 · 第1段〕"


def test_facts_table_filters(corpus_facts):
    rows = facts_table(corpus_facts, towns=["旧院镇"], metrics=["admin_inspections", "admin_penalties"])
    assert [(f.metric, f.value) for f in rows] == [("admin_inspections", 170), ("admin_penalties", 0)]
    assert facts_table(corpus_facts, towns=[]) == []
    assert len(facts_table(corpus_facts)) == len(corpus_facts)


def test_csv_and_xlsx_export(corpus_facts, tmp_path):
    rows = facts_table(corpus_facts, metrics=["propaganda_materials"])
    csv_path = to_csv(rows, tmp_path / "统计表.csv")
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows)
    assert {"镇", "指标", "数值", "单位", "原文", "出处"} <= set(table[0])
    assert not {"段落ID", "指标代码"} & set(table[0])  # internal ids are not what a reader reads
    assert table[0]["镇"] == rows[0].town and table[0]["原文"] == rows[0].quote
    assert table[0]["出处"] == rows[0].citation_label

    from openpyxl import load_workbook

    xlsx_path = to_xlsx(rows, tmp_path / "统计表.xlsx")
    book = load_workbook(xlsx_path)
    sheet = book["统计表"]
    values = list(sheet.values)
    assert values[0][0] == "镇" and len(values) == len(rows) + 1
    assert values[1][0] == rows[0].town
    assert "出处" in values[0] and "段落ID" not in values[0] and "指标代码" not in values[0]
    ids = list(book["编号"].values)  # the ids, on a second sheet, row for row
    assert ids[0][:2] == ("序号", "出处") and "段落ID" in ids[0] and len(ids) == len(rows) + 1
    assert ids[1][ids[0].index("段落ID")] == rows[0].paragraph_id

"""Cleaning and structure: page-break debris re-joined, headings into section paths, numbering."""

from __future__ import annotations

import pytest

from ingest.clean import fold, split_sentences, squash, strip_markup
from ingest.parse import parse_paragraphs, tidy_heading
from ingest.pipeline import parse_file
from tests.conftest import REPORTS


@pytest.fixture(scope="module")
def docs():
    return {d.meta.town: d for d in (parse_file(p) for p in sorted(REPORTS.iterdir()))}


def _joined(docs) -> str:
    return "\n".join(p.text for d in docs.values() for p in d.paragraphs)


@pytest.mark.parametrize("word", ["纪律处分条例", "高质量发展", "重要内容", "农村学法大讲堂", "确保决策", "法治带头人"])
def test_page_break_debris_is_rejoined(docs, word):
    assert word in squash(_joined(docs))


def test_no_paragraph_ends_mid_sentence(docs):
    for doc in docs.values():
        for p in doc.paragraphs:
            if p.role == "body" and len(p.text) > 25:
                assert p.text[-1] in "。；：！？”）)" or p.text.endswith("无。"), (doc.meta.town, p.text[-20:])


def test_numbers_lose_their_spaces_only_in_index_form(docs):
    para = next(p for p in docs["北留镇"].paragraphs if "11.88" in p.text)
    assert "罚款 11.88 万元" in para.text  # display keeps the source characters
    assert "罚款11.88万元" in fold(para.text)


def test_offsets_point_into_the_source(docs):
    for path in sorted(REPORTS.iterdir()):
        source = path.read_text(encoding="utf-8")
        for p in parse_paragraphs(source):
            assert squash(strip_markup(source[p.start : p.end])) == squash(p.text)


@pytest.mark.parametrize(
    ("town", "needle", "path", "number"),
    [
        (
            "东方红镇",
            "现有执法持证人员共计19名",
            ("一、法治政府建设工作开展情况", "（二）坚持多元并举，夯实法治之基"),
            1,
        ),
        ("东方红镇", "普法形式单一", ("二、当前存在的问题",), 1),
        ("二道甸子镇", "理论中心组共组织学法6次", ("三、法治建设情况", "(一)强化政治理论学习,确立社会主义法治理念"), 1),
        ("旧院镇", "乡镇行政执法人员人数不足", ("三、存在的不足和原因", "（二）行政执法力量薄弱"), 1),
        ("旧院镇", "开展行政检查170项", ("一、主要举措和成效", "(二)强化制约监督,推进依法行政"), 1),
        ("北留镇", "执法力度偏软", ("三、2024年推进法治政府建设存在问题短板及原因", "三是执法水平有待提升"), 1),
        (
            "北留镇",
            "罚款 11.88 万元",
            ("一、2024年党政主要负责人履行推进法治建设第一责任人职责情况", "四是筑牢法治基石"),
            1,
        ),
        (
            "三道沟镇",
            "人民调解员26人",
            (
                "一、主要工作措施及成效",
                "（五）推进社会治理创新，维护辖区稳定",
                "1.加强人民调解与司法调解，强化治安防控网格化管理",
            ),
            1,
        ),
        ("三道沟镇", "全年共公开政府信息32条", ("一、主要工作措施及成效", "（四）深化政务公开，增强群众参与度"), 1),
    ],
)
def test_heading_paths(docs, town, needle, path, number):
    para = next(p for p in docs[town].paragraphs if needle in p.text)
    assert para.section_path == path
    assert para.section == path[-1]
    assert para.paragraph == number


def test_front_matter_and_sign_off(docs):
    front = [p.text for p in docs["旧院镇"].paragraphs if p.role == "front"]
    assert "签发人：熊思炜" in front and "旧府〔2025〕24号" in front
    sign = [p.text for p in docs["东方红镇"].paragraphs if p.role == "sign"]
    assert "2025年02月26日印发" in sign


def test_paragraph_numbers_count_within_a_section():
    text = "一、情况\n\n第一段内容很长很长很长很长很长。\n\n第二段内容也很长很长很长很长。\n\n二、问题\n\n问题段落。"
    paras = parse_paragraphs(text)
    assert [(p.section, p.paragraph) for p in paras] == [("一、情况", 1), ("一、情况", 2), ("二、问题", 1)]


def test_markdown_depth_does_not_override_enumeration():
    text = "### 一、主要举措\n\n#### （一）甲项\n\n正文甲。\n\n## (二) 乙项\n\n正文乙。\n\n### 二、问题\n\n正文丙。"
    paths = [p.section_path for p in parse_paragraphs(text)]
    assert paths == [("一、主要举措", "（一）甲项"), ("一、主要举措", "(二)乙项"), ("二、问题",)]


def test_bold_items_become_subsections():
    text = "一、总体\n\n**一是加强学习。**学习内容很多很多。**二是压实责任。**责任内容很多很多。"
    paras = parse_paragraphs(text)
    assert [p.section for p in paras] == ["一是加强学习", "二是压实责任"]
    assert paras[0].text.startswith("一是加强学习。")


def test_hard_wrapped_lines_join():
    text = "一、情况\n\n这是一段被硬换行切开的很长的段落内容，\n它在这里继续并且结束。\n\n另一段。"
    paras = parse_paragraphs(text)
    assert paras[0].text == "这是一段被硬换行切开的很长的段落内容，它在这里继续并且结束。"


def test_tidy_heading_and_sentences():
    assert tidy_heading("## **（二） 行政执法力量薄弱。**") == "（二）行政执法力量薄弱"
    assert split_sentences("一是甲。二是乙；三是“丙。”") == ["一是甲。", "二是乙；", "三是“丙。”"]


def test_fold_handles_traditional_fullwidth_and_spaces():
    assert fold("執法力量 ＡＢＣ １２ 名") == "执法力量abc 12名"
    assert fold("罚款 11.88 万元") == "罚款11.88万元"
    assert fold("fines in 2024") == "fines in 2024"


def test_overlong_paragraph_is_cut_at_sentence_ends():
    text = "一、情况\n\n" + "青石镇开展法治宣传活动。" * 1000
    paras = parse_paragraphs(text)
    assert len(paras) > 3 and all(len(p.text) <= 3000 and p.text.endswith("。") for p in paras)
    assert [p.paragraph for p in paras] == list(range(1, len(paras) + 1))

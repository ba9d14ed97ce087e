"""Answers name units as the question and the reports do: 镇, 乡, 街道 — never all forced to 镇."""

from __future__ import annotations

import pytest

from assistant.query import topic_phrase
from assistant.units import asked_units, unit_of, unit_word


@pytest.mark.parametrize(
    ("question", "units"),
    [
        ("哪些街道开展了普法？", ("街道",)),
        ("哪些乡镇提到法律顾问？", ("镇", "乡", "苏木")),
        ("哪些乡镇（街道）提到述法？", ()),
        ("哪些镇、乡、街道的报告提到了法律顾问？", ("镇", "乡", "街道")),
        ("哪些镇（乡）提到了普法？", ("镇", "乡")),
        ("哪些地方请了律师当顾问？", ()),
        ("哪些镇提到执法力量薄弱？", ("镇",)),
        ("北留镇罚款多少？", ()),
    ],
)
def test_asked_units(question, units):
    assert asked_units(question) == units


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("哪些镇、乡、街道的报告提到了法律顾问？", "法律顾问"),  # was "、乡、街道的报告提到了法律顾问"
        ("哪些镇（乡）提到了普法？", "普法"),  # was "（乡）提到了普法"
        ("哪些乡镇（街道）在报告里提到了领导干部述法？", "领导干部述法"),
        ("哪些乡镇在搞民主法治示范村创建？", "民主法治示范村创建"),
        ("哪些镇提到执法力量薄弱？", "执法力量薄弱"),
    ],
)
def test_topic_phrase_drops_the_whole_question_phrase(question, topic):
    assert topic_phrase(question) == topic


def test_units_of_towns_and_count_words():
    assert [unit_of(t) for t in ("罗子山瑶族乡", "鹤龙街", "坡子街街道", "未识别镇-ab12cd（x.txt）")] == [
        "乡",
        "街道",
        "街道",
        None,
    ]
    assert unit_word(["留下街道", "万兴街"]) == "街道"
    assert unit_word(["北留镇", "红岩乡", "留下街道"]) == "乡镇（街道）"


MIXED = {
    "青石镇.txt": "青石镇2024年法治政府建设工作总结\n\n一、主要工作\n\n青石镇聘请法律顾问1名，审核合同12份。\n",
    "红岩乡.txt": "红岩乡2024年法治政府建设工作总结\n\n一、主要工作\n\n红岩乡聘请法律顾问2名，参与重大决策论证。\n",
    "白云街道.txt": "白云街道2024年法治政府建设工作总结\n\n一、主要工作\n\n白云街道聘请法律顾问3名，为社区提供法律服务。\n",
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    from assistant.service import Assistant
    from assistant.settings import Settings

    folder = tmp_path_factory.mktemp("mixed-reports")
    for name, text in MIXED.items():
        (folder / name).write_text(text, encoding="utf-8")
    assistant = Assistant(Settings(db=str(tmp_path_factory.mktemp("mixed-db"))))
    assert assistant.ingest([str(folder)]).documents == 3
    return assistant


def test_which_streets_lists_only_streets_and_counts_them_as_streets(mixed):
    answer = mixed.ask("哪些街道聘请了法律顾问？")
    assert list(answer.towns) == ["白云街道"]
    assert answer.answer.startswith("共1个街道提到")


def test_which_townships_and_streets_counts_all_units(mixed):
    answer = mixed.ask("哪些乡镇（街道）聘请了法律顾问？")
    assert set(answer.towns) == {"青石镇", "红岩乡", "白云街道"}
    assert answer.answer.startswith("共3个乡镇（街道）提到")
    townships = mixed.ask("哪些乡镇聘请了法律顾问？")
    assert set(townships.towns) == {"青石镇", "红岩乡"} and townships.answer.startswith("共2个乡镇提到")

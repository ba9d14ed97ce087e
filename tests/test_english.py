"""The English reader (assistant/english.py) against small sets of report paragraphs.

The first tests give the reader a hand-written dictionary, so each shows one rule by itself; the
last ones read with the real CC-CEDICT index (built into the cache folder on first use).
"""

from __future__ import annotations

import numpy as np
import pytest

from assistant import english
from assistant.english import Reader, read_text


def reader_for(
    paragraphs: list[str],
    index_words: set[str],
    glosses: dict[str, tuple[str, ...]],
    stems: dict[str, tuple[str, ...]] | None = None,
    words: set[str] = frozenset(),
) -> Reader:
    """A reader over ``paragraphs`` whose dictionary is ``glosses`` (lemmatised key → Chinese words).

    ``index_words`` are the paragraphs' index words (a term the ingest's tokenizer kept whole);
    ``stems`` answers stem look-ups by stemmed key; ``words`` are dictionary entries of their own.
    """

    def frequencies(terms: list[str]) -> dict[str, int]:
        return {t: sum(t in p for p in paragraphs) if t in index_words else 0 for t in terms}

    def rows(term: str) -> np.ndarray:
        return np.array([i for i, p in enumerate(paragraphs) if term in p], dtype=np.int32)

    stems = stems or {}
    return Reader(
        lambda key: glosses.get(key, ()),
        frequencies,
        rows,
        lambda key: stems.get(english.stem_key(key), ()),
        lambda word: word in words,
        lambda row: [paragraphs[row]],
    )


def test_a_derived_word_is_read_by_its_stem():
    reader = reader_for(
        ["依法办理行政复议案件"],
        {"行政", "复议", "行政复议"},
        {"administrative": ("行政",)},
        stems={english.stem_key("reconsider"): ("复议",)},
    )
    assert read_text("which towns talk about administrative reconsideration?", reader) == (
        "which towns talk about 行政复议 ?"
    )


def test_of_puts_the_second_half_first_and_and_joins_in_order():
    reader = reader_for(
        ["推进政务公开", "制定权责清单"],
        {"政务", "公开", "政务公开", "清单", "权责"},
        {
            "openness": ("公开",),
            "government affair": ("政务",),
            "list": ("清单",),
            "power": ("权",),
            "responsibility": ("责",),
        },
    )
    assert read_text("openness of government affairs", reader) == "政务公开"
    assert read_text("a list of powers and responsibilities", reader) == "a 权责清单"


def test_a_join_that_is_a_dictionary_word_of_its_own_is_no_reading():
    """together + law would join as 合法, which is a word meaning lawful; 集中学法 reads all three."""
    reader = reader_for(
        ["集中学法12次", "依法合法经营"],
        {"集中", "学法", "合法", "集中学法"},
        {"study": ("学",), "law": ("法",), "together": ("集中", "合")},
        words={"合法"},
    )
    assert read_text("study law together", reader) == "集中学法"
    assert "合法" not in read_text("law together", reader)


def test_the_segmentation_reading_most_english_words_wins():
    """A glossary word joined to the next English word must not leave the rest unread."""
    reader = reader_for(
        ["党委理论中心组学习制度", "理论中心组集中学法"],
        {"党委", "理论中心组", "学习", "集中", "学法", "集中学法", "理论中心组学习"},
        {"party committee": ("党委",), "study": ("学习", "学"), "law": ("法",), "together": ("集中",)},
    )
    read = read_text("party committee 理论中心组 study law together", reader)
    assert read.endswith(" 集中学法") and "理论中心组学习" not in read


def test_a_glossary_word_joins_the_english_next_to_it():
    reader = reader_for(
        ["繁荣法治文化", "文明创建", "培养人才", "文化站"],
        {"法治", "文明", "培养", "文化"},
        {"culture": ("文明", "培养", "文化")},
    )
    assert read_text("a 法治 culture", reader) == "a 法治文化"
    assert read_text("a culture", reader) == "a culture"  # alone, three readings: none is chosen


def test_readings_inside_one_another_are_one_reading():
    reader = reader_for(["招募志愿者", "志愿服务"], {"志愿", "志愿者"}, {"volunteer": ("志愿", "志愿者")})
    assert read_text("volunteers", reader) == "志愿者"


def test_a_compound_the_dictionary_lacks_is_read_from_the_reports():
    """营商环境: both characters of 营商 come from readings of "business"; 生态 has one, so it is no reading."""
    paragraphs = ["优化营商环境", "持续优化营商环境", "保护生态环境", "生态环境整治", "改善生态环境"]
    reader = reader_for(paragraphs, {"环境", "生态"}, {"business": ("营业", "商业", "生意"), "environment": ("环境",)})
    assert read_text("the business environment", reader) == "the 营商环境"


def test_a_lone_word_of_several_readings_is_read_by_the_question_around_it():
    """The word "special" is 特殊 or 专项; next to 扫黑 (one paragraph, shared with 专项) the reports say 专项."""
    paragraphs = ["扫黑除恶专项斗争", "特殊群体关爱活动", "开展普法活动", "开展宣传活动", "文化活动"]
    reader = reader_for(
        paragraphs,
        {"扫黑", "专项", "特殊", "活动"},
        {"special": ("特殊", "专项"), "campaign": ("活动",), "organized crime": ("扫黑",)},
    )
    assert read_text("the special campaign against organized crime", reader) == "the 专项 活动 against 扫黑"
    assert read_text("a special campaign", reader) == "a 特殊 活动"  # 特殊 shares 1 of 活动's 4, 专项 none
    assert read_text("special", reader) == "special"  # no context: stays English


def test_a_function_word_is_read_only_in_a_dictionary_phrase():
    """The word "organized" shapes "which towns organized lectures", but "organized crime" is a phrase (扫黑)."""
    reader = reader_for(
        ["扫黑除恶专项斗争", "开展法治讲座"], {"扫黑", "讲座"}, {"organized crime": ("扫黑",), "lecture": ("讲座",)}
    )
    assert read_text("which towns fought organized crime", reader) == "which towns fought 扫黑"
    assert read_text("which towns organized lectures", reader) == "which towns organized 讲座"


def test_a_modifier_joins_the_head_character_of_a_glossary_word():
    """行政村 (the glossary's "villages") is a 村; 示范 ("model"), written only inside 示范村, joins it there."""
    reader = reader_for(
        ["建成民主法治示范村", "行政村法律顾问全覆盖", "示范带动"], {"示范村", "行政村"}, {"model": ("示范",)}
    )
    assert read_text("model 行政村", reader) == "示范村"
    assert read_text("model", reader) == "model"  # 示范 is no index word: alone it reads nothing


def test_an_example_gloss_names_its_first_word():
    assert english.gloss_keys("to demonstrate; a model example") == ["demonstrate", "model example", "model"]


def test_a_town_name_never_joins_a_reading():
    reader = reader_for(["东方红镇法治文化"], {"法治", "文化"}, {"culture": ("文化",)})
    assert read_text("东方红镇 culture", reader, towns=("东方红镇",)) == "东方红镇 文化"


@pytest.mark.parametrize(
    ("question", "paragraphs", "index_words", "read"),
    [
        ("which towns mention the business environment?", ["优化营商环境", "保护生态环境"], {"环境"}, "营商环境"),
        ("which towns mention national security?", ["维护国家安全"], {"安全"}, "国家安全"),
        ("which towns mention openness of government affairs?", ["推进政务公开工作"], {"政务", "公开"}, "政务公开"),
        ("which towns mention people's mediation?", ["人民调解委员会"], {"人民", "调解", "人民调解"}, "人民调解"),
        ("which towns held lectures on the rule of law?", ["开展法治讲座"], {"法治", "讲座"}, "法治讲座"),
        ("which towns talk about administrative reconsideration?", ["行政复议案件"], {"行政", "复议"}, "行政复议"),
    ],
)
def test_real_dictionary_reads_report_terms(question, paragraphs, index_words, read):
    """Classes of reading with the real CC-CEDICT: compounds, stems, "of"/"on" joins, people's."""
    d = english.dictionary()

    def frequencies(terms):
        return {t: sum(t in p for p in paragraphs) if t in index_words else 0 for t in terms}

    def rows(term):
        return np.array([i for i, p in enumerate(paragraphs) if term in p], dtype=np.int32)

    reader = Reader(d.words, frequencies, rows, d.stem_words, d.is_word, lambda row: [paragraphs[row]])
    text = question.lower().replace("rule of law", "法治")  # the glossary's line for 法治
    assert read in read_text(text, reader)


def test_a_gloss_with_one_word_more_reads_a_phrase():
    """ "National People's Congress" (人大) and "to fight organized crime" (扫黑) have the phrase's own words."""
    d = english.dictionary()
    assert "人大" in d.paraphrases("people congress")
    assert "扫黑" in d.paraphrases("organized crime")
    assert "普法" not in d.paraphrases("legal awareness")  # other words: only through synonyms


def test_synonyms_read_a_phrase_only_through_a_kept_character():
    """普法 ("to disseminate knowledge of the law") keeps 法 of 依法 (legal); 自来 ("of one's own accord") keeps nothing."""
    loose = english.dictionary().paraphrases("legal awareness", loose=True)
    assert "普法" in loose and "自来" not in loose


@pytest.mark.parametrize(
    ("question", "paragraphs", "index_words", "read", "unread"),
    [
        (
            "which towns' people's congress organised visits?",
            ["镇人大视察", "人民群众"],
            {"人大", "人民"},
            "人大",
            "人民",
        ),
        (
            "which town handed out the most legal awareness materials?",
            ["发放普法宣传资料", "依法行政", "合法合规", "法定职责"],
            {"普法", "资料", "依法", "合法", "法定"},
            "普法",
            "",
        ),
        # "era" is read alone (时代), so "new era" is not read through synonyms (本年度, "this year").
        ("which towns mention the new era?", ["新时代", "本年度工作"], {"时代", "本年度"}, "时代", "本年度"),
    ],
)
def test_real_dictionary_reads_phrases_by_their_glosses(question, paragraphs, index_words, read, unread):
    d = english.dictionary()

    def frequencies(terms):
        return {t: sum(t in p for p in paragraphs) if t in index_words else 0 for t in terms}

    def rows(term):
        return np.array([i for i, p in enumerate(paragraphs) if term in p], dtype=np.int32)

    reader = Reader(d.words, frequencies, rows, d.stem_words, d.is_word, lambda row: [paragraphs[row]], d.paraphrases)
    text = read_text(question.lower(), reader)
    assert read in text and (not unread or unread not in text)


def test_a_words_family_reading_joins_into_a_word_the_reports_write():
    """ "inspection" is 检查; 视察 ("to inspect") is its family's reading and only joins (视察调研), never alone."""
    reader = reader_for(
        ["人大组织开展视察调研活动4次", "开展行政检查17次", "研究制定清单"],
        {"检查", "视察", "调研", "研究"},
        {"inspection": ("检查",), "research": ("研究", "调研")},
        stems={english.stem_key("inspect"): ("视察", "检查")},
    )
    assert read_text("inspection and research", reader) == "视察调研"
    assert read_text("which towns mention inspection?", reader) == "which towns mention 检查 ?"


def test_of_joins_written_as_often_the_one_of_rarer_halves_comes_first():
    """监督，研究 meet across a comma the index drops; 视察 and 调研 are written only together."""
    reader = reader_for(
        ["加强监督研究制定清单", "接受人大监督开展视察调研活动", "监督执法", "监督检查", "研究部署"],
        {"监督", "视察", "调研", "研究"},
        {"research": ("研究", "调研")},
        stems={english.stem_key("inspect"): ("监督", "视察")},
    )
    assert read_text("inspection and research", reader) == "视察调研"


def test_a_synonym_reading_that_is_one_words_own_reading_reads_no_phrase():
    """研究 is a gloss of "research"; read for "research visits" it would drop "visits" unsaid."""
    assert "研究" in english.dictionary().paraphrases("research visit", loose=True)
    d = english.dictionary()
    paragraphs = ["开展调研研究", "视察调研"]

    def frequencies(terms):
        return {t: sum(t in p for p in paragraphs) if t in {"研究", "调研"} else 0 for t in terms}

    def rows(term):
        return np.array([i for i, p in enumerate(paragraphs) if term in p], dtype=np.int32)

    reader = Reader(d.words, frequencies, rows, d.stem_words, d.is_word, lambda row: [paragraphs[row]], d.paraphrases)
    assert "研究" not in read_text("which towns held research visits?", reader)


@pytest.mark.parametrize(
    ("folded", "chinese"),
    [
        ("which town handed out the most 普法资料?", "最多"),
        ("which town imposed the lowest fines?", "最低"),
        ("which towns mention most of the measures?", ""),  # no "the": no superlative
        ("哪个镇罚款最多？", ""),  # a Chinese question's superlative is read in Chinese
    ],
)
def test_an_english_superlative_is_read_as_the_chinese_one(folded, chinese):
    assert english.superlative(folded) == chinese

"""Town names the knowledge base lacks (``assistant.query.unknown_towns``): names, never ordinary words.

A question that names a town no report belongs to abstains ("知识库中没有青石镇的报告"), so a word
that merely ends in 乡/镇/街道 ("能帮乡亲们", "组织镇村干部", "把这五个镇") must not read as one.
Both sides are checked on generated text: every sentence of the 112 reports (demo corpus and
real-world openings) with the county's own towns known, and the county's towns themselves,
each treated as unknown, in questions.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.query import _LOCATIVE, normalise, unknown_towns
from assistant.question_model import words_of
from assistant.text import fold
from ingest.pipeline import parse_file
from vectorstore.kb import town_aliases
from vectorstore.tokenize import default_tokenizer

ROOT = Path(__file__).resolve().parents[1]
REPORTS = sorted([*ROOT.glob("data/reports/*.txt"), *(ROOT / "tests/data/realworld").glob("*.txt")])
UNITS = ("街道", "镇", "乡")


@pytest.fixture(scope="module")
def county():
    """(towns, aliases, sentences) of the reports: the county knowledge base's towns and every sentence."""
    docs = [parse_file(p) for p in REPORTS]
    towns = sorted({d.meta.town for d in docs if d.meta.town_found})
    aliases = {fold(a): t for t in towns for a in town_aliases(t)}
    sentences = [s for d in docs for p in d.paragraphs for s in re.split(r"[。！？；\n]", p.text) if len(s.strip()) > 3]
    return towns, aliases, sentences


def _continues_unit(sentence: str, name: str) -> bool:
    """Whether the unit ending ``name`` begins a dictionary word of its own in the sentence's jieba cut.

    The unit's own compounds (镇政府, 乡党委: the rest a two-character word) and locatives (镇里) keep it a place.
    """
    freq = default_tokenizer().jieba.FREQ
    unit = next(u for u in UNITS if name.endswith(u))
    at = sentence.find(name) + len(name) - len(unit)
    pos = 0
    for word, _ in words_of(sentence):
        start = sentence.find(word, pos)
        pos = start + len(word)
        if start == at and len(word) > len(unit) and freq.get(word, 0):
            rest = word[len(unit) :]
            return not ((len(rest) >= 2 and freq.get(rest, 0)) or _LOCATIVE.fullmatch(rest))
    return False


def _begins_inside_a_word(sentence: str, name: str) -> bool:
    starts, pos = set(), 0
    for word, _ in words_of(sentence):
        start = sentence.find(word, pos)
        pos = start + len(word)
        starts.add(start)
    return sentence.find(name) not in starts


def test_report_sentences_name_no_word_as_a_town(county):
    """No sentence of the reports yields a "town" whose unit starts a word or whose name starts inside one.

    Before the word boundaries, over 200 hits over these sentences (为全镇, 现将我镇, 组织镇, 成立以街道, 城乡 …);
    what is left (33) are mostly verbs the tagger reads as nouns ("部署镇", "研究街道") and 一是街道.
    """
    _, aliases, sentences = county
    hits = []
    for sentence in sentences:
        folded = normalise(sentence)
        for name in unknown_towns(folded, aliases):
            hits.append(name)
            assert not _continues_unit(folded, name), (name, sentence)
            assert not _begins_inside_a_word(folded, name), (name, sentence)
    assert len(hits) <= 40, hits


@pytest.mark.parametrize(
    "question",
    [
        "哪些镇的村干部能帮乡亲们解决法律难题？",
        "有没有乡镇请乡贤来宣讲法治？都是哪些？",
        "哪些街道提到要保护乡土文化？",
        "把这三个镇的普法做法汇总一下",
        "所有街道的法律顾问对比一下",
        "有没有街镇设了基层立法联络点？",
        "哪些地方在争创法治示范街镇？",
        "执法人员遇事能否保持镇定，有哪些乡镇提到？",
    ],
)
def test_words_ending_in_a_unit_name_no_town(question, county):
    _, aliases, _ = county
    assert unknown_towns(normalise(question), aliases, question) == ()


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("青石镇有多少名网格员？", ("青石镇",)),
        ("鼓楼街道的法律顾问是怎么配备的？", ("鼓楼街道",)),
        ("请问六郎镇去年开展了几次普法？", ("六郎镇",)),
        ("那么桃源铺乡呢？", ("桃源铺乡",)),
        ("对比长安镇和白沙乡的人民调解", ("长安镇", "白沙乡")),
        ("青石镇政府聘请了几名法律顾问？", ("青石镇",)),
        ("How many grid workers does Qingshi town have?", ("Qingshi town",)),
    ],
)
def test_towns_not_in_the_knowledge_base_are_named(question, named, county):
    _, aliases, _ = county
    assert unknown_towns(normalise(question), aliases, question) == named


def test_every_county_town_reads_as_a_town_when_unknown(county):
    """Each of the county's towns, taken out of the knowledge base, is named in questions of three shapes."""
    towns, aliases, _ = county
    missed = []
    for i, town in enumerate(towns):
        own = {fold(a) for a in town_aliases(town)}
        others = {a: t for a, t in aliases.items() if t != town}
        if any(a in town or town in a for a in others):
            continue  # another town's name holds this one (新华 of 新华镇 and 新华乡): not unknown
        other = towns[(i + 1) % len(towns)]
        for question in (
            f"{town}有多少名网格员？",
            f"请问{town}的法律顾问是怎么配备的？",
            f"对比{other}和{town}的普法工作",
        ):
            if fold(town) not in unknown_towns(normalise(question), others, question):
                missed.append(question)
        assert own
    # Before the word boundaries 108 of 321 were missed (请问 and 对比 read as part of the name); 20 now:
    # 万兴街 (no unit the pattern knows), 城南街道 (城 starts 城乡), names the tagger reads as a verb (留下街道).
    assert len(missed) <= 25, missed

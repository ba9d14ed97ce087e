"""assistant.text: one owner for folding, sentences and figures on the question side."""

from __future__ import annotations

import pytest

from assistant import text
from ingest import clean

SAMPLES = [
    "罚款 11.88 万元",
    "哪些鎮提到執法力量薄弱？",
    "ＡＢＣ　全角　１２３％",
    "一是强化学习。二是“严格执法”！三是（试行）；四是",
    "Which towns mention weak law enforcement capacity?",
    "\ufeff零宽\u200b字符\r\n换行",
    "  开展培训 3 次 ， 共计 1 200 人次。 ",
    "",
]


@pytest.mark.parametrize("sample", SAMPLES)
def test_question_side_folds_and_splits_like_the_index_side(sample):
    # assistant.text re-exports ingest.clean's own functions: questions and paragraphs must be
    # folded and split alike or retrieval silently degrades.
    assert text.fold(sample) == clean.fold(sample)
    assert text.squash(sample) == clean.squash(sample)
    assert text.split_sentences(sample) == clean.split_sentences(sample)
    assert text.SENTENCE_END == clean.SENTENCE_END


def test_folded_sentences_keep_their_exact_characters():
    assert text.folded_sentences("甲。 乙;丙") == ["甲。", " 乙;", "丙"]
    assert text.folded_sentences("") == [""]
    assert text.folded_sentences("。。") == ["。。"]


def test_sentence_pieces_keep_line_breaks():
    assert text.sentence_pieces("共2个镇：\n- 甲镇。乙镇[1]。\n") == ["共2个镇：", "\n", "- 甲镇。", "乙镇[1]。", "\n"]


@pytest.mark.parametrize(
    ("sentence", "states"),
    [("培训3次", True), ("罚款 11 . 88 万元", True), ("召开三次会议", True), ("十余人参加", True),
     ("一是强化学习", False), ("三重一大", False), ("", False)],
)  # fmt: skip
def test_states_figure(sentence, states):
    assert text.states_figure(sentence) is states


def test_figure_is_arabic_only():
    assert text.FIGURE.findall("2024年罚款11.88万元，三次") == ["2024", "11.88"]

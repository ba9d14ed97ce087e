"""The eval command scores gold files by DESIGN.md's rules; the targets hold on dev and holdout."""

from __future__ import annotations

import json

from click.testing import CliRunner

from assistant.cli import cli
from assistant.evaluate import score_question
from tests.conftest import LOCAL_DEV, ROOT


def test_eval_dev_meets_targets(demo_db):
    result = CliRunner().invoke(cli, ["eval", str(LOCAL_DEV), "--db", str(demo_db), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["evidence_recall"] >= 0.95
    assert summary["all_evidence_rate"] >= 0.90
    assert summary["town_accuracy"] >= 0.90
    assert summary["answer_accuracy"] >= 0.90
    assert summary["abstention_accuracy"] == 1.0


def test_eval_holdout_meets_targets(demo_db):
    result = CliRunner().invoke(cli, ["eval", str(ROOT / "tests/data/holdout.jsonl"), "--db", str(demo_db), "--json"])
    summary = json.loads(result.stdout)["summary"]
    assert summary["evidence_recall"] >= 0.9 and summary["answer_accuracy"] >= 0.85


def test_eval_table_lists_failures(demo_db):
    result = CliRunner().invoke(cli, ["eval", str(LOCAL_DEV), "--db", str(demo_db)])
    assert "证据召回率@5" in result.output and "回答不合格" in result.output


def test_scoring_rules():
    gold = {"id": "q", "type": "multi_town", "towns": ["甲镇"], "towns_optional": ["乙镇"],
            "evidence": [{"town": "甲镇", "text": "执法 力量薄弱"}]}  # fmt: skip
    hit = {"town": "甲镇", "section": "（二）执法力量", "text": "薄弱"}
    answer = {"answer": "…", "towns": ["甲镇", "乙镇"], "abstained": False, "citations": [hit]}
    scored = score_question(gold, [hit], answer)
    assert scored["evidence_found"] == 1 and scored["towns_ok"] and scored["answer_ok"]
    assert not score_question(gold, [hit], {**answer, "towns": ["丙镇", "甲镇"]})["towns_ok"]
    abstain = {"id": "a", "type": "abstain", "towns": [], "evidence": []}
    assert score_question(abstain, [], {"abstained": True, "towns": []})["abstain_ok"]
    assert not score_question(abstain, [], {"abstained": True, "towns": ["甲镇"]})["abstain_ok"]


def test_eval_second_blind_set_does_not_regress(demo_db):
    """30 questions written without reading the code (tests/data/blind2.jsonl, 2026-11-25).

    First run: answers 0.63, town sets 0.55. After the fixes of that session (question kinds, quoted
    topic terms, split compounds, 八五-style plan names, glossary, required terms found as text, spelled-out
    三重一大): answers 0.90, town sets 0.82. The rest (学校 vs 校园 with 青少年 required, 示范家庭 vs 示范户,
    法治化营商环境 vs 法治营商环境) are known misses.
    """
    result = CliRunner().invoke(cli, ["eval", str(ROOT / "tests/data/blind2.jsonl"), "--db", str(demo_db), "--json"])
    summary = json.loads(result.stdout)["summary"]
    assert summary["answer_accuracy"] >= 0.88 and summary["abstention_accuracy"] == 1.0
    assert summary["evidence_recall"] >= 0.9


def test_eval_third_blind_set_does_not_regress(demo_db):
    """24 more questions by a helper who never saw the code (tests/data/blind3.jsonl, 2026-11-25).

    First run, after the second blind set's fixes: answers 0.67, town sets 0.44 — the honest measure of how
    those fixes generalised. After fixing what it exposed (cited notices, asked-for report parts, quoted
    names split by the tokenizer, filler words such as 这类/这套): answers 0.83, town sets 0.67.
    """
    result = CliRunner().invoke(cli, ["eval", str(ROOT / "tests/data/blind3.jsonl"), "--db", str(demo_db), "--json"])
    summary = json.loads(result.stdout)["summary"]
    assert summary["answer_accuracy"] >= 0.8 and summary["abstention_accuracy"] == 1.0

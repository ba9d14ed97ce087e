"""The support decision: fitted weights as data, features without word lists, a fit that can be checked."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from assistant.support import FEATURES, SupportModel, bigram_coverage, default_model, question_bigrams
from tests.conftest import ROOT


def _fit_script():
    spec = importlib.util.spec_from_file_location("fit_support", ROOT / "scripts" / "fit_support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_packaged_model_states_its_provenance():
    model = default_model()
    assert model.features == FEATURES
    assert model.provenance["n_pairs"] >= 300 and 0 < model.threshold < 1
    assert {"precision", "recall", "f1", "auc"} <= set(model.provenance["held_out"])


def test_model_rejects_inconsistent_weights():
    with pytest.raises(ValueError, match="features"):
        SupportModel(("dense",), (0.0,), (1.0,), (1.0, 2.0), 0.0, 0.5, {})


def test_character_bigrams_keep_a_term_the_tokenizer_splits():
    grams = question_bigrams("领导干部述法", stop=[])
    assert "述法" in grams
    weights = {"述法": 4.0, "干部": 1.0, "领导": 1.0}
    assert bigram_coverage(weights, "领导干部年度述法") == 1.0
    assert bigram_coverage(weights, "领导干部年度述职") < 0.5


def test_fit_recovers_a_separable_rule_and_reports_held_out_figures():
    fit = _fit_script()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + 0.2 * rng.normal(size=400) > 0).astype(float)
    groups = [f"q{i // 5}" for i in range(400)]
    figures = fit.report(fit.held_out(x, y, groups), y)
    assert figures["auc"] > 0.95 and figures["precision"] > 0.85 and figures["recall"] > 0.85
    w = fit.fit(x, y)
    assert abs(w[1]) > 5 * abs(w[2])  # the informative feature carries the weight


def test_a_fact_question_in_the_officials_own_words_is_judged_by_the_fitted_decision(demo):
    # The report says "已累计开展远程视频会见380余次"; the question shares almost no term with it
    # (监狱连线, 家属视频见面, 多少回), so the lexical rule alone abstained with the paragraph at hit #1.
    answer = demo.ask("北留跟监狱连线让服刑人员家属视频见面，这一年搞了多少回？")
    assert not answer.abstained
    assert "380余次" in answer.answer and answer.citations[0].town == "北留镇"


def test_the_fitted_decision_still_abstains_when_the_reports_do_not_say(demo):
    for question in ("北留镇2024年的财政收入是多少？", "东方红镇一共有多少座水库？"):
        assert demo.ask(question).abstained, question

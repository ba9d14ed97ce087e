"""The fitted town decision of which-towns questions and the vectorised support probability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assistant.fusion import CANDIDATE_FEATURES, Judged, candidate_features, decide_ranked_towns, decide_towns
from assistant.support import FEATURES, SupportModel, default_model, default_town_model


def test_the_packaged_town_model_loads_with_its_provenance():
    model = default_town_model()
    assert model is not None and set(model.features) <= set(CANDIDATE_FEATURES)
    assert 0 < model.threshold < 1 and model.min_towns > 5
    held_out = model.provenance["held_out"]
    # Fitted on labelled which-towns questions, figures held out by question, and no worse than before.
    assert model.provenance["questions"] == ["train17.jsonl"] and "by question" in model.provenance["folds"]
    assert held_out["exact_town_sets"] >= model.provenance["before"]["exact_town_sets"]
    assert held_out["f1"] >= model.provenance["before"]["f1"]


def test_vectorised_probability_equals_the_one_at_a_time_probability():
    model = default_model()
    rng = np.random.default_rng(0)
    n = 200
    columns = {name: rng.uniform(0, 1, n) for name in FEATURES}
    columns["dense"] = np.where(rng.uniform(size=n) < 0.3, np.nan, rng.uniform(0.8, 0.95, n))  # unknown: NaN
    columns["rule"] = (rng.uniform(size=n) < 0.5).astype(float)
    many = model.probabilities(columns, n)
    for i in range(n):
        one = {name: (None if math.isnan(v[i]) else float(v[i])) for name, v in columns.items()}
        assert many[i] == pytest.approx(model.probability(one), abs=1e-12)


def _read(probability: list[float]) -> Judged:
    p = np.array(probability)
    unknown = np.full(len(p), np.nan)
    return Judged(p, p >= 0.47, unknown, unknown, unknown, p >= 0.47)


def test_candidate_features_read_support_relative_to_the_question():
    """A question in other words lowers every candidate's support alike: the relative features stay put."""
    relevance = np.array([0.9, 0.7, 0.5, 0.4])
    logit = np.array([1.0, 0.5, -2.0, -3.0])
    base = candidate_features(relevance, _read((1 / (1 + np.exp(-logit))).tolist()))
    shifted = candidate_features(relevance, _read((1 / (1 + np.exp(-(logit - 2.5)))).tolist()))
    for name in ("support_logit_gap", "support_z", "relevance_share"):
        assert shifted[name] == pytest.approx(base[name]), name
    assert shifted["question_support"][0] < base["question_support"][0]


def _model(min_towns: int = 0) -> SupportModel:
    return SupportModel(("support",), (0.5,), (0.1,), (1.0,), 0.0, 0.5, {}, min_towns=min_towns)


def test_the_town_model_decides_each_town_on_its_likeliest_candidate_and_none_when_none_clears():
    ids = ["a1", "a2", "b1", "c1"]
    towns = np.array([0, 0, 1, 2])
    scores = np.array([0.9, 0.8, 0.6, 0.5])

    def judge(probability):
        return lambda at: _read([probability[i] for i in at])

    decided = decide_ranked_towns(ids, towns, ["甲", "乙", "丙"], scores, judge([0.3, 0.7, 0.55, 0.2]), 0.5, _model())
    assert [(d.town, d.matched) for d in decided] == [("甲", True), ("乙", True), ("丙", False)]
    assert decided[0].ids[0] == "a2" and decided[0].judged == ("a1", "a2")  # the likeliest candidate leads
    assert decided[0].features.shape == (2, len(CANDIDATE_FEATURES))
    none = decide_ranked_towns(ids, towns, ["甲", "乙", "丙"], scores, judge([0.3, 0.4, 0.2, 0.1]), 0.5, _model())
    assert not any(d.matched for d in none)


def test_fewer_towns_than_the_model_was_fitted_on_keep_the_relevance_share_rule():
    ids, towns, scores = ["a1", "b1"], np.array([0, 1]), np.array([0.9, 0.3])

    def judge(at):
        return _read([[0.9, 0.9][i] for i in at])

    ruled = decide_ranked_towns(ids, towns, ["甲", "乙"], scores, judge, 0.5, _model(min_towns=3))
    assert [(d.town, d.matched) for d in ruled] == [("甲", True), ("乙", False)]  # 0.3 < half of 0.9
    modelled = decide_ranked_towns(ids, towns, ["甲", "乙"], scores, judge, 0.5, _model(min_towns=2))
    assert all(d.matched for d in modelled)
    by_rule = decide_towns(ids, {"a1": "甲", "b1": "乙"}.get, {"a1": 0.9, "b1": 0.3}.get, lambda _: True, 0.5)
    assert [(d.town, d.matched) for d in by_rule] == [("甲", True), ("乙", False)]


def test_the_town_model_adds_towns_to_the_rule_and_never_drops_one_the_rule_keeps():
    """A broad question most towns answer: read relative to one another, the fitted decision would cut most of them
    (the 2,000-report benchmark's which-towns recall fell to 0.69); the rule's towns stay, the model's are added."""
    ids = ["a1", "b1", "c1", "d1"]
    towns, scores = np.array([0, 1, 2, 3]), np.array([0.9, 0.85, 0.8, 0.2])
    strict = SupportModel(("support",), (0.5,), (0.1,), (1.0,), 0.0, 0.999, {}, min_towns=0)

    def judge(at):
        return _read([[0.9, 0.9, 0.9, 0.3][i] for i in at])

    decided = decide_ranked_towns(ids, towns, ["甲", "乙", "丙", "丁"], scores, judge, 0.5, strict)
    assert [d.town for d in decided if d.matched] == ["甲", "乙", "丙"]
    lenient = SupportModel(("support",), (0.5,), (0.1,), (1.0,), 0.0, 0.05, {}, min_towns=0)
    decided = decide_ranked_towns(ids, towns, ["甲", "乙", "丙", "丁"], scores, judge, 0.5, lenient)
    assert all(d.matched for d in decided)  # 丁: refused by the rule, found by the model

"""The support decision: fitted weights as data, features without word lists, a fit that can be checked."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from assistant.support import FEATURES, SupportModel, bigram_coverage, default_model, question_bigrams
from tests.conftest import ROOT
from vectorstore.sentences import standing


def _fit_script():
    spec = importlib.util.spec_from_file_location("fit_support", ROOT / "scripts" / "fit_support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_packaged_model_states_its_provenance():
    model = default_model()
    assert set(model.features) <= set(FEATURES)  # the fit picks among the features the judge computes
    assert model.provenance["n_pairs"] >= 300 and 0 < model.threshold < 1
    assert {"precision", "recall", "f1", "auc"} <= set(model.provenance["held_out"])


def test_pairs_are_derived_from_evidence_spans_with_sentences_outside_them_negative():
    fit = _fit_script()

    class Para:
        town, text = "甲镇", "一是加强学习。全年开展会前学法 12 次，专题学法4次。二是严格执法。"

    marked = fit._sentences(Para(), [("甲镇", "全年开展会前学法12次"), ("乙镇", "二是严格执法")])
    assert [hit for _, hit in marked] == [False, True, False]


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


def test_coverage_of_known_words_ignores_words_only_the_question_uses(demo):
    # 这块/人手/本事 occur in no report: they cannot be any sentence's evidence, so coverage_known
    # weighs only the question's words that the reports use; coverage keeps every word (the rule's).
    retriever = demo.retriever
    query = retriever.understand("哪些镇自己承认执法这块人手不够、执法的人本事也跟不上？")
    topic = retriever.topic(query)
    known = retriever.known_weights(topic)
    assert "执法" in known and not {"这块", "人手", "本事"} & set(known)
    assert {"这块", "人手"} <= set(topic.weights)
    pid = next(p.id for p in demo.kb.paragraphs.values() if "执法力量还有欠缺" in p.text)
    grams = retriever.bigram_weights(query)
    values = retriever.support_features(
        query, topic, pid, None, grams, sentence="三是执法力量还有欠缺,执法队伍还不能够很好完成当下的需求。"
    )
    assert values["coverage_known"] > values["coverage"]
    # Where every word of the question occurs in some report the two are one number.
    plain = retriever.understand("哪些镇执法力量有欠缺？")
    same = retriever.support_features(
        plain, retriever.topic(plain), pid, None, retriever.bigram_weights(plain), sentence="三是执法力量还有欠缺。"
    )
    assert same["coverage_known"] == same["coverage"] > 0.5


def test_standing_is_measured_against_the_questions_background():
    assert standing(0.9, np.array([0.8, 0.82, 0.84])) == 4.899
    assert standing(None, np.array([0.8, 0.9])) is None and standing(0.9, None) is None


def test_window_meaning_sets_a_paragraph_against_the_questions_peak(demo):
    retriever = demo.retriever
    query = retriever.understand("哪些镇建立了法律顾问制度？")
    found = retriever._candidates(query, retriever.topic(query), None, 120, with_evidence=True)
    meaning = retriever.window_meaning(query, None, found.dense)
    gaps = {pid: meaning(pid)["gap"] for pid in found.dense}
    assert max(gaps.values()) == 0.0  # the question's best window is its own peak
    # Both read one similarity: against the background (standing) and against the peak (gap).
    pids = sorted(gaps, key=gaps.__getitem__)
    standings = [meaning(pid)["standing"] for pid in pids]
    assert standings == sorted(standings)
    peak = pids[-1]
    assert "法律顾问" in demo.kb.paragraphs[peak].text


def test_lazy_verdict_is_the_full_verdict_and_skips_what_cannot_matter():
    model = SupportModel(
        features=("dense", "standing", "gap", "rule"), mean=(0.88, 1.0, -0.05, 0.4), scale=(0.02, 1.0, 0.03, 0.5),
        weights=(0.6, 0.3, 0.9, 0.6), bias=-1.0, threshold=0.5, provenance={},
        bounds={"standing": (-2.0, 5.0), "gap": (-0.2, 0.0), "dense": (0.8, 0.95), "rule": (0.0, 1.0)},
    )  # fmt: skip
    rng = np.random.default_rng(0)
    computed = 0
    for _ in range(500):
        values = {"dense": float(rng.uniform(0.8, 0.95)), "rule": float(rng.integers(0, 2))}
        lazy = {"standing": float(rng.uniform(-3, 6)), "gap": float(rng.uniform(-0.3, 0.0))}
        calls = []

        def compute(lazy=lazy, calls=calls):
            calls.append(1)
            return lazy

        assert model.supports_lazily(dict(values), compute) == model.supports({**values, **lazy})
        computed += len(calls)
    assert 0 < computed < 500  # read only where the verdict depends on it


def test_question_vectors_are_safe_to_share_between_sessions(demo):
    """The app's sessions share one retriever: many threads asking more questions than the memo keeps
    (so it is cleared under them) each get the question's own vector, never an error."""
    from concurrent.futures import ThreadPoolExecutor

    from assistant.judging import QUERY_MEMO

    retriever = demo.retriever
    texts = [f"第{i}个问题：执法力量" for i in range(QUERY_MEMO + 4)]
    retriever.forget_query_vectors()
    expected = {t: retriever.embed_query(t) for t in texts}
    retriever.forget_query_vectors()
    asked = texts * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(retriever.embed_query, asked))
    assert all(np.allclose(v, expected[t], atol=1e-5) for t, v in zip(asked, got))

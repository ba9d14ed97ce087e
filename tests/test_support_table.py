"""The support model's features computed in bulk equal the per-paragraph definition, value for value."""

from __future__ import annotations

import numpy as np

from assistant.evidence import EvidenceIndex


def test_contains_joined_is_python_in_on_the_joined_text():
    sentences = [["执法力量薄弱", "人员不足"], ["力量薄弱"], ["薄弱环节", ""], ["普法宣传"]]
    index = EvidenceIndex(["".join(s) for s in sentences], ["", "", "", ""], sentences)
    rows = np.array([0, 1, 2, 3])
    picked, owner = index.sentences_of(rows)
    assert owner.tolist() == [0, 0, 1, 2, 2, 3]
    # Prefixes ending with a needle's head: the needle straddles prefix and sentence.
    prefixes = ["", "执法", "执法力量", "宣传"]
    prefix_of = np.array([0, 0, 1, 2, 2, 3])
    texts = [index.sentence_texts[i] for i in picked.tolist()]
    for needle in ["执法力量薄弱", "力量", "法力", "量薄", "宣传普法", "传普", "薄弱环节", "人员", "无此词"]:
        got = index.contains_joined(needle, picked, prefixes, prefix_of).tolist()
        want = [needle in prefixes[p] + t for p, t in zip(prefix_of.tolist(), texts)]
        assert got == want, needle


def test_feature_table_equals_support_features(demo, dev_questions):
    retriever = demo.retriever
    checked = 0
    for item in dev_questions:
        if item["type"] not in ("multi_town", "compare"):
            continue
        query = retriever.understand(item["question"])
        topic = retriever.topic(query)
        grams = retriever.bigram_weights(query)
        found = retriever._candidates(query, topic, None, 120, per_town=12, with_evidence=True)
        table = retriever.support_feature_table(query, topic, list(found.fused), grams)
        for pid in found.fused:
            for rule in (True, False):
                similarity = found.dense.get(pid)
                want = retriever.support_features(query, topic, pid, similarity, grams, rule)
                assert table.values(pid, similarity, rule) == want, (item["id"], pid)
                checked += 1
    assert checked > 100

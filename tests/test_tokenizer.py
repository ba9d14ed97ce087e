"""Each knowledge base has its own tokenizer: the town names one teaches never leak into another."""

from __future__ import annotations


def test_town_names_stay_with_their_knowledge_base(demo, tmp_path):
    import jieba

    from assistant.service import Assistant
    from assistant.settings import Settings
    from vectorstore.tokenize import tokenize

    towns = demo.kb.towns()
    assert towns
    # Town names the base dictionary does not cut as one word (the point of teaching them).
    unknown = [t for t in towns if t not in tokenize(f"{t}开展普法")]
    assert unknown, towns
    other = Assistant(Settings(db=tmp_path / "empty"))
    assert other.kb.paragraphs == {}  # an empty knowledge base: it knows no towns
    for town in unknown:
        text = f"{town}开展普法"
        assert town in tokenize(text, tokenizer=demo.kb.tokenizer)
        assert town not in tokenize(text, tokenizer=other.kb.tokenizer)
        assert town not in jieba.lcut_for_search(text)  # jieba's global dictionary is left alone
    assert demo.search(f"{unknown[0]}法治宣传", k=3)[0].town == unknown[0]

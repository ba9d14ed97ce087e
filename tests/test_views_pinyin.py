"""The towns' pinyin spellings are saved with the folded forms at ingest and read back, not recomputed."""

from __future__ import annotations

from assistant.views import _town_pinyin, pinyin_aliases, read_forms


def test_pinyin_saved_at_ingest_and_equal_to_computed(demo):
    kb = demo.kb
    data = read_forms(kb.dir)
    towns = kb.towns()
    assert data is not None and set(data["pinyin"]) == set(towns)
    assert _town_pinyin(towns, data) == {t: pinyin_aliases(t) for t in towns}
    # A forms file written before the spellings were saved: computed, the same.
    older = {k: v for k, v in data.items() if k != "pinyin"}
    assert _town_pinyin(towns, older) == _town_pinyin(towns, data)
    # Every town's spelling reaches the aliases a question is read with.
    aliases = demo.retriever.aliases
    assert all(aliases.get(p) == t for t in towns for p in data["pinyin"][t])

"""A filtered dense search fetches a town's vectors by chunk id (the catalogue's view), with Chroma's own filter's result."""

from __future__ import annotations


def test_fetch_by_ids_equals_the_metadata_filter(demo):
    kb = demo.kb
    _ = kb.paragraphs  # the paragraph table, from which the chunk ids come
    store = kb.store
    towns = kb.towns()
    docs = list(kb.metas)
    vector = kb.embedder.embed(["执法力量薄弱"], "query")[0]
    filters = [([t], None) for t in towns] + [
        (towns[:2], None),
        (None, docs[:1]),
        (towns[:3], docs[:2]),
        (["无此镇"], None),
    ]
    assert store.chunk_ids_of is not None
    for towns_, docs_ in filters:
        ids = kb.chunk_ids_of(towns_, docs_)
        matched = store.collection.get(where=_where(towns_, docs_), include=[])["ids"]
        assert sorted(ids) == sorted(matched), (towns_, docs_)
        by_ids = store.query(vector, 7, towns=towns_, doc_ids=docs_)
        store.chunk_ids_of = None
        try:
            by_filter = store.query(vector, 7, towns=towns_, doc_ids=docs_)
        finally:
            store.chunk_ids_of = kb.chunk_ids_of
        assert by_ids == by_filter, (towns_, docs_)
    assert kb.chunk_ids_of(["无此镇"], None) == []


def _where(towns, docs):
    conditions = [{k: {"$in": list(v)}} for k, v in (("town", towns), ("doc_id", docs)) if v]
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}

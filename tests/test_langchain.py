"""The hybrid retriever works as a LangChain BaseRetriever inside a chain."""

from __future__ import annotations

from langchain_core.runnables import RunnableLambda

from assistant.langchain_retriever import TownReportRetriever


def test_invoke_returns_documents_with_citation_metadata(demo):
    retriever = TownReportRetriever(hybrid=demo.retriever, k=8)
    docs = retriever.invoke("执法力量薄弱")
    assert len(docs) == 8
    assert {"二道甸子镇", "旧院镇", "北留镇"} <= {d.metadata["town"] for d in docs}
    meta = docs[0].metadata
    assert {"id", "town", "doc", "section", "paragraph", "score", "citation"} <= set(meta)
    assert meta["citation"] == f"〔{meta['town']} · {meta['section']} · 第{meta['paragraph']}段〕"


def test_in_a_chain(demo):
    chain = TownReportRetriever(hybrid=demo.retriever, k=3) | RunnableLambda(
        lambda docs: [d.metadata["citation"] for d in docs]
    )
    labels = chain.invoke("北留镇罚款多少？")
    assert labels[0].startswith("〔北留镇")

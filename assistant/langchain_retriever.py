"""The hybrid retriever as a LangChain ``BaseRetriever``, to drop into any LangChain chain."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field


class TownReportRetriever(BaseRetriever):
    """LangChain retriever over a knowledge base of township reports.

    Each ``Document`` is one paragraph; ``metadata`` carries ``id``, ``town``, ``doc``,
    ``section``, ``paragraph``, ``score`` and the rendered ``citation`` label.

    Example:
        >>> retriever = TownReportRetriever(hybrid=Assistant().retriever, k=5)  # doctest: +SKIP
        >>> retriever.invoke("哪些镇提到执法力量薄弱？")  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    hybrid: Any = Field(description="an assistant.retrieve.HybridRetriever")
    k: int = Field(default=5, ge=1, le=100)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        from assistant.cite import cite

        return [
            Document(
                page_content=hit.text,
                metadata={
                    "id": hit.id,
                    "town": hit.town,
                    "doc": hit.doc,
                    "section": hit.section,
                    "paragraph": hit.paragraph,
                    "score": hit.score,
                    "citation": cite(hit.town, hit.section, hit.paragraph),
                },
            )
            for hit in self.hybrid.search(query, k=self.k)
        ]

"""The contract every question kind fulfils, and what a kind may use to answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from assistant.compose import Answer
from assistant.kinds.abstain import abstain
from assistant.units import in_units

if TYPE_CHECKING:  # types only: the retriever dispatches through the kinds, not the other way round
    from assistant.cite import Citation
    from assistant.query import Query
    from assistant.retrieve import HybridRetriever, Retrieval, Topic

ANSWER_PASSAGES = 8
"""Passages retrieved to answer a question (more than the 5 a search shows: a town-by-town answer needs
every matched town's evidence, a fact answer compares the top three)."""


class Context(Protocol):
    """What a kind may use to answer (:class:`assistant.answer.Answerer` provides it)."""

    retriever: HybridRetriever

    @property
    def facts(self) -> list:
        """The statistics table of the knowledge base."""

    def cite(self, pid: str, quote: str = "") -> Citation:
        """Citation of a paragraph of the knowledge base."""


@dataclass(frozen=True)
class Answered:
    """A kind's answer and the retrieval it rests on (None when it needed none, e.g. a table lookup)."""

    answer: Answer
    retrieval: Retrieval | None = None


class QuestionKind:
    """One kind of question: how it is recognised, what is retrieved for it, how it is answered.

    Kinds are tried in the order of :data:`assistant.kinds.KINDS`, twice over:

    * :meth:`names` labels a question (``Query.kind``); the first kind that names it wins.
      Kinds that only *answer* some questions differently (a draft, a table lookup) name none.
    * :meth:`recognise` picks the kind that answers; the first whose :meth:`answer` returns an
      answer wins (a kind may decline by returning None).

    The base class answers from retrieval: :meth:`retrieve` (through the retriever, which applies
    the checks every question gets: empty index, unknown towns), abstention when nothing
    supports an answer, else :meth:`compose`.

    Attributes:
        name: The label this kind gives questions ("" when it gives none).
        generative: An LLM, when configured, may rewrite this kind's extractive answer.
        expand_sections: Retrieval follows the best paragraph's section (its siblings come next).
    """

    name: str = ""
    generative: bool = False
    expand_sections: bool = False

    def names(self, query: Query) -> bool:
        """Whether this kind labels the (unlabelled) question."""
        return False

    def recognise(self, query: Query) -> bool:
        """Whether this kind answers the (labelled) question."""
        return bool(self.name) and query.kind == self.name

    def town_by_town(self, query: Query) -> bool:
        """Whether the question is retrieved and decided town by town."""
        return False

    def retrieve(self, retriever: HybridRetriever, query: Query, topic: Topic, k: int) -> Retrieval:
        """The evidence for a question of this kind (called by :meth:`HybridRetriever.retrieve`)."""
        if self.town_by_town(query):
            return retriever.town_by_town(query, k, topic, list(query.towns) or _unit_scope(retriever, query))
        return retriever.passages(query, topic, k, expand_sections=self.expand_sections)

    def answer(self, ctx: Context, query: Query) -> Answered | None:
        """Answer the question (None: this kind declines it after all)."""
        retrieval = ctx.retriever.retrieve(query, k=ANSWER_PASSAGES)
        if retrieval.abstain:
            return Answered(abstain(ctx, retrieval), retrieval)
        return Answered(self.compose(ctx, retrieval), retrieval)

    def compose(self, ctx: Context, retrieval: Retrieval) -> Answer:
        """The answer built from a retrieval that did not abstain."""
        raise NotImplementedError(f"{type(self).__name__} answers without retrieval")


def _unit_scope(retriever: HybridRetriever, query: Query) -> list[str] | None:
    """The towns of the units a question names ("哪些街道…" → the 街道); None for all towns."""
    if not query.units:
        return None
    towns = retriever.kb.towns()
    scope = [t for t in towns if in_units(t, query.units)]
    return None if len(scope) == len(towns) else scope

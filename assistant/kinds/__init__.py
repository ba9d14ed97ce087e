"""Question kinds: one module per kind, one ordered registry, one dispatch.

Each kind (a :class:`~assistant.kinds.base.QuestionKind`) knows how to recognise its questions,
what to retrieve for them and how to answer them:

============================  =================  ==========================================
module                        label              questions
============================  =================  ==========================================
:mod:`.not_question`          —                  markup, punctuation, a lone town name (asks nothing)
:mod:`.draft`                 (summary)          起草/撰写一份…汇总, a summary of named towns (a cited draft)
:mod:`.document_fields`       ``meta``           文号、签发人、落款日期… of a report
:mod:`.figures`               (compare)          各镇分别…多少, 哪个镇…最多 (statistics table)
:mod:`.which_towns`           ``multi_town``     哪些镇…, 哪个镇…, 北留、旧院中哪些… (town by town)
:mod:`.compare`               ``compare``        各镇…, …分别…, 对比…, 北留、旧院… (a table of sentences)
:mod:`.summary`               ``summary``        …存在哪些问题, …有什么打算 (grouped points)
:mod:`.fact`                  ``fact``           everything else (the answering sentence)
:mod:`.abstain`               —                  the answer when retrieval finds no support
============================  =================  ==========================================

:data:`KINDS` is tried in order. The first kind that :meth:`~.QuestionKind.names` a question
gives it its label (``Query.kind``, which decides retrieval and is reported as the answer's
``kind``); the first kind that :meth:`~.QuestionKind.recognise`\\ s it and does not decline
answers it. Adding a kind is one module and one line in :data:`KINDS`.
"""

from __future__ import annotations

from dataclasses import replace

from assistant.kinds.base import Answered, Context, QuestionKind
from assistant.kinds.compare import Compare
from assistant.kinds.document_fields import DocumentFields
from assistant.kinds.draft import Draft
from assistant.kinds.fact import Fact
from assistant.kinds.figures import Figures
from assistant.kinds.not_question import NotAQuestion
from assistant.kinds.summary import Summary
from assistant.kinds.which_towns import WhichTowns
from assistant.query import Query, analyse

KINDS: tuple[QuestionKind, ...] = (
    NotAQuestion(), Draft(), DocumentFields(), Figures(), WhichTowns(), Compare(), Summary(), Fact(),
)  # fmt: skip
"""Every kind, in the order they are tried (the last, :class:`Fact`, takes any question)."""

_BY_NAME = {kind.name: kind for kind in KINDS if kind.name}


def label(query: Query) -> str:
    """The label of an analysed question: the name of the first kind that names it."""
    return next(kind.name for kind in KINDS if kind.names(query))


def understand(question: str, aliases: dict[str, str] | None = None) -> Query:
    """Analyse a question (:func:`assistant.query.analyse`) and label its kind.

    Args:
        question: The question as typed (any script, width or language).
        aliases: Folded town alias → canonical town; towns are not detected when None.

    Returns:
        The analysed, labelled query.

    >>> understand("哪些镇提到执法力量薄弱？").kind, understand("各镇分别发放了多少普法宣传资料？").kind
    ('multi_town', 'compare')
    """
    query = analyse(question, aliases)
    return replace(query, kind=label(query))


def kind_named(name: str) -> QuestionKind:
    """The kind that owns a label (retrieval is decided by the label's kind)."""
    return _BY_NAME[name]


def answer(ctx: Context, query: Query) -> tuple[QuestionKind, Answered]:
    """Answer a labelled question with the first kind that recognises it and does not decline.

    Returns:
        (the kind that answered, its answer and retrieval).
    """
    for kind in KINDS:
        if kind.recognise(query):
            answered = kind.answer(ctx, query)
            if answered is not None:
                return kind, answered
    raise AssertionError("the last kind answers every question")  # Fact.recognise is always true


__all__ = ["KINDS", "Answered", "Context", "QuestionKind", "answer", "kind_named", "label", "understand"]

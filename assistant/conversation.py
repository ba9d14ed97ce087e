"""Multi-turn conversations: resolve follow-ups ("那北留镇呢？", "它的文号是？") from the previous turn.

Resolution is rule-based and visible: the resolved question is returned with the
answer so the user sees what was actually asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.query import detect_towns, normalise, strip_towns

# What may surround the town names in an elliptical follow-up ("那旧院镇呢？", "东方红和北留呢").
_PARTICLES = re.compile(r"那么|那|还有|再看看|再看|换成|以及|和|与|及|、|的|呢|怎么样|如何|情况|[\s，,？?。!！]")
_PRONOUN = re.compile(r"它们?|该镇|这个镇|此镇|那个镇|这些镇|其")


@dataclass(frozen=True)
class Turn:
    """One question and its answer.

    Attributes:
        question: What the user typed.
        resolved: The question actually answered (follow-ups resolved).
        answer: The answer object (``assistant.answer.Answer``).
    """

    question: str
    resolved: str
    answer: object


def resolve_followup(question: str, previous: Turn | None, aliases: dict[str, str]) -> str:
    """Rewrite a follow-up into a self-contained question.

    Args:
        question: The new question.
        previous: The previous turn, if any.
        aliases: Folded town alias → canonical town.

    Returns:
        The self-contained question (unchanged when it is not a follow-up).

    >>> prev = Turn("北留镇罚款多少？", "北留镇罚款多少？", None)
    >>> resolve_followup("那旧院镇呢？", prev, {"旧院镇": "旧院镇", "旧院": "旧院镇", "北留镇": "北留镇"})
    '旧院镇罚款多少？'
    """
    if previous is None:
        return question
    folded = normalise(question)
    towns = detect_towns(folded, aliases)
    prev_towns = detect_towns(normalise(previous.resolved), aliases)
    answer_towns = tuple(getattr(previous.answer, "towns", ()) or ())
    rest = strip_towns(folded, aliases)
    # "那旧院镇呢？": the whole question is towns plus particles: ask the previous question of them.
    if towns and not _PARTICLES.sub("", rest):
        base = previous.resolved
        if prev_towns:
            for old in prev_towns:
                base = base.replace(old, "、".join(towns), 1) if old in base else base
            if not any(t in base for t in towns):
                base = "、".join(towns) + base
            return base
        return "、".join(towns) + base
    # "它的文号是？": a pronoun stands for the previous turn's town(s).
    if not towns and _PRONOUN.search(question):
        subject = prev_towns or answer_towns
        if subject:
            return _PRONOUN.sub("、".join(subject), question, count=1)
    return question


@dataclass
class Conversation:
    """A chat session over an assistant.

    Args:
        assistant: An :class:`assistant.service.Assistant`.
        turns: Turns so far.
    """

    assistant: object
    turns: list[Turn] = field(default_factory=list)

    def ask(self, question: str):
        """Answer a question in the context of this conversation.

        Returns:
            (resolved question, answer).
        """
        question = self.assistant.check_question(question)
        resolved = resolve_followup(question, self.turns[-1] if self.turns else None, self.assistant.retriever.aliases)
        answer = self.assistant.ask(resolved)
        self.turns.append(Turn(question=question, resolved=resolved, answer=answer))
        return resolved, answer

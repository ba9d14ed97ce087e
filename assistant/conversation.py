"""Multi-turn conversations: resolve follow-ups ("那北留镇呢？", "它的文号是？") from the previous turn.

Resolution is visible: the resolved question is returned with the
answer so the user sees what was actually asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.query import detect_towns, normalise, strip_towns
from assistant.question_model import topic_span
from assistant.units import EACH, UNITS, WHICH

_PRONOUN = re.compile(r"它们?|该镇|这个镇|此镇|那个镇|这些镇|其")
# Where a question over all towns names its set of towns ("哪些镇提到…", "各镇分别…"): a follow-up
# naming towns puts them in that place, so the rewrite reads as a sentence ("北留镇是否提到…"),
# not as a town glued before the question ("北留镇哪些镇提到…").
_WHICH = re.compile(rf"(?:{WHICH})(?:{UNITS})(?:的报告)?[中里]?")
_EACH = re.compile(rf"(?:{EACH})(?:{UNITS})(?:分别)?")


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
    # "那旧院镇呢？": the whole question is towns plus scaffolding (那, 呢, 还有, 换成 — no topic word, as
    # the fitted token model reads it): ask the previous question of them.
    if towns and not topic_span(rest):
        return _ask_of(previous.resolved, prev_towns, towns)
    # "它的文号是？": a pronoun stands for the previous turn's town(s).
    if not towns and _PRONOUN.search(question):
        subject = prev_towns or answer_towns
        if subject:
            return _PRONOUN.sub("、".join(subject), question, count=1)
    return question


def _ask_of(base: str, old_towns: tuple[str, ...], towns: tuple[str, ...]) -> str:
    """The previous question asked of other towns, as a sentence.

    >>> _ask_of("哪些镇提到执法力量薄弱？", (), ("北留镇",))
    '北留镇是否提到执法力量薄弱？'
    >>> _ask_of("各镇分别发放了多少普法宣传资料？", (), ("北留镇", "旧院镇"))
    '北留镇、旧院镇分别发放了多少普法宣传资料？'
    >>> _ask_of("执法力量薄弱的原因是什么？", (), ("北留镇",))
    '北留镇：执法力量薄弱的原因是什么？'
    """
    names = "、".join(towns)
    for old in old_towns:
        if old in base:
            base = base.replace(old, names, 1)
    if any(t in base for t in towns):
        return base
    if _WHICH.search(base):
        return _WHICH.sub(names + "是否", base, count=1)
    if _EACH.search(base):
        each = _EACH.search(base).group(0)
        return base.replace(each, names + ("分别" if "分别" in each and len(towns) > 1 else ""), 1)
    # Any other question: the towns first, set off as its scope (the app writes a town filter so too).
    return f"{names}：{base}"


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

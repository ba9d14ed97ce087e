"""Answers remembered across sessions: officials ask the same questions (the examples, the monthly
ones, a question passed round a meeting), and a which-towns answer over 1,200 towns costs ~130 ms
of the one interpreter's time. A question asked again while the knowledge base is unchanged gets
the very answer object computed the first time; one asked by many sessions at once is computed once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

ANSWER_CACHE_SIZE = 512  # answers kept (a which-towns answer at 2,000 reports holds ~1,200 citations)


class AnswerCache:
    """Computed values by key, least recently used dropped first, each computed once at a time.

    Sessions asking the same key at once wait for the one computation instead of each running it;
    a computation that fails is not remembered (the waiters compute it themselves, and fail as
    the first did). Values must be immutable: every session gets the same object.

    Args:
        size: Values kept at most.
    """

    def __init__(self, size: int = ANSWER_CACHE_SIZE) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size
        self.hits = self.misses = 0
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._pending: dict[Hashable, threading.Event] = {}
        self._epoch = 0  # bumped by clear(): a computation begun before it is not remembered
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key``: remembered, or awaited from another caller, or computed now.

        >>> cache, calls = AnswerCache(size=2), []
        >>> compute = lambda: calls.append(1) or len(calls)
        >>> cache.get("a", compute), cache.get("a", compute), cache.get("b", compute)
        (1, 1, 2)
        >>> cache.hits, cache.misses
        (1, 2)
        """
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                self.hits += 1
                return self._values[key]
            epoch, waiting = self._epoch, self._pending.get(key)
            if waiting is None:
                self._pending[key] = threading.Event()
                self.misses += 1
            else:
                self.hits += 1
        if waiting is not None:  # another session is computing it right now
            waiting.wait()
            with self._lock:
                if key in self._values:
                    return self._values[key]
            return compute()  # that computation failed: this caller meets the error itself
        try:
            value = compute()
            with self._lock:
                if epoch == self._epoch:
                    self._values[key] = value
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._pending.pop(key).set()

    def clear(self) -> None:
        """Forget every value (the knowledge base changed); computations under way finish unremembered."""
        with self._lock:
            self._values.clear()
            self._epoch += 1

    def __len__(self) -> int:
        return len(self._values)


class SharedAsker:
    """An assistant whose :meth:`ask` goes through the app: its answer cache, its answer workers.

    A :class:`assistant.conversation.Conversation` built on it resolves follow-ups as before and
    asks the resolved question here, so the key is the self-contained question: a follow-up
    that resolves to a question asked before gets that question's answer. Everything else is
    the assistant's.

    Args:
        assistant: The :class:`assistant.service.Assistant`.
        answer: Computes the answer to a validated question (the assistant's ``ask``, or a worker's).
        cache: The cache shared by every session (None: every question is computed).
    """

    def __init__(self, assistant: Any, answer: Callable[[str], Any], cache: AnswerCache | None = None) -> None:
        self.assistant, self.answer, self.cache = assistant, answer, cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self.assistant, name)

    def ask(self, question: str) -> Any:
        """The answer to ``question`` (validated as :meth:`Assistant.ask` does)."""
        question = self.assistant.check_question(question)
        if self.cache is None:
            return self.answer(question)
        return self.cache.get(question, lambda: self.answer(question))

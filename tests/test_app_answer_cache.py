"""The app remembers answers across sessions until the knowledge base changes."""

from __future__ import annotations

import threading

import pytest

from assistant.app import MODE_ASK, AssistantApp, ChatSession
from assistant.app.answer_cache import AnswerCache

QUESTION = "哪些镇提到执法力量薄弱？"


@pytest.fixture(scope="module")
def app(writable_demo, tmp_path_factory) -> AssistantApp:
    instance = AssistantApp(writable_demo, export_dir=tmp_path_factory.mktemp("exports"))
    instance.warm_up()
    return instance


def _counting(monkeypatch, assistant) -> list[str]:
    asked: list[str] = []
    ask = type(assistant).ask

    def counted(self, question):
        asked.append(question)
        return ask(self, question)

    monkeypatch.setattr(type(assistant), "ask", counted)
    return asked


def test_sessions_share_an_answer_until_the_knowledge_base_changes(app, monkeypatch):
    app.answers.clear()
    asked = _counting(monkeypatch, app.assistant)
    first, second = ChatSession(), ChatSession()
    app.chat(QUESTION, [], MODE_ASK, first)
    app.chat(QUESTION, [], MODE_ASK, second)
    assert asked == [QUESTION]
    assert first.last["markdown"] == second.last["markdown"] and first.last["citations"]
    assert first.messages[-1] == second.messages[-1]
    # A follow-up is remembered by the question it resolves to.
    app.chat("那北留镇呢？", [], MODE_ASK, first)
    app.chat("那北留镇呢？", [], MODE_ASK, second)
    assert asked == [QUESTION, first.last["resolved"]]
    app._refresh()  # what an upload, delete or rename ends with (its warm-up asks directly)
    before = len(asked)
    app.chat(QUESTION, [], MODE_ASK, ChatSession())
    assert asked[before:] == [QUESTION]


def test_a_question_asked_by_many_at_once_is_answered_once(app, monkeypatch):
    app.answers.clear()
    asked = _counting(monkeypatch, app.assistant)
    sessions = [ChatSession() for _ in range(6)]
    threads = [
        threading.Thread(target=app.chat, args=("各镇分别发放了多少普法宣传资料？", [], MODE_ASK, s)) for s in sessions
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(asked) == 1
    assert len({s.messages[-1]["content"] for s in sessions}) == 1


def test_llm_answers_are_not_remembered(writable_demo, tmp_path):
    from assistant.service import Assistant
    from assistant.settings import Settings

    settings = Settings(db=writable_demo.settings.db, llm_url="http://127.0.0.1:9/v1")
    assert AssistantApp(Assistant(settings), export_dir=tmp_path).answers is None


def test_cache_bounds_failures_and_clear():
    cache = AnswerCache(size=2)
    for key in "abc":
        cache.get(key, lambda key=key: key.upper())
    assert len(cache) == 2 and cache.get("a", lambda: "new") == "new"  # "a" was dropped first
    with pytest.raises(RuntimeError):
        cache.get("x", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get("x", lambda: "ok") == "ok"  # a failure is not remembered
    cache.clear()
    assert len(cache) == 0 and cache.get("b", lambda: "again") == "again"


def test_a_computation_begun_before_clear_is_not_remembered():
    cache, started, release = AnswerCache(), threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return "old"

    worker = threading.Thread(target=cache.get, args=("q", slow))
    worker.start()
    started.wait(5)
    cache.clear()
    release.set()
    worker.join()
    assert cache.get("q", lambda: "new") == "new"

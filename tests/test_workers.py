"""Answer worker processes: a served app answers through them as the server process would, follows
the knowledge base, and survives a worker's end. The server runs as ``python -m assistant serve``
(a fresh process, as in use: a process that already embedded cannot fork workers)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from assistant.app import MODE_ASK, AssistantApp, ChatSession
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.workers import AnswerPool, fork_safe, worker_count
from benchmarks.load import AppClient, memory_kb
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow

QUESTIONS = (
    "哪些镇提到执法力量薄弱？",
    "北留镇2024年开展了多少次法治宣传活动？",
    "各镇分别发放了多少普法宣传资料？",
    "火星镇的罚款金额是多少？",
)


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
            found += [int(child) for child in handle.read().split()]
    return found


def _reply(app: AssistantApp, question: str) -> str:
    session = ChatSession()
    app.chat(question, [], MODE_ASK, session)
    return session.messages[-1]["content"]


@pytest.fixture(scope="module")
def served(demo_db, tmp_path_factory):
    """The demo knowledge base (a copy) served with two answer workers; yields (url, server process, db)."""
    db = tmp_path_factory.mktemp("pooled") / "db"
    shutil.copytree(demo_db, db)
    port = free_port()
    env = {**os.environ, "ASSISTANT_WORKERS": "2", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "assistant", "serve", "--db", str(db), "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url + "gradio_api/info", timeout=2).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("the server did not start")
            time.sleep(0.5)
    yield url, server, db
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_workers_answer_as_the_server_process_does(served):
    url, server, db = served
    workers = _children(server.pid)
    assert len(workers) == 2 and all(memory_kb(pid)[0] > 0 for pid in workers)
    client = AppClient(url)
    try:
        served_replies = [client.ask(q) for q in QUESTIONS]
    finally:
        client.close()
    alone = AssistantApp(Assistant(Settings(db=str(db))))
    assert alone.pool is None
    assert served_replies == [_reply(alone, q) for q in QUESTIONS]


FOLLOW = """
import json, sys
from pathlib import Path
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.workers import AnswerPool
db, report, question = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
server = Assistant(Settings(db=str(db)))
pool = AnswerPool(server, 1)
pool.prepare(server.generation())
before = pool.ask(question, server.generation()).answer
Assistant(Settings(db=str(db))).ingest([report])  # as an upload in the app: a second handle in the server process
after = pool.ask(question, server.generation()).answer
print(json.dumps([before, after, Assistant(Settings(db=str(db))).ask(question).answer], ensure_ascii=False))
pool.close()
"""


def test_workers_follow_the_knowledge_base(demo_db, tmp_path):
    """After an upload the worker answers from the new knowledge base, as a fresh process does."""
    db = tmp_path / "db"
    shutil.copytree(demo_db, db)
    text = (ROOT / "data" / "reports" / "北留镇_2024法治政府建设工作情况报告.txt").read_text(encoding="utf-8")
    report = tmp_path / "新河镇_2024法治政府建设工作情况报告.txt"
    report.write_text(text.replace("北留", "新河"), encoding="utf-8")
    question = "新河镇2024年开展了多少次法治宣传活动？"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FOLLOW, str(db), str(report), question],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, fresh = json.loads(done.stdout.strip().splitlines()[-1])
    assert "〔新河镇" not in before and "〔新河镇" in after  # cited only once its report is in
    assert after == fresh


def test_a_worker_that_ends_is_replaced_by_the_others(served):
    url, server, _ = served
    first, second = _children(server.pid)
    os.kill(first, signal.SIGKILL)
    fresh = [f"{town}2024年开展了多少次法治宣传活动？" for town in ("旧院镇", "三道沟镇", "东方红镇", "二道甸子镇")]
    client = AppClient(url)
    try:  # questions not asked before (the server remembers answers): each goes to a worker
        replies = [client.ask(q) for q in fresh[:3]]  # one of them meets the dead worker and is answered anyway
        os.kill(second, signal.SIGKILL)
        replies.append(client.ask(fresh[3]))  # no worker left: the server process answers
    finally:
        client.close()
    assert all(replies) and not any("出错了" in r for r in replies)


def test_pool_setup_rules(writable_demo):
    with pytest.raises(ValueError):
        AnswerPool(writable_demo, 0)
    with pytest.raises(ValueError):
        worker_count({"ASSISTANT_WORKERS": "two"})
    assert worker_count({"ASSISTANT_WORKERS": "0"}) == 0
    writable_demo.ask(QUESTIONS[0])  # this process has embedded: forking workers now would hang them
    assert not fork_safe()
    app = AssistantApp(writable_demo)
    assert not app.start_workers(2) and app.pool is None

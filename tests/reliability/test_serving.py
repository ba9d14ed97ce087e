"""The served app under abuse: password guessing, upload flooding, and report text in exports.

Before, 200 wrong logins took 0.2 s with no throttling; files POSTed straight to Gradio's upload
route piled up in its temp cache until the server stopped; a ``.md`` export carried report text's
``<script>`` and ``<img onerror=…>`` raw, to run in any Markdown viewer that shows HTML. Now a
client's failed logins earn it a growing delay (other clients are not slowed), Gradio's upload
cache is bounded by age and size and cleaned on a schedule, and exports keep report text as text.
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from docx import Document

from assistant.app.server import LoginThrottle, UploadCache, launch_app
from assistant.cite import Citation
from assistant.compose import Answer
from assistant.export import answer_markdown, conversation_markdown, write_docx, write_markdown
from assistant.parts import Bold, Item, Line
from tests.conftest import free_port
from tests.reliability import tally

USER, PASSWORD = "clerk", "s3cret-口令"
CACHE = UploadCache(max_age=4, max_bytes=40_000, interval=0.5)


@pytest.fixture(scope="module")
def served(demo):
    """The app behind a login, with the default throttle and a small upload cache."""
    app = launch_app(
        demo, port=free_port(), auth=[(USER, PASSWORD)], block=False, quiet=True, upload_cache=CACHE
    )  # fmt: skip
    yield app
    app.close()


def _client(address: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client whose connections come from ``address`` (any 127.x.y.z reaches the server)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def _login(client: httpx.Client, url: str, password: str) -> httpx.Response:
    return client.post(f"{url}login", data={"username": USER, "password": password})


def test_failed_logins_earn_a_growing_delay():
    """Played on a fake clock: a guesser that waits exactly as told needs hours for 200 passwords."""
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(200):
        now[0] += throttle.retry_after("10.0.0.9")
        assert throttle.begin("10.0.0.9") == 0
        throttle.end("10.0.0.9", success=False)
        assert throttle.retry_after("10.0.0.7") == 0  # another client is never slowed
    assert now[0] > 15 * 3600, now[0]
    assert [throttle.delay(n) for n in (1, 2, 3, 10, 100)] == [1, 2, 4, 300, 300]
    # One attempt per client at a time: parallel guesses wait too.
    assert throttle.begin("10.0.0.7") == 0 and throttle.begin("10.0.0.7") >= 1
    throttle.end("10.0.0.7", success=True)
    # A correct login clears the record; old failures are forgotten.
    assert throttle.retry_after("10.0.0.7") == 0
    now[0] += 3601
    assert throttle.retry_after("10.0.0.9") == 0


def test_password_guessing_is_throttled_per_client(served):
    url = served.local_url
    codes = []
    start = time.perf_counter()
    with _client() as guesser:
        for n in range(200):
            response = _login(guesser, url, f"guess-{n}")
            codes.append(response.status_code)
        last = response
    seconds = time.perf_counter() - start
    checked = codes.count(400)  # the password was compared
    assert checked <= 3 and codes.count(429) == 200 - checked, (checked, seconds)
    assert "秒后再试" in last.json()["detail"] and int(last.headers["retry-after"]) >= 1
    # The guesser's address waits; a correct login from another client is let in at once.
    with _client("127.0.0.2") as clerk:
        response = _login(clerk, url, PASSWORD)
        assert response.status_code == 200 and response.json() == {"success": True}
    with _client() as guesser:
        assert _login(guesser, url, PASSWORD).status_code == 429
    tally.record("login attempts", faults=200)


def test_uploads_posted_straight_to_gradio_do_not_pile_up(served):
    """Files POSTed to Gradio's upload route are deleted by size at once and by age later."""
    url = served.local_url
    with _client("127.0.0.3") as client:
        assert _login(client, url, PASSWORD).status_code == 200
        paths = []
        for n in range(20):
            body = f"{n:04d}".encode() * 2500  # 10 KB, each different (Gradio stores by content hash)
            response = client.post(f"{url}gradio_api/upload", files=[("files", (f"flood-{n}.txt", body, "text/plain"))])
            assert response.status_code == 200, response.text
            paths += response.json()
    assert len(paths) == 20
    time.sleep(CACHE.interval * 3)
    kept = [Path(p) for p in paths if Path(p).exists()]
    assert sum(p.stat().st_size for p in kept) <= CACHE.max_bytes and len(kept) < 20
    deadline = time.monotonic() + CACHE.max_age + 5
    # A file and its folder go in one sweep, but not atomically: wait for both.
    while any(Path(p).exists() or Path(p).parent.exists() for p in paths) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not any(Path(p).exists() for p in paths)
    assert not any(Path(p).parent.exists() for p in paths)  # nor their per-upload folders
    tally.record("upload floods", faults=20)


SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
LINK = "[详情](javascript:alert(1))"


def _hostile_answer() -> Answer:
    text = f"白石镇全年开展联合执法检查{SCRIPT}15次，{IMG}查处违规占道经营案件8起。{LINK}"
    citation = Citation(
        id="d:p1", town="白石镇", doc="d", section="（一）强化综合执法", paragraph=1, text=text, quote=text
    )  # fmt: skip
    return Answer(
        question=f"白石镇执法检查多少次？{SCRIPT}", blocks=(Line(("共1个镇：",)), Item((Bold("白石镇"), "：", text, citation))),
        towns=("白石镇",), abstained=False, citations=(citation,),
    )  # fmt: skip


def test_markdown_exports_keep_report_markup_as_text(tmp_path):
    answer = _hostile_answer()
    documents = {
        "answer": write_markdown(tmp_path / "a.md", answer.question, answer.blocks, answer.citations).read_text(),
        "llm text": answer_markdown({"question": "问", "answer": f"{IMG}〔白石镇 · （一）强化综合执法 · 第1段〕", "citations": [answer.citations[0]]}),
        "conversation": conversation_markdown([{"question": answer.question, "answer": answer}]),
    }  # fmt: skip
    for name, text in documents.items():
        assert "<script" not in text and "<img" not in text and "](javascript" not in text, name
        assert "&lt;script>window.__xss=1&lt;/script>" in text, name  # shown, as text
    tally.record("markup in exports", faults=len(documents))


def test_word_exports_are_plain_text_runs(tmp_path):
    answer = _hostile_answer()
    path = write_docx(tmp_path / "a.docx", answer.question, answer.blocks, answer.citations)
    xml = zipfile.ZipFile(path).read("word/document.xml").decode()
    assert "<script" not in xml and "<img" not in xml
    text = "\n".join(p.text for p in Document(str(path)).paragraphs)
    assert SCRIPT in text and IMG in text  # the report's characters, as written
    assert os.path.getsize(path) > 0
    tally.record("markup in exports")

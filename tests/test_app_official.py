"""Issue 17 and issue 13 (part 3) without a browser: what an official meets, handler by handler.

Fresh views after any knowledge-base change (also one made by another process), setting a
document's town, honest statistics, drafts, no dead ends, Chinese texts, citation links.
"""

from __future__ import annotations

import re

import docx
import gradio as gr
import pytest
from click.testing import CliRunner

from assistant.app import MODE_ASK, MODE_DRAFT, AssistantApp
from assistant.app.chat_tab import link_citations
from assistant.app.common import EMPTY_HINT, INPUT_HINTS, NOT_A_QUESTION, is_small_talk
from assistant.app.i18n import LOCALE_JS, i18n_module
from assistant.cli import cli
from assistant.conversation import Turn, resolve_followup
from assistant.export import write_docx
from assistant.sections import SUGGESTIONS
from assistant.service import Assistant
from assistant.summarize import _drop_connective, draft_summary

ALIASES = {"北留镇": "北留镇", "北留": "北留镇", "旧院镇": "旧院镇", "旧院": "旧院镇"}


@pytest.fixture(scope="module")
def app(writable_demo, tmp_path_factory) -> AssistantApp:
    instance = AssistantApp(writable_demo, export_dir=tmp_path_factory.mktemp("exports"))
    instance.warm_up()
    return instance


# --------------------------------------------------------------------------- follow-ups


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        ("哪些镇提到执法力量薄弱？", "那北留镇呢？", "北留镇是否提到执法力量薄弱？"),
        ("哪些镇的报告中提到法律顾问？", "旧院镇呢", "旧院镇是否提到法律顾问？"),
        ("各镇分别发放了多少普法宣传资料？", "那北留和旧院呢？", "北留镇、旧院镇分别发放了多少普法宣传资料？"),
        ("北留镇罚款多少？", "那旧院镇呢？", "旧院镇罚款多少？"),
        ("执法力量薄弱的原因是什么？", "那北留镇呢？", "北留镇：执法力量薄弱的原因是什么？"),
    ],
)
def test_follow_up_rewrites_read_as_sentences(previous, question, expected):
    resolved = resolve_followup(question, Turn(previous, previous, None), ALIASES)
    assert resolved == expected
    assert not re.search(r"镇哪些镇|镇各镇", resolved)


# --------------------------------------------------------------------------- no dead ends


def test_every_input_gets_a_visible_response(app):
    messages, box, *_ = app.chat("   ", [], MODE_ASK, None)
    assert messages == [{"role": "assistant", "content": EMPTY_HINT}] and box == ""
    for text in ("你好！", "？？？", "谢谢"):
        assert is_small_talk(text)
        _, _, _, _, session = app.chat(text, [], MODE_ASK, None)
        assert session.messages[-1]["content"] == NOT_A_QUESTION and session.last is None
    assert not is_small_talk("北留镇罚款多少？")
    assert INPUT_HINTS[MODE_ASK] != INPUT_HINTS[MODE_DRAFT]
    assert app.on_mode(MODE_DRAFT).placeholder == INPUT_HINTS[MODE_DRAFT]


def test_cli_ask_on_an_empty_knowledge_base_names_the_fix(tmp_path):
    result = CliRunner().invoke(cli, ["ask", "哪些镇提到执法力量薄弱？", "--db", str(tmp_path / "empty")])
    assert result.exit_code != 0
    assert "python -m assistant ingest 目录" in result.output


def test_cli_stats_prints_a_header(demo_db):
    result = CliRunner().invoke(cli, ["stats", "--metric", "普法宣传资料", "--db", str(demo_db)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split("\t") == ["镇", "指标", "数值", "出处"] and len(lines) > 1


# --------------------------------------------------------------------------- Chinese texts, citation links


def test_gradio_language_switch_is_found():
    """The page switches Gradio to zh-CN through its i18n module (the browser test shows the texts)."""
    assert i18n_module() and i18n_module().startswith("core-")
    assert "changeLocale" in LOCALE_JS and "zh-CN" in LOCALE_JS


def test_citation_labels_in_the_answer_are_links(app):
    _, _, radio, _, session = app.chat("哪些镇提到执法力量薄弱？", [], MODE_ASK, None)
    reply = session.messages[-1]["content"]
    links = re.findall(r"\]\(#cite-(\d+)\)", reply)
    assert links and {int(n) for n in links} <= set(range(len(radio.choices)))
    label, _ = session.last["sources"][0]
    assert f"[{label}](#cite-0)" in reply
    assert link_citations("无引用。", []) == "无引用。"


# --------------------------------------------------------------------------- statistics


def test_chart_draws_every_figure_once_and_sums_nothing(app):
    key = next(k for label, k in app.metric_choices() if "学法" in label)
    data = app.stats_data(key, ["北留镇"])
    frame = data["frame"]
    values = sorted(frame["数值"].tolist())
    facts = app.filtered_facts(key, ["北留镇"])
    assert len(frame) + data["note"].count("\n- ") == len(facts)  # nothing dropped silently
    assert max(values) < sum(values)  # the bars are the figures, not a total
    for f in facts:
        assert f.citation_label in set(frame["出处"]) or f.citation_label in data["note"]
    assert "不相加" in data["title"]


# --------------------------------------------------------------------------- drafts


def test_draft_points_read_on_their_own_and_suggestions_are_a_group(demo, tmp_path):
    draft = draft_summary(demo, "法治政府建设", ["北留镇"], per_town=8)
    items = [b for b in draft.blocks if type(b).__name__ == "Item"]
    assert items
    for item in items:
        sentence = item.inline[0]
        assert _drop_connective(sentence) == sentence, sentence
        assert not sentence.startswith("现将")
    headings = [(b.level, b.text) for b in draft.blocks if type(b).__name__ == "Heading"]
    assert (3, SUGGESTIONS) in headings
    everything = draft_summary(demo, "法治建设")
    assert all(_drop_connective(b.inline[0]) == b.inline[0] for b in everything.blocks if type(b).__name__ == "Item")

    path = write_docx(tmp_path / "汇总.docx", draft.title, draft.blocks, draft.citations)
    styles = [(p.style.name, p.text) for p in docx.Document(str(path)).paragraphs if p.style.name != "Normal"]
    headings = [(s, t) for s, t in styles if s.startswith(("Title", "Heading"))]
    assert headings[0] == ("Title", draft.title)
    assert ("Heading 1", "北留镇") in headings and ("Heading 2", SUGGESTIONS) in headings
    assert headings[-1] == ("Heading 1", "引用")  # the endnote list at the level of the towns


# --------------------------------------------------------------------------- fresh views, setting a town


def test_rename_reaches_every_page_and_another_process(app, writable_demo):
    demo = app.build()
    assert any(getattr(f.fn, "__name__", "") == "on_rename" for f in demo.fns.values())
    seen = app.generation()
    unchanged = app.page_views(seen, [], None, "", [])
    assert unchanged == tuple(gr.skip() for _ in unchanged)  # a page that is up to date is left alone

    # A second server process over the same knowledge base (or the CLI) renames a town…
    other = Assistant(writable_demo.settings)
    doc = next(d for d in other.kb.catalog.documents() if d["town"] == "旧院镇")
    other.kb.rename_town(doc["doc_id"], "旧院乡")
    # …and this app notices by the generation, without 刷新 or restart.
    assert "旧院乡" in app.towns() and "旧院镇" not in app.towns()
    views = app.page_views(seen, ["旧院镇", "北留镇"], doc["doc_id"], "", [])
    generation, town_filter, rows, picker = views[:4]
    assert generation != seen
    assert any("旧院乡" in str(c) for c in town_filter.choices)
    assert town_filter.value == ["北留镇"]  # a selection of a town that no longer exists is dropped
    assert any(row[0] == "旧院乡" for row in rows) and picker.value == doc["doc_id"]
    # A tick that read "nothing picked" must not clear a document picked while it ran (a stale
    # tick's reply reset the picker just before 修改镇名 in a loaded full test run).
    picker = app.page_views(seen, [], None, "", [])[3]
    assert "value" not in picker and any(doc["doc_id"] in str(c) for c in picker["choices"])
    answer = app.answer("旧院乡的文号是什么？", [], MODE_ASK, type(app.clear()[4])())
    assert "旧院乡" in answer["markdown"]

    # The 知识库 tab sets it back; the message says so and the table shows it at once.
    status, rows, _, _ = app.on_rename(doc["doc_id"], "旧院镇")
    assert "旧院镇" in status and any(row[0] == "旧院镇" for row in rows)
    assert app.rename_town(doc["doc_id"], " ").startswith("请输入镇名")
    assert app.rename_town(None, "青石镇").startswith("请先")
    assert other.generation() == app.generation()

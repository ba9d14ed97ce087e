"""Exports rendered from an answer's parts match the exports read back from its Markdown."""

from __future__ import annotations

import docx
import pytest

from assistant.export import answer_markdown, conversation_markdown, document_markdown, footnote, write_docx
from assistant.summarize import draft_summary

QUESTIONS = (
    "哪些镇提到执法力量薄弱？", "各镇分别发放了多少普法宣传资料？", "哪个镇调解矛盾纠纷最多？", "北留镇下一步有什么打算？",
    "北留镇2024年行政处罚罚款金额是多少？", "各镇报告由谁签发？", "青石镇有多少名网格员？", "各镇在法律顾问方面分别做了什么？",
    "起草一份各镇普法工作的汇总", "北留镇和旧院镇罚款多少？",
)  # fmt: skip


def _docx_text(path) -> list[str]:
    document = docx.Document(str(path))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return [p.text for p in document.paragraphs if p.text.strip()] + cells


@pytest.mark.parametrize("question", QUESTIONS)
def test_parts_and_markdown_export_alike(demo, question, tmp_path):
    answer = demo.ask(question)
    citations = list(answer.citations) or list(answer.related)
    assert footnote(answer.blocks, citations) == footnote(answer.answer, citations)
    assert document_markdown(question, answer.blocks, citations) == document_markdown(
        question, answer.answer, citations
    )
    assert answer_markdown(answer) == document_markdown(question, answer.answer, citations)
    from_parts = write_docx(tmp_path / "parts.docx", question, answer.blocks, citations)
    from_text = write_docx(tmp_path / "text.docx", question, answer.answer, citations)
    assert _docx_text(from_parts) == _docx_text(from_text)


def test_draft_and_conversation_export_alike(demo):
    draft = draft_summary(demo, "普法", None)
    assert document_markdown(draft.title, draft.blocks, draft.citations) == document_markdown(
        draft.title, draft.markdown, draft.citations
    )
    answer = demo.ask(QUESTIONS[0])
    with_parts = [{"question": QUESTIONS[0], "blocks": answer.blocks, "citations": answer.citations}]
    with_text = [{"question": QUESTIONS[0], "markdown": answer.answer, "citations": answer.citations}]
    strip = lambda text: text.split("\n", 3)[3]  # noqa: E731 - the export time differs
    assert strip(conversation_markdown(with_parts)) == strip(conversation_markdown(with_text))

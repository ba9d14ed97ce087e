"""The app's citation list: grouped per paragraph in the export's footnote order (assistant.app.common.group_sources)."""

from __future__ import annotations

from assistant.app.common import group_sources
from assistant.cite import Citation
from assistant.export import citation_label, footnote
from assistant.parts import Bold, Gap, Heading, Item, Line, Strong, Table, Text


def _c(town: str, paragraph: int, quote: str = "") -> Citation:
    return Citation(id=f"{town}-{paragraph}", town=town, doc="d", section="一、问题", paragraph=paragraph,
                    text="段落正文。", quote=quote)  # fmt: skip


def _by_footnote(body, citations) -> list[tuple[str, list]]:
    """The definition: the notes of the footnoted text, each with the citations of its label."""
    _, notes = footnote(body, citations)
    groups: dict[str, list] = {}
    for c in citations:
        groups.setdefault(citation_label(c), []).append(c)
    return [(note.label, groups[note.label]) for note in notes if note.label in groups]


def test_order_of_parts_matches_the_footnotes():
    a, b, c, d, e = _c("甲镇", 1, "一句。"), _c("乙镇", 2), _c("丙镇", 3), _c("丁镇", 4), _c("戊镇", 5)
    a2 = _c("甲镇", 1, "另一句。")  # the same paragraph quoted twice: one group
    outsider = _c("己镇", 6)  # mentioned in text but not among the answer's citations
    blocks = (
        Heading("标题", 2),
        Line(("共 3 个镇：", c)),
        Item((Bold("乙镇"), "：", "〔丁镇 · 一、问题 · 第4段〕 是文字", b)),  # a label in plain text is not a mention
        Table(("镇", "数"), (((Bold("甲镇"),), ("3", a)), (("乙镇",), ("4", b, a2)))),
        Text(f"见{outsider.render()}与{e.render()}。"),
        Gap(),
        Strong(d.render()),
    )
    citations = [a, b, c, d, e, a2]
    got = group_sources(blocks, citations)
    assert got == _by_footnote(blocks, citations)
    assert [label for label, _ in got][:4] == [c.render(), b.render(), a.render(), e.render()]
    assert got[2][1] == [a, a2]
    assert got[-1][0] == d.render()  # never mentioned: after the mentioned ones


def test_markdown_body_and_empty_cases():
    a, b = _c("甲镇", 1), _c("乙镇", 2)
    text = f"先{b.render()}，再{a.render()}，又{b.render()}。"
    assert group_sources(text, [a, b]) == _by_footnote(text, [a, b]) == [(b.render(), [b]), (a.render(), [a])]
    assert group_sources("", [a]) == _by_footnote("", [a]) == [(a.render(), [a])]
    assert group_sources((), []) == _by_footnote((), []) == []

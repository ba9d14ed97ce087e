"""Citations: the record, its rendering, and the validator every answer passes.

A citation points at one paragraph (town · section · paragraph number) and may
carry the exact sentence quoted from it. The validator is the guarantee behind
"nothing is stated that the reports don't say": each cited paragraph must exist,
belong to the stated town, and contain the quoted text verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.text import squash
from ingest.records import Paragraph


@dataclass(frozen=True)
class Citation:
    """A pointer to the paragraph a claim rests on.

    Attributes:
        id: Paragraph id.
        town: Town of the paragraph.
        doc: Document id.
        section: Innermost section heading.
        paragraph: 1-based number inside the section.
        text: Full paragraph text.
        quote: The sentence(s) quoted from the paragraph ("" when none).
    """

    id: str
    town: str
    doc: str
    section: str
    paragraph: int
    text: str
    quote: str = ""
    year: int | None = None

    def render(self) -> str:
        """``〔北留镇 · 二、存在的问题 · 第3段〕`` (``〔北留镇（2023年） · …〕`` when the year is shown)."""
        town = f"{self.town}（{self.year}年）" if self.year else self.town
        return cite(town, self.section, self.paragraph)

    def to_dict(self) -> dict:
        """The CLI contract's citation object (plus ``quote`` and ``label``)."""
        return {
            "id": self.id,
            "town": self.town,
            "doc": self.doc,
            "section": self.section,
            "paragraph": self.paragraph,
            "text": self.text,
            "quote": self.quote,
            "year": self.year,
            "label": self.render(),
        }

    @classmethod
    def of(cls, p: Paragraph, quote: str = "", show_year: bool = False) -> Citation:
        """Citation of a paragraph, optionally quoting part of it.

        Args:
            p: The paragraph.
            quote: Sentence(s) quoted from it.
            show_year: Put the report year in the label (when the town has reports of several years).
        """
        return cls(
            id=p.id, town=p.town, doc=p.doc_id, section=p.section, paragraph=p.paragraph, text=p.text, quote=quote,
            year=p.year if show_year else None,
        )  # fmt: skip


def citation_for(kb, pid: str, quote: str = "") -> Citation:
    """Citation of paragraph ``pid`` of a knowledge base; the year is shown when its town has several reports."""
    p = kb.paragraphs[pid]
    return Citation.of(p, quote=quote, show_year=p.town in kb.multi_report_towns)


def cite(town: str, section: str, paragraph: int | str) -> str:
    """Render a citation label: the one place its format is written (answers, exports, the app use it).

    >>> cite("北留镇", "二、存在的问题", 3)
    '〔北留镇 · 二、存在的问题 · 第3段〕'
    """
    return f"〔{town} · {section} · 第{paragraph}段〕"


class CitationError(ValueError):
    """A citation that does not hold."""


def validate(citations: list[Citation], paragraphs: dict[str, Paragraph]) -> None:
    """Check every citation against the index.

    Args:
        citations: Citations of an answer.
        paragraphs: All paragraphs by id.

    Raises:
        CitationError: A paragraph is missing, belongs to another town or section,
            or does not contain the quote.
    """
    for c in citations:
        p = paragraphs.get(c.id)
        if p is None:
            raise CitationError(f"cited paragraph {c.id} is not in the index")
        if p.town != c.town:
            raise CitationError(f"paragraph {c.id} belongs to {p.town}, not {c.town}")
        if (p.section, p.paragraph) != (c.section, c.paragraph):
            raise CitationError(f"paragraph {c.id} is {p.section} #{p.paragraph}, not {c.section} #{c.paragraph}")
        # A quote found as it stands is found without whitespace too (squash only deletes whitespace);
        # squashing both is for quotes that differ from the text in whitespace only.
        if c.quote and c.quote not in p.text and squash(c.quote) not in squash(p.text):
            raise CitationError(f"paragraph {c.id} does not contain the quoted text {c.quote[:30]!r}")

"""Bounds on what one file may cost to ingest, checked before anything is embedded.

A file's size on disk says little about its cost: a 90 KB .docx can inflate to 100 MB
of XML, a PDF can hold thousands of pages, a pasted text can be one 40 MB line. Each
bound is checked as early as the format allows (zip directory before unzipping, page
count before extracting, characters before parsing, paragraphs before chunking), so a
hostile file is refused in well under a second and the rest of the folder goes on.

Every refusal is a :class:`ingest.load.LoadError` with a one-line Chinese reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one document may cost.

    The defaults hold a very long annual report (~50,000 characters) forty times over.

    Attributes:
        max_inflated_bytes: Total uncompressed size of a .docx's zip members.
        max_xml_bytes: Uncompressed size of its main text part (``word/document.xml``).
        max_pdf_pages: Pages of a PDF.
        max_chars: Characters of decoded text.
        max_paragraphs: Paragraphs after parsing.
    """

    max_inflated_bytes: int = 200 * 1024 * 1024
    max_xml_bytes: int = 40 * 1024 * 1024
    max_pdf_pages: int = 2_000
    max_chars: int = 2_000_000
    max_paragraphs: int = 20_000

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")


#: The bounds an ingest applies (library calls such as ``parse_file`` apply none unless given).
INGEST_LIMITS = Limits()

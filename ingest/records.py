"""Typed records passed between pipeline stages.

Data flows one way: ``load`` gives a :class:`SourceText`, ``parse`` gives
:class:`Paragraph` records, ``metadata`` gives a :class:`DocumentMeta`, ``chunk``
gives :class:`Chunk` records. Every record is a frozen dataclass so a stage can
never mutate what an earlier stage produced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class SourceText:
    """A decoded source file.

    Attributes:
        path: Path of the file as given to the loader.
        text: Decoded text (newlines normalised to ``\\n``).
        encoding: Detected encoding, or the container format (``docx``/``pdf``).
        sha256: Hash of the raw bytes; the document's identity for incremental ingest.
        kind: File kind: ``txt``, ``md``, ``docx`` or ``pdf``.
    """

    path: str
    text: str
    encoding: str
    sha256: str
    kind: str


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of a report: the unit every citation points at.

    Attributes:
        id: Stable id ``{doc_id}:{ordinal}``.
        doc_id: Document id (prefix of the content hash).
        town: Canonical town name, e.g. ``北留镇``.
        section: Innermost section heading, e.g. ``二、存在的问题``.
        section_path: Headings from the outermost section to ``section``.
        paragraph: 1-based paragraph number inside ``section``.
        text: Display text: the source paragraph with page-break debris re-joined
            and markup removed, original characters otherwise kept.
        start: Offset of the paragraph's first character in the decoded source.
        end: Offset just past its last character in the decoded source.
        ordinal: 0-based position of the paragraph in its document.
        year: Report year, when the document states one.
        role: ``body``, ``front`` (masthead, 文号, title) or ``sign`` (落款).
    """

    id: str
    doc_id: str
    town: str
    section: str
    section_path: tuple[str, ...]
    paragraph: int
    text: str
    start: int
    end: int
    ordinal: int
    year: int | None = None
    role: str = "body"

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["section_path"] = list(self.section_path)
        return data


@dataclass(frozen=True)
class DocumentMeta:
    """Metadata read from a report's content (never from its file name).

    Attributes:
        doc_id: Document id (prefix of the content hash).
        town: Canonical town, or a visible placeholder when none was found.
        town_found: False when ``town`` is a placeholder the user should fix.
        county: County-level city/county where stated (e.g. ``虎林市``).
        title: Report title.
        year: Year the report covers.
        doc_number: 文号, e.g. ``旧府〔2025〕24号``.
        signer: 签发人.
        issuer: Issuing body from the 落款 or masthead.
        date: 落款 date as ISO ``YYYY-MM-DD``.
        source_path: Path the document was ingested from.
        sha256: Hash of the raw bytes.
        warnings: Problems found while reading metadata, in Chinese for the user.
        parser: Version of the parser that read the document (0: before versions were
            recorded); a document read by an older parser is parsed again at the next ingest.
    """

    doc_id: str
    town: str
    town_found: bool = True
    county: str | None = None
    title: str | None = None
    year: int | None = None
    doc_number: str | None = None
    signer: str | None = None
    issuer: str | None = None
    date: str | None = None
    source_path: str = ""
    sha256: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    parser: int = 0

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class Chunk:
    """A unit of text embedded and indexed; cites the paragraph(s) it covers.

    Attributes:
        id: Stable id ``{doc_id}:c{n}``.
        doc_id: Document id.
        town: Canonical town.
        paragraph_ids: Ids of the paragraphs this chunk covers (at least one).
        section: Section heading of the first covered paragraph.
        text: Chunk text (display form).
        context: Text to embed: section heading and chunk text.
    """

    id: str
    doc_id: str
    town: str
    paragraph_ids: tuple[str, ...]
    section: str
    text: str
    context: str


@dataclass(frozen=True)
class ParsedDocument:
    """Everything ingest knows about one document.

    Attributes:
        meta: Document metadata.
        paragraphs: Paragraphs in reading order.
        chunks: Chunks to index.
    """

    meta: DocumentMeta
    paragraphs: tuple[Paragraph, ...]
    chunks: tuple[Chunk, ...]

"""Document metadata read from a report's content: town, county, title, 文号, 签发人, date.

Never from the file name: files arrive as ``001_580fd8be.txt`` or ``新建文本文档.txt``.
The issuing body (masthead, 落款) is the most reliable witness of the town; the
title comes next; the body text only breaks ties.
"""

from __future__ import annotations

import re
from collections import Counter

from ingest.parse import DATE_LINE, DOC_NUMBER, SIGNER_LINE, ParsedParagraph
from ingest.records import DocumentMeta

UNKNOWN_TOWN_PREFIX = "未识别镇"

_HAN = r"\u4e00-\u9fa5"
# Town-level units: 镇, 乡 (incl. 民族乡), 街道, 苏木.
_TOWN = rf"[{_HAN}]{{2,8}}?(?:镇|乡|街道|苏木)"
_COUNTY = rf"[{_HAN}]{{2,4}}?(?:市|县|区|旗)"
_ISSUER = re.compile(
    rf"(?:中共|中国共产党)?(?P<county>{_COUNTY})?(?P<town>{_TOWN})"
    r"(?:人民政府|委员会|党委|政府|办事处|人大|纪委)"
)
_TITLE_TOWN = re.compile(rf"^(?P<county>{_COUNTY})?(?P<town>{_TOWN})(?=\s*(?:19|20)\d{{2}}|\s*关于)")
_TITLE_WORDS = re.compile(r"报告|总结|情况|汇报|要点|计划|自查")
_YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
_DATE = re.compile(r"((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
# Words that end in 镇/乡/市 but name no place.
_NOT_PLACES = {"城镇", "乡镇", "全镇", "本镇", "我镇", "该镇", "各镇", "城乡", "下乡", "全乡", "本乡",
               "全市", "本市", "城市", "全县", "本县", "该县", "全区", "本区", "辖区", "社区", "城区",
               "市县", "省市", "市区", "街道"}  # fmt: skip
_GENERIC_PREFIX = re.compile(r"^(?:中共|中国共产党)")


def _clean_place(name: str | None) -> str | None:
    if not name:
        return None
    name = _GENERIC_PREFIX.sub("", name)
    return None if name in _NOT_PLACES or len(name) < 2 else name


def _issuers(lines: list[str]) -> list[tuple[str | None, str]]:
    found = []
    for line in lines:
        for m in _ISSUER.finditer(line.replace(" ", "")):
            town = _clean_place(m.group("town"))
            if town:
                found.append((_clean_place(m.group("county")), town))
    return found


def _title(front: list[ParsedParagraph], source: str) -> str | None:
    """The front-matter line that names the report, with issuer lines set directly above it."""
    for i, para in enumerate(front):
        text = para.text
        if DOC_NUMBER.fullmatch(text.replace(" ", "")) or SIGNER_LINE.match(text):
            continue
        if _TITLE_WORDS.search(text) and not text.endswith(("：", ":")):
            parts = [text]
            j = i - 1
            # Issuer lines typed directly above the title (no blank line) belong to it.
            while j >= 0 and "\n\n" not in source[front[j].end : front[j + 1].start]:
                if not _ISSUER.search(front[j].text.replace(" ", "")):
                    break
                parts.insert(0, front[j].text)
                j -= 1
            return " ".join(parts)
    return None


_COUNTY_HINT = re.compile(rf"[{_HAN}]{{1,4}}[市县旗]")


def _county_from_text(paragraphs: list[ParsedParagraph], town: str) -> str | None:
    """County-level name mentioned in the body, used when the issuer does not state one.

    Only short windows ending in 市/县/旗 go through jieba's part-of-speech tagger
    (it is slow on whole reports), which keeps place names ("白山市") and drops words
    such as 城市, 全县.
    """
    import logging

    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(logging.WARNING)
    counts: Counter[str] = Counter()
    for para in paragraphs:
        for m in _COUNTY_HINT.finditer(para.text):
            words = list(pseg.cut(para.text[max(0, m.start() - 2) : m.end()]))
            last = words[-1] if words else None
            if last and last.flag == "ns" and last.word.endswith(("市", "县", "旗")):
                if len(last.word) >= 3 and last.word not in _NOT_PLACES and town not in last.word:
                    counts[last.word] += 1
    return counts.most_common(1)[0][0] if counts else None


def extract_metadata(
    paragraphs: list[ParsedParagraph], source: str, doc_id: str, path: str = "", sha256: str = ""
) -> DocumentMeta:
    """Read a document's metadata from its parsed paragraphs.

    Args:
        paragraphs: Output of :func:`ingest.parse.parse_paragraphs`.
        source: The decoded source text the paragraphs point into.
        doc_id: Document id.
        path: Source path (recorded, never used to guess the town).
        sha256: Hash of the raw bytes.

    Returns:
        The metadata. When no town can be found, ``town`` is ``未识别镇-<id>`` and
        ``town_found`` is False, so the document is still indexed under a name
        the user can see and fix.
    """
    front = [p for p in paragraphs if p.role == "front"]
    sign = [p for p in paragraphs if p.role == "sign"]
    body = [p for p in paragraphs if p.role == "body"]
    title = _title(front, source)

    votes: Counter[str] = Counter()
    counties: Counter[str] = Counter()
    for county, town in _issuers([p.text for p in front + sign]):
        votes[town] += 2
        if county:
            counties[county] += 1
    if title:
        m = _TITLE_TOWN.search(title.replace(" ", ""))
        if m and _clean_place(m.group("town")):
            votes[_clean_place(m.group("town"))] += 3
            if _clean_place(m.group("county")):
                counties[_clean_place(m.group("county"))] += 1
    warnings: list[str] = []
    if votes:
        town, town_found = votes.most_common(1)[0][0], True
    else:
        # Last resort: the town the body names most often ("三道沟镇积极…").
        mentions = Counter(t for p in body[:8] for t in (_clean_place(x) for x in re.findall(_TOWN, p.text)) if t)
        if mentions and mentions.most_common(1)[0][1] >= 2:
            town, town_found = mentions.most_common(1)[0][0], True
        else:
            town, town_found = f"{UNKNOWN_TOWN_PREFIX}-{doc_id[:6]}", False
            warnings.append("未能从文档内容中识别镇名，已暂以占位名索引，请核对后更正")
    county = counties.most_common(1)[0][0] if counties else None
    if county is None and town_found:
        county = _county_from_text(paragraphs, town)

    doc_number = next(
        (p.text.replace(" ", "") for p in front if DOC_NUMBER.fullmatch(p.text.replace(" ", ""))),
        None,
    )
    signer = next(
        (re.sub(r"^签发人\s*[:：]\s*", "", p.text).strip() for p in front if SIGNER_LINE.match(p.text)),
        None,
    )
    date = None
    for p in reversed(sign):
        m = _DATE.search(p.text) if DATE_LINE.match(p.text) else None
        if m:
            date = f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
            break
    year = None
    for text in [title or ""] + [p.text for p in body[:2]]:
        m = _YEAR.search(text)
        if m:
            year = int(m.group(1))
            break
    if year is None and date:
        year = int(date[:4]) - 1  # an annual report is signed off early the next year
    issuer_lines = [p.text for p in sign if _ISSUER.search(p.text.replace(" ", ""))]
    issuer = " ".join(issuer_lines) or next((p.text for p in front if _ISSUER.search(p.text.replace(" ", ""))), None)
    return DocumentMeta(
        doc_id=doc_id,
        town=town,
        town_found=town_found,
        county=county,
        title=title,
        year=year,
        doc_number=doc_number,
        signer=signer,
        issuer=issuer,
        date=date,
        source_path=path,
        sha256=sha256,
        warnings=tuple(warnings),
    )

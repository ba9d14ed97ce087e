"""Document metadata read from a report's content: town, county, title, 文号, 签发人, date.

Never from the file name: files arrive as ``001_580fd8be.txt`` or ``新建文本文档.txt``.
The issuing body (masthead, 落款) is the most reliable witness of the town; the
title comes next; the body text only breaks ties.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter

from ingest.clean import to_simplified
from ingest.gazetteer import UNITS, load_gazetteer
from ingest.header import iso_date
from ingest.load import display_path
from ingest.parse import DATE_LINE, DOC_NUMBER, SIGNER_LINE, ParsedParagraph, marker_level
from ingest.records import DocumentMeta

UNKNOWN_TOWN_PREFIX = "未识别镇"

_HAN = r"\u4e00-\u9fa5"
# Town-level units: 镇, 乡 (incl. 民族乡), 街道, 苏木.
_TOWN = rf"[{_HAN}]{{2,8}}?(?:镇|乡|街道|苏木)"
_COUNTY = rf"[{_HAN}]{{2,4}}?(?:市|县|区|旗)"
_ISSUER = re.compile(
    rf"(?:中共|中国共产党)?(?P<county>{_COUNTY})?(?P<town>{_TOWN})"
    r"(?:人民政府|工作委员会|委员会|党工委|党委|政府|办事处|人大|纪委)"
)
_TITLE_TOWN = re.compile(
    rf"^(?:(?:19|20)\d{{2}}\s*年度?)?(?P<county>{_COUNTY})?(?P<town>{_TOWN})(?=\s*(?:19|20)\d{{2}}|\s*关于|法治|依法|\s*$)"
)
# A line that names an issuing body and nothing else ("重庆市江北区石马河街道" above "关于…的报告").
_BODY_END = re.compile(r"(?:人民政府|委员会|党工委|党委|办事处|政府|街道|镇|乡|苏木)$")
_TITLE_WORDS = re.compile(r"报告|总结|情况|汇报|要点|计划|自查")
# The end year of a period ("纲要(2023—2027年)") is not the report's year.
_YEAR = re.compile(r"(?<![\d—–~\-])((?:19|20)\d{2})\s*年")
_DATE = re.compile(r"((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
# Words that end in 镇/乡/市 but name no place.
_NOT_PLACES = {"城镇", "乡镇", "全镇", "本镇", "我镇", "该镇", "各镇", "城乡", "下乡", "全乡", "本乡",
               "全市", "本市", "城市", "全县", "本县", "该县", "全区", "本区", "辖区", "社区", "城区",
               "市县", "省市", "市区", "街道"}  # fmt: skip
_TRAILING_DATE = re.compile(r"(?<=\s)(?:19|20)\d{2}-\d{1,2}-\d{1,2}$")
_GENERIC_PREFIX = re.compile(r"^(?:中共|中国共产党)")
# One issuing body: "中共XX镇委员会", "XX乡人民政府", "XX街道办事处", "XX镇党委".
_ISSUER_WORD = re.compile(rf"\s*(?:中共|中国共产党)?[{_HAN}]{{2,20}}?(?:人民政府|委员会|党工委|党委|办事处|政府)\s*")


# "我乡", "全街道", "该镇": a report speaking of itself, not a name.
_SELF_NAME = re.compile(r"^[我全本该各此][镇乡]$|^[我全本该各此]街道$|^[我全本该各此]苏木$")
# The opening sentence's subject: "2025年，罗云镇坚持…", "2022年，在区委…领导下，黄石街党工委…".
_SUBJECT = re.compile(
    rf"^(?:(?:今年以来|近年来|一年来|(?:19|20)\d{{2}}\s*年(?:度|以来)?)\s*[，,]?\s*)?(?:在[^，,。]{{0,40}}[，,]\s*)?"
    rf"(?P<town>[{_HAN}]{{2,8}}?(?:镇|乡|街道|苏木|街(?![道街])))"
)
_ADMIN_TAIL = re.compile(r"(?:人民政府|委员会|党委|党工委|办事处|政府|关于|中共|[市县区旗])$")
_AFTER_BODY = re.compile(r".*(?:人民政府|委员会|党委|党工委|办事处|政府|关于|中共|中国共产党|人大)")
_SELF = {"镇": re.compile(r"[我全本该]镇"), "乡": re.compile(r"[我全本该]乡"),
         "街道": re.compile(r"[我全本该]街|街道党工委|街道办事处"), "苏木": re.compile(r"[我全本该]苏木")}  # fmt: skip


def _clean_place(name: str | None) -> str | None:
    """A township or county name as captured, or None when it names no place.

    The gazetteer trims a capture that ran too far left ("人民政府金龙街道" -> "金龙街道");
    a name the gazetteer lacks (new or renamed) keeps what follows the last issuer word.
    """
    if not name:
        return None
    name = to_simplified(_GENERIC_PREFIX.sub("", name))
    if name.endswith(UNITS):
        known = load_gazetteer().longest_suffix(name)
        # Trim only a capture that ran over an issuer or a county ("人民政府金龙街道",
        # "江北区石马河街道"); "富店镇" is a name, not 富 + the 店镇 of another county.
        if known == name or (known and _ADMIN_TAIL.search(name[: -len(known)])):
            return known
        name = _AFTER_BODY.sub("", name)
    if name in _NOT_PLACES or len(name) < 2 or name in UNITS or _SELF_NAME.match(name):
        return None
    return name


def _issuers(lines: list[str]) -> list[tuple[str | None, str]]:
    found = []
    for line in lines:
        for m in _ISSUER.finditer(to_simplified(line.replace(" ", ""))):
            town = _clean_place(m.group("town"))
            if town:
                found.append((_clean_place(m.group("county")), town))
    return found


def _is_meta(para: ParsedParagraph) -> bool:
    return bool(para.fields)


def _title_parts(front: list[ParsedParagraph], source: str) -> list[str] | None:
    """The lines of the report's title: the last title-like front line with the issuer lines set above it.

    A web copy often shows the page heading first and the document's own title block
    again just above the body; the one closest to the body is the document's.
    GB/T 9704 titles are 发文机关 + 关于 + 事由 + 文种, so a line opening with 关于
    continues the issuer line above it.
    """
    found = None
    for i, para in enumerate(front):
        text = para.text
        if _is_meta(para) or DOC_NUMBER.fullmatch(text.replace(" ", "")) or SIGNER_LINE.match(text):
            continue
        if _TITLE_WORDS.search(to_simplified(text)) and not text.endswith(("：", ":")) and len(text) <= 100:
            parts = [text]
            # A title that names its own town ("石鼻镇2024年…报告") stands alone: the
            # lines above it are the masthead (发文机关标志), not part of it.
            j = i - 1 if not _TITLE_TOWN.search(to_simplified(_nfkc(text).replace(" ", ""))) else -1
            # Issuer lines typed directly above the title (no blank line) belong to it.
            while j >= 0 and not _is_meta(front[j]):
                above = to_simplified(front[j].text.replace(" ", ""))
                adjacent = "\n\n" not in source[front[j].end : front[j + 1].start]
                lead = to_simplified(parts[0]).lstrip()
                continues = lead.startswith("关于") and _BODY_END.search(above)
                # "大方县黄泥塘镇" / "2022年度…工作报告": a title without its body names it above,
                # even across a blank line.
                bare = not _value_towns(lead[:12]) and _BODY_END.search(above) and len(above) <= 30
                if _TITLE_WORDS.search(to_simplified(above)) or not (
                    (adjacent and (_ISSUER.search(above) or continues)) or (bare and _value_towns(above))
                ):
                    break
                parts.insert(0, front[j].text)
                j -= 1
            found = parts
    return found


def _body_town(paragraphs: list[ParsedParagraph]) -> str | None:
    """The township the opening paragraphs name, of the unit they call themselves (我乡, 全镇).

    A report that has no title or issuer line still names itself in its first
    sentences ("2024年，下蜀镇党委…"); other towns it mentions are fewer and later.
    Names in the gazetteer outrank bare captures ("健全镇党委书记" names no town); a
    report that calls itself only by its short name ("鱼复法治建设") is matched against
    the townships of the county it names.
    """
    text = to_simplified("\n".join(p.text for p in paragraphs[:10]))
    gazetteer = load_gazetteer()
    units = {unit: len(pattern.findall(text)) for unit, pattern in _SELF.items()}
    self_unit = max(units, key=units.get) if any(units.values()) else None
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for start, name in gazetteer.find_all(text):
        counts[name] += 1
        first.setdefault(name, start)
    subject = _opening_subject(paragraphs, self_unit)
    # The subject as written outranks a gazetteer name it ends with ("银杏大街街道" over the
    # 大街街道 of another county) and stands alone for a town the gazetteer lacks.
    if subject and (subject in counts or not counts or any(subject.endswith(n) for n in counts)):
        return subject
    if counts:
        best = max(counts, key=lambda n: (self_unit is None or n.endswith(self_unit), counts[n], -first[n]))
        if self_unit is None or best.endswith(self_unit):
            return best
    loose = Counter(
        name
        for name in (_clean_place(m.group("town")) for m in _ISSUER.finditer(text))
        if name and not marker_level(name) and (self_unit is None or name.endswith(self_unit))
    )
    if loose and loose.most_common(1)[0][1] >= 2:
        return loose.most_common(1)[0][0]
    return _short_name_town(text, self_unit)


def _opening_subject(paragraphs: list[ParsedParagraph], self_unit: str | None) -> str | None:
    """The township that opens the first body sentence, when its unit agrees with the report's 我X."""
    for para in paragraphs[:3]:
        m = _SUBJECT.match(to_simplified(_nfkc(para.text)))
        if not m:
            continue
        name = m.group("town")
        if name.endswith("街") and not name.endswith("大街"):
            # "鹤龙街坚持…": a 街道 that writes itself "XX街" (Guangzhou, Tianjin).
            if f"{name}道" in load_gazetteer() or self_unit == "街道":
                return name
            continue
        name = _clean_place(name) if name in load_gazetteer() else name
        unit_ok = self_unit is None or name is None or name.endswith(self_unit)
        if name and unit_ok and not _SELF_NAME.match(name) and name not in _NOT_PLACES:
            return name
    return None


def _short_name_town(text: str, self_unit: str | None) -> str | None:
    """A township of a county the text names, found by its short name ("鱼复" for 鱼复街道)."""
    gazetteer = load_gazetteer()
    # One mention decides only when the report's self-reference (我街, 全乡) agrees with the unit.
    best, best_count = None, 0 if self_unit else 1
    for county in gazetteer.counties_in(text):
        for town in gazetteer.in_county(county):
            if self_unit and town.unit != self_unit:
                continue
            short = town.name[: -len(town.unit)]
            count = text.count(short) if len(short) >= 2 else 0
            if count > best_count:
                best, best_count = town, count
    if best is None:
        return None
    short = best.name[: -len(best.unit)]
    # Keep the unit as the report writes it: Tianjin's 街道 call themselves "万兴街".
    if best.unit == "街道" and f"{short}街" in text and best.name not in text:
        return f"{short}街"
    return best.name


def _fields(paragraphs: list[ParsedParagraph]) -> dict[str, str]:
    """The first non-empty value of each catalogue field in the document's metadata lines."""
    out: dict[str, str] = {}
    for para in paragraphs:
        for field, value in para.fields:
            if value and field not in out:
                out[field] = value
    return out


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


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _value_towns(value: str) -> list[tuple[str | None, str]]:
    """Townships a catalogue value names: as a body ("XX乡人民政府") or bare ("辰溪县罗子山瑶族乡")."""
    found = _issuers([value])
    m = re.search(rf"(?P<county>{_COUNTY})?(?P<town>{_TOWN})$", to_simplified(value.replace(" ", "")))
    if not found and m and _clean_place(m.group("town")):
        found = [(_clean_place(m.group("county")), _clean_place(m.group("town")))]
    return found


def _issuer(
    fields: dict[str, str], front: list[ParsedParagraph], sign: list[ParsedParagraph], title: list[str] | None
) -> str | None:
    """The issuing body as written: catalogue field, 落款, the title's own body, a masthead line, the source."""
    if fields.get("issuer"):
        return fields["issuer"]
    sign_lines = [p.text for p in sign if _ISSUER.search(to_simplified(p.text.replace(" ", "")))]
    if sign_lines:
        return " ".join(sign_lines)
    if title:
        # "中共XX镇委员会 / XX镇人民政府 / 关于…": the lines above the subject are the bodies.
        above = " ".join(title[:-1])
        if len(title) > 1 and (
            to_simplified(title[-1]).lstrip().startswith("关于") or _ISSUER.search(to_simplified(above))
        ):
            return above
        head = re.split(r"关于|(?:19|20)\d{2}\s*年", title[0], maxsplit=1)[0].strip()
        bodies = [m.group(0) for m in _ISSUER_WORD.finditer(head)]
        if bodies and "".join(bodies).replace(" ", "") == head.replace(" ", ""):
            return " ".join(b.strip() for b in bodies)
        if "关于" in title[0] and head and _BODY_END.search(to_simplified(head)) and _value_towns(head):
            return head  # "中梁山街道关于…的报告": the 街道 issues it
    masthead = next((p.text for p in front if not _is_meta(p) and _ISSUER.search(to_simplified(p.text))), None)
    if masthead:
        return re.sub(r"\s*文件$", "", masthead)
    source = to_simplified(fields.get("source", "").replace(" ", ""))
    if re.fullmatch(rf"(?:{_COUNTY})?{_TOWN}(?:人民政府|办事处|党委|政府)?", source) and _value_towns(source):
        return fields["source"]  # the site's 信息来源 naming the township's own office
    return None


def _town_votes(
    fields: dict[str, str], front: list[ParsedParagraph], sign: list[ParsedParagraph], title: str | None
) -> tuple[Counter[str], Counter[str]]:
    """Town and county candidates from the document's structure, weighted by how much each witness says.

    The catalogue's issuing body is the strongest witness, then the 落款 and masthead, then the title.
    """
    votes: Counter[str] = Counter()
    counties: Counter[str] = Counter()
    for field, weight in (("issuer", 4), ("source", 2)):
        for county, town in _value_towns(fields.get(field, "")):
            votes[town] += weight
            if county:
                counties[county] += 1
    for county, town in _issuers([p.text for p in front + sign if not _is_meta(p)]):
        votes[town] += 2
        if county:
            counties[county] += 1
    for candidate in (title, fields.get("title")):
        if not candidate:
            continue
        m = _TITLE_TOWN.search(to_simplified(_nfkc(candidate).replace(" ", "")))
        if m and _clean_place(m.group("town")):
            votes[_clean_place(m.group("town"))] += 3
            if _clean_place(m.group("county")):
                counties[_clean_place(m.group("county"))] += 1
            break
    return votes, counties


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
    fields = _fields(paragraphs)
    title_parts = _title_parts(front, source)
    title = " ".join(title_parts) if title_parts else None
    if title is None and _TITLE_WORDS.search(fields.get("title", "")):
        title = fields["title"]

    votes, counties = _town_votes(fields, front, sign, title)
    warnings: list[str] = []
    if votes:
        # Among well-supported candidates an official name outranks a variant ("王河乡" in a
        # site's catalogue field for the town its own title calls 王河镇).
        top = votes.most_common(1)[0][1]
        known = load_gazetteer()
        town = max(votes, key=lambda t: (votes[t] * 2 >= top and t in known, votes[t]))
        town_found = True
    else:
        found = _body_town(body or paragraphs)
        if found:
            town, town_found = found, True
        else:
            name = os.path.basename(path) if path else ""
            town = f"{UNKNOWN_TOWN_PREFIX}-{doc_id[:6]}" + (f"（{display_path(name)}）" if name else "")
            town_found = False
            warnings.append("未能从文档内容中识别镇名（乡、镇或街道），已暂以占位名索引，请核对后更正")
    county = counties.most_common(1)[0][0] if counties else None
    if county is None and town_found:
        county = _county_from_text(paragraphs, town)

    doc_number = fields.get("doc_number") or next(
        (p.text.replace(" ", "") for p in front if not _is_meta(p) and DOC_NUMBER.fullmatch(p.text.replace(" ", ""))),
        None,
    )
    signer = next(
        (re.sub(r"^签发人\s*[:：]\s*", "", p.text).strip() for p in front if SIGNER_LINE.match(p.text)),
        None,
    )
    date = iso_date(fields["written"]) if "written" in fields else None
    for p in reversed(sign):
        if date:
            break
        m = _DATE.search(_nfkc(p.text)) if DATE_LINE.match(_nfkc(p.text)) else None
        if m:
            date = f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    if date is None and "published" in fields:
        date = iso_date(fields["published"])
    if date is None:
        # A list page's heading carries its publication date: "…工作情况报告 2023-02-09".
        date = next((iso_date(m.group(0)) for p in front if (m := _TRAILING_DATE.search(p.text))), None)
    year = None
    for text in [title or ""] + [p.text for p in body[:2]]:
        m = _YEAR.search(_nfkc(text))
        if m:
            year = int(m.group(1))
            break
    if year is None and date:
        year = int(date[:4]) - 1  # an annual report is signed off early the next year
    issuer = _issuer(fields, front, sign, title_parts)
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

"""Website metadata blocks and page chrome around a report copied from a government site.

Reports published under 政府信息公开 carry a block of catalogue fields (索引号, 发文字号,
发布机构, 成文日期, 发布日期, 信息来源 …) written in whatever the site's template
does: ``key：value`` lines, several pairs on one line, ``- [ 发文字号 ] value`` lists,
``| key | value |`` tables, or a ``• key:`` line with its value on the next line. The
page around them adds chrome (浏览量, 分享到, 字号 大 中 小, 打印本页, 当前位置 …) that is
no part of the document. The field names are the catalogue's (GB/T 21063 and the
provincial 政府信息公开目录 templates), so one table serves every site.

This module only recognises; :mod:`ingest.parse` decides what becomes a paragraph
and :mod:`ingest.metadata` what the fields mean for the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Catalogue field -> the names sites give it. Longer names first inside the regex.
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "doc_number": ("发文字号", "文号", "发文编号", "文件编号", "文件字号"),
    "index": ("信息索引号", "索引号", "统一编号"),
    "issuer": ("发布机构", "发文机关", "发文机构", "发文单位", "发布单位", "制发机关", "成文单位", "公开主体"),
    "source": ("信息来源", "文章来源", "稿件来源", "来源"),
    "written": ("成文日期", "成文时间", "印发日期", "公文生成日期", "生成日期", "发文日期", "签发日期"),
    "published": ("发布日期", "发布时间", "发表日期", "发表时间", "发文时间", "公开日期", "公开时间", "更新时间", "日期",
                  "时间"),
    "title": ("标题", "文件名称", "信息名称", "名称"),
    "other": ("主题分类", "主题词", "体裁分类", "组配分类", "服务对象", "信息分类", "分类", "公开方式", "公开范围",
              "公开时限", "公开形式", "有效性", "时效性", "效力状况", "内容概述", "关键词", "备注", "所属机构", "审核程序",
              "公开类别"),
}  # fmt: skip
# Page furniture: counters, sharing, font size, printing, navigation.
CHROME_KEYS = ("浏览量", "浏览次数", "浏览", "访问量", "访问次数", "点击数", "点击量", "点击率", "阅读量", "阅读次数",
               "责任编辑", "编辑", "作者", "审核", "分享到", "分享", "字号", "字体大小", "字体", "当前位置", "您当前的位置",
               "您的位置", "所在位置")  # fmt: skip
_CHROME_TOKEN = re.compile(
    r"[【\[]?\s*(?:我要)?(?:打印本页|打印此页|打印|关闭本页|关闭窗口|关闭|返回顶部|返回|收藏|纠错|我要纠错|视力保护色|"
    r"扫一扫在手机打开当前页|扫一扫在手机上查看当前页面|扫一扫|手机扫一扫|下载文档|无障碍|简体|繁体|繁體|大|中|小|上一篇|下一篇|"
    r"相关链接|首页|政务公开|信息公开)\s*[】\]]?"
)
_ALL_KEYS = sorted({k for keys in FIELD_KEYS.values() for k in keys} | set(CHROME_KEYS), key=len, reverse=True)
_KEY_TO_FIELD = {k: f for f, keys in FIELD_KEYS.items() for k in keys} | dict.fromkeys(CHROME_KEYS, "chrome")
# Templates space out short keys to align them ("索 引 号", "文 号", "标 题").
_KEY = "|".join(r"\s?".join(map(re.escape, k)) for k in _ALL_KEYS)
# A key, optionally boxed ([ 发文字号 ], 【来源】) or compound (备注/文号), then ：/:/]/| or a space.
_PAIR = re.compile(
    rf"(?:^|(?<=[\s|•·\-—*】\]）)]))[【\[]?\s*(?P<key>(?:(?:{_KEY})\s*[/／]\s*)*(?:{_KEY}))\s*[】\]]?\s*"
    rf"(?:[:：|]|(?<=[】\]])|\s(?=\S)|$)\s*"
)
# "索引号pbxxhxrmzf/2026-00001", "发布机构屏边县新华乡人民政府": a key glued to its value.
_TIGHT = re.compile(rf"^(?P<key>{'|'.join(re.escape(k) for k in _ALL_KEYS if len(k) >= 3)})(?P<value>\S.*)$")
_BREADCRUMB = re.compile(r"^(?:首页|主页|网站首页)?\s*(?:[>»›＞]{1,2}\s*[^>»›＞]{1,20}\s*){2,}$|^首页\s*[>»›＞]")
_TRAILING_CHROME = re.compile(rf"(?:{'|'.join(map(re.escape, CHROME_KEYS))})\s*[:：]?\s*\d*\s*次?\s*$")
_BULLET = re.compile(r"^[\s•·\-—*|>]+")
_TIME = re.compile(r"\s*\d{1,2}:\d{2}(?::\d{2})?\s*$")
DATE_VALUE = re.compile(r"((?:19|20)\d{2})\s*[-年/.．]\s*(\d{1,2})\s*[-月/.．]\s*(\d{1,2})\s*日?")


@dataclass(frozen=True)
class HeaderLine:
    """What one source line is, if it belongs to the page rather than the report body.

    Attributes:
        kind: ``meta`` (catalogue fields), ``key`` (a field name whose value is on the
            next line) or ``chrome`` (page furniture, dropped).
        fields: ``(field, value)`` pairs in line order; ``field`` is a key of
            :data:`FIELD_KEYS`. A compound key (备注/文号) counts as its most specific field.
    """

    kind: str
    fields: tuple[tuple[str, str], ...] = ()


def _field_of(key: str) -> str:
    parts = [re.sub(r"\s", "", p) for p in re.split(r"[/／]", key) if p.strip()]
    fields = [_KEY_TO_FIELD.get(p, "other") for p in parts]
    # 备注/文号 is a 文号: the specific field wins over the catch-all ones.
    return next((f for f in fields if f not in ("other", "chrome")), fields[-1])


def _is_chrome_text(text: str) -> bool:
    """True when nothing but chrome tokens, punctuation, digits and spaces remain."""
    rest = _CHROME_TOKEN.sub("", text)
    return not re.sub(r"[\s\d|｜:：,，.。/\\>»›<«‹\-—_·•*#（）()【】\[\]]+", "", rest)


def _fields_line(plain: str, text: str, pairs: list[re.Match] | None = None) -> HeaderLine | None:
    """Read ``key: value`` pairs from a line that opens with a key, or None if it is a sentence."""
    pairs = pairs if pairs is not None else list(_PAIR.finditer(plain))
    if not pairs:
        return None
    fields = []
    for m, nxt in zip(pairs, pairs[1:] + [None]):
        field = _field_of(m.group("key"))
        value = plain[m.end() : nxt.start() if nxt else len(plain)]
        value = _CHROME_TOKEN.sub(" ", value) if field == "chrome" else value
        value = _TRAILING_CHROME.sub("", value)  # "…@木渎镇浏览量:" — a counter glued to the value
        fields.append((field, value.strip(" |｜\t\u3000").strip()))
    if all(f == "chrome" for f, _ in fields):
        return HeaderLine("chrome")
    kept = tuple((f, v) for f, v in fields if f != "chrome")
    # A field line is short and its values fit their field; a body sentence that
    # starts with "时间" or "来源" runs on.
    if any(v and not _fits(f, v) for f, v in kept) or re.search(r"[。！？；]$", text):
        return None
    if all(not v for _, v in kept) and len(kept) == 1:
        return HeaderLine("key", kept)
    return HeaderLine("meta", kept)


def classify(line: str) -> HeaderLine | None:
    """Classify one stripped source line as page metadata or chrome.

    Args:
        line: A source line without its layout whitespace.

    Returns:
        A :class:`HeaderLine`, or None when the line is report text.

    >>> classify("发布机构: 古镛镇人民政府").fields
    (('issuer', '古镛镇人民政府'),)
    >>> classify("- [ 发文字号 ] 将镛委〔2025〕5号").fields
    (('doc_number', '将镛委〔2025〕5号'),)
    >>> classify("【字体：大 中 小】【打印】【关闭】").kind
    'chrome'
    >>> classify("一、主要工作") is None
    True
    """
    text = line.strip()
    if not text or len(text) > 200:
        return None
    if not re.search(r"[\w\u4e00-\u9fff]", text) or _BREADCRUMB.search(text):
        return HeaderLine("chrome")  # bullets or rules alone; "首页 > 政务公开 > …"
    plain = _BULLET.sub("", text)
    bare = re.sub(r"[\s:：]", "", plain)
    if _KEY_TO_FIELD.get(bare, "chrome") != "chrome":
        return HeaderLine("key", ((_KEY_TO_FIELD[bare], ""),))  # "文号" alone, its value (if any) below
    pairs = list(_PAIR.finditer(plain))
    if not pairs:
        tight = _TIGHT.match(plain)
        if tight and _fits_tight(_field_of(tight.group("key")), tight.group("value")):
            return HeaderLine("meta", ((_field_of(tight.group("key")), tight.group("value").strip()),))
    elif plain[: pairs[0].start()].strip("【[ |"):
        # "芷江县人民政府 发布时间: 2026-03-03": a site banner before the fields; only a dated
        # field proves the rest is the catalogue and not a sentence.
        found = (
            _fields_line(plain[pairs[0].start() :], text)
            if plain[pairs[0].start() - 1 : pairs[0].start()].isspace()
            else None
        )
        if found is not None and any(f in ("written", "published") and iso_date(v) for f, v in found.fields):
            return found
    else:
        found = _fields_line(plain, text, pairs)
        if found is not None:
            return found
    if _is_chrome_text(text) and _CHROME_TOKEN.search(text):
        return HeaderLine("chrome")
    return None


def _fits(field: str, value: str) -> bool:
    """A value on the same line as its key: dates must be dates, the rest short."""
    if len(value) > 80:
        return False
    if field in ("written", "published"):
        return bool(DATE_VALUE.match(value))
    return True


def _fits_tight(field: str, value: str) -> bool:
    """A value glued to its key must prove its type: a date, an index code, a body's name."""
    value = value.strip()
    if field in ("written", "published"):
        return bool(DATE_VALUE.match(value)) and len(value) <= 25
    if field == "index":
        return bool(re.fullmatch(r"[\w\-/.]+", value)) and bool(re.search(r"\d", value))
    if field in ("issuer", "source"):
        return len(value) <= 40 and bool(re.search(r"(?:政府|委员会|办事处|街道|镇|乡|苏木|办公室|局)$", value))
    if field == "doc_number":
        return bool(re.search(r"(?:19|20)\d{2}.{0,3}\d{1,4}\s*号$", value))
    return field == "other" and len(value) <= 8


def accepts_value(field: str, value: str) -> bool:
    """True when ``value`` (the line after a bare ``key:`` line) is a plausible value of ``field``.

    Only typed fields take the next line: a 内容概述 is followed by the report itself.
    """
    value = value.strip()
    if not value or len(value) > 60 or re.search(r"[。！？；]$", value):
        return False
    if field in ("written", "published"):
        return bool(DATE_VALUE.match(value))
    if field == "doc_number":
        return bool(re.search(r"(?:19|20)\d{2}.{0,3}\d{1,4}\s*号$", value))
    if field == "index":
        return bool(re.fullmatch(r"[\w\-/.]+", value))
    if field in ("issuer", "source"):
        return len(value) <= 40
    return field == "other" and len(value) <= 30


def iso_date(value: str) -> str | None:
    """An ISO date from a field value ("2025年02月07日 16:40", "2025-2-7") or None.

    >>> iso_date("2024年04月06日 16:34")
    '2024-04-06'
    """
    m = DATE_VALUE.search(_TIME.sub("", value))
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"

"""Township-level units (镇, 乡, 街道, 苏木): which a question asks about, and how to count them.

A county holds 镇, 乡 (民族乡 among them), 街道 and in Inner Mongolia 苏木. "哪些街道…" asks
about 街道 only, "哪些乡镇…" about 乡 and 镇, "哪些乡镇（街道）…" or "哪些地方…" about all
of them; an answer counts what it lists in the same words ("共3个乡镇（街道）…").
"""

from __future__ import annotations

import functools
import re

# The township-level units of the administrative divisions (GB/T 2260: 镇, 乡, 街道办事处, 苏木), as
# reports and questions name them. The one place they are written: the kinds, the follow-up rewriter
# and the answer phrasing build their patterns from these.
TOWNSHIP_UNITS = ("镇", "乡", "街道", "苏木")
# Two units written as one word take their first characters (乡镇, 镇街, 街镇); 苏木 is never shortened.
_PAIRS = tuple(a[0] + b[0] for a in TOWNSHIP_UNITS[:3] for b in TOWNSHIP_UNITS[:3] if a != b)
UNIT = "|".join(sorted(_PAIRS + TOWNSHIP_UNITS, key=len, reverse=True))
"""A unit word: one of TOWNSHIP_UNITS or a pair of them written as one word (longest first)."""
_PLACE = r"地方|单位|地区"
WHICH = r"哪些|哪几个|哪一个|哪个|有几个|有哪些"
"""Words that ask which towns ("哪些镇…")."""
EACH = r"[各每]个?"
"""Words that ask about every town: 各, 各个, 每个 ("各镇…")."""
UNITS = rf"(?:{UNIT}|{_PLACE})(?:\s*[（(、/和及与或]?\s*(?:{UNIT}|{_PLACE})\s*[）)]?)*"
"""One or more unit words as a question writes them: 乡镇（街道）, 镇、乡, 乡镇街道."""
# The wh-phrase and the unit words after it: 哪些乡镇（街道）, 哪几个镇、乡, 各乡镇街道.
_ASKED = re.compile(rf"(?:{WHICH}|{EACH}|有多少个)(?P<units>{UNITS})")


@functools.lru_cache(maxsize=65_536)
def unit_of(town: str) -> str | None:
    """The unit a town name ends with; None for a placeholder name.

    Remembered per name (a which-towns question over 2,000 towns asked it ~4,000 times: ~8 ms).

    >>> unit_of("桐木漯瑶族乡"), unit_of("万兴街"), unit_of("北留镇")
    ('乡', '街道', '镇')
    """
    if town.startswith("未识别"):
        return None
    if town.endswith(("街道", "街")):
        return "街道"
    return next((u for u in TOWNSHIP_UNITS if town.endswith(u)), None)


def asked_units(folded: str) -> tuple[str, ...]:
    """The units a which-towns question is limited to; () for all of them.

    >>> asked_units("哪些街道开展了普法？"), asked_units("哪些乡镇（街道）提到述法？"), asked_units("哪些镇提到执法")
    (('街道',), (), ('镇',))
    >>> asked_units("哪些乡镇提到法律顾问")
    ('镇', '乡', '苏木')
    """
    m = _ASKED.search(folded)
    if not m:
        return ()
    if re.search(_PLACE, m.group("units")):
        return ()
    words = re.findall(UNIT, m.group("units"))
    units: set[str] = set()
    for word in words:
        if word in TOWNSHIP_UNITS:
            units.add(word)
            continue
        # A pair written as one word (乡镇, 镇街) names the units whose first characters it holds;
        # 苏木 is the 乡 of Inner Mongolia, so 乡镇 covers it too.
        units |= {u for u in TOWNSHIP_UNITS if u[0] in word or (u == "苏木" and "乡" in word)}
    return () if units >= set(TOWNSHIP_UNITS) else tuple(u for u in TOWNSHIP_UNITS if u in units)


def strip_asked_units(folded: str) -> str:
    """The question without its wh-phrase and unit words, so "街道" in "哪些乡镇（街道）…" is no topic term.

    >>> strip_asked_units("哪些乡镇（街道）聘请了法律顾问")
    '聘请了法律顾问'
    """
    return _ASKED.sub("", folded)


def unit_word(towns: list[str] | tuple[str, ...]) -> str:
    """The word that counts these towns: 镇, 乡, 街道, 乡镇, or 乡镇（街道）.

    >>> unit_word(["北留镇", "旧院镇"]), unit_word(["北留镇", "红岩乡"]), unit_word(["北留镇", "留下街道"])
    ('镇', '乡镇', '乡镇（街道）')
    """
    units = {unit_of(t) for t in towns} - {None}
    if not units or units == {"镇"}:
        return "镇"
    if len(units) == 1:
        return next(iter(units))
    if units <= {"镇", "乡"}:
        return "乡镇"
    extra = "、".join(u for u in ("街道", "苏木") if u in units)
    return f"乡镇（{extra}）"


def in_units(town: str, units: tuple[str, ...]) -> bool:
    """Whether a town is of one of the units (every town when none).

    A placeholder (``未识别镇-…``) is of no known unit: it is not asserted to be a 街道 when the
    question asks for 街道.
    """
    return not units or unit_of(town) in units

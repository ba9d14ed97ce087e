"""Gazetteer of China's township-level divisions (镇, 乡, 民族乡, 街道, 苏木).

A report names its own town in its masthead, title or first sentence, but the
same characters also occur in phrases that are no place ("城乡", "全镇",
"人民政府金龙街道" cut at the wrong character). Checking a candidate against the
official list of township names tells a place from a phrase without a growing
list of stop words. The list (39,861 names with county, city and province) is
built from JioNLP's division table by ``scripts/build_gazetteer.py``.

A name missing from the list (a town created or renamed after the data) is still
accepted by the callers when the document's own structure vouches for it (an
issuer line, a title); the gazetteer only adds certainty and disambiguation.
"""

from __future__ import annotations

import functools
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).with_name("data") / "townships.tsv.gz"
UNITS = ("街道", "苏木", "镇", "乡")
_UNIT_END = re.compile("街道|苏木|镇|乡")
_MAX_NAME = 12  # "黄柏山林场…" style outliers aside, township names are at most 11 characters


@dataclass(frozen=True)
class Township:
    """One township-level division.

    Attributes:
        name: Official name with its unit word, e.g. ``桐木漯瑶族乡``.
        county: County-level division, e.g. ``江华瑶族自治县``.
        city: Prefecture-level division.
        province: Province-level division.
    """

    name: str
    county: str
    city: str
    province: str

    @property
    def unit(self) -> str:
        """The unit word as written: 镇, 乡, 街道 or 苏木 (民族乡 ends in 乡)."""
        return next(u for u in UNITS if self.name.endswith(u))


class Gazetteer:
    """Name lookups over township-level divisions.

    Args:
        townships: The divisions to index.
    """

    def __init__(self, townships: list[Township]) -> None:
        self._by_name: dict[str, list[Township]] = {}
        self._by_county: dict[str, list[Township]] = {}
        for town in townships:
            self._by_name.setdefault(town.name, []).append(town)
            self._by_county.setdefault(town.county, []).append(town)

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def lookup(self, name: str) -> list[Township]:
        """All divisions with this exact name (several counties may have a 城关镇)."""
        return list(self._by_name.get(name, ()))

    def longest_suffix(self, text: str) -> str | None:
        """The longest township name that ``text`` ends with, e.g. "人民政府金龙街道" -> "金龙街道".

        >>> g = Gazetteer([Township("金龙街道", "x区", "x市", "x省")])
        >>> g.longest_suffix("人民政府金龙街道")
        '金龙街道'
        """
        for size in range(min(len(text), _MAX_NAME), 1, -1):
            if text[-size:] in self._by_name:
                return text[-size:]
        return None

    def find_all(self, text: str, min_len: int = 3) -> list[tuple[int, str]]:
        """Township names in running text as ``(start, name)``, longest name at each unit word.

        Two-character names (坎乡, 新镇) are left out by default: in running text they are
        more often the tail of another word than a place.

        >>> g = Gazetteer([Township("下蜀镇", "句容市", "镇江市", "江苏省")])
        >>> g.find_all("2024年，下蜀镇党委坚持城乡统筹")
        [(6, '下蜀镇')]
        """
        found = []
        for m in _UNIT_END.finditer(text):
            name = self.longest_suffix(text[max(0, m.end() - _MAX_NAME) : m.end()])
            if name and len(name) >= min_len:
                found.append((m.end() - len(name), name))
        return found

    def in_county(self, county: str) -> list[Township]:
        """The townships of a county-level division, e.g. ``奉节县``."""
        return list(self._by_county.get(county, ()))

    def counties_in(self, text: str) -> list[str]:
        """County-level divisions named in ``text`` (full names of three characters or more).

        >>> g = Gazetteer([Township("鱼复街道", "奉节县", "重庆市", "重庆市")])
        >>> g.counties_in("按照《奉节县法治政府建设实施方案》")
        ['奉节县']
        """
        return [c for c in self._by_county if len(c) >= 3 and c in text]

    def counties(self, name: str) -> set[str]:
        """Counties that hold a township of this name."""
        return {t.county for t in self._by_name.get(name, ())}


@functools.lru_cache(maxsize=1)
def load_gazetteer() -> Gazetteer:
    """The packaged gazetteer (read once per process, ~0.1 s)."""
    towns = []
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            name, county, city, province = line.rstrip("\n").split("\t")
            if name in UNITS:  # a bare unit word in the source data names nothing
                continue
            towns.append(Township(name, county, city, province))
    return Gazetteer(towns)

"""The year a question asks about versus the years of the reports loaded (issue 15: a class of abstention).

A town's annual report covers one year (``DocumentMeta.year``: the year of its title, else the year
before its sign-off date). "北留镇2023年的报告里写了什么" or "2022年北留镇办了几场普法讲座" asked of
a knowledge base holding only 北留镇's 2024 report must not be answered from the 2024 report as if it
were the 2023 one: the answer says which years are loaded and abstains.

A year inside a report's own text is *content*, not the report's year: the 2024 report tells what was
done in 2023 ("较2023年增长…") and plans 2025 ("2025年，我镇将…"), so a question about those years is
answered from it. A question year is therefore *covered* by a town's report when it is

* the report's year,
* a year the report's body states ("2023年…"), unless the question asks for the report *of* that
  year ("2023年的报告", "2023年度报告": the year is then the report's, and only a report of it answers),
* the year after the report's when the question asks about plans (the report's own 下一步 part,
  which may name no year),
* or, when the year begins a date ("2025年1月印发的报告"), the year of the report's date (a 2024
  report is signed early in 2025).

Relative years (今年, 去年, 前年) are not resolved: they are relative to the day the question is asked,
which the reports' metadata does not give (a report's date is when *it* was signed, and the reports
themselves say "今年" of their own year). Resolving them against the clock would make an answer depend on
the day it is asked; they stay words of the question's topic.

Only questions that name a town are judged: a question over all towns ("2023年哪些镇…") is answered
from every report that speaks of it. When only some of the named towns lack the year, the others are
answered and the answer notes the missing ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vectorstore.paragraph_table import ParagraphTable

if TYPE_CHECKING:
    from assistant.query import Query
    from ingest.records import DocumentMeta

# A year as a question or a report writes it: four digits before 年 ("2023年", "2023年度").
_YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
# A year that begins a date ("2025年1月20日印发的报告"): a report is dated after the year it covers.
_MONTH = re.compile(r"\s*\d{1,2}\s*月")
# An English question writes the bare year ("in 2023"); a number among Chinese words ("2000份") is no year.
_BARE_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?![\d.\u4e00-\u9fff%])")
# Where the clause a year stands in ends (a year "of the report" is followed by 报告 in its own clause).
_CLAUSE_END = re.compile(r"[，,。；;？?！!]")
REPORT_WORD = "报告"
PLANS = "plans"  # Query.group of a question about the report's plans (assistant.question_model)


@dataclass(frozen=True)
class AskedYear:
    """A year a question names.

    Attributes:
        year: The year.
        of_report: The question asks for the report of that year ("2023年的报告", "2023年度报告").
        dated: The year begins a date ("2025年1月"): a report signed then answers (its date's year).
    """

    year: int
    of_report: bool
    dated: bool = False


@dataclass(frozen=True)
class YearGap:
    """Named towns that have no report of (and no word about) the years a question asks about.

    Attributes:
        asked: The years asked, in order of mention.
        loaded: Each such town with the report years the knowledge base holds for it, sorted.
    """

    asked: tuple[int, ...]
    loaded: tuple[tuple[str, tuple[int, ...]], ...]

    def every_town(self, query: Query) -> bool:
        """Whether every town the question names lacks the year (then the question is not answered)."""
        return len(self.loaded) == len(query.towns)


def asked_years(folded: str) -> tuple[AskedYear, ...]:
    """The years a folded question names, and whether it asks for the report of each.

    >>> asked_years("北留镇2023年的法治建设报告里写了什么")
    (AskedYear(year=2023, of_report=True, dated=False),)
    >>> asked_years("2022年北留镇办了几场普法讲座？")
    (AskedYear(year=2022, of_report=False, dated=False),)
    >>> asked_years("北留镇2025年1月印发的报告有文号吗")[0].dated
    True
    >>> asked_years("北留镇发放了2000份资料"), asked_years("how many cases in 2024?")[0].year
    ((), 2024)
    """
    found: dict[int, AskedYear] = {}
    spans = []
    for m in _YEAR.finditer(folded):
        clause = _CLAUSE_END.split(folded[m.end() :], maxsplit=1)[0]
        year, seen = int(m.group(1)), found.get(int(m.group(1)))
        found[year] = AskedYear(
            year,
            of_report=(seen is not None and seen.of_report) or REPORT_WORD in clause,
            dated=(seen is not None and seen.dated) or bool(_MONTH.match(folded, m.end())),
        )
        spans.append(m.span())
    for m in _BARE_YEAR.finditer(folded):
        if not any(a <= m.start() < b for a, b in spans):
            found.setdefault(int(m.group(1)), AskedYear(int(m.group(1)), of_report=False))
    return tuple(found.values())


def stated_years(texts: list[str]) -> frozenset[int]:
    """Years a report's body states ("2023年…").

    >>> sorted(stated_years(["2024年，我镇…较2023年增长", "2025年，我镇将…"]))
    [2023, 2024, 2025]
    """
    return frozenset(int(y) for text in texts for y in _YEAR.findall(text))


class ReportYears:
    """The report years of a knowledge base's towns, and the years their reports' text speaks of.

    Args:
        kb: The knowledge base (``metas`` by document id, ``paragraphs`` by id, ``row_ids``).
    """

    def __init__(self, kb) -> None:
        self.kb = kb
        # Document id → years its body states. A document id is a prefix of the content hash, so an
        # entry stays true whatever is ingested later.
        self._stated: dict[str, frozenset[int]] = {}
        self._rows: list[str] | None = None  # the row ids the grouping below was made from
        self._by_doc: dict[str, list[str]] = {}
        self._metas: dict | None = None  # the metadata the grouping by town was made from
        self._by_town: dict[str, list[DocumentMeta]] = {}
        self._last: tuple | None = None  # (question key, metadata, missing()) of the last question

    def reports(self, town: str) -> list[DocumentMeta]:
        """The town's documents (in the catalogue's order; grouped once per state of the metadata)."""
        metas = self.kb.metas
        if metas is not self._metas:
            by_town: dict[str, list[DocumentMeta]] = {}
            for meta in metas.values():
                by_town.setdefault(meta.town, []).append(meta)
            self._metas, self._by_town = metas, by_town
        return list(self._by_town.get(town, ()))

    def _paragraph_ids(self, doc_id: str) -> list[str]:
        """The ids of a document's paragraphs (grouped once per index state, in one pass over its rows)."""
        rows = self.kb.row_ids
        if rows is not self._rows:
            by_doc: dict[str, list[str]] = {}
            for pid in rows:  # a paragraph id is "{doc_id}:…" (ingest.records.Paragraph)
                by_doc.setdefault(pid.rpartition(":")[0], []).append(pid)
            self._rows, self._by_doc = rows, by_doc
        return self._by_doc.get(doc_id, [])

    def stated(self, doc_id: str) -> frozenset[int]:
        """Years the body of a document states (read once per document)."""
        if doc_id not in self._stated:
            paragraphs = self.kb.paragraphs
            if isinstance(paragraphs, ParagraphTable):  # that document's paragraphs only, no grouping of all rows
                own = paragraphs.document_paragraphs(doc_id)
            else:
                own = [paragraphs[pid] for pid in self._paragraph_ids(doc_id)]
            texts = [p.text for p in own if p.role == "body"]
            self._stated[doc_id] = stated_years(texts)
        return self._stated[doc_id]

    def covers(self, meta: DocumentMeta, asked: AskedYear, plans: bool) -> bool:
        """Whether a report answers a question about an asked year (see the module docstring)."""
        if meta.year == asked.year or (asked.dated and (meta.date or "")[:4] == str(asked.year)):
            return True
        if asked.of_report:
            return False
        return asked.year in self.stated(meta.doc_id) or (
            plans and meta.year is not None and asked.year == meta.year + 1
        )

    def forget_last(self) -> None:
        """Forget the last question's judgement (:meth:`assistant.retrieve.HybridRetriever.clear_caches`)."""
        self._last = None

    def missing(self, query: Query) -> YearGap | None:
        """The named towns none of whose reports covers any year the question asks about (None: none).

        A town whose report years are unknown (no year in its title nor a date) is not judged.
        """
        if not query.towns:
            return None
        # The answerer and the retrieval both ask for the same question: judged once.
        key, metas = (query.towns, query.folded, query.group), self.kb.metas
        last = self._last
        if last is not None and last[0] == key and last[1] is metas:
            return last[2]
        found = self._missing(query)
        self._last = (key, metas, found)
        return found

    def _missing(self, query: Query) -> YearGap | None:
        asked = asked_years(query.folded)
        if not asked:
            return None
        plans = query.group == PLANS
        missing = []
        for town in query.towns:
            metas = self.reports(town)
            if not metas or any(m.year is None for m in metas):
                continue
            if not any(self.covers(m, a, plans) for m in metas for a in asked):
                missing.append((town, tuple(sorted({m.year for m in metas}))))
        return YearGap(asked=tuple(a.year for a in asked), loaded=tuple(missing)) if missing else None

    def gap(self, query: Query) -> YearGap | None:
        """:meth:`missing` when it holds every town the question names (the question is not answered)."""
        missing = self.missing(query)
        return missing if missing is not None and missing.every_town(query) else None

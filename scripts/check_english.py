"""Held-out check of the English reading: do English paraphrases give the same towns as the Chinese question?

Usage: python scripts/check_english.py --db KB_OF_TESTS_DATA_REALWORLD [--verbose]

Reads ``tests/data/en_heldout.tsv`` (report term, English question). The Chinese question is
"哪些乡镇（街道）提到了<term>？"; the expected towns are those whose report in ``tests/data/realworld``
contains the term (whitespace removed, town from ``truth.jsonl``). Prints how many English questions
agree with their Chinese counterpart (abstention and town set) and how many of each form give the
expected towns exactly.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REALWORLD = ROOT / "tests" / "data" / "realworld"


def expected_towns(term: str) -> frozenset[str]:
    """Towns whose real-world report contains ``term`` (whitespace removed)."""
    towns = set()
    for line in (REALWORLD / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text = re.sub(r"\s+", "", (REALWORLD / row["file"]).read_text(encoding="utf-8"))
        if row["town"] and term in text:
            towns.add(row["town"])
    return frozenset(towns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    from assistant.service import Assistant
    from assistant.settings import Settings

    assistant = Assistant(Settings(db=args.db))
    rows = [
        line.split("\t")
        for line in (ROOT / "tests" / "data" / "en_heldout.tsv").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    agree = zh_exact = en_exact = 0
    for term, english in rows:
        zh = assistant.ask(f"哪些乡镇（街道）提到了{term}？")
        en = assistant.ask(english)
        want = expected_towns(term)
        same = (zh.abstained, frozenset(zh.towns)) == (en.abstained, frozenset(en.towns))
        agree += same
        zh_exact += frozenset(zh.towns) == want
        en_exact += frozenset(en.towns) == want
        if args.verbose:
            query = assistant.retriever.understand(english)
            print("OK" if same else "XX", term, "|", query.search_text, "|", len(want), len(zh.towns), len(en.towns))
    n = len(rows)
    print(
        f"English agrees with Chinese: {agree}/{n}; exact expected towns: Chinese {zh_exact}/{n}, English {en_exact}/{n}"
    )


if __name__ == "__main__":
    main()

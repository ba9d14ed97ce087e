"""Issue 15.3: the hand-written Chinese vocabulary of the answering code cannot silently grow back.

Counts come from ``scripts/count_wordlists.py`` (scope and rules in its docstring). At commit
2943ae9 the answering code held 31 Chinese-alternative regexes (311 branches) and 8 inline word
lists (124 words); the issue's target is half of that. The ceilings below are what the code holds
now; lowering one is progress, raising one fails. The question grammar moved into fitted models
(``assistant/question_model.py``: kind, figure, document fields, report part, scaffolding vs topic);
the unit words are written once (``assistant/units.py`` builds its pattern from ``TOWNSHIP_UNITS``),
Chinese numerals take their values from the Unicode database, a superlative is read as 最 + an
adjective of size, and the approximate-figure qualifiers are one table: 15 regexes (126 branches) and
4 lists (50 words) meet the target. What is left describes how *documents* are written (section
headings, report sentences, figures, unit names) or is owned by other modules (retrieval, the app).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("count_wordlists", ROOT / "scripts" / "count_wordlists.py")
count_wordlists = sys.modules["count_wordlists"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(count_wordlists)

AT_2943AE9 = {"regexes": 31, "branches": 311, "lists": 8, "words": 124}
CEILING = {"regexes": 15, "branches": 126, "lists": 4, "words": 50}
HALVED = {k: v // 2 for k, v in AT_2943AE9.items()}


@pytest.fixture(scope="module")
def counts():
    return count_wordlists.count(ROOT, None)


def test_code_vocabulary_does_not_grow(counts):
    now = {k: getattr(counts, k) for k in CEILING}
    assert all(now[k] <= CEILING[k] for k in CEILING), (now, CEILING, "\n".join(counts.detail))


def test_code_vocabulary_is_halved(counts):
    now = {k: getattr(counts, k) for k in HALVED}
    assert all(now[k] <= HALVED[k] for k in HALVED), now


def test_every_synonym_abbreviation_glossary_and_domain_term_line_quotes_a_real_report_sentence(counts):
    for name in ("synonyms", "abbreviations", "en_zh", "domain_terms"):
        assert counts.data[name] and counts.cited[name] == counts.data[name], name


def test_counter_reads_patterns_and_lists_from_the_syntax():
    branches = count_wordlists.alternation_branches
    assert branches(r"(?:乡镇|镇|乡)的?(?:a|b)") == 3
    assert branches(r"[镇乡|]") == 0
    assert count_wordlists.cited("# 「执法力量还有欠缺」", "三是执法力量还有欠缺,执法队伍")
    assert not count_wordlists.cited("# 「执法力量严重不足」", "三是执法力量还有欠缺,执法队伍")
    assert not count_wordlists.cited("# no quote", "任何文字")

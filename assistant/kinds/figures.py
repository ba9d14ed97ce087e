"""Figures per town and superlatives from the statistics table: "各镇分别发放了多少普法宣传资料？",
"哪个镇调解矛盾纠纷最多？".

The statistics table (:mod:`assistant.stats`) holds every figure of every report with its
citation; such questions are answered as a table from it, without retrieval. The kind declines
(and a later kind answers from the text) when no metric of the table fits the question or no
town states one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant import phrasing
from assistant.compose import Answer
from assistant.english import in_english
from assistant.english import superlative as english_superlative
from assistant.kinds.base import Answered, QuestionKind
from assistant.parts import Gap, Line, Table
from assistant.query import COMPARE, MULTI_TOWN
from assistant.units import unit_word

if TYPE_CHECKING:
    from assistant.cite import Citation
    from assistant.kinds.base import Context
    from assistant.query import Query

# A superlative is 最 and an adjective of size (最多, 最少, 最高, 最低, 最大, 最小); the first three ask for the largest.
SUPERLATIVE = re.compile(r"最[多少高低大小]")
_LARGEST = "多高大"


def _superlative(query: Query) -> str:
    """The superlative a question asks (最多, 最低 …), in Chinese or English; "" for none."""
    m = SUPERLATIVE.search(query.folded)
    return m.group(0) if m else english_superlative(query.folded)


class Figures(QuestionKind):
    """A figure asked of several towns (or all), or a superlative; answered from the statistics table."""

    def recognise(self, query: Query) -> bool:
        superlative = _superlative(query)
        several = len(query.towns) > 1 or (not query.towns and query.kind in (COMPARE, MULTI_TOWN))
        return bool(query.numeric or superlative) and bool(several or superlative)

    def answer(self, ctx: Context, query: Query) -> Answered | None:
        """Per-town figures and superlatives ("各镇分别…多少", "哪个镇…最多") from the statistics table."""
        superlative = _superlative(query)
        from assistant.stats import facts_table, find_metric, normalized_value

        # An English question names its metric in the Chinese words it was read as (its search
        # text); it asks for an amount in English ("how many", "the most"), which query.numeric says.
        english = in_english(query.folded)
        metric = find_metric(query.search_text, numeric=False) if english else find_metric(query.text)
        if metric is None:
            return None
        towns = list(query.towns) or ctx.retriever.kb.towns()
        rows = facts_table(ctx.facts, towns=towns, metrics=[metric], dedupe=True)
        if query.years:
            rows = [f for f in rows if f.year in query.years] or rows
        by_town: dict[str, list] = {}
        for fact in rows:
            by_town.setdefault(fact.town, []).append(fact)
        if not by_town:
            return None
        label = metric.label.split("（")[0]
        rows_out = []
        citations: list[Citation] = []
        cited: set[tuple[str, str]] = set()
        position = {t: i for i, t in enumerate(towns)}
        order = sorted(towns, key=lambda t: (t not in by_town, position[t]))
        for town in order:
            facts = by_town.get(town)
            if not facts:
                rows_out.append(((town,), (phrasing.NOT_MENTIONED,), (phrasing.NO_CELL,), (phrasing.NO_CELL,)))
                continue
            cells = []
            for fact in facts:
                c = ctx.cite(fact.paragraph_id, fact.quote)
                if (c.id, c.quote) not in cited:
                    cited.add((c.id, c.quote))
                    citations.append(c)
                cells.append((fact.display, fact.quote, c))
            sources: dict[str, Citation] = {}  # one citation per label, in order of first mention
            for _, _, c in cells:
                sources.setdefault(c.render(), c)
            rows_out.append((
                (town,), (phrasing.FIGURE_SEPARATOR.join(x[0] for x in cells),),
                (phrasing.FIGURE_SEPARATOR.join(x[1] for x in cells),), tuple(sources.values()),
            ))  # fmt: skip
        asserted = tuple(t for t in order if t in by_town)
        unit = unit_word(order)
        head: tuple = (phrasing.figures(label, len(by_town), unit),)
        if superlative:
            most = superlative[1] in _LARGEST
            best = (max if most else min)(rows, key=lambda f: normalized_value(f)[0])
            value, unit = normalized_value(best)
            head = (
                phrasing.superlative(label, superlative, best.town), best.quote,
                ctx.cite(best.paragraph_id), phrasing.superlative_tail(unit),
            )  # fmt: skip
            asserted = (best.town,)
        return Answered(Answer(
            question=query.text, blocks=(Line(head), Gap(), Table(phrasing.figures_header(metric.label, unit), tuple(rows_out))),
            towns=asserted, abstained=False,
            citations=tuple(citations), kind=COMPARE,
        ))  # fmt: skip


FACTS_FILE = "facts.npz"
# Fact field → how its column is stored (:func:`vectorstore.derived.pack_column`).
_COLUMNS = {
    "town": "coded", "year": "int", "metric": "coded", "label": "coded", "value": "float", "unit": "coded",
    "qualifier": "coded", "quote": "str", "paragraph_id": "str", "section": "coded", "paragraph": "int",
    "text": "coded", "doc_id": "coded",
}  # fmt: skip


def _facts_version() -> str:
    import hashlib

    from assistant.stats import METRICS_PATH

    return "1-" + hashlib.sha1(METRICS_PATH.read_bytes()).hexdigest()[:12]


def _facts_by_doc(kb, previous: dict | None) -> tuple[dict, list]:
    """The statistics table per document, reusing ``previous`` entries of unchanged documents.

    Extraction reads every paragraph (~8 s at 2,000 reports); after an ingest only the new
    or renamed documents are read again.
    """
    from dataclasses import asdict

    from assistant.stats import Fact, extract_facts

    cached = previous.get("docs") if previous and previous.get("version") == _facts_version() else None
    cached = cached if isinstance(cached, dict) else {}
    by_doc: dict[str, list] = {}
    for paragraph in kb.paragraphs.values():
        by_doc.setdefault(paragraph.doc_id, []).append(paragraph)
    docs = {}
    for doc_id, paragraphs in by_doc.items():
        entry = cached.get(doc_id)
        if not (isinstance(entry, dict) and entry.get("town") == paragraphs[0].town and "facts" in entry):
            entry = {"town": paragraphs[0].town, "facts": [asdict(f) for f in extract_facts(paragraphs)]}
        docs[doc_id] = entry
    try:
        facts = [Fact(**row) for entry in docs.values() for row in entry["facts"]]
    except TypeError:  # a cached row of another shape: extract everything again
        docs = {d: {"town": ps[0].town, "facts": [asdict(f) for f in extract_facts(ps)]} for d, ps in by_doc.items()}
        facts = [Fact(**row) for entry in docs.values() for row in entry["facts"]]
    return docs, facts


def read_facts(folder) -> dict | None:
    """The saved statistics table as ``{"generation", "version", "docs": {doc_id: {"town", "facts": [row]}}}``.

    From ``facts.npz`` (memory-mapped columns), else from the ``facts.json`` of a knowledge base
    written before it; None when neither can be read.
    """
    import json

    import numpy as np

    from vectorstore.derived import LEGACY, ArraysDamaged, load_arrays, read_json, tag_of, unpack_column

    try:
        arrays = load_arrays(folder / FACTS_FILE)
    except (OSError, ArraysDamaged):
        return read_json(folder / LEGACY[FACTS_FILE])
    try:
        meta = json.loads(str(arrays["meta"][()]))
        columns = {name: unpack_column(arrays, name, kind) for name, kind in _COLUMNS.items()}
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
        bounds = np.concatenate([[0], np.cumsum(meta["counts"], dtype=np.int64)]).tolist()
        if bounds[-1] != len(rows) or len(meta["docs"]) != len(meta["towns"]) or len(bounds) != len(meta["docs"]) + 1:
            return None
        docs = {
            d: {"town": t, "facts": rows[a:b]} for d, t, a, b in zip(meta["docs"], meta["towns"], bounds, bounds[1:])
        }
    except (KeyError, ValueError, TypeError):
        return None
    return {"generation": tag_of(arrays), "version": meta.get("version"), "docs": docs}


def load_facts(kb) -> list:
    """The statistics table: read from ``facts.npz`` (built at ingest by :func:`build_facts`), never written here."""
    from assistant.stats import Fact
    from vectorstore.derived import computed_in_memory

    path = kb.dir / FACTS_FILE
    generation = kb.catalog.get_state("generation", "0")
    data = read_facts(kb.dir)
    if data and data.get("version") == _facts_version() and data.get("generation") == generation:
        try:
            return [Fact(**row) for entry in data["docs"].values() for row in entry["facts"]]
        except (TypeError, KeyError, AttributeError):
            pass
    computed_in_memory(path, generation, "缺失或不是本代")
    return _facts_by_doc(kb, data)[1]


def build_facts(kb) -> None:
    """Derived-cache builder (:mod:`vectorstore.derived`): ``facts.npz`` for the current generation.

    An older knowledge base's ``facts.json`` is read for its unchanged documents and removed.
    """
    import json

    import numpy as np

    from vectorstore.derived import LEGACY, pack_column, save_arrays

    docs, _ = _facts_by_doc(kb, read_facts(kb.dir))
    rows = [row for entry in docs.values() for row in entry["facts"]]
    arrays = {}
    for name, kind in _COLUMNS.items():
        arrays.update(pack_column(name, [row[name] for row in rows], kind))
    meta = {
        "version": _facts_version(), "docs": list(docs), "towns": [e["town"] for e in docs.values()],
        "counts": [len(e["facts"]) for e in docs.values()],
    }  # fmt: skip
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    save_arrays(kb.dir / FACTS_FILE, kb.catalog.get_state("generation", "0"), arrays)
    (kb.dir / LEGACY[FACTS_FILE]).unlink(missing_ok=True)

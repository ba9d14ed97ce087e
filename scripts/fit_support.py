"""Fit the support decision (assistant/support.py) on hand-labelled pairs and report held-out figures.

    python scripts/fit_support.py --db demo=.assistant-demo --db realworld=.assistant-realworld \\
        [--pairs tests/data/support_pairs.jsonl] [--out assistant/data/support_model.json]

Each pair (``tests/data/support_pairs.md`` tells who labelled them and how) names its corpus;
``--db corpus=DIR`` gives the knowledge base of each corpus (``python -m assistant ingest
data/reports --db DIR`` and ``… ingest tests/data/realworld/*.txt --db DIR``). The features are
computed by the same retriever code the app uses (``HybridRetriever.support_features``). The
model is a logistic regression over standardised features (L2, Newton's method — a few lines of
numpy, no extra dependency); questions are split into 5 folds so that no question is in both
training and held-out data, the threshold is the one that maximises held-out F1, and the
held-out precision/recall/F1/AUC at it are printed and stored in the model's provenance.

The folds are fixed by each question's id (a hash), so a figure before and after a change of
features or data is measured on the same held-out questions; ``--compare SET`` (repeatable)
prints the held-out figures of each feature set over all pairs and per labelling (:func:`group_of`:
the first hand-labelled pairs, the colloquial which-towns pairs, pairs derived from a gold file).

By default the paragraph decision (``assistant/data/support_model.json``) is fitted on the first
hand-labelled pairs only (``--only first``): refits that added the later pairs lowered the demo's
which-towns sets (a small corpus decides a town on this verdict alone). ``--paragraphs`` fits on
(question, paragraph) items read as the app reads a hit (:func:`paragraph_features`); with
``--kinds fact,summary,unanswerable --only first,train17:fact`` it gives a decision for passages of
named towns (held out F1 0.903) that is not packaged: wired into the fact path it answered some
questions the reports do not answer (tests/data/support_pairs.md).

``--derive GOLD --db county=DIR`` appends (question, sentence, supports) pairs read off a gold
file's evidence spans (:func:`derive`); ``tests/data/support_pairs.md`` records which.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.support import FEATURES, LAZY, MODEL_FILE, UNRULED  # noqa: E402

PREVIOUS = ("dense", "coverage", "bigram", "numeric", "rule")  # the feature set before issue 15
COLLOQUIAL_FROM = 80  # q80 on: the colloquial which-towns pairs


def features(pairs: list[dict], dbs: dict[str, str]) -> dict[str, np.ndarray]:
    """Feature columns of the pairs (FEATURES and the previous set's), computed on each corpus's knowledge base."""
    from assistant.kinds import understand
    from assistant.service import Assistant
    from assistant.settings import Settings

    assistants = {name: Assistant(Settings(db=path)) for name, path in dbs.items()}
    cache: dict[tuple[str, str], tuple] = {}
    vectors: dict[tuple[str, str], np.ndarray] = {}
    passages: dict[tuple[str, str], np.ndarray] = {}
    columns: dict[str, list] = {name: [] for name in FEATURES}
    for pair in pairs:
        retriever = assistants[pair["corpus"]].retriever
        key = (pair["corpus"], pair["question"])
        if key not in cache:
            query = understand(pair["question"], retriever.aliases)
            towns = list(query.towns) or None
            windows = retriever.window_meaning(query, towns, nearest(retriever, query, towns))
            cache[key] = (query, retriever.topic(query), retriever.bigram_weights(query), windows)
            vectors[key] = np.asarray(retriever.kb.embedder.embed([query.search_text or query.text], "query")[0])
        query, topic, grams, windows = cache[key]
        para = retriever.kb.paragraphs[pair["hit_id"]]
        if (pair["corpus"], para.id) not in passages:  # many pairs are sentences of one paragraph
            text = f"{para.section}：{para.text[:320]}"
            passages[(pair["corpus"], para.id)] = retriever.kb.embedder.embed([text], "passage")[0]
        passage = passages[(pair["corpus"], para.id)]
        dense = float(np.dot(vectors[key], np.asarray(passage)))
        window = windows(pair["hit_id"], pair["sentence"])
        values = retriever.support_features(
            query, topic, pair["hit_id"], dense, grams, sentence=pair["sentence"], window=window
        )
        for name in FEATURES:
            columns[name].append(values[name])
        for name, value in town_standing(retriever, windows, para, window_similarity(windows, para, pair)).items():
            columns.setdefault(name, []).append(value)
    out = {}
    for name, values in columns.items():
        values = values + [None] * (len(pairs) - len(values))
        known = [v for v in values if v is not None]
        mean = float(np.mean(known)) if known else 0.0
        out[name] = np.array([mean if v is None else v for v in values], dtype=float)  # unknown: the mean
    return out


def paragraph_features(pairs: list[dict], dbs: dict[str, str]) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Paragraph-level items of the pairs and their features, read as the app reads a hit of a named town.

    A pair labels one sentence; the fact decision (:meth:`HybridRetriever.model_supported`) judges
    a paragraph by its best sentence, its dense similarity from the question's dense query, and its
    best window's standing and gap. Here every (question, paragraph) the pairs name is one item,
    positive when any labelled sentence of it is; its features are the app's own, so that a
    paragraph's sentences do not disagree with one another in the fit while agreeing in the app.
    """
    from assistant.judging import comparable
    from assistant.kinds import understand
    from assistant.service import Assistant
    from assistant.settings import Settings

    assistants = {name: Assistant(Settings(db=path)) for name, path in dbs.items()}
    items: dict[tuple[str, str, str], dict] = {}
    for pair in pairs:
        key = (pair["corpus"], pair["qid"], pair["hit_id"])
        item = items.setdefault(key, {**pair, "label": 0})
        item["label"] = max(item["label"], pair["label"])
    columns: dict[str, list] = {name: [] for name in FEATURES}
    cache: dict[tuple[str, str], tuple] = {}
    for item in items.values():
        retriever = assistants[item["corpus"]].retriever
        key = (item["corpus"], item["question"])
        if key not in cache:
            query = understand(item["question"], retriever.aliases)
            towns = list(query.towns) or None
            dense = nearest(retriever, query, towns)
            topic = retriever.topic(query)
            cache[key] = (
                query,
                topic,
                retriever.bigram_weights(query),
                dense,
                retriever.window_meaning(query, towns, dense),
            )
        query, topic, grams, dense, windows = cache[key]
        pid = item["hit_id"]
        similarity = dense.get(pid) if comparable(query) else None
        values = retriever.support_features(query, topic, pid, similarity, grams, False)
        lexical = values["coverage"]
        values["rule"] = float(retriever._supports(pid, lexical, similarity or 0.0, topic))
        if similarity is not None:
            values.update(windows(pid))
        for name in FEATURES:
            columns[name].append(values[name])
    out = {}
    for name, values in columns.items():
        known = [v for v in values if v is not None]
        mean = float(np.mean(known)) if known else 0.0
        out[name] = np.array([mean if v is None else v for v in values], dtype=float)
    return list(items.values()), out


def window_similarity(windows, para, pair: dict) -> float | None:
    """The similarity of the question and the paragraph's best window holding the pair's sentence."""
    return windows.vectors.holding(para, pair["sentence"], windows.vector)


def town_standing(retriever, windows, para, similarity: float | None) -> dict[str, float | None]:
    """Where the sentence's window stands among its own town's paragraphs (experimental features)."""
    town = [p for p in retriever.kb.paragraphs.values() if p.town == para.town and p.id != para.id]
    best = np.array([b for b in windows.vectors.best_many(town, windows.vector) if b is not None])
    if similarity is None or len(best) < 3:
        return {"town_z": None, "town_top": None}
    return {
        "town_z": float((similarity - best.mean()) / (best.std() + 1e-6)),
        "town_top": float(similarity - best.max()),
    }


def nearest(retriever, query, towns: list[str] | None, chunks: int = 40) -> dict[str, float]:
    """Paragraph → dense similarity of the paragraphs a question's dense query reaches (as the app's)."""
    from assistant.signals import dense_text

    vector = retriever.embed_query(dense_text(query, towns, retriever.aliases))
    sims: dict[str, float] = {}
    for hit in retriever.kb.store.query(vector, chunks, towns=towns):
        for pid in retriever.kb.chunk_paragraphs.get(hit.chunk_id, ()):
            sims[pid] = max(sims.get(pid, -1.0), hit.similarity)
    return sims


def fold_of(qid: str, folds: int = 5) -> int:
    """The fixed fold of a question (a hash of its id: adding questions moves no other question)."""
    return int(hashlib.sha1(qid.encode()).hexdigest(), 16) % folds


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Logistic regression weights (intercept first) by Newton's method with an L2 penalty.

    The one fit of every script here (support, town decision, fact decision). ``weight``: one per row
    (None: all 1, which gives exactly the unweighted fit).
    """
    a = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(a.shape[1])
    weight = np.ones(len(x)) if weight is None else weight
    penalty = l2 * np.diag(np.r_[0.0, np.ones(a.shape[1] - 1)])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-a @ w))
        grad = a.T @ (weight * (p - y)) + penalty @ w
        hess = (a * (weight * p * (1 - p))[:, None]).T @ a + penalty
        w -= np.linalg.solve(hess, grad)
    return w


def held_out(x: np.ndarray, y: np.ndarray, groups: list[str], folds: int = 5, fixed: bool = False) -> np.ndarray:
    """Held-out probabilities: each question's pairs scored by a model fitted without that question's fold.

    The packaged model's folds are a seeded permutation of the questions (as it was fitted);
    ``fixed`` uses :func:`fold_of`, which adding questions does not move (for ``--compare``).
    """
    if fixed:
        which = np.array([fold_of(g, folds) for g in groups])
    else:
        order = np.random.default_rng(0).permutation(sorted(set(groups)))
        fold = {g: i % folds for i, g in enumerate(order)}
        which = np.array([fold[g] for g in groups])
    out = np.zeros(len(y))
    for k in range(folds):
        train, test = which != k, which == k
        mean, scale = x[train].mean(0), x[train].std(0) + 1e-9
        w = fit((x[train] - mean) / scale, y[train])
        out[test] = 1 / (1 + np.exp(-(w[0] + ((x[test] - mean) / scale) @ w[1:])))
    return out


def at(p: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """Precision, recall, F1 and AUC of held-out probabilities at a given threshold."""
    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    ranks = np.empty(len(p))
    ranks[np.argsort(p)] = np.arange(1, len(p) + 1)
    pos = int(y.sum())
    auc = (ranks[y == 1].sum() - pos * (pos + 1) / 2) / max(1, pos * (len(y) - pos))
    return {
        "precision": round(tp / max(1, int(pred.sum())), 3),
        "recall": round(tp / max(1, pos), 3),
        "f1": round(_f1(pred, y), 3),
        "auc": round(float(auc), 3),
    }


def report(p: np.ndarray, y: np.ndarray, min_precision: float = 0.0) -> dict:
    """Threshold with the best F1 among those whose precision reaches ``min_precision``, and the figures there.

    The decision abstains or names a town on what it accepts: a wrong acceptance is an invented
    answer, a wrong rejection an abstention with the passage listed under "可能相关". ``min_precision``
    keeps a refit from trading the one for the other (the packaged model's held-out precision).
    """
    grid = np.linspace(0.1, 0.9, 81)
    precise = [t for t in grid if at(p, y, t)["precision"] >= min_precision] or [grid[-1]]
    best = max(precise, key=lambda t: _f1(p >= t, y))
    return {"threshold": round(float(best), 3), **at(p, y, best)}


def group_of(pair: dict) -> str:
    """Which labelling a pair belongs to: the first hand-labelled pairs, the colloquial ones, or a derived set."""
    if pair.get("source"):
        return f"{pair['source'].removesuffix('.jsonl')}:{pair['kind']}"
    return "first" if int(pair["qid"].lstrip("q")) < COLLOQUIAL_FROM else "colloquial"


def compare(x: dict[str, np.ndarray], y: np.ndarray, qids: list[str], groups: list[str], sets: list[tuple]) -> None:
    """Held-out figures of each feature set on the same fixed question folds, overall and per labelling."""
    names = sorted(set(groups))
    for cols in sets:
        matrix = np.column_stack([x[c] for c in cols])
        everything = held_out(matrix, y, qids, fixed=True)
        overall = report(everything, y)
        per = {}
        for name in names:
            mask = np.array([g == name for g in groups])
            per[name] = at(everything[mask], y[mask], overall["threshold"])
        print(json.dumps({"features": ",".join(cols), "all": overall, **per}, ensure_ascii=False))


DERIVED_POSITIVES = 4  # evidence sentences kept per question
DERIVED_NEGATIVES = 12  # non-answering candidate sentences kept per question (best-ranked first)
NEGATIVES_PER_PARAGRAPH = 2  # of each candidate paragraph, its sentences sharing most of the question's bigrams


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _sentences(para, spans: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    """The paragraph's sentences, each with whether it overlaps an evidence span (town, squeezed text) of its town."""
    from assistant.text import split_sentences

    text = _squeeze(para.text)
    marks = [(text.find(s), len(s)) for town, s in spans if town == para.town and s in text]
    out, at = [], 0
    for sentence in split_sentences(para.text) or [para.text]:
        piece = _squeeze(sentence)
        begin = text.find(piece, at)
        at = begin + len(piece) if begin >= 0 else at
        hit = begin >= 0 and any(b < begin + len(piece) and begin < b + n for b, n in marks)
        out.append((sentence, hit))
    return out


def derive(gold: Path, db: str, corpus: str, start: int) -> list[dict]:
    """(question, sentence, supports) pairs read off a gold file's evidence spans, for ``--derive``.

    Positives: the sentences of a gold evidence span (whitespace-insensitive) in its town's report.
    Negatives: the other sentences of the paragraphs the question's ``search`` ranks first (top 30,
    interleaved by town for which-towns questions) — for a which-towns question only in towns the
    gold answer neither requires nor allows, for a fact question also within the evidence paragraph
    (about the topic, not the answer). Sentences in an allowed (optional) town are left out, unknown.

    Args:
        gold: A gold JSONL file (``id``, ``type``, ``question``, ``towns``, ``towns_optional``, ``evidence``).
        db: The knowledge base holding its towns' reports.
        corpus: The corpus name written into the pairs (``--db corpus=DIR`` when fitting).
        start: Number of the first pair id.
    """
    from assistant.kinds import understand
    from assistant.service import Assistant
    from assistant.settings import Settings
    from assistant.support import question_bigrams

    retriever = Assistant(Settings(db=db)).retriever
    paragraphs = retriever.kb.paragraphs
    by_town: dict[str, list] = {}
    for para in paragraphs.values():
        by_town.setdefault(para.town, []).append(para)
    out: list[dict] = []
    for item in (json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()):
        kind = "which_towns" if item["type"] == "multi_town" else item["type"]
        allowed = set(item.get("towns", [])) | set(item.get("towns_optional", []))
        spans = [(e["town"], _squeeze(e["text"])) for e in item.get("evidence", [])]
        pairs: list[tuple[int, object, str, int | None]] = []  # (label, paragraph, sentence, rank)

        evidence_paras = []
        for town, span in spans:
            for para in by_town.get(town, []):
                if span in _squeeze(para.text):
                    evidence_paras.append(para)
                    break
        for para in evidence_paras:
            for sentence, hit in _sentences(para, spans):
                if hit:
                    pairs.append((1, para, sentence, None))
                elif kind == "fact":
                    pairs.append((0, para, sentence, None))
        grams = question_bigrams(understand(item["question"], retriever.aliases).folded)
        seen = {p.id for p in evidence_paras}
        for rank, hit in enumerate(retriever.search(item["question"], k=30), 1):
            if hit.id in seen or hit.id not in paragraphs:
                continue
            if kind == "which_towns" and hit.town in allowed:
                continue  # an allowed town may mention it elsewhere: unknown, not negative
            if kind == "fact" and hit.town not in {t for t, _ in spans}:
                continue  # another town's paragraph is no decision a fact question makes
            seen.add(hit.id)
            # The decision reads a paragraph's best sentence: keep the ones nearest the question's wording.
            others = [s for s, in_span in _sentences(paragraphs[hit.id], spans) if not in_span]
            others.sort(key=lambda s: -sum(g in _squeeze(s) for g in grams))
            pairs += [(0, paragraphs[hit.id], sentence, rank) for sentence in others[:NEGATIVES_PER_PARAGRAPH]]
        positives = [p for p in pairs if p[0] == 1][:DERIVED_POSITIVES]
        negatives = [p for p in pairs if p[0] == 0 and len(_squeeze(p[2])) >= 6][:DERIVED_NEGATIVES]
        for label, para, sentence, rank in positives + negatives:
            out.append(
                {
                    "id": f"sp-{start + len(out):04d}",
                    "qid": f"{item['id']}",
                    "question": item["question"],
                    "kind": kind,
                    "corpus": corpus,
                    "town": para.town,
                    "hit_id": para.id,
                    "section": para.section,
                    "sentence": sentence,
                    "label": label,
                    "rank": rank,
                    "source": gold.name,
                }  # fmt: skip
            )
    return out


def _f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = (pred & (y == 1)).sum()
    return float(2 * tp / max(1, pred.sum() + y.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default=str(ROOT / "tests" / "data" / "support_pairs.jsonl"))
    parser.add_argument("--db", action="append", required=True, help="corpus=DIR, once per corpus")
    parser.add_argument("--out", default=str(MODEL_FILE))
    parser.add_argument(
        "--compare",
        action="append",
        help="a comma-separated feature set to score held out (repeatable); writes nothing",
    )
    parser.add_argument("--cache", help="an .npz file keeping the computed features between runs (same pairs)")
    parser.add_argument(
        "--features", default=",".join(PREVIOUS), help="features the model uses (of " + ",".join(FEATURES) + ")"
    )
    parser.add_argument("--only", help="fit on these labellings only (comma-separated, see group_of)")
    parser.add_argument(
        "--paragraphs", action="store_true", help="fit on paragraphs (any sentence positive), as the app judges a hit"
    )
    parser.add_argument("--kinds", help="fit on pairs of these question kinds only (comma-separated)")
    parser.add_argument(
        "--min-precision", type=float, default=0.0, help="the threshold's held-out precision at least this"
    )
    parser.add_argument("--derive", help="append pairs derived from this gold file's evidence (corpus: the first --db)")
    args = parser.parse_args()
    dbs = dict(item.split("=", 1) for item in args.db)
    pairs = [json.loads(line) for line in Path(args.pairs).read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.derive:
        corpus, db = next(iter(dbs.items()))
        new = derive(Path(args.derive), db, corpus, len(pairs) + 1)
        with Path(args.pairs).open("a", encoding="utf-8") as out:
            out.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in new)
        print(f"{len(new)} pairs ({sum(p['label'] for p in new)} positive) from {args.derive}")
        return
    pairs = [p for p in pairs if p["corpus"] in dbs]
    if not (args.only or args.compare):  # the packaged model: no refit with the later pairs passed the eval guard
        args.only = "first"
    if args.only:
        pairs = [p for p in pairs if group_of(p) in args.only.split(",")]
    if args.kinds:
        pairs = [p for p in pairs if p["kind"] in args.kinds.split(",")]
    if args.paragraphs:  # one item per (question, paragraph), read as the app reads a hit
        pairs, columns = paragraph_features(pairs, dbs)
    elif args.cache and Path(args.cache).exists() and len(np.load(args.cache)["label"]) == len(pairs):
        columns = dict(np.load(args.cache))
    else:
        columns = features(pairs, dbs)
        if args.cache:
            np.savez(args.cache, label=np.array([p["label"] for p in pairs]), **columns)
    for name in LAZY:  # meaning counted only where the lexical rule is silent (assistant.support.with_unruled)
        columns[name + UNRULED] = columns[name] * (1.0 - columns["rule"])
    y = np.array([p["label"] for p in pairs], dtype=float)
    qids = [p["qid"] for p in pairs]
    if args.compare:
        compare(columns, y, qids, [group_of(p) for p in pairs], [tuple(c.split(",")) for c in args.compare])
        return
    chosen = tuple(args.features.split(","))
    x = np.column_stack([columns[name] for name in chosen])
    figures = report(held_out(x, y, qids, fixed=True), y, args.min_precision)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    w = fit((x - mean) / scale, y)
    model = {
        "features": list(chosen),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": w[1:].round(6).tolist(),
        "bias": round(float(w[0]), 6),
        "threshold": figures["threshold"],
        "bounds": {
            name: [round(float(x[:, i].min()), 6), round(float(x[:, i].max()), 6)] for i, name in enumerate(chosen)
        },
        "provenance": {
            "pairs": Path(args.pairs).name,
            "n_pairs": len(pairs),
            "positives": int(y.sum()),
            "questions": len(set(qids)),
            "held_out": figures,
            "min_precision": args.min_precision,
            "paragraphs": bool(args.paragraphs),
            "folds": "5, by question (fixed: a hash of its id)",
            "labellings": sorted(set(group_of(p) for p in pairs)),
            "fitted": date.today().isoformat(),
        },
    }
    Path(args.out).write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(model["provenance"], ensure_ascii=False))
    print("weights:", dict(zip(chosen, model["weights"])), "bias", model["bias"])


if __name__ == "__main__":
    main()

"""Fit the town decision of which-towns questions (assistant/data/town_model.json) and report held-out figures.

    python scripts/fit_town_decision.py --db DIR [--questions tests/data/train17.jsonl ...]
        [--out assistant/data/town_model.json] [--cache FILE.npz] [--check FILE.jsonl ...] [--dry-run]

``--db`` is a county knowledge base holding every report the questions are about (``python -m
assistant ingest data/reports/*.txt tests/data/realworld/*.txt --db DIR``). Each labelled
``multi_town`` question is retrieved with the app's own code (``HybridRetriever.retrieve``): the
decision reads every candidate town's best few paragraphs, each with features read relative to
the question's other candidates (:func:`assistant.fusion.candidate_features`). Labels:

- a paragraph of a town in the question's ``towns`` that holds its evidence text: positive;
- a paragraph of any town outside ``towns`` ∪ ``towns_optional``: negative;
- the rest (a required town's paragraphs without the evidence, an optional town's) are left out.

``towns: []`` questions (no report speaks of it) give only negatives, and teach where "no town"
lies: the app asserts no town when no town's likeliest paragraph clears the threshold.

The model is a logistic regression over standardised features (Newton's method with an L2
penalty, as ``scripts/fit_support.py``); a town's probability is its likeliest paragraph's.
Questions are split into 5 folds by a hash of their id, so no question is in both training and
held-out data. For each declared feature set (:data:`FEATURE_SETS`) and penalty, held-out town
probabilities are computed; a question's asserted towns are the relevance-share rule's own
(collected with no town model) plus those whose probability reaches the threshold, as the app
decides; the threshold is the one that maximises the held-out *exact town-set rate* (the product's town accuracy: every required town asserted, nothing outside
required ∪ optional, no town when none), ties broken by held-out town F1; the set and penalty
with the best such figures are fitted on all questions and written. A required town the
retriever never reached counts as missed. ``--check`` scores other question files (eval sets:
guards, never fitted on) with the written model. The model decides only questions over at least as many candidate towns
as the fewest of the questions it was fitted on (``min_towns``): its features are read relative
to the other candidates, which over a handful of towns (the 5-report demo) mean something else.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The paragraph-level fit's Newton solver and question folds (scripts/ is the running script's folder, on the path).
from fit_support import fit, fold_of  # noqa: E402

from assistant.fusion import CANDIDATE_FEATURES  # noqa: E402
from assistant.support import TOWN_MODEL_FILE, SupportModel  # noqa: E402

FOLDS = 5
PENALTIES = (1.0, 10.0)
FEATURE_SETS = {
    "support": ("support",),
    "support relative": ("support", "support_logit_gap", "support_z", "question_support"),
    "meaning": ("support", "window_z", "window_gap", "bigram_z", "question_support"),
    "relative": (
        "support", "support_logit_gap", "dense_z", "window_z", "bigram_share", "coverage_share",
        "relevance_share", "question_support",
    ),
    "all": CANDIDATE_FEATURES,
}  # fmt: skip
"""Feature sets compared by held-out figures (the best is written)."""


@dataclass
class Question:
    """One labelled question's judged candidates.

    Attributes:
        qid: Question id.
        towns: Each candidate's town.
        x: Each candidate's features (:data:`CANDIDATE_FEATURES` order).
        label: 1 evidence of a required town, 0 a town not acceptable, NaN left out of the fit.
        required: Towns a correct answer asserts.
        optional: Towns it may also assert.
        routed: The question is decided town by town (else the which-towns path never sees it).
        matched: Towns the retrieval the features were collected with matched (the decision of
            that time: the figures before a refit).
    """

    qid: str
    towns: list[str]
    x: np.ndarray
    label: np.ndarray
    required: set[str]
    optional: set[str]
    routed: bool
    matched: set[str]


def read_questions(paths: list[str]) -> list[dict]:
    """The ``multi_town`` questions of the files."""
    out = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                if item.get("type") == "multi_town":
                    out.append(item)
    return out


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def collect(items: list[dict], db: str) -> list[Question]:
    """Retrieve each question on the knowledge base and read its judged candidates' features."""
    from assistant.kinds import kind_named
    from assistant.service import Assistant
    from assistant.settings import Settings

    retriever = Assistant(Settings(db=db)).retriever
    retriever.town_meaning = True  # every feature, whichever the packaged model reads
    retriever.town_model = None  # the relevance-share rule's own towns: the model adds to them (as the app does)
    paragraphs = retriever.kb.paragraphs
    out = []
    for item in items:
        query = retriever.understand(item["question"])
        routed = kind_named(query.kind).town_by_town(query) and not query.towns
        required, optional = set(item["towns"]), set(item.get("towns_optional") or ())
        evidence: dict[str, list[str]] = {}
        for e in item.get("evidence", []):
            evidence.setdefault(e["town"], []).append(_squeeze(e["text"]))
        towns, rows, labels, matched = [], [], [], set()
        for match in retriever.retrieve(query, k=5).towns if routed else ():
            if match.matched:
                matched.add(match.town)
            for pid, row in zip(match.judged, match.features):
                p = paragraphs[pid]
                holds = any(t in _squeeze(p.section + p.text) for t in evidence.get(match.town, ()))
                if match.town in required:
                    label = 1.0 if holds else np.nan
                else:
                    label = np.nan if match.town in optional else 0.0
                towns.append(match.town)
                rows.append(row)
                labels.append(label)
        x = np.array(rows, dtype=float).reshape(-1, len(CANDIDATE_FEATURES))
        out.append(Question(item["id"], towns, x, np.array(labels), required, optional, routed, matched))
    return out


def save(questions: list[Question], path: str) -> None:
    """Keep the collected features (refits without retrieving again)."""
    meta = [
        {"qid": q.qid, "towns": q.towns, "required": sorted(q.required), "optional": sorted(q.optional),
         "routed": q.routed, "matched": sorted(q.matched)}
        for q in questions
    ]  # fmt: skip
    arrays = {f"x{i}": q.x for i, q in enumerate(questions)} | {f"y{i}": q.label for i, q in enumerate(questions)}
    np.savez(path, meta=json.dumps(meta, ensure_ascii=False), features=",".join(CANDIDATE_FEATURES), **arrays)


def load(path: str) -> list[Question] | None:
    """The features kept by :func:`save` (None when they were computed for other features)."""
    data = np.load(path)
    if str(data["features"]) != ",".join(CANDIDATE_FEATURES):
        return None
    meta = json.loads(str(data["meta"]))
    return [
        Question(m["qid"], m["towns"], data[f"x{i}"], data[f"y{i}"], set(m["required"]), set(m["optional"]),
                 m["routed"], set(m["matched"]))
        for i, m in enumerate(meta)
    ]  # fmt: skip


def fit_model(questions: list[Question], features: tuple[str, ...], l2: float, threshold: float = 0.5) -> SupportModel:
    """The decision fitted on these questions' labelled candidates (unknown values: the training mean)."""
    columns = [CANDIDATE_FEATURES.index(f) for f in features]
    x = np.vstack([q.x[:, columns] for q in questions])
    y = np.concatenate([q.label for q in questions])
    x, y = x[~np.isnan(y)], y[~np.isnan(y)]
    mean = np.nanmean(x, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    filled = np.where(np.isnan(x), mean, x)
    scale = filled.std(0) + 1e-9
    w = fit((filled - mean) / scale, y, l2)
    known = [x[~np.isnan(x[:, i]), i] for i in range(len(features))]
    bounds = {f: (float(k.min()), float(k.max())) for f, k in zip(features, known) if len(k)}
    return SupportModel(
        features=features, mean=tuple(mean.tolist()), scale=tuple(scale.tolist()), weights=tuple(w[1:].tolist()),
        bias=float(w[0]), threshold=threshold, provenance={}, bounds=bounds,
    )  # fmt: skip


def town_probabilities(model: SupportModel, q: Question) -> dict[str, float]:
    """Each candidate town's probability: its likeliest candidate's (as the app decides)."""
    columns = {name: q.x[:, i] for i, name in enumerate(CANDIDATE_FEATURES)}
    out: dict[str, float] = {}
    for town, p in zip(q.towns, model.probabilities(columns, len(q.towns)).tolist()):
        out[town] = max(out.get(town, 0.0), p)
    return out


def held_out(questions: list[Question], features: tuple[str, ...], l2: float) -> list[dict[str, float]]:
    """Each question's town probabilities from a model fitted without its fold."""
    out: list[dict[str, float]] = [{} for _ in questions]
    for k in range(FOLDS):
        model = fit_model([q for q in questions if fold_of(q.qid, FOLDS) != k], features, l2)
        for i, q in enumerate(questions):
            if fold_of(q.qid, FOLDS) == k:
                out[i] = town_probabilities(model, q)
    return out


def score(questions: list[Question], asserted: list[set[str]]) -> dict:
    """Town-level precision/recall/F1 and the exact town-set rate of the asserted towns."""
    tp = fp = fn = exact = 0
    for q, towns in zip(questions, asserted):
        allowed = q.required | q.optional
        tp += len(towns & q.required)
        fp += len(towns - allowed)
        fn += len(q.required - towns)
        exact += int(q.required <= towns <= allowed)
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(2 * precision * recall / max(1e-9, precision + recall), 3),
        "exact_town_sets": round(exact / max(1, len(questions)), 3),
        "questions": len(questions),
    }


def at(questions: list[Question], probs: list[dict[str, float]], threshold: float) -> dict:
    """:func:`score` of the rule's towns and those whose probability reaches the threshold.

    As the app decides (:func:`assistant.fusion.decide_ranked_towns`): the model adds towns to the
    relevance-share rule's and drops none, so a feature set is judged by what it adds.
    """
    asserted = [q.matched | {t for t, p in probs_q.items() if p >= threshold} for q, probs_q in zip(questions, probs)]
    return {"threshold": round(float(threshold), 3), **score(questions, asserted)}


def best_threshold(questions: list[Question], probs: list[dict[str, float]]) -> dict:
    """The threshold with the best held-out exact town-set rate (then F1), and the figures there."""
    figures = [at(questions, probs, t) for t in np.round(np.linspace(0.05, 0.95, 91), 3)]
    return max(figures, key=lambda f: (f["exact_town_sets"], f["f1"]))


def write(model: SupportModel, path: str, provenance: dict) -> None:
    """Write the model as ``assistant/support.py`` reads it."""
    data = {
        "features": list(model.features),
        "mean": [round(v, 6) for v in model.mean],
        "scale": [round(v, 6) for v in model.scale],
        "weights": [round(v, 6) for v in model.weights],
        "bias": round(model.bias, 6),
        "threshold": model.threshold,
        "bounds": {name: [round(lo, 6), round(hi, 6)] for name, (lo, hi) in model.bounds.items()},
        "min_towns": model.min_towns,
        "provenance": provenance,
    }
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="county knowledge base")
    parser.add_argument(
        "--questions", action="append", help="labelled question files (default tests/data/train17.jsonl)"
    )
    parser.add_argument("--out", default=str(TOWN_MODEL_FILE))
    parser.add_argument("--cache", help="an .npz file keeping the collected features between runs")
    parser.add_argument("--check", action="append", default=[], help="question files scored as a guard, never fitted")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write no model")
    parser.add_argument("--only", choices=list(FEATURE_SETS), help="compare only this feature set")
    args = parser.parse_args()
    paths = args.questions or [str(ROOT / "tests" / "data" / "train17.jsonl")]
    items = read_questions(paths)
    questions = load(args.cache) if args.cache and Path(args.cache).exists() else None
    if questions is None or [q.qid for q in questions] != [i["id"] for i in items]:
        questions = collect(items, args.db)
        if args.cache:
            save(questions, args.cache)
    routed = [q for q in questions if q.routed]
    before = score(routed, [q.matched for q in routed])
    print(f"{len(questions)} multi_town questions, {len(routed)} decided town by town", file=sys.stderr)
    print(json.dumps({"retrieval as collected": before}))
    compared = []
    for name, features in FEATURE_SETS.items():
        if args.only and name != args.only:
            continue
        for l2 in PENALTIES:
            figures = best_threshold(routed, held_out(routed, features, l2))
            compared.append((figures["exact_town_sets"], figures["f1"], name, l2, figures))
            print(json.dumps({"features": name, "l2": l2, "held_out": figures}))
    _, _, name, l2, figures = max(compared, key=lambda c: c[:2])
    features = FEATURE_SETS[name]
    model = fit_model(routed, features, l2, figures["threshold"])
    # The model decides questions over as many candidate towns as those it was fitted on (see SupportModel).
    model = dataclasses.replace(model, min_towns=min(len(set(q.towns)) for q in routed if q.towns))
    no_town = [q for q in routed if not q.required]
    probs = held_out(routed, features, l2)
    figures_none = at(no_town, [p for q, p in zip(routed, probs) if not q.required], figures["threshold"])
    print(json.dumps({"chosen": name, "l2": l2, "held_out": figures, "no_town_questions": figures_none}))
    print("weights:", {f: round(w, 3) for f, w in zip(features, model.weights)}, "bias", round(model.bias, 3))
    for path in args.check:
        checked = [q for q in collect(read_questions([path]), args.db) if q.routed]
        probs = [town_probabilities(model, q) for q in checked]
        print(Path(path).name, json.dumps(at(checked, probs, model.threshold)))
    if args.dry_run:
        return
    provenance = {
        "questions": [Path(p).name for p in paths],
        "n_questions": len(routed),
        "no_town_questions": len(no_town),
        "n_candidates": int(sum(int((~np.isnan(q.label)).sum()) for q in routed)),
        "feature_set": name,
        "l2": l2,
        "held_out": figures,
        "held_out_no_town": figures_none,
        "before": before,
        "folds": f"{FOLDS}, by question (hash of id)",
        "fitted": date.today().isoformat(),
    }
    write(model, args.out, provenance)


if __name__ == "__main__":
    main()

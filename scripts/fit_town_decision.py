"""Fit the which-towns decision (``which_towns`` in assistant/data/town_model.json) and report held-out figures.

    python scripts/fit_town_decision.py --db DIR [--questions FILE.jsonl ...] [--out assistant/data/town_model.json]
        [--cache FILE.npz] [--check FILE.jsonl ...] [--dry-run] [--only SET]

``--db`` is a county knowledge base holding every report the questions are about (``python -m
assistant ingest data/reports/*.txt tests/data/realworld/*.txt --db DIR``). Each labelled
``multi_town`` question is retrieved with the app's own code (the which-towns kind's town-by-town
retrieval, :meth:`assistant.retrieve.HybridRetriever.town_by_town`), and every candidate town is
read as the app reads it (:func:`assistant.kinds.which_towns.town_table`, one row per town):

- a town of the question's ``towns``: positive;
- a town outside ``towns`` ∪ ``towns_optional``: negative — counted ``--near-weight`` times when
  the question names it as a hard negative (``near``: a related-looking sentence that does not answer);
- an optional town: left out.

``towns: []`` questions (no report speaks of it) give only negatives. The app asserts the towns
the relevance-share rule matches and adds those whose probability reaches the threshold, so the
model is fitted on the towns the rule leaves open (the rule's are asserted whatever it says).

The model is a logistic regression over standardised features (Newton's method with an L2
penalty). Questions are split into 5 folds by a hash of their id, so no question is in both
training and held-out data. For each declared feature set (:data:`FEATURE_SETS`) and penalty,
held-out town probabilities are computed; the threshold is the one that maximises the held-out
*exact town-set rate* over all questions (the product's town accuracy: every required town
asserted, nothing outside required ∪ optional, no town when none), ties broken by held-out town
F1; the set and penalty with the best such figures are fitted on all questions and written under
``which_towns`` (the rest of the file, the candidate-level town model of
:func:`assistant.fusion.decide_ranked_towns`, is kept). Figures are printed per question file.
``--check`` scores other question files (eval sets: guards, never fitted on) with the written
model. The model decides only questions over at least as many candidate towns as the fewest of
the questions it was fitted on (``min_towns``): its features are read relative to the other
candidates, which over a handful of towns (the 5-report demo) mean something else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The question folds and the logistic fit of the paragraph-level fit (scripts/ is the running script's folder, on the path).
from fit_support import fit, fold_of  # noqa: E402

from assistant.kinds.which_towns import TOWN_FEATURES  # noqa: E402
from assistant.support import TOWN_MODEL_FILE, SupportModel  # noqa: E402

FOLDS = 5
PENALTIES = (1.0, 10.0)
NEAR_WEIGHT = 1.0
DEFAULT_QUESTIONS = ("train17.jsonl", "colloquial_dev.jsonl", "train19.jsonl")
FEATURE_SETS = {
    "support": ("support", "support_logit_gap", "support_z", "question_support"),
    "town": (
        "support", "support_second", "support_logit_gap", "support_z", "question_support", "rule_towns",
        "dense_z", "bigram_z", "relevance_z", "coverage_known",
    ),
    "town meaning": TOWN_FEATURES[: TOWN_FEATURES.index("window_z") + 1],
    "town meaning, any candidate": TOWN_FEATURES,
}  # fmt: skip
"""Feature sets compared by held-out figures (the best is written)."""


@dataclass
class Question:
    """One labelled question's candidate towns.

    Attributes:
        qid: Question id.
        source: The question file it comes from.
        towns: Each candidate town.
        x: Each town's features (:data:`TOWN_FEATURES` order).
        label: 1 a required town, 0 a town not acceptable, NaN left out of the fit.
        near: The question names the town as a hard negative (counted more in the fit).
        ruled: The relevance-share rule matches the town (asserted whatever the model says).
        required: Towns a correct answer asserts.
        optional: Towns it may also assert.
        routed: The question is decided town by town over all towns (else the decision never sees it).
    """

    qid: str
    source: str
    towns: list[str]
    x: np.ndarray
    label: np.ndarray
    near: np.ndarray
    ruled: np.ndarray
    required: set[str]
    optional: set[str]
    routed: bool


def read_questions(paths: list[str]) -> list[dict]:
    """The ``multi_town`` questions of the files (each with its file's name as ``source``)."""
    out = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                if item.get("type") == "multi_town":
                    out.append({**item, "source": Path(path).name})
    return out


def collect(items: list[dict], db: str) -> list[Question]:
    """Retrieve each question on the knowledge base and read its candidate towns' features."""
    from assistant.kinds import kind_named
    from assistant.kinds.base import QuestionKind
    from assistant.kinds.which_towns import town_table
    from assistant.service import Assistant
    from assistant.settings import Settings

    retriever = Assistant(Settings(db=db)).retriever
    retriever.town_model = None  # the rule's own towns (the candidate-level model would add to them)
    out = []
    for item in items:
        query = retriever.understand(item["question"])
        kind = kind_named(query.kind)
        routed = kind.town_by_town(query) and not query.towns
        required, optional = set(item["towns"]), set(item.get("towns_optional") or ())
        near = {n["town"] for n in item.get("near") or ()}
        towns: list[str] = []
        x = np.zeros((0, len(TOWN_FEATURES)))
        ruled = np.zeros(0, dtype=bool)
        if routed:
            # The kind's retrieval before its decision (the base class's: town by town, all towns in scope).
            retrieval = QuestionKind.retrieve(kind, retriever, query, retriever.topic(query), 5)
            table, _ = town_table(retriever, retrieval)
            towns = [m.town for m in retrieval.towns]
            x = np.column_stack([table[name] for name in TOWN_FEATURES]) if towns else x
            ruled = np.array([m.ruled for m in retrieval.towns], dtype=bool)
        label = np.array([1.0 if t in required else (np.nan if t in optional else 0.0) for t in towns])
        hard = np.array([t in near for t in towns], dtype=bool)
        out.append(Question(item["id"], item["source"], towns, x, label, hard, ruled, required, optional, routed))
        print(item["id"], len(towns), file=sys.stderr)
    return out


def save(questions: list[Question], path: str) -> None:
    """Keep the collected features (refits without retrieving again)."""
    meta = [
        {"qid": q.qid, "source": q.source, "towns": q.towns, "required": sorted(q.required),
         "optional": sorted(q.optional), "routed": q.routed}
        for q in questions
    ]  # fmt: skip
    arrays = {}
    for i, q in enumerate(questions):
        arrays |= {f"x{i}": q.x, f"y{i}": q.label, f"n{i}": q.near, f"r{i}": q.ruled}
    np.savez(path, meta=json.dumps(meta, ensure_ascii=False), features=",".join(TOWN_FEATURES), **arrays)


def load(path: str) -> list[Question] | None:
    """The features kept by :func:`save` (None when they were computed for other features)."""
    data = np.load(path)
    if str(data["features"]) != ",".join(TOWN_FEATURES):
        return None
    meta = json.loads(str(data["meta"]))
    return [
        Question(m["qid"], m["source"], m["towns"], data[f"x{i}"], data[f"y{i}"], data[f"n{i}"], data[f"r{i}"],
                 set(m["required"]), set(m["optional"]), m["routed"])
        for i, m in enumerate(meta)
    ]  # fmt: skip


def fit_model(
    questions: list[Question],
    features: tuple[str, ...],
    l2: float,
    threshold: float = 0.5,
    near_weight: float = NEAR_WEIGHT,
) -> SupportModel:
    """The decision fitted on these questions' towns the rule leaves open (unknown values: the training mean)."""
    columns = [TOWN_FEATURES.index(f) for f in features]
    x = np.vstack([q.x[~q.ruled][:, columns] for q in questions])
    y = np.concatenate([q.label[~q.ruled] for q in questions])
    weight = np.concatenate([np.where(q.near[~q.ruled], near_weight, 1.0) for q in questions])
    keep = ~np.isnan(y)
    x, y, weight = x[keep], y[keep], weight[keep]
    mean = np.nanmean(x, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    filled = np.where(np.isnan(x), mean, x)
    scale = filled.std(0) + 1e-9
    w = fit((filled - mean) / scale, y, weight, l2)
    known = [x[~np.isnan(x[:, i]), i] for i in range(len(features))]
    bounds = {f: (float(k.min()), float(k.max())) for f, k in zip(features, known) if len(k)}
    return SupportModel(
        features=features, mean=tuple(mean.tolist()), scale=tuple(scale.tolist()), weights=tuple(w[1:].tolist()),
        bias=float(w[0]), threshold=threshold, provenance={}, bounds=bounds,
    )  # fmt: skip


def town_probabilities(model: SupportModel, q: Question) -> np.ndarray:
    """Each candidate town's probability (as the app computes it)."""
    columns = {name: q.x[:, i] for i, name in enumerate(TOWN_FEATURES)}
    return model.probabilities(columns, len(q.towns))


def held_out(
    questions: list[Question], features: tuple[str, ...], l2: float, near_weight: float = NEAR_WEIGHT
) -> list[np.ndarray]:
    """Each question's town probabilities from a model fitted without its fold."""
    out: list[np.ndarray] = [np.zeros(0) for _ in questions]
    for k in range(FOLDS):
        model = fit_model([q for q in questions if fold_of(q.qid, FOLDS) != k], features, l2, near_weight=near_weight)
        for i, q in enumerate(questions):
            if fold_of(q.qid, FOLDS) == k:
                out[i] = town_probabilities(model, q)
    return out


def asserted(q: Question, probability: np.ndarray, threshold: float) -> set[str]:
    """The towns the app asserts: the rule's, and those whose probability reaches the threshold."""
    return {t for t, r, p in zip(q.towns, q.ruled.tolist(), probability.tolist()) if r or p >= threshold}


def score(questions: list[Question], towns: list[set[str]]) -> dict:
    """Town-level precision/recall/F1, the exact town-set rate and the no-town questions that named a town."""
    tp = fp = fn = exact = named = 0
    for q, got in zip(questions, towns):
        allowed = q.required | q.optional
        tp += len(got & q.required)
        fp += len(got - allowed)
        fn += len(q.required - got)
        exact += int(q.required <= got <= allowed)
        named += int(not q.required and bool(got))
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(2 * precision * recall / max(1e-9, precision + recall), 3),
        "exact_town_sets": round(exact / max(1, len(questions)), 3),
        "no_town_named": f"{named}/{sum(not q.required for q in questions)}",
        "questions": len(questions),
    }


def at(questions: list[Question], probs: list[np.ndarray], threshold: float) -> dict:
    """:func:`score` of the towns asserted at this threshold."""
    return {
        "threshold": round(float(threshold), 3),
        **score(questions, [asserted(q, p, threshold) for q, p in zip(questions, probs)]),
    }


def best_threshold(questions: list[Question], probs: list[np.ndarray]) -> dict:
    """The threshold with the best held-out exact town-set rate (then F1), and the figures there."""
    figures = [at(questions, probs, t) for t in np.round(np.linspace(0.05, 0.95, 91), 3)]
    return max(figures, key=lambda f: (f["exact_town_sets"], f["f1"]))


def per_source(questions: list[Question], probs: list[np.ndarray], threshold: float) -> dict:
    """:func:`at` for each question file."""
    sources = dict.fromkeys(q.source for q in questions)
    return {
        s: at(
            [q for q in questions if q.source == s], [p for q, p in zip(questions, probs) if q.source == s], threshold
        )
        for s in sources
    }


def write(model: SupportModel, path: str, provenance: dict) -> None:
    """Write the model under ``which_towns`` of the town-model file (its other keys are kept)."""
    target = Path(path)
    source = target if target.exists() else TOWN_MODEL_FILE
    data = json.loads(source.read_text(encoding="utf-8")) if source.exists() else {}
    data["which_towns"] = {
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
    target.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="county knowledge base")
    parser.add_argument(
        "--questions", action="append",
        help=f"labelled question files (default tests/data/: {', '.join(DEFAULT_QUESTIONS)})",
    )  # fmt: skip
    parser.add_argument("--out", default=str(TOWN_MODEL_FILE))
    parser.add_argument("--cache", help="an .npz file keeping the collected features between runs")
    parser.add_argument("--check", action="append", default=[], help="question files scored as a guard, never fitted")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write no model")
    parser.add_argument("--only", choices=list(FEATURE_SETS), help="compare only this feature set")
    parser.add_argument("--near-weight", type=float, default=NEAR_WEIGHT, help="weight of a hard negative (near)")
    args = parser.parse_args()
    paths = args.questions or [str(ROOT / "tests" / "data" / name) for name in DEFAULT_QUESTIONS]
    items = read_questions(paths)
    questions = load(args.cache) if args.cache and Path(args.cache).exists() else None
    if questions is None or [q.qid for q in questions] != [i["id"] for i in items]:
        questions = collect(items, args.db)
        if args.cache:
            save(questions, args.cache)
    routed = [q for q in questions if q.routed and q.towns]
    rule_only = [np.zeros(len(q.towns)) for q in routed]
    before = at(routed, rule_only, 1.01)
    print(f"{len(questions)} multi_town questions, {len(routed)} decided town by town over all towns", file=sys.stderr)
    print(json.dumps({"relevance-share rule alone": before}, ensure_ascii=False))
    compared = []
    for name, features in FEATURE_SETS.items():
        if args.only and name != args.only:
            continue
        for l2 in PENALTIES:
            probs = held_out(routed, features, l2, args.near_weight)
            figures = best_threshold(routed, probs)
            compared.append((figures["exact_town_sets"], figures["f1"], name, l2, figures))
            print(json.dumps({"features": name, "l2": l2, "held_out": figures}, ensure_ascii=False))
            print("   ", json.dumps(per_source(routed, probs, figures["threshold"]), ensure_ascii=False))
    _, _, name, l2, figures = max(compared, key=lambda c: c[:2])
    features = FEATURE_SETS[name]
    model = fit_model(routed, features, l2, figures["threshold"], args.near_weight)
    # The model decides questions over as many candidate towns as those it was fitted on.
    model = SupportModel(**{**model.__dict__, "min_towns": min(len(q.towns) for q in routed)})
    by_source = per_source(routed, held_out(routed, features, l2, args.near_weight), figures["threshold"])
    print(
        json.dumps({"chosen": name, "l2": l2, "held_out": figures, "held_out_by_file": by_source}, ensure_ascii=False)
    )
    print("weights:", {f: round(w, 3) for f, w in zip(features, model.weights)}, "bias", round(model.bias, 3))
    in_sample = [town_probabilities(model, q) for q in routed]
    print("in sample:", json.dumps(per_source(routed, in_sample, model.threshold), ensure_ascii=False))
    for path in args.check:
        checked = [q for q in collect(read_questions([path]), args.db) if q.routed and q.towns]
        probs = [town_probabilities(model, q) for q in checked]
        print(Path(path).name, json.dumps(at(checked, probs, model.threshold), ensure_ascii=False))
    if args.dry_run:
        return
    provenance = {
        "questions": [Path(p).name for p in paths],
        "n_questions": len(routed),
        "no_town_questions": sum(not q.required for q in routed),
        "n_towns": int(sum(int((~np.isnan(q.label[~q.ruled])).sum()) for q in routed)),
        "near_weight": args.near_weight,
        "feature_set": name,
        "l2": l2,
        "held_out": figures,
        "held_out_by_file": by_source,
        "before": before,
        "folds": f"{FOLDS}, by question (hash of id)",
        "fitted": date.today().isoformat(),
    }
    write(model, args.out, provenance)


if __name__ == "__main__":
    main()

"""Fit the town decision of which-towns questions (assistant/data/town_model.json) and report held-out figures.

    python scripts/fit_town_decision.py --db DIR [--questions /work/train17/train17.jsonl ...]
        [--out assistant/data/town_model.json] [--cache FILE.npz] [--check FILE.jsonl ...]

``--db`` is a county knowledge base holding every report the questions are about (``python -m
assistant ingest data/reports/*.txt tests/data/realworld/*.txt --db DIR``). Each labelled
``multi_town`` question is retrieved with the app's own code (``HybridRetriever.retrieve``):
every candidate town it reaches carries the features the town decision reads
(:data:`assistant.fusion.TOWN_FEATURES`, computed by :func:`assistant.fusion.town_features`). A
town in the question's ``towns`` is a positive, one in ``towns_optional`` is left out of the fit
(either answer is acceptable), any other candidate a negative; ``towns: []`` questions (no town
speaks of it) are all negatives, and teach where "no town" lies: the app asserts no town when
none clears the threshold.

The model is a logistic regression over standardised features (Newton's method with an L2
penalty, as ``scripts/fit_support.py``). Questions are split into 5 folds by a hash of their id,
so no question is in both training and held-out data; the threshold is the one that maximises
the held-out *exact town-set rate* (the product's town accuracy: every required town asserted,
nothing outside required ∪ optional, abstention when none), ties broken by held-out F1. The
printed and stored figures are those held out by question; a required town the retriever never
reached counts as missed. ``--check`` scores other question files (e.g. an eval set, as a guard)
with the fitted model, never fitting on them.
"""

from __future__ import annotations

import argparse
import hashlib
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

from assistant.fusion import TOWN_FEATURES  # noqa: E402
from assistant.support import TOWN_MODEL_FILE, SupportModel  # noqa: E402

FOLDS = 5
L2 = 1.0
CHOSEN = TOWN_FEATURES


@dataclass
class Question:
    """One labelled question's candidate towns and their features.

    Attributes:
        qid: Question id.
        towns: Candidate towns the retriever reached.
        x: Their features (one row per town, :data:`TOWN_FEATURES` order).
        required: Towns a correct answer asserts.
        optional: Towns it may also assert.
        routed: The question is decided town by town (else the which-towns path never sees it).
        matched: Whether the retrieval the features were collected with matched each town (the
            packaged decision of that time: the figures before a refit).
    """

    qid: str
    towns: list[str]
    x: np.ndarray
    required: set[str]
    optional: set[str]
    routed: bool
    matched: np.ndarray


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


def collect(items: list[dict], db: str) -> list[Question]:
    """Retrieve each question on the knowledge base and read its candidate towns' features."""
    from assistant.kinds import kind_named
    from assistant.service import Assistant
    from assistant.settings import Settings

    retriever = Assistant(Settings(db=db)).retriever
    retriever.town_meaning = True  # every feature, whichever the packaged model reads
    out = []
    for item in items:
        query = retriever.understand(item["question"])
        routed = kind_named(query.kind).town_by_town(query) and not query.towns
        towns: list[str] = []
        rows: list[tuple[float, ...]] = []
        matched: list[bool] = []
        if routed:
            for match in retriever.retrieve(query, k=5).towns:
                towns.append(match.town)
                rows.append(match.features)
                matched.append(match.matched)
        x = np.array(rows, dtype=float).reshape(-1, len(TOWN_FEATURES))
        required, optional = set(item["towns"]), set(item.get("towns_optional") or ())
        out.append(Question(item["id"], towns, x, required, optional, routed, np.array(matched, dtype=bool)))
    return out


def save(questions: list[Question], path: str) -> None:
    """Keep the collected features (refits without retrieving again)."""
    meta = [{"qid": q.qid, "towns": q.towns, "required": sorted(q.required), "optional": sorted(q.optional),
             "routed": q.routed} for q in questions]  # fmt: skip
    arrays = {f"x{i}": q.x for i, q in enumerate(questions)}
    arrays |= {f"m{i}": q.matched for i, q in enumerate(questions)}
    np.savez(path, meta=json.dumps(meta, ensure_ascii=False), features=",".join(TOWN_FEATURES), **arrays)


def load(path: str) -> list[Question] | None:
    """The features kept by :func:`save` (None when they were computed for other features)."""
    data = np.load(path)
    if str(data["features"]) != ",".join(TOWN_FEATURES):
        return None
    meta = json.loads(str(data["meta"]))
    return [
        Question(
            m["qid"], m["towns"], data[f"x{i}"], set(m["required"]), set(m["optional"]), m["routed"], data[f"m{i}"]
        )
        for i, m in enumerate(meta)
    ]


def fold_of(qid: str) -> int:
    """The fixed fold of a question (a hash of its id: adding questions moves no other question)."""
    return int(hashlib.sha1(qid.encode()).hexdigest(), 16) % FOLDS


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 50) -> np.ndarray:
    """Logistic regression weights (intercept first) by Newton's method with an L2 penalty."""
    a = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(a.shape[1])
    penalty = l2 * np.diag(np.r_[0.0, np.ones(a.shape[1] - 1)])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-a @ w))
        grad = a.T @ (p - y) + penalty @ w
        hess = (a * (p * (1 - p))[:, None]).T @ a + penalty
        w -= np.linalg.solve(hess, grad)
    return w


def training_rows(questions: list[Question], features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every candidate town that is not optional."""
    xs, ys = [], []
    for q in questions:
        for town, row in zip(q.towns, q.x):
            if town in q.optional and town not in q.required:
                continue
            xs.append(row[[TOWN_FEATURES.index(f) for f in features]])
            ys.append(float(town in q.required))
    return np.array(xs).reshape(-1, len(features)), np.array(ys)


def fit_model(
    questions: list[Question], features: tuple[str, ...], threshold: float = 0.5, l2: float = L2
) -> SupportModel:
    """The town decision fitted on these questions (unknown values counted as the training mean)."""
    x, y = training_rows(questions, features)
    mean = np.nanmean(x, axis=0)
    filled = np.where(np.isnan(x), mean, x)
    scale = filled.std(0) + 1e-9
    w = fit((filled - mean) / scale, y, l2)
    bounds = {name: (float(np.nanmin(x[:, i])), float(np.nanmax(x[:, i]))) for i, name in enumerate(features)}
    return SupportModel(
        features=features,
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        weights=tuple(w[1:].tolist()),
        bias=float(w[0]),
        threshold=threshold,
        provenance={},
        bounds=bounds,
    )


def probabilities(model: SupportModel, q: Question) -> np.ndarray:
    """The model's probability of each of the question's candidate towns."""
    return model.probabilities({name: q.x[:, i] for i, name in enumerate(TOWN_FEATURES)}, len(q.towns))


def held_out(questions: list[Question], features: tuple[str, ...], l2: float = L2) -> list[np.ndarray]:
    """Each question's town probabilities from a model fitted without its fold."""
    out: list[np.ndarray] = [np.zeros(0)] * len(questions)
    for k in range(FOLDS):
        train = [q for q in questions if fold_of(q.qid) != k]
        model = fit_model(train, features, l2=l2)
        for i, q in enumerate(questions):
            if fold_of(q.qid) == k:
                out[i] = probabilities(model, q)
    return out


def score(questions: list[Question], probs: list[np.ndarray], threshold: float) -> dict:
    """Town-level precision/recall/F1 and the exact town-set rate at a threshold."""
    tp = fp = fn = exact = 0
    for q, p in zip(questions, probs):
        asserted = {t for t, v in zip(q.towns, p) if v >= threshold}
        allowed = q.required | q.optional
        tp += len(asserted & q.required)
        fp += len(asserted - allowed)
        fn += len(q.required - asserted)
        exact += int(q.required <= asserted <= allowed)
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {
        "threshold": round(float(threshold), 3),
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(2 * precision * recall / max(1e-9, precision + recall), 3),
        "exact_town_sets": round(exact / max(1, len(questions)), 3),
        "questions": len(questions),
    }


def best_threshold(questions: list[Question], probs: list[np.ndarray]) -> dict:
    """The threshold with the best held-out exact town-set rate (then F1), and the figures there."""
    figures = [score(questions, probs, t) for t in np.round(np.linspace(0.05, 0.95, 91), 3)]
    return max(figures, key=lambda f: (f["exact_town_sets"], f["f1"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="county knowledge base")
    parser.add_argument("--questions", action="append", help="labelled question files (default train17)")
    parser.add_argument("--out", default=str(TOWN_MODEL_FILE))
    parser.add_argument("--cache", help="an .npz file keeping the collected features between runs")
    parser.add_argument("--check", action="append", default=[], help="question files scored as a guard, never fitted")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write no model")
    parser.add_argument("--features", default=",".join(CHOSEN), help="features the model reads (of TOWN_FEATURES)")
    parser.add_argument("--l2", type=float, default=L2, help="L2 penalty of the standardised weights")
    args = parser.parse_args()
    paths = args.questions or ["/work/train17/train17.jsonl"]
    items = read_questions(paths)
    questions = load(args.cache) if args.cache and Path(args.cache).exists() else None
    if questions is None or [q.qid for q in questions] != [i["id"] for i in items]:
        questions = collect(items, args.db)
        if args.cache:
            save(questions, args.cache)
    routed = [q for q in questions if q.routed]
    print(f"{len(questions)} multi_town questions, {len(routed)} decided town by town", file=sys.stderr)
    chosen = tuple(args.features.split(","))
    probs = held_out(routed, chosen, args.l2)
    figures = best_threshold(routed, probs)
    # Over every question: one the which-towns path never sees keeps its other answer (counted as missed here).
    before = score(routed, [q.matched.astype(float) for q in routed], 0.5)
    no_town = [q for q in routed if not q.required]
    model = fit_model(routed, chosen, figures["threshold"], args.l2)
    figures_none = score(no_town, [p for q, p in zip(routed, probs) if not q.required], figures["threshold"])
    provenance = {
        "questions": [Path(p).name for p in paths],
        "n_questions": len(routed),
        "no_town_questions": len(no_town),
        "n_towns": int(sum(len(q.towns) for q in routed)),
        "held_out": figures,
        "held_out_no_town": figures_none,
        "folds": f"{FOLDS}, by question (hash of id)",
        "fitted": date.today().isoformat(),
    }
    print(json.dumps({"retrieval as collected": before, "held_out": figures, "no_town": figures_none}))
    print("weights:", {f: round(w, 3) for f, w in zip(chosen, model.weights)}, "bias", round(model.bias, 3))
    for path in args.check:
        checked = [q for q in collect(read_questions([path]), args.db) if q.routed]
        print(Path(path).name, json.dumps(score(checked, [probabilities(model, q) for q in checked], model.threshold)))
    if args.dry_run:
        return
    data = {
        "features": list(model.features),
        "mean": [round(v, 6) for v in model.mean],
        "scale": [round(v, 6) for v in model.scale],
        "weights": [round(v, 6) for v in model.weights],
        "bias": round(model.bias, 6),
        "threshold": model.threshold,
        "bounds": {name: [round(lo, 6), round(hi, 6)] for name, (lo, hi) in model.bounds.items()},
        "provenance": provenance,
    }
    Path(args.out).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

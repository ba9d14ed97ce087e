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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.support import FEATURES, MODEL_FILE  # noqa: E402


def features(pairs: list[dict], dbs: dict[str, str]) -> np.ndarray:
    """Feature rows of the pairs, computed on each corpus's knowledge base."""
    from assistant.kinds import understand
    from assistant.service import Assistant
    from assistant.settings import Settings

    assistants = {name: Assistant(Settings(db=path)) for name, path in dbs.items()}
    cache: dict[tuple[str, str], tuple] = {}
    dense: list[float] = []
    for pair in pairs:
        retriever = assistants[pair["corpus"]].retriever
        key = (pair["corpus"], pair["question"])
        if key not in cache:
            query = understand(pair["question"], retriever.aliases)
            vector = retriever.kb.embedder.embed([query.search_text or query.text], "query")[0]
            cache[key] = (query, retriever.topic(query), retriever.bigram_weights(query), np.asarray(vector))
        para = retriever.kb.paragraphs[pair["hit_id"]]
        passage = retriever.kb.embedder.embed([f"{para.section}：{para.text[:320]}"], "passage")[0]
        dense.append(float(np.dot(cache[key][3], np.asarray(passage))))
    rows = []
    for pair, d in zip(pairs, dense):
        query, topic, grams, _ = cache[(pair["corpus"], pair["question"])]
        retriever = assistants[pair["corpus"]].retriever
        values = retriever.support_features(query, topic, pair["hit_id"], d, grams, sentence=pair["sentence"])
        rows.append([values[f] for f in FEATURES])
    return np.array(rows, dtype=float)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
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


def held_out(x: np.ndarray, y: np.ndarray, groups: list[str], folds: int = 5) -> np.ndarray:
    """Held-out probabilities: each question's pairs scored by a model fitted without that question."""
    order = np.random.default_rng(0).permutation(sorted(set(groups)))
    fold_of = {g: i % folds for i, g in enumerate(order)}
    which = np.array([fold_of[g] for g in groups])
    out = np.zeros(len(y))
    for k in range(folds):
        train, test = which != k, which == k
        mean, scale = x[train].mean(0), x[train].std(0) + 1e-9
        w = fit((x[train] - mean) / scale, y[train])
        out[test] = 1 / (1 + np.exp(-(w[0] + ((x[test] - mean) / scale) @ w[1:])))
    return out


def report(p: np.ndarray, y: np.ndarray) -> dict:
    """Threshold with the best F1, and precision, recall, F1 and AUC there."""
    best = max(np.linspace(0.1, 0.9, 81), key=lambda t: _f1(p >= t, y))
    pred = p >= best
    tp = int((pred & (y == 1)).sum())
    ranks = np.empty(len(p))
    ranks[np.argsort(p)] = np.arange(1, len(p) + 1)
    pos = int(y.sum())
    auc = (ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * (len(y) - pos))
    return {
        "threshold": round(float(best), 3),
        "precision": round(tp / max(1, int(pred.sum())), 3),
        "recall": round(tp / max(1, pos), 3),
        "f1": round(_f1(pred, y), 3),
        "auc": round(float(auc), 3),
    }


def _f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = (pred & (y == 1)).sum()
    return float(2 * tp / max(1, pred.sum() + y.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default=str(ROOT / "tests" / "data" / "support_pairs.jsonl"))
    parser.add_argument("--db", action="append", required=True, help="corpus=DIR, once per corpus")
    parser.add_argument("--out", default=str(MODEL_FILE))
    args = parser.parse_args()
    dbs = dict(item.split("=", 1) for item in args.db)
    pairs = [json.loads(line) for line in Path(args.pairs).read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [p for p in pairs if p["corpus"] in dbs]
    x = features(pairs, dbs)
    y = np.array([p["label"] for p in pairs], dtype=float)
    figures = report(held_out(x, y, [p["qid"] for p in pairs]), y)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    w = fit((x - mean) / scale, y)
    model = {
        "features": list(FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": w[1:].round(6).tolist(),
        "bias": round(float(w[0]), 6),
        "threshold": figures["threshold"],
        "provenance": {
            "pairs": Path(args.pairs).name,
            "n_pairs": len(pairs),
            "positives": int(y.sum()),
            "questions": len({p["qid"] for p in pairs}),
            "held_out": figures,
            "folds": "5, by question",
            "fitted": date.today().isoformat(),
        },
    }
    Path(args.out).write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(model["provenance"], ensure_ascii=False))
    print("weights:", dict(zip(FEATURES, model["weights"])), "bias", model["bias"])


if __name__ == "__main__":
    main()

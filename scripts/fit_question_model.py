"""Fit the question models (assistant/question_model.py) on the labelled question corpus and report held-out figures.

    python scripts/fit_question_model.py [--corpus tests/data/question_kinds.jsonl] \\
        [--out assistant/data/question_model.json]

The corpus (``tests/data/question_kinds.md`` says how it was written) holds questions filled from
hand-written templates. Held-out figures are computed with 5 folds *by template*: no template has a
question in both the training and the held-out part, so a score says how well the model reads a
phrasing it has never seen (a random split would mostly test memory of the template). Printed: accuracy
per kind, the figure/field/report-part heads, and the token head (scaffolding vs topic) by word. The
final model is fitted on the whole corpus with scikit-learn (``LogisticRegression``) and stored as plain
coefficients; the app applies them with numpy.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.question_model import MODEL_FILE, ngrams, token_features  # noqa: E402
from assistant.text import fold  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "question_kinds.jsonl"
FIELDS = ("doc_number", "signer", "date", "title", "issuer")
GROUPS = ("none", "problems", "practice", "plans", "suggestions")
FOLDS = 5
C_QUESTION = 10.0
C_TOKEN = 3.0
MIN_NGRAM_COUNT = 2


def question_targets(rows: list[dict]) -> dict[str, list]:
    """Per head, the target of every row (a class name, or a 0/1 list for the field head)."""
    return {
        "kind": [r["kind"] for r in rows],
        "numeric": [int(r["numeric"]) for r in rows],
        "fields": [[int(f in r["fields"]) for f in FIELDS] for r in rows],
        "group": [r["group"] or "none" for r in rows],
    }


def token_rows(row: dict) -> list[tuple[list[str], int, str]]:
    """(features, 1 if scaffolding, word) of every word of a question, towns and years removed."""
    from vectorstore.tokenize import default_tokenizer

    question = row["question"]
    label = [1] * len(question)
    drop = [False] * len(question)
    for start, end, kind in row["spans"]:
        for i in range(start, end):
            if kind in ("town", "year"):
                drop[i] = True
            else:
                label[i] = 0
    kept = [(c, lab) for c, lab, d in zip(question, label, drop) if not d]
    text = "".join(c for c, _ in kept)
    folded = fold(text)
    if len(folded) != len(text):  # folding removed a space: labels no longer line up
        return []
    labels = [lab for _, lab in kept]
    tok = default_tokenizer()
    words = [(w.word, w.flag) for w in tok.pos.cut(folded) if w.word.strip()]
    out, pos = [], 0
    for i, (word, _) in enumerate(words):
        start = folded.find(word, pos)
        if start < 0 or not any(c.isalnum() for c in word) or any(c.isascii() for c in word):
            continue
        pos = start + len(word)
        freq = tok.jieba.FREQ.get(word, 0) or 0
        out.append((token_features(words, i, freq), int(all(labels[start:pos])), word))
    return out


def _fit_ngram_heads(rows: list[dict], vocab: list[str]):
    from sklearn.linear_model import LogisticRegression

    index = {g: i for i, g in enumerate(vocab)}
    x = np.zeros((len(rows), len(vocab)), dtype=np.float32)
    for r, row in enumerate(rows):
        idx = [index[g] for g in ngrams(fold(row["question"])) if g in index]
        if idx:
            x[r, idx] = 1.0 / np.sqrt(len(idx))
    targets = question_targets(rows)
    heads = {}
    for name in ("kind", "group"):
        clf = LogisticRegression(C=C_QUESTION, max_iter=2000).fit(x, targets[name])
        heads[name] = (list(clf.classes_), clf.coef_, clf.intercept_)
    clf = LogisticRegression(C=C_QUESTION, max_iter=2000).fit(x, targets["numeric"])
    heads["numeric"] = (["numeric"], clf.coef_, clf.intercept_)
    fields = np.array(targets["fields"])
    coef, intercept = [], []
    for j in range(len(FIELDS)):
        clf = LogisticRegression(C=C_QUESTION, max_iter=2000, class_weight="balanced").fit(x, fields[:, j])
        coef.append(clf.coef_[0])
        intercept.append(clf.intercept_[0])
    heads["fields"] = (list(FIELDS), np.array(coef), np.array(intercept))
    return heads


def _vocabulary(rows: list[dict]) -> list[str]:
    counts = Counter(g for row in rows for g in ngrams(fold(row["question"])))
    return sorted(g for g, n in counts.items() if n >= MIN_NGRAM_COUNT)


def _fit_token_head(rows: list[dict]) -> tuple[dict[str, float], float, list[str]]:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    samples = [t for row in rows for t in token_rows(row)]
    vec = DictVectorizer()
    x = vec.fit_transform([dict.fromkeys(f, 1) for f, _, _ in samples])
    y = [lab for _, lab, _ in samples]
    clf = LogisticRegression(C=C_TOKEN, max_iter=2000).fit(x, y)
    weights = {name: round(float(w), 4) for name, w in zip(vec.get_feature_names_out(), clf.coef_[0]) if abs(w) >= 1e-4}
    # The closed class: words the corpus shows as scaffolding at least once (a word only ever topic,
    # 随机 of 双随机一公开, stays topic whatever its neighbours).
    scaffolding = sorted({word for _, label, word in samples if label})
    return weights, float(clf.intercept_[0]), scaffolding


def fit(rows: list[dict]) -> dict:
    """The model file's content, fitted on ``rows``."""
    vocab = _vocabulary(rows)
    heads = _fit_ngram_heads(rows, vocab)
    weights, intercept, scaffolding = _fit_token_head(rows)
    return {
        "ngrams": "\n".join(vocab),
        "heads": {
            name: {
                "classes": classes,
                "coef": base64.b64encode(np.atleast_2d(coef).astype("<f4").tobytes()).decode("ascii"),
                "intercept": [round(float(v), 4) for v in np.atleast_1d(intercept)],
            }
            for name, (classes, coef, intercept) in heads.items()
        },
        "token": {"weights": weights, "intercept": round(intercept, 4), "scaffolding": "\n".join(scaffolding)},
    }


def held_out(rows: list[dict]) -> dict:
    """Figures of 5 folds by template (each fold's model never saw a phrasing of the held-out templates)."""
    from assistant.question_model import QuestionModel

    templates = sorted({r["template"] for r in rows})
    rng = np.random.default_rng(15)
    fold_of = dict(zip(templates, rng.permutation(len(templates)) % FOLDS))
    by_kind: dict[str, list[int]] = defaultdict(list)
    numeric, fields, group = [], [], []
    tokens: list[int] = []
    token_errors: Counter = Counter()
    for k in range(FOLDS):
        train = [r for r in rows if fold_of[r["template"]] != k]
        test = [r for r in rows if fold_of[r["template"]] == k]
        m = QuestionModel(fit(train))
        for r in test:
            reading = m.read(fold(r["question"]))
            by_kind[r["kind"]].append(int(reading.kind == r["kind"]))
            numeric.append(int(reading.numeric == r["numeric"]))
            fields.append(int(set(reading.fields) == set(r["fields"])))
            group.append(int(reading.group == r["group"]))
            for features, label, word in token_rows(r):
                z = m.token_intercept + sum(m.token_weights.get(f, 0.0) for f in features)
                scaffold = z > 0 and m.may_scaffold(word)  # the closed-class rule of the app
                ok = int(scaffold == bool(label))
                tokens.append(ok)
                if not ok:
                    token_errors[(word, "scaffolding" if label else "topic")] += 1
    kinds = {k: round(float(np.mean(v)), 3) for k, v in sorted(by_kind.items())}
    return {
        "split": f"{FOLDS} folds by template ({len(templates)} templates, {len(rows)} questions)",
        "kind_accuracy": round(float(np.mean([x for v in by_kind.values() for x in v])), 3),
        "kind_accuracy_by_kind": kinds,
        "numeric_accuracy": round(float(np.mean(numeric)), 3),
        "fields_exact": round(float(np.mean(fields)), 3),
        "group_accuracy": round(float(np.mean(group)), 3),
        "token_accuracy": round(float(np.mean(tokens)), 3),
        "token_errors": [f"{w}({lab}) x{n}" for (w, lab), n in token_errors.most_common(15)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--quick", action="store_true", help="fit only (no held-out folds), for trying a change")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = {} if args.quick else held_out(rows)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    data = fit(rows)
    data["provenance"] = {
        "corpus": str(args.corpus.relative_to(ROOT)) if args.corpus.is_relative_to(ROOT) else str(args.corpus),
        "questions": len(rows),
        "fitted": date.today().isoformat(),
        "held_out": report,
    }
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print("wrote", args.out, f"{args.out.stat().st_size // 1024} KB, {len(data['ngrams'].split())} n-grams")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

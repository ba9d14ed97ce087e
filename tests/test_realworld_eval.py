"""Questions over real reports nobody here wrote: the gold file of the real-world corpus, scored by `assistant eval`.

`tests/data/realworld_gold.jsonl` (40 questions: facts, which-towns sets checked by grep over
every file, page metadata, comparisons, abstentions) was written by a helper from the texts
alone. The floors below are the figures measured when it was written, so a change that
loses ground on real layouts fails here.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.conftest import ROOT, seed_embedding_cache

pytestmark = pytest.mark.slow
REALWORLD = ROOT / "tests" / "data" / "realworld"
GOLD = ROOT / "tests" / "data" / "realworld_gold.jsonl"


def _ingested(db, files: list[str]):
    """``assistant ingest`` of every file into ``db``; each must become a document."""
    result = CliRunner().invoke(cli, ["ingest", *files, "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["documents"] == len(files) and not report["errors"], report["errors"]
    return db


def _eval_summary(gold, db) -> dict:
    """``assistant eval``'s summary of a gold file over ``db``."""
    result = CliRunner().invoke(cli, ["eval", str(gold), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["summary"]


@pytest.fixture(scope="module")
def realworld_db(tmp_path_factory):
    return _ingested(tmp_path_factory.mktemp("realworld-db"), sorted(str(p) for p in REALWORLD.glob("*.txt")))


def test_real_world_gold_set(realworld_db):
    summary = _eval_summary(GOLD, realworld_db)
    assert summary["abstention_accuracy"] == 1.0
    assert summary["evidence_recall"] >= 0.65
    assert summary["answer_accuracy"] >= 0.65


def test_real_world_towns_are_named_from_content(realworld_db):
    docs = json.loads(CliRunner().invoke(cli, ["docs", "--db", str(realworld_db), "--json"]).stdout)
    truth = {
        row["file"]: row["town"]
        for row in map(json.loads, (REALWORLD / "truth.jsonl").read_text(encoding="utf-8").splitlines())
    }
    by_file = {d["path"].rsplit("/", 1)[-1]: d for d in docs}
    for name, town in truth.items():
        doc = by_file[name]
        if town:
            assert doc["town"] == town, name
        else:  # the placeholder names the file, so the user knows which one to fix
            assert doc["town"].startswith("未识别镇-") and doc["town"].endswith(f"（{name}）"), name


@pytest.mark.xfail(
    strict=True,
    reason="since the fitted question grammar (tests/data/question_kinds.jsonl) finds the question's scaffolding, "
    "the coverage and bigram features are computed from other words than when the packaged model was fitted; a "
    "refit (held-out F1 0.759, AUC 0.878, threshold 0.35) lowers dev town sets 1.00 -> 0.75 and real-world town "
    "sets 0.50 -> 0.43, so the packaged model is kept until a refit holds every set (issue 15)",
)
def test_support_model_refits_to_the_packaged_weights(realworld_db, demo_db, tmp_path):
    """scripts/fit_support.py on the labelled pairs gives back assistant/data/support_model.json."""
    import subprocess
    import sys

    from assistant.support import SupportModel

    out = tmp_path / "model.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fit_support.py"), "--db", f"demo={demo_db}",
         "--db", f"realworld={realworld_db}", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    fitted, packaged = SupportModel.load(out), SupportModel.load()
    assert fitted.features == packaged.features
    assert all(abs(a - b) < 0.05 for a, b in zip(fitted.weights, packaged.weights)), (fitted.weights, packaged.weights)
    assert abs(fitted.threshold - packaged.threshold) <= 0.05
    held_out = fitted.provenance["held_out"]
    assert held_out["precision"] >= 0.7 and held_out["recall"] >= 0.7


BLIND15 = ROOT / "tests" / "data" / "blind15.jsonl"


@pytest.fixture(scope="module")
def county_db(tmp_path_factory, demo_db, realworld_db):
    """The demo and real-world reports in one knowledge base, as blind15 was written against.

    Its ingest takes the vectors of the two bases already built this session from their embedding caches.
    """
    demo = sorted(str(p) for p in (ROOT / "data" / "reports").glob("*.txt"))
    db = tmp_path_factory.mktemp("county-db")
    seed_embedding_cache(db, demo_db, realworld_db)
    return _ingested(db, demo + sorted(str(p) for p in REALWORLD.glob("*.txt")))


def test_blind15_regression_floor(county_db):
    """blind15 (49 questions in officials' own words, written blind) no longer measures generalisation:
    its first run (answers 0.31, town sets 0.09, abstention 1.00) is in the issue 15 note. Since then
    it is a regression set; the floors are the figures after the first fix (answers 0.37)."""
    summary = _eval_summary(BLIND15, county_db)
    assert summary["abstention_accuracy"] == 1.0
    assert summary["evidence_recall"] >= 0.6
    assert summary["answer_accuracy"] >= 0.36


BLIND16 = ROOT / "tests" / "data" / "blind16.jsonl"
BLIND17 = ROOT / "tests" / "data" / "blind17.jsonl"
BLIND18 = ROOT / "tests" / "data" / "blind18.jsonl"
BLIND19 = ROOT / "tests" / "data" / "blind19.jsonl"
BLIND20 = ROOT / "tests" / "data" / "blind20.jsonl"
BLIND21 = ROOT / "tests" / "data" / "blind21.jsonl"
TRAIN18 = ROOT / "tests" / "data" / "train18.jsonl"


def _report_texts() -> dict[str, str]:
    """Town → its report's text with all whitespace removed (demo file names, real-world truth.jsonl)."""
    texts = {
        p.name.split("_")[0]: "".join(p.read_text(encoding="utf-8").split())
        for p in (ROOT / "data" / "reports").glob("*.txt")
    }
    for line in (REALWORLD / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["town"]:
            texts[record["town"]] = "".join((REALWORLD / record["file"]).read_text(encoding="utf-8").split())
    return texts


@pytest.mark.parametrize(
    "path",
    [BLIND16, BLIND17, BLIND18, BLIND19, BLIND20, BLIND21],
    ids=["blind16", "blind17", "blind18", "blind19", "blind20", "blind21"],
)
def test_blind_evidence_is_in_the_reports(path):
    """Every evidence string of a blind set occurs in its town's report (whitespace removed), as the scorer needs."""
    texts = _report_texts()
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(items) >= 40
    missing = [
        (item["id"], ev["text"])
        for item in items
        for ev in item["evidence"]
        if "".join(ev["text"].split()) not in texts.get(ev["town"], "")
    ]
    assert not missing


def test_train18_spans_are_in_the_reports():
    """train18 (fact questions: answerable, or on topic but not stated; tests/data/train18.md) quotes its reports:
    every evidence span and every ``near`` span of an unanswerable item occurs in its town's report."""
    texts = _report_texts()
    items = [json.loads(line) for line in TRAIN18.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert {item["type"] for item in items} == {"fact", "abstain"} and len(items) >= 80
    spans = [(item["id"], span) for item in items for span in [*item["evidence"], *filter(None, [item.get("near")])]]
    assert len(spans) >= len(items)
    missing = [
        (qid, span["text"]) for qid, span in spans if "".join(span["text"].split()) not in texts.get(span["town"], "")
    ]
    assert not missing


# Regression floors of the blind sets written since blind16 (each tests/data/blindN.md says how it was written):
# (set, abstention, evidence recall, town sets, answers), with where each floor comes from.
#   blind16 (49 questions): first runs in the third session's note (answers 0.37 → 0.41, abstention 0.86). Floors
#     the sixth session's (answers 0.571, fitted fact decision; town sets 0.348, several named towns compared or
#     drafted; abstention 1.00, a question's year checked against the reports' years), raised to the seventh's
#     (0.756/0.738/0.391/0.592: meaning of a town's three likeliest paragraphs) and the eighth's (town sets 0.435,
#     answers 0.612: a comparison asks each named town as its own fact question before it gives up).
#   blind17 (52): first run 0.64/0.60/0.08/0.35/0.71 on the fourth session's starting code, 0.63/0.58/0.12/0.38/0.86
#     on its merged code. Floors the fifth session's (town sets 0.20), raised to the sixth's (answers 0.538,
#     abstention 1.00) and the seventh's (town sets 0.24).
#   blind18 (59, 7 which-towns answered by no town): first run 0.708/0.644/0.355/0.458/1.00 (fifth session).
#     Floors the sixth session's 0.717/0.667/0.419/0.542/1.00.
#   blind19 (55, 6 answered by no town): first run 0.647/0.605/0.310/0.455/0.833 (sixth session). Floors the
#     seventh's (town sets 0.379, answers 0.473).
#   blind20 (55, 6 answered by no town): first run 0.488/0.512/0.357/0.364/0.667 (seventh session); floors those.
#   blind21 (58, 6 answered by no town): first run 0.616/0.674/0.258/0.397/0.667 (eighth session); floors those.
BLIND_FLOORS = [
    (BLIND16, 0.99, 0.75, 0.43, 0.61),
    (BLIND17, 0.99, 0.66, 0.24, 0.53),
    (BLIND18, 0.99, 0.71, 0.41, 0.54),
    (BLIND19, 0.83, 0.64, 0.37, 0.47),
    (BLIND20, 0.66, 0.48, 0.35, 0.36),
    (BLIND21, 0.66, 0.61, 0.25, 0.39),
]


@pytest.mark.parametrize(
    ("path", "abstention", "recall", "towns", "answers"), BLIND_FLOORS, ids=[row[0].stem for row in BLIND_FLOORS]
)
def test_blind_regression_floor(county_db, path, abstention, recall, towns, answers):
    """A blind set after its first run: its figures on the county knowledge base stay at or above its floors."""
    summary = _eval_summary(path, county_db)
    assert summary["abstention_accuracy"] >= abstention
    assert summary["evidence_recall"] >= recall
    assert summary["town_accuracy"] >= towns
    assert summary["answer_accuracy"] >= answers


def test_which_towns_decision_refits_to_the_packaged_model(county_db, tmp_path):
    """scripts/fit_town_decision.py on train17, colloquial_dev and train19 gives back ``which_towns`` of
    assistant/data/town_model.json, and keeps the file's candidate-level model as it is.

    The candidate-level model (fitted on train17 alone) was kept: refit, it lowered blind17 town sets and
    real-world recall (the fifth session's note). The town-level decision fitted here (sixth session): held-out
    exact town sets 0.382 over the three files (the relevance-share rule alone 0.352, the candidate-level model
    on the same questions 0.315), no-town questions naming a town 13 of 34 (that model: 20 of 34)."""
    import subprocess
    import sys

    from assistant.kinds.which_towns import which_towns_model

    out = tmp_path / "town_model.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fit_town_decision.py"), "--db", str(county_db), "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text(encoding="utf-8"))
    packaged = json.loads((ROOT / "assistant" / "data" / "town_model.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in written.items() if k != "which_towns"} == {
        k: v for k, v in packaged.items() if k != "which_towns"
    }
    fitted, model = written["which_towns"], which_towns_model()
    assert tuple(fitted["features"]) == model.features and fitted["min_towns"] == model.min_towns
    assert all(abs(a - b) < 0.05 for a, b in zip(fitted["weights"], model.weights)), (fitted["weights"], model.weights)
    assert abs(fitted["threshold"] - model.threshold) <= 0.05
    held_out, before = fitted["provenance"]["held_out"], fitted["provenance"]["before"]
    assert held_out["exact_town_sets"] > before["exact_town_sets"]


def test_a_which_towns_question_in_new_words_names_its_towns(county_db):
    """train17's 院坝会 question (t069) asked in other words: the relevance-share rule named one town of four."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    gold = next(json.loads(line) for line in (ROOT / "tests" / "data" / "train17.jsonl").open() if '"t069"' in line)
    required, allowed = set(gold["towns"]), set(gold["towns"]) | set(gold.get("towns_optional") or ())
    answer = Assistant(Settings(db=county_db)).ask("哪些乡镇利用院坝会向老百姓宣讲法律？")
    assert set(answer.towns) <= allowed and len(set(answer.towns) & required) >= 2, answer.towns

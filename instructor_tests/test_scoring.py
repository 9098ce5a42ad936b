"""The scoring rules at their edges (grader/scoring.py), on hand-made statuses and predictions, no sandbox.

AUC: full points and "passed" at the target, zero at the floor, linear and "failed" in between. Melanoma bonus:
given at exactly the recall threshold (0.50) and exactly the false-alarm limit (25% of other lesions called
melanoma), withheld just under the one (0.49) or just over the other (25.2%), and never to an output that calls every
lesion melanoma; the limit keeps every published bonus-earner. Parameter budget: all parameters, frozen ones
included, pass at exactly the budget and fail one over it (and then the model is not trained).
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch.nn as nn

from grader import child, rubric as rubric_mod, sandbox, scoring
from locked import report
from locked.info import CLASS_NAMES, MAX_MEL_FALSE_ALARM, NUM_CLASSES, OFFICIAL_COUNTS

RUBRIC = rubric_mod.load()  # the defaults students are graded with
AUC, BONUS = RUBRIC.check("test_auc"), RUBRIC.check("mel_recall_bonus")
BUDGET = RUBRIC.limits.param_budget
MEL = CLASS_NAMES.index("mel")
OK = sandbox.Outcome(returncode=0, seconds=12.0)


def status(stage="done", params=1000, trainable=None):
    return {"stage": stage, "params": params, "trainable_params": params if trainable is None else trainable,
            "model_name": "Net", "preprocessing": {"ok": True, "message": "consistent"}, "history": [{"epoch": 1}]}


def labelled(mel_caught, per_class=100):
    """100 images of each class; every non-melanoma image and `mel_caught` melanomas are predicted right (the
    missed melanomas are called nevi): melanoma recall is exactly mel_caught / 100."""
    y = np.repeat(np.arange(NUM_CLASSES), per_class)
    predicted = y.copy()
    mel = np.flatnonzero(y == MEL)
    predicted[mel[mel_caught:]] = CLASS_NAMES.index("nv")
    proba = np.full((len(y), NUM_CLASSES), 0.02)
    proba[np.arange(len(y)), predicted] = 1 - 0.02 * (NUM_CLASSES - 1)
    return {"val": y, "test": y}, {"val": proba, "test": proba}


def scored(st, labels=None, predictions=None):
    if labels is None:
        labels, predictions = labelled(50)
    tests, metrics = scoring.score(st, predictions, labels, OK, RUBRIC)
    return {t["key"]: t for t in tests}, metrics


@pytest.fixture
def auc_is(monkeypatch):
    """Make the test AUC exactly the given value (the metric itself is tested in test_metrics.py)."""
    real = scoring.metrics.evaluate

    def set_auc(value):
        def evaluate(y, proba):
            return {**real(y, proba), "auc": value}
        monkeypatch.setattr(scoring.metrics, "evaluate", evaluate)
        return scored(status())[0]["test_auc"]
    return set_auc


def test_auc_at_the_target_passes_with_full_points(auc_is):
    check = auc_is(AUC.target)
    assert check["status"] == "passed" and check["score"] == AUC.points


def test_auc_above_the_target_is_capped_at_full_points(auc_is):
    check = auc_is(0.99)
    assert check["status"] == "passed" and check["score"] == AUC.points


def test_auc_between_floor_and_target_fails_with_linear_partial_credit(auc_is):
    middle = (AUC.floor + AUC.target) / 2
    check = auc_is(middle)
    assert check["status"] == "partial"  # partial credit: the target was not reached
    assert check["score"] == pytest.approx(AUC.points / 2, abs=1e-3)
    just_under = auc_is(AUC.target - 0.001)
    assert just_under["status"] == "partial" and AUC.points * 0.99 < just_under["score"] < AUC.points


def test_auc_at_or_below_the_floor_earns_nothing(auc_is):
    for auc in (AUC.floor, AUC.floor - 0.2):
        check = auc_is(auc)
        assert check["status"] == "failed" and check["score"] == 0.0


def test_melanoma_recall_bonus_at_exactly_the_threshold():
    assert BONUS.threshold == 0.50
    tests, metrics = scored(status(), *labelled(50))
    assert metrics["test"]["mel_recall"] == 0.50
    assert tests["mel_recall_bonus"]["status"] == "passed" and tests["mel_recall_bonus"]["score"] == BONUS.points
    assert tests["mel_recall_bonus"]["bonus"]  # extra credit: its points are not in the maximum (rubric.max_score)


def test_melanoma_recall_just_under_the_threshold_earns_no_bonus():
    tests, metrics = scored(status(), *labelled(49))
    assert metrics["test"]["mel_recall"] == 0.49
    assert tests["mel_recall_bonus"]["status"] == "failed" and tests["mel_recall_bonus"]["score"] == 0.0
    assert "Missing melanomas is the costly error" in tests["mel_recall_bonus"]["output"]


def test_parameter_budget_at_exactly_the_budget_passes():
    tests, _ = scored(status(params=BUDGET))
    assert tests["param_budget"]["status"] == "passed" and tests["param_budget"]["score"] == 5
    assert tests["trains"]["status"] == "passed"


def test_one_parameter_over_the_budget_fails_and_is_not_trained():
    tests, _ = scored(status(stage="checked", params=BUDGET + 1), None, None)
    assert tests["param_budget"]["status"] == "failed" and tests["param_budget"]["score"] == 0
    assert f"{BUDGET + 1:,} parameters (all, frozen included); budget {BUDGET:,}" in tests["param_budget"]["output"]
    assert tests["trains"]["status"] == "failed" and "Not trained: your model has" in tests["trains"]["output"]
    assert sum(t["score"] for t in tests.values()) == 5 + 5 + 10  # builds, output shape, preprocessing


def test_frozen_parameters_count_toward_the_budget():
    """The child counts every parameter: a model whose trainable part fits but whose frozen part does not is
    over budget (a frozen backbone is still a model to store and run)."""
    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 7))  # 110 + 77 parameters
    for p in model[0].parameters():
        p.requires_grad = False
    assert child.count_parameters(model) == 187
    tests, _ = scoring.score(status(stage="checked", params=child.count_parameters(model), trainable=77), None, {},
                             OK, rubric_mod.load(param_budget=186))
    tests = {t["key"]: t for t in tests}
    assert tests["param_budget"]["status"] == "failed" and "187 parameters (all, frozen included); budget 186" in \
        tests["param_budget"]["output"]


# --- the bonus at a clinical operating point (issue 22): recall AND false alarms -------------------------------------
PUBLISHED = json.loads((Path(__file__).resolve().parents[1] / "solutions" / "published.json").read_text())
VAL_MEL, VAL_OTHER = OFFICIAL_COUNTS["val"][MEL], sum(OFFICIAL_COUNTS["val"]) - OFFICIAL_COUNTS["val"][MEL]  # 111, 892


def with_false_alarms(mel_caught, false_alarms):
    """labelled(mel_caught), then `false_alarms` of the 600 non-melanoma images (spread over the six classes) are
    predicted melanoma: false-alarm rate exactly false_alarms / 600."""
    labels, predictions = labelled(mel_caught)
    y, proba = labels["test"], predictions["test"].copy()
    other = np.flatnonzero(y != MEL)
    flagged = other[np.linspace(0, len(other) - 1, false_alarms).astype(int)] if false_alarms else other[:0]
    proba[flagged] = 0.02
    proba[flagged, MEL] = 1 - 0.02 * (NUM_CLASSES - 1)
    return labels, {"val": proba, "test": proba}


def published_operating_points():
    """{experiment: (recall, precision, false-alarm rate)} from the course's published validation figures:
    TP = recall * 111 melanomas, FP = TP * (1 - precision) / precision, over the 892 other lesions."""
    points = {}
    for e in PUBLISHED["experiments"]:
        recall, precision = e["reported"]["mel_recall"], e["reported"]["mel_precision"]
        caught = recall * VAL_MEL
        points[e["id"]] = (recall, precision, caught * (1 - precision) / precision / VAL_OTHER if caught else 0.0)
    return points


def test_every_published_bonus_earner_keeps_the_bonus_and_flag_everything_does_not():
    """The default limit sits above what the course's deployable models reach (0.08-0.21) and far below calling
    every lesion melanoma (1.0)."""
    assert BONUS.max_false_alarm == MAX_MEL_FALSE_ALARM == 0.25
    points = published_operating_points()
    earners = {name: p for name, p in points.items() if p[0] >= BONUS.threshold}
    assert sorted(int(name[4:6]) for name in earners) == [9, 10, 12, 15, 21, 22, 25]
    for name, (recall, _, false_alarm) in earners.items():
        assert 0.07 < false_alarm < 0.22, (name, false_alarm)
        assert report.mel_bonus_met({"mel_recall": recall, "mel_false_alarm": false_alarm}, BONUS.threshold,
                                    BONUS.max_false_alarm), name
    assert not report.mel_bonus_met({"mel_recall": 1.0, "mel_false_alarm": 1.0}, BONUS.threshold,
                                    BONUS.max_false_alarm)


def test_flag_everything_output_keeps_its_auc_and_earns_no_bonus():
    """Issue 22's submission: the honest network's output, changed so melanoma is every row's argmax while each
    class keeps its ranking (so macro AUC is unchanged). Recall 1.0 at 1 false alarm per other lesion: no bonus."""
    labels, honest = labelled(50)
    flag_all = {s: 0.5 * p + 0.5 * np.eye(NUM_CLASSES)[MEL] for s, p in honest.items()}
    assert (flag_all["test"].argmax(axis=1) == MEL).all()
    fair, fair_metrics = scored(status(), labels, honest)
    tests, metrics = scored(status(), labels, flag_all)
    assert metrics["test"]["auc"] == pytest.approx(fair_metrics["test"]["auc"])
    assert metrics["test"]["mel_recall"] == 1.0 and metrics["test"]["mel_false_alarm"] == 1.0
    check = tests["mel_recall_bonus"]
    assert check["status"] == "failed" and check["score"] == 0.0, check["output"]
    assert "caught 100 of 100 melanomas; sent 100% of other lesions to biopsy" in check["output"]
    assert "at most 25% of other lesions" in check["output"] and "not catching them" in check["output"]
    assert fair["mel_recall_bonus"]["status"] == "passed"  # the same network, honestly evaluated


@pytest.mark.parametrize("false_alarms, earned", [(0, True), (149, True), (150, True), (151, False), (600, False)])
def test_false_alarms_at_the_limit_keep_the_bonus_and_one_more_loses_it(false_alarms, earned):
    """Inclusive like the recall threshold: 150 of 600 other lesions is exactly 25%; 151 is 25.2%. Recall is at its
    threshold (50 of 100) throughout, so both bounds hold at once."""
    tests, metrics = scored(status(), *with_false_alarms(50, false_alarms))
    test = metrics["test"]
    assert (test["mel_caught"], test["mel_total"], test["other_flagged"], test["other_total"]) == (50, 100,
                                                                                                  false_alarms, 600)
    assert test["mel_recall"] == 0.5 and test["mel_false_alarm"] == false_alarms / 600
    check = tests["mel_recall_bonus"]
    assert (check["status"], check["score"]) == (("passed", BONUS.points) if earned else ("failed", 0.0))
    assert f"sent {report.share(false_alarms / 600)} of other lesions to biopsy" in check["output"]
    assert ("not catching them" in check["output"]) == (not earned)


def test_recall_just_under_the_threshold_fails_whatever_the_false_alarms():
    tests, _ = scored(status(), *with_false_alarms(49, 0))
    assert tests["mel_recall_bonus"]["status"] == "failed"
    assert "Missing melanomas is the costly error" in tests["mel_recall_bonus"]["output"]


def test_the_rubrics_false_alarm_limit_is_the_one_scored(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text("[checks.mel_recall_bonus]\nmax_false_alarm = 0.1\n")
    strict = rubric_mod.load(path)
    labels, predictions = with_false_alarms(50, 61)  # 10.2%: inside the default, outside this rubric's 10%
    tests = {t["key"]: t for t in scoring.score(status(), predictions, labels, OK, strict)[0]}
    assert tests["mel_recall_bonus"]["status"] == "failed" and "at most 10% of other lesions" in \
        tests["mel_recall_bonus"]["output"]
    assert scored(status(), labels, predictions)[0]["mel_recall_bonus"]["status"] == "passed"

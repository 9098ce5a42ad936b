"""The scoring rules at their edges (grader/scoring.py), on hand-made statuses and predictions, no sandbox.

AUC: full points and "passed" at the target, zero at the floor, linear and "failed" in between. Melanoma recall
bonus: given at exactly the threshold (0.50), withheld just under it (0.49). Parameter budget: all parameters,
frozen ones included, pass at exactly the budget and fail one over it (and then the model is not trained).
"""
import numpy as np
import pytest
import torch.nn as nn

from grader import child, rubric as rubric_mod, sandbox, scoring
from locked.info import CLASS_NAMES, NUM_CLASSES

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

"""locked.metrics against hand-computed cases, the course's published figures, and bad inputs.

The hand-made case (10 images, every class present) is small enough to check on paper; the expected numbers
below are written as the fractions worked out by hand, and the AUCs are also re-counted pair by pair by a
plain-Python reference that does not use scikit-learn.
"""
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from locked import engine, metrics, report
from locked.info import CANCER_CLASSES, CLASS_NAMES, MEL, NUM_CLASSES, OFFICIAL_COUNTS, TARGET_AUC, TARGET_MEL_RECALL

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / "solutions" / "published.json"

# ---------------------------------------------------------------------------------------------------------------
# The hand-computed example. Columns: akiec bcc bkl df mel nv vasc.
Y = np.array([0, 1, 2, 3, 4, 4, 5, 5, 5, 6])
P = np.array([
    [0.50, 0.10, 0.10, 0.05, 0.10, 0.10, 0.05],  # akiec -> akiec
    [0.10, 0.45, 0.10, 0.05, 0.05, 0.20, 0.05],  # bcc   -> bcc
    [0.05, 0.05, 0.30, 0.05, 0.10, 0.40, 0.05],  # bkl   -> nv   (missed; yet the highest bkl score of all)
    [0.05, 0.05, 0.10, 0.55, 0.05, 0.15, 0.05],  # df    -> df
    [0.05, 0.05, 0.05, 0.05, 0.60, 0.15, 0.05],  # mel   -> mel
    [0.05, 0.05, 0.10, 0.05, 0.30, 0.40, 0.05],  # mel   -> nv   (a missed melanoma)
    [0.05, 0.05, 0.05, 0.05, 0.05, 0.70, 0.05],  # nv    -> nv
    [0.05, 0.10, 0.10, 0.05, 0.20, 0.45, 0.05],  # nv    -> nv
    [0.05, 0.05, 0.05, 0.05, 0.45, 0.30, 0.05],  # nv    -> mel  (a false alarm)
    [0.05, 0.05, 0.05, 0.05, 0.05, 0.15, 0.60],  # vasc  -> vasc
])
F = Fraction
# Recall = caught / present: bkl 0/1, mel 1/2, nv 2/3, the rest 1/1.
RECALL = {"akiec": F(1), "bcc": F(1), "bkl": F(0), "df": F(1), "mel": F(1, 2), "nv": F(2, 3), "vasc": F(1)}
# Precision = right / predicted: bkl is never predicted (0 by convention), mel predicted for rows 4 and 8,
# nv predicted for rows 2, 5, 6, 7.
PRECISION = {"akiec": F(1), "bcc": F(1), "bkl": F(0), "df": F(1), "mel": F(1, 2), "nv": F(1, 2), "vasc": F(1)}
F1 = {"akiec": F(1), "bcc": F(1), "bkl": F(0), "df": F(1), "mel": F(1, 2), "nv": F(4, 7), "vasc": F(1)}
# One-vs-rest AUC by counting (positive, negative) pairs the positive wins:
#   mel: positives score 0.60 and 0.30 against 8 negatives (0.10 0.05 0.10 0.05 0.05 0.20 0.45 0.05):
#        0.60 beats all 8, 0.30 beats 7 (not 0.45)                        -> 15/16
#   nv:  positives 0.70 0.45 0.30 against 7 negatives (0.10 0.20 0.40 0.15 0.15 0.40 0.15):
#        7 + 7 + 5 (0.30 loses to both 0.40s)                            -> 19/21
#   every other class has one positive that outscores all 9 negatives     -> 1 (bkl too, despite recall 0)
AUC = {"akiec": F(1), "bcc": F(1), "bkl": F(1), "df": F(1), "mel": F(15, 16), "nv": F(19, 21), "vasc": F(1)}
PAIRS = [(0, 0), (1, 1), (2, 5), (3, 3), (4, 4), (4, 5), (5, 5), (5, 5), (5, 4), (6, 6)]  # (true, predicted), by hand
CONFUSION = np.zeros((7, 7), dtype=int)
for t, p in PAIRS:
    CONFUSION[t, p] += 1


def pair_auc(y, scores, positive):
    """Reference one-vs-rest AUC: the fraction of (positive, negative) pairs ranked right, ties counting half."""
    pos = [s for s, t in zip(scores, y) if t == positive]
    neg = [s for s, t in zip(scores, y) if t != positive]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


@pytest.fixture(scope="module")
def hand():
    return metrics.evaluate(Y, P)


def test_hand_example_is_well_formed():
    """The example is one evaluate() scores as it is (its own input check returns it unchanged), with every class
    present, and the (true, predicted) pairs the hand fractions rest on are this P's argmax, row by row."""
    y, p = metrics.check_predictions(Y, P)
    np.testing.assert_array_equal(y, Y)
    np.testing.assert_array_equal(p, P)
    assert sorted(set(Y.tolist())) == list(range(NUM_CLASSES))
    assert PAIRS == list(zip(Y.tolist(), P.argmax(axis=1).tolist()))


def test_per_class_precision_recall_f1(hand):
    for name in CLASS_NAMES:
        got = hand["per_class"][name]
        assert got["recall"] == pytest.approx(float(RECALL[name]), abs=1e-12), name
        assert got["precision"] == pytest.approx(float(PRECISION[name]), abs=1e-12), name
        assert got["f1"] == pytest.approx(float(F1[name]), abs=1e-12), name
        assert got["support"] == int((Y == CLASS_NAMES.index(name)).sum()), name


def test_confusion_matrix_rows_are_true_classes(hand):
    np.testing.assert_array_equal(np.array(hand["confusion_matrix"]), CONFUSION)


def test_headline_metrics(hand):
    assert hand["n"] == 10
    assert hand["accuracy"] == pytest.approx(0.7)
    assert hand["mel_recall"] == pytest.approx(0.5)
    assert MEL == 4 and hand["mel_recall"] == hand["per_class"][CLASS_NAMES[MEL]]["recall"]
    # Cancer sensitivity: mean recall of akiec, bcc, mel = (1 + 1 + 1/2) / 3 = 5/6.
    assert hand["cancer_sensitivity"] == pytest.approx(5 / 6, abs=1e-12)
    # Balanced accuracy: mean of the 7 recalls = (1 + 1 + 0 + 1 + 1/2 + 2/3 + 1) / 7 = 31/42.
    assert hand["balanced_accuracy"] == pytest.approx(31 / 42, abs=1e-12)
    # Macro AUC: mean of the 7 one-vs-rest AUCs = (5 + 15/16 + 19/21) / 7.
    assert hand["auc"] == pytest.approx(float(sum(AUC.values()) / 7), abs=1e-12)


def test_auc_uses_probabilities_not_just_the_argmax():
    """bkl is never predicted (recall 0) yet ranked perfectly (AUC 1): the AUC must see the scores."""
    for c, name in enumerate(CLASS_NAMES):
        assert pair_auc(Y, P[:, c], c) == pytest.approx(float(AUC[name]), abs=1e-12), name
    hard = np.eye(NUM_CLASSES)[P.argmax(axis=1)]
    assert metrics.evaluate(Y, hard)["auc"] < metrics.evaluate(Y, P)["auc"] - 0.05


def test_auc_matches_pair_counting_on_random_data_with_ties():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.arange(NUM_CLASSES), rng.integers(0, NUM_CLASSES, 150)])
    logits = np.round(rng.normal(size=(len(y), NUM_CLASSES)) + 1.5 * np.eye(NUM_CLASSES)[y], 1)  # rounding -> ties
    proba = metrics.softmax(logits)
    expected = np.mean([pair_auc(y, proba[:, c], c) for c in range(NUM_CLASSES)])
    assert metrics.evaluate(y, proba)["auc"] == pytest.approx(expected, abs=1e-9)


def test_labels_may_come_as_a_column_like_medmnist_stores_them(hand):
    column = metrics.evaluate(Y.reshape(-1, 1).astype(np.uint8), P)
    assert column == hand


def test_a_majority_class_model_scores_one_seventh_balanced_accuracy():
    y = np.repeat(np.arange(NUM_CLASSES), OFFICIAL_COUNTS["val"])
    always_nv = np.tile(np.eye(NUM_CLASSES)[CLASS_NAMES.index("nv")], (len(y), 1))
    m = metrics.evaluate(y, always_nv)
    assert m["accuracy"] == pytest.approx(671 / 1003)
    assert m["balanced_accuracy"] == pytest.approx(1 / 7)
    assert m["mel_recall"] == 0.0 and m["cancer_sensitivity"] == 0.0
    assert m["auc"] == pytest.approx(0.5)


def test_cancer_sensitivity_and_balanced_accuracy_definitions():
    recalls = dict(zip(CLASS_NAMES, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]))
    per_class = {c: {"recall": r} for c, r in recalls.items()}
    assert CANCER_CLASSES == ("akiec", "bcc", "mel")
    assert metrics.cancer_sensitivity(per_class) == pytest.approx((0.1 + 0.2 + 0.5) / 3)
    assert metrics.balanced_accuracy(per_class) == pytest.approx(0.4)


# ---------------------------------------------------------------------------------------------------------------
# The course's published figures (solutions/published.json, copied from the course report).

@pytest.fixture(scope="module")
def published():
    """The published experiments. The file is part of the repository; a missing file is a failure, not a skip."""
    assert PUBLISHED.is_file(), f"{PUBLISHED} is missing: the course's published figures belong in the repository"
    figures = json.loads(PUBLISHED.read_text())
    assert figures["class_order"] == list(CLASS_NAMES)
    assert figures["cancer_classes"] == list(CANCER_CLASSES)
    assert len(figures["experiments"]) == 25
    return figures["experiments"]


def _val_predictions_with_recalls(recalls):
    """Validation labels with the official counts, and one-hot predictions that catch round(recall * n) of each
    class (misses go to the next class), so locked.metrics sees exactly the published per-class recalls."""
    y, pred = [], []
    for c, (name, n) in enumerate(zip(CLASS_NAMES, OFFICIAL_COUNTS["val"])):
        k = round(recalls[name] * n)
        y += [c] * n
        pred += [c] * k + [(c + 1) % NUM_CLASSES] * (n - k)
    return np.array(y), np.eye(NUM_CLASSES)[pred]


def test_published_recalls_are_counts_over_the_validation_classes(published):
    """'every recall is k/n of the val class counts': each 2-decimal recall is some k/n rounded."""
    for exp in published:
        for name, n in zip(CLASS_NAMES, OFFICIAL_COUNTS["val"]):
            r = exp["reported"]["per_class"][name]["recall"]
            assert abs(round(r * n) / n - r) <= 0.005 + 1e-9, (exp["id"], name, r, n)


def test_published_headline_figures_follow_from_the_per_class_recalls(published):
    """For every published experiment, locked.metrics turns the per-class recalls into the published cancer
    sensitivity, balanced accuracy and melanoma recall (to the published rounding)."""
    for exp in published:
        rep = exp["reported"]
        recalls = {c: rep["per_class"][c]["recall"] for c in CLASS_NAMES}
        per_class = {c: {"recall": r} for c, r in recalls.items()}
        assert abs(metrics.cancer_sensitivity(per_class) - rep["cancer_sensitivity"]) <= 0.006, exp["id"]
        assert abs(metrics.balanced_accuracy(per_class) - rep["balanced_accuracy"]) <= 0.006, exp["id"]
        # And end to end through evaluate(), on labels with the official validation counts.
        m = metrics.evaluate(*_val_predictions_with_recalls(recalls))
        assert abs(m["cancer_sensitivity"] - rep["cancer_sensitivity"]) <= 0.006, exp["id"]
        assert abs(m["balanced_accuracy"] - rep["balanced_accuracy"]) <= 0.006, exp["id"]
        assert abs(m["mel_recall"] - rep["mel_recall"]) <= 0.006, exp["id"]
        assert m["n"] == 1003


def _bn_cnn(hidden_head=False):
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
    head = ([nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 7)] if hidden_head
            else [nn.Linear(128, 7)])
    return nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         *head)


def test_count_parameters_matches_the_published_counts(published):
    from torchvision.models import resnet18

    params = {exp["num"]: exp["params"] for exp in published}
    baseline = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(16 * 7 * 7, 7))
    assert engine.count_parameters(baseline) == params[1] == 6887
    assert engine.count_parameters(_bn_cnn()) == params[8]
    assert engine.count_parameters(_bn_cnn(hidden_head=True)) == params[10]
    # Experiment 24: ResNet18 with the whole backbone frozen still counts 11,180,103 parameters.
    with torch.device("meta"):  # shapes only: no memory, no slow weight initialisation
        frozen = resnet18(weights=None)
        frozen.fc = nn.Linear(512, 7)
    for name, p in frozen.named_parameters():
        p.requires_grad = name.startswith("fc.")
    assert sum(p.numel() for p in frozen.parameters() if p.requires_grad) == 512 * 7 + 7
    assert engine.count_parameters(frozen) == params[24] == 11_180_103


def test_count_parameters_counts_frozen_parameters():
    model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 7))  # 55 + 42
    assert engine.count_parameters(model) == 97
    for p in model[0].parameters():
        p.requires_grad = False
    assert engine.count_parameters(model) == 97
    assert isinstance(engine.count_parameters(model), int)


# ---------------------------------------------------------------------------------------------------------------
# softmax

def test_softmax_rows_sum_to_one_and_match_torch():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=5, size=(64, NUM_CLASSES)).astype(np.float32)
    p = metrics.softmax(logits)
    assert p.shape == logits.shape and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p, torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy(), atol=1e-12)
    np.testing.assert_array_equal(p.argmax(axis=1), logits.argmax(axis=1))


def test_softmax_is_stable_for_huge_logits():
    p = metrics.softmax(np.array([[1000.0, 999.0, -1000.0, 0, 0, 0, 0], [-1e4] * 7]))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0, 0] == pytest.approx(1 / (1 + np.exp(-1)))
    np.testing.assert_allclose(p[1], 1 / 7)


def test_softmax_output_passes_the_checks_of_evaluate():
    logits = np.log(P) + 3.0  # softmax undoes log up to a per-row constant
    assert metrics.evaluate(Y, metrics.softmax(logits))["auc"] == pytest.approx(metrics.evaluate(Y, P)["auc"])


# ---------------------------------------------------------------------------------------------------------------
# Bad inputs: a ValueError whose message names the argument at fault.

def _rows(n=10):
    return np.full((n, NUM_CLASSES), 1 / NUM_CLASSES)


BAD_INPUTS = {
    "proba has 6 columns": (Y, P[:, :6], r"proba must have shape \(N, 7\)"),
    "proba is 1-D": (Y, P[:, 0], r"proba must have shape"),
    "proba has a NaN": (Y, np.where(np.arange(70).reshape(10, 7) == 9, np.nan, P), r"proba has 1 NaN.*row 1"),
    "proba has an inf": (Y, np.where(np.arange(70).reshape(10, 7) == 0, np.inf, P), r"proba has 1 NaN or infinite"),
    "proba rows are logits": (Y, np.log(P), r"proba must hold probabilities.*softmax"),
    "proba row sums to 1.1": (Y, P + np.eye(10, 7) * 0.1, r"proba rows must sum to 1; row 0 sums to 1\.1"),
    "proba rows halved": (Y, P / 2, r"proba rows must sum to 1.*softmax"),
    "fewer proba rows than labels": (Y, P[:9], r"proba has 9 rows but y_true has 10"),
    "y_true is 2-D with 2 columns": (np.stack([Y, Y], axis=1), P, r"y_true must have shape \(N,\) or \(N, 1\)"),
    "y_true has label 7": (np.where(Y == 6, 7, Y), P, r"y_true must hold class indices 0\.\.6"),
    "y_true has label -1": (np.where(Y == 0, -1, Y), P, r"y_true must hold class indices 0\.\.6"),
    "y_true is fractional": (Y + 0.5, P, r"y_true must hold integer class indices"),
    "y_true has a NaN": (np.where(Y == 0, np.nan, Y), P, r"y_true must hold integer class indices"),
    "y_true is empty": (np.array([], dtype=int), np.zeros((0, 7)), r"y_true is empty"),
    "y_true misses vasc": (np.where(Y == 6, 5, Y), P, r"y_true has no example of \['vasc'\]"),
    "y_true misses akiec and df": (np.array([1, 2, 4, 5, 6] * 2), _rows(), r"no example of \['akiec', 'df'\]"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_raise_value_errors_that_name_the_argument(case):
    y, p, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        metrics.evaluate(y, p)


def test_check_predictions_tolerates_float32_rounding_and_float_labels():
    p32 = metrics.softmax(np.random.default_rng(2).normal(size=(10, 7))).astype(np.float32)
    y, p = metrics.check_predictions(Y.astype(np.float64), p32)
    assert y.dtype == np.int64 and p.dtype == np.float64
    np.testing.assert_array_equal(y, Y)


# --- the verdict: four branches, at and around both thresholds -------------------------------------------------------
def _below(x):
    return float(np.nextafter(x, 0))


@pytest.mark.parametrize("auc, mel, branch", [
    (TARGET_AUC, TARGET_MEL_RECALL, "both"),  # both thresholds are inclusive
    (1.0, 1.0, "both"),
    (TARGET_AUC, _below(TARGET_MEL_RECALL), "auc"),
    (0.99, 0.0, "auc"),
    (_below(TARGET_AUC), TARGET_MEL_RECALL, "mel"),
    (0.5, 0.9, "mel"),
    (_below(TARGET_AUC), _below(TARGET_MEL_RECALL), "neither"),
    (0.0, 0.0, "neither"),
])
def test_verdict_branches(auc, mel, branch):
    text = report.verdict({"auc": auc, "mel_recall": mel})
    starts = {"both": "VERDICT: beats the baseline target AND catches at least half the melanomas.",
              "auc": "VERDICT: AUC target met, but it misses",
              "mel": "VERDICT: melanoma recall bonus met, AUC",
              "neither": "VERDICT: below target (AUC"}
    assert text.startswith(starts[branch]), text
    if branch in ("auc", "neither"):  # a model below both names the melanomas it misses, too
        assert f"misses {1 - mel:.0%} of melanomas" in text
    if branch in ("mel", "neither"):
        assert f"{auc:.3f}" in text and f"{TARGET_AUC:.2f}" in text


# --- the melanoma bonus's operating point (issue 22) -----------------------------------------------------------------
def test_evaluate_counts_melanomas_caught_and_other_lesions_called_melanoma():
    """From argmax calls, like mel_recall. The hand example: melanomas (4->4, 4->5) one caught of two; one nevus of
    the eight other images called melanoma (5->4)."""
    m = metrics.evaluate(Y, P)
    assert (m["mel_caught"], m["mel_total"], m["other_flagged"], m["other_total"]) == (1, 2, 1, 8)
    assert m["mel_false_alarm"] == 1 / 8 and m["mel_recall"] == m["mel_caught"] / m["mel_total"]
    assert report.mel_operating_point(m) == "caught 1 of 2 melanomas; sent 12.5% of other lesions to biopsy"


def _bonus_metrics(auc, caught, flagged, total=100, others=400):
    return {"auc": auc, "mel_recall": caught / total, "mel_caught": caught, "mel_total": total,
            "other_flagged": flagged, "other_total": others, "mel_false_alarm": flagged / others}


@pytest.mark.parametrize("flagged, bonus", [(100, True), (101, False), (400, False)])
def test_verdict_withholds_the_bonus_over_the_false_alarm_limit(flagged, bonus):
    """At the recall threshold, false alarms at the limit (100 of 400 = 25%) keep the bonus's verdict; one more, or
    calling everything melanoma, says why there is no bonus with the same words as the grader."""
    m = _bonus_metrics(TARGET_AUC, 50, flagged)
    text = report.verdict(m)
    assert report.mel_bonus_met(m) == bonus
    if bonus:
        assert text.startswith("VERDICT: beats the baseline target AND catches at least half the melanomas.")
    else:
        assert text.startswith("VERDICT: AUC target met, but no melanoma bonus"), text
        assert "over the 25% the bonus allows" in text
    assert f"caught 50 of 100 melanomas; sent {report.share(flagged / 400)} of other lesions to biopsy" in text
    weak = report.verdict({**m, "auc": 0.8})
    assert weak.startswith("VERDICT: melanoma recall bonus met" if bonus else "VERDICT: AUC 0.800 below 0.90")


def test_verdict_and_headline_take_the_rubrics_bonus_rule():
    m = _bonus_metrics(0.95, 60, 60)  # recall 0.60, false alarms 15%
    assert report.verdict(m).startswith("VERDICT: beats the baseline target AND")
    assert "no melanoma bonus" in report.verdict(m, threshold=0.5, max_false_alarm=0.1)
    assert report.verdict(m, threshold=0.7).startswith("VERDICT: AUC target met, but it misses 40% of melanomas.")
    assert "AND catches at least 60% of melanomas. Well done." in report.verdict(m, threshold=0.6)
    head = report.headline({**m, "cancer_sensitivity": 0.5, "balanced_accuracy": 0.5, "accuracy": 0.8},
                           max_false_alarm=0.1)
    assert "(bonus >= 0.50, with false alarms <= 0.10)" in head
    assert "False alarms       0.15     (other lesions called melanoma: 60 of 400)" in head

"""End-to-end training through the locked loop on the small synthetic set (conftest's small_splits).

What must hold: the baseline in student/ trains and yields a complete run record; identical runs are
bit-identical; the course's lessons show (the train-only Normalize trap collapses the AUC, inverse-frequency class
weights catch more melanomas); a diverging config fails with a message; `python -m locked.train` prints the full
report and writes the record.

Measured at TEST_SCALE 0.2 (val: 201 images, 22 melanomas; synthetic generator version 3), BN CNN + HFlip +
Adam(1e-3), 5 epochs, batch 32, 1 thread:
    plain CE             AUC 0.868  mel recall 0.364 (8/22)   balanced acc 0.53
    + train Normalize    AUC 0.691  mel recall 0.000          balanced acc 0.23 (nearly one class for everything)
    + class weights      AUC 0.884  mel recall 0.545 (12/22)  balanced acc 0.65, nevus recall 0.87 -> 0.50
    baseline (student/)  AUC 0.722, nevus for everything, loss still near the class shares; with Adam(lr=1e-4)
                         (exp 04) AUC 0.45, the same
At this size balanced accuracy is decided by classes of 3-7 images, so the class-weight test checks the trade itself
(melanomas up, nevus recall down); on the full set (docs/SUITE_RESULTS.md) the trap scores 0.48 against exp 08's
0.91, and class weights lift melanoma recall from 0.30 to 0.59 and balanced accuracy from 0.62 to 0.67 (exp 15 vs 08).
"""
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from locked import diagnosis, engine, submission, train
from locked.info import CLASS_NAMES
from locked.submission import SubmissionError

REPO = Path(__file__).resolve().parents[1]
STUDENT = REPO / "student"

#: Epochs for the lesson configs (see the module docstring for why 5).
LESSON_EPOCHS = 5
#: Normalize trap: AUC must drop by at least this much (measured 0.18 here; 0.43 on the full set, exp 14 vs 08).
NORMALIZE_AUC_DROP = 0.15
#: Class weights: melanoma recall must rise by at least this much, the course's own gain (measured 0.18 here,
#: i.e. 4 of 22 melanomas; 0.29 on the full set) ...
CLASS_WEIGHT_MEL_GAIN = 0.15
#: ... without the model collapsing into "everything is melanoma" (AUC measured 0.884 vs 0.868).
CLASS_WEIGHT_MAX_AUC_LOSS = 0.10

BN_MODEL = '''
import torch.nn as nn


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]


class BatchNormCNN(nn.Module):
    """The course's experiment 8 model: 3 blocks conv-bn-relu-maxpool, 32 -> 64 -> 128 channels."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(128, 7)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return BatchNormCNN()
'''

CONFIG = '''
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = {epochs}
BATCH_SIZE = 32
train_transform = transforms.Compose([{transform}])


def make_optimizer(model):
    return {optimizer}


def make_loss(class_counts):
    return {loss}


def make_scheduler(optimizer):
    return None
'''

HFLIP = "transforms.RandomHorizontalFlip(), transforms.ToTensor()"
NORMALIZE = HFLIP + ", transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])"
ADAM = "torch.optim.Adam(model.parameters(), lr=1e-3)"
PLAIN_CE = "nn.CrossEntropyLoss()"
WEIGHTED_CE = "nn.CrossEntropyLoss(weight=class_counts.sum() / (7 * class_counts))"

LESSONS = {
    "plain": dict(transform=HFLIP, loss=PLAIN_CE),
    "normalize": dict(transform=NORMALIZE, loss=PLAIN_CE),
    "weighted": dict(transform=HFLIP, loss=WEIGHTED_CE),
    # the course's experiment 04: the baseline CNN with Adam(lr=1e-4), stuck at the class shares
    "low_lr": dict(model=(STUDENT / "model.py").read_text(), transform="transforms.ToTensor()", loss=PLAIN_CE,
                   optimizer="torch.optim.Adam(model.parameters(), lr=1e-4)"),
}


def write_submission(folder, model=BN_MODEL, epochs=LESSON_EPOCHS, transform=HFLIP, optimizer=ADAM, loss=PLAIN_CE):
    """A submission in the contract's format of student/: model.py and train_config.py."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(model)
    (folder / "train_config.py").write_text(CONFIG.format(epochs=epochs, transform=transform, optimizer=optimizer,
                                                         loss=loss))
    return folder


def run(folder, splits):
    return train.run(folder, splits, device="cpu", log=lambda *args: None, progress=False)


def without_timing(record):
    """The record minus what legitimately varies between identical runs (clock times, paths)."""
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in record["history"]]
    return {"params": record["params"], "history": history, "val": record["val"], "data": record["data"]}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for this module. On the shared 2-core test machine two threads spin against each other and
    the other agents' jobs: one lesson run measured 83 s of CPU with 2 threads, 8.8 s with 1, same metrics."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DERMA_THREADS", "1")
        yield


@pytest.fixture(scope="module")
def baseline(small_splits):
    return run(STUDENT, small_splits)


@pytest.fixture(scope="module")
def lesson(small_splits, tmp_path_factory):
    """lesson(name) trains one of the LESSONS configs once per module and returns its run record."""
    cache = {}

    def get(name):
        if name not in cache:
            folder = write_submission(tmp_path_factory.mktemp(name), **LESSONS[name])
            cache[name] = run(folder, small_splits)
        return cache[name]
    return get


# ---------------------------------------------------------------------------------------------------------------

def test_baseline_trains_end_to_end(baseline, small_splits):
    epochs = submission.load(STUDENT).epochs
    assert baseline["data"]["kind"] == "synthetic" and "SYNTHETIC" in baseline["data"]["label"]
    assert baseline["params"] == 6887
    assert len(baseline["history"]) == epochs
    assert [row["epoch"] for row in baseline["history"]] == list(range(1, epochs + 1))
    for row in baseline["history"]:
        assert set(row) >= {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
        assert math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])
        assert 0 <= row["train_acc"] <= 1 and 0 <= row["val_acc"] <= 1
        assert row["lr"] > 0
    assert baseline["history"][-1]["train_loss"] < baseline["history"][0]["train_loss"]  # it learned something
    val = baseline["val"]
    assert val["n"] == len(small_splits.labels["val"])
    assert set(val) >= {"auc", "accuracy", "balanced_accuracy", "mel_recall", "cancer_sensitivity", "per_class",
                        "confusion_matrix"}
    assert list(val["per_class"]) == list(CLASS_NAMES)
    assert 0.5 < val["auc"] <= 1
    assert baseline["train_seconds"] > 0 and baseline["machine"]["threads"] == 1
    json.dumps(baseline)  # the record is JSON-ready


def test_identical_runs_are_bit_identical(baseline, small_splits, tmp_path):
    again = run(STUDENT, small_splits)
    assert without_timing(again) == without_timing(baseline)
    # Also with random augmentation (flip + rotation draw from the seeded torch RNG) and BatchNorm.
    augmented = dict(model=BN_MODEL, epochs=1, transform="transforms.RandomRotation(15), " + HFLIP)
    first = run(write_submission(tmp_path / "a", **augmented), small_splits)
    second = run(write_submission(tmp_path / "b", **augmented), small_splits)
    assert without_timing(first) == without_timing(second)


def test_train_only_normalize_collapses_the_auc(lesson):
    plain, trap = lesson("plain")["val"], lesson("normalize")["val"]
    assert plain["auc"] >= 0.80, "the comparison needs a plain config that learns"
    assert trap["auc"] <= plain["auc"] - NORMALIZE_AUC_DROP, (plain["auc"], trap["auc"])
    assert trap["balanced_accuracy"] < plain["balanced_accuracy"]
    assert trap["mel_recall"] <= plain["mel_recall"]


def findings(record):
    return {f["rule"]: f for f in diagnosis.diagnose(record["history"], record["val"], record["config"],
                                                     record["preprocessing"])}


def test_diagnosis_names_the_trap_with_its_measured_statistics(lesson):
    trap = findings(lesson("normalize"))
    assert list(trap) == ["preprocessing"], trap
    evidence = trap["preprocessing"]["evidence"]
    assert "Normalize(mean=[0.485, 0.456, 0.406]" in evidence and "Per-channel mean" in evidence
    assert "preprocessing" not in findings(lesson("plain")) and "preprocessing" not in findings(lesson("weighted"))


def test_diagnosis_of_the_baseline_and_the_low_learning_rate(baseline, lesson):
    """At this size (a fifth of the training steps) experiment 01, the student's starting point, predicts nevus for
    everything with its loss still near the class-share level, as experiment 04's Adam(lr=1e-4) does: the diagnosis
    names each one's learning rate, not class weights (the majority rule on its own: test_diagnosis.py). On the full
    stand-in the baseline gets further (AUC 0.83) and draws no finding (docs/DIAGNOSIS.md)."""
    start = findings(baseline)
    assert list(start) == ["loss_flat"], start
    assert "with SGD lr=0.1." in start["loss_flat"]["evidence"], start
    assert "SGD(lr=0.1)" not in start["loss_flat"]["try"] and "momentum=0.9" in start["loss_flat"]["try"], start
    stuck = findings(lesson("low_lr"))
    assert list(stuck) == ["loss_flat"], stuck
    assert "Adam lr=0.0001" in stuck["loss_flat"]["evidence"]
    weighted = findings(lesson("weighted"))
    assert not {"majority", "loss_flat", "diverged"} & set(weighted), weighted


def test_class_weights_catch_more_melanomas(lesson):
    plain, weighted = lesson("plain")["val"], lesson("weighted")["val"]
    assert weighted["mel_recall"] >= plain["mel_recall"] + CLASS_WEIGHT_MEL_GAIN, \
        (plain["mel_recall"], weighted["mel_recall"])
    assert weighted["auc"] >= plain["auc"] - CLASS_WEIGHT_MAX_AUC_LOSS, (plain["auc"], weighted["auc"])
    assert weighted["per_class"]["nv"]["recall"] < plain["per_class"]["nv"]["recall"], "the trade: fewer nevi called"


def test_under_a_deadline_an_epoch_starts_only_if_it_and_the_predictions_fit():
    """Worked by hand: a 10 s epoch and 1 s per 100 validation images, then 300 rows to predict (3 s): the next
    epoch needs 1.25 x 13 s + 5 s = 21.25 s before the deadline."""
    fits = lambda left: engine.next_epoch_fits(time.time() + left, 10.0, 1.0, 100, 300)  # noqa: E731
    assert fits(22.0) and not fits(20.5)


def test_training_stops_before_an_epoch_that_would_pass_the_deadline(small_splits):
    sub = submission.load(STUDENT)
    logs = []
    history = engine.fit(sub, engine.new_model(sub), small_splits, "cpu", log=logs.append, progress=False,
                         deadline=time.time() + 1)
    assert len(history) == 1 < sub.epochs  # the first epoch always runs; the second would not fit in the second left
    assert logs[-1].startswith(f"stopped after epoch 1/{sub.epochs}: another epoch")


def test_a_diverging_config_is_reported(small_splits, tmp_path):
    """SGD(lr=1e6) on the baseline: the batch loss reaches 1e17 by batch 2, usually without overflowing to inf."""
    folder = write_submission(tmp_path, model=(STUDENT / "model.py").read_text(), epochs=2,
                              transform="transforms.ToTensor()",
                              optimizer="torch.optim.SGD(model.parameters(), lr=1e6)")
    with pytest.raises(SubmissionError, match="diverged") as err:
        run(folder, small_splits)
    assert err.value.check == "train"
    assert "lr=1000000.0" in str(err.value)
    found = diagnosis.diagnose([], None, error={"check": err.value.check, "message": str(err.value)})
    assert [f["rule"] for f in found] == ["diverged"] and "smaller learning rate" in found[0]["try"]


def test_the_unchanged_baseline_misses_the_target_and_the_melanomas_on_the_full_stand_in(tmp_path):
    """Issue 22: offline, a student's first run fails as it does on the real data (the course's baseline: AUC 0.822,
    melanoma recall 0.00; here 0.827 and 0.05, docs/SUITE_RESULTS.md), and the verdict says how many melanomas it
    missed. Full size, as the README's command runs it; stand-in v2 let this baseline pass with AUC 0.913."""
    out = tmp_path / "run.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DERMA_", "DERMAMNIST_"))}
    env.update(DERMA_DATA_DIR=str(tmp_path / "data"), DERMA_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "locked.train", "--synthetic", "--submission", "student",
                           "--out", str(out), "--device", "cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    val = json.loads(out.read_text())["val"]
    assert val["auc"] <= 0.86 and val["mel_recall"] <= 0.15, (val["auc"], val["mel_recall"])
    verdict = next(line for line in proc.stdout.splitlines() if line.startswith("VERDICT:"))
    assert verdict.startswith("VERDICT: below target"), verdict
    assert f"misses {1 - val['mel_recall']:.0%} of melanomas" in verdict, verdict
    assert f"caught {val['mel_caught']} of {val['mel_total']} melanomas" in verdict, verdict


def test_command_line_run_prints_the_report_and_writes_the_record(synthetic_root, small_splits, baseline, tmp_path):
    out = tmp_path / "run.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DERMA_", "DERMAMNIST_"))}
    env.update(DERMA_DATA_DIR=str(synthetic_root), DERMA_THREADS="1",
               DERMA_SYNTHETIC_SCALE=str(small_splits.provenance["scale"]))
    proc = subprocess.run([sys.executable, "-m", "locked.train", "--synthetic", "--submission", "student",
                           "--out", str(out), "--device", "cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    epochs = submission.load(STUDENT).epochs
    expected = ["Class distribution:", "Validation report", "Macro AUC", "Melanoma recall", "Cancer sensitivity",
                "Balanced accuracy", "VERDICT:", f"epoch   1/{epochs}", f"epoch {epochs:>3}/{epochs}",
                f"Run written to {out}"]
    for line in expected:
        assert line in text, line
    assert text.count("SYNTHETIC") >= 2, "the synthetic banner goes before and after the report"
    lines = text.splitlines()
    for name in CLASS_NAMES:  # one row per class in the distribution and in the per-class table
        assert sum(line.split()[:1] == [name] for line in lines) == 2, name
    record = json.loads(out.read_text())
    assert record["data"]["kind"] == "synthetic"
    assert record["data"]["path"].startswith(str(synthetic_root))
    assert len(record["history"]) == epochs
    assert f"Macro AUC          {record['val']['auc']:.4f}" in text
    # Same data, seed and thread count in a fresh process: the very numbers of the in-process run.
    assert without_timing(record) == without_timing(baseline)


#: A better model scores better (README, "Data"): the course's baseline (student/, experiment 01) against the BN CNN
#: above. Measured here on stand-in v1: val AUC 0.72 against 0.88; on v2 (DermaMNIST's colours) 0.83 against 0.93;
#: on v3 0.722 against 0.868, balanced accuracy higher too. On images that carry no class (every one drawn as a
#: nevus) the two scored 0.45 and 0.53: chance differs by that much at this size, so the gain asked for is above that
#: and the better model must also reach 0.85 (0.91 on the full stand-in, exp 08).
BETTER_MODEL_AUC_GAIN = 0.08


def test_a_better_model_scores_better(baseline, lesson):
    base, better = baseline["val"], lesson("plain")["val"]
    assert better["auc"] >= 0.85, "the comparison needs a model that learns"
    assert better["auc"] >= base["auc"] + BETTER_MODEL_AUC_GAIN, (base["auc"], better["auc"])
    assert better["balanced_accuracy"] > base["balanced_accuracy"], (base, better)

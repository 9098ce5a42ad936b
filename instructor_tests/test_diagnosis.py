"""locked.diagnosis: each rule fires on the symptom it names and stays quiet on a healthy run; the forecast, the
run history and the report card's block.

Histories and per-class tables here are shaped like real runs (figures from docs/DIAGNOSIS.md, full synthetic
set); test_training.py checks the rules on submissions actually trained (trap, baseline, low lr, diverging).
"""
import json
import math
from pathlib import Path

import pytest
import torch
from torchvision import transforms

from locked import compare, consistency, diagnosis, settings, train
from locked.history import HISTORY_KEYS
from locked.info import CLASS_NAMES

REPO = Path(__file__).resolve().parents[1]
SUPPORT = dict(zip(CLASS_NAMES, (33, 52, 110, 12, 111, 671, 14)))  # the official validation counts


def metrics(auc, recall, accuracy=None):
    """A validation metrics dict with the official supports; `recall` maps class -> recall (others 0.5)."""
    rec = {c: recall.get(c, 0.5) for c in CLASS_NAMES}
    correct = sum(rec[c] * SUPPORT[c] for c in CLASS_NAMES)
    acc = correct / sum(SUPPORT.values()) if accuracy is None else accuracy
    cancer = sum(rec[c] for c in ("akiec", "bcc", "mel")) / 3
    return {"auc": auc, "accuracy": acc, "mel_recall": rec["mel"], "n": sum(SUPPORT.values()),
            "cancer_sensitivity": cancer, "balanced_accuracy": sum(rec.values()) / len(rec),
            "per_class": {c: {"recall": rec[c], "precision": 0.5, "f1": 0.5, "support": SUPPORT[c]}
                          for c in CLASS_NAMES}}


def history(train_loss, val_loss, train_acc=None, val_acc=None, lr=1e-3):
    n = len(train_loss)
    return [{"epoch": i + 1, "train_loss": train_loss[i], "val_loss": val_loss[i],
             "train_acc": (train_acc or [0.8] * n)[i], "val_acc": (val_acc or [0.78] * n)[i], "lr": lr}
            for i in range(n)]


HEALTHY = history([0.90, 0.70, 0.62, 0.58, 0.55], [0.75, 0.66, 0.62, 0.60, 0.59], [0.70, 0.75, 0.78, 0.79, 0.80])
GOOD = metrics(0.93, {"mel": 0.62, "nv": 0.95})
STUCK = metrics(0.52, {c: 0.0 for c in CLASS_NAMES} | {"nv": 1.0})
NV_ONLY = metrics(0.82, {c: 0.0 for c in CLASS_NAMES} | {"nv": 0.98, "bkl": 0.2})
TRAP_PRE = {"ok": False, "message": "train_transform's output differs from validation:\n  30% of training values lie "
            "outside [0, 1]\n  per-channel mean: train (1.2, 0.37, 0.69) vs validation (0.76, 0.54, 0.56)\n"
            "Found in train_transform: Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])\nWhy ...",
            "measured": {"train": {"mean": [1.22, 0.37, 0.69], "std": [0.59, 0.68, 0.74]},
                         "val": {"mean": [0.76, 0.54, 0.56], "std": [0.14, 0.15, 0.17]}}}


def rules(findings):
    return [f["rule"] for f in findings]


def test_a_healthy_run_with_melanomas_found_has_no_findings():
    found = diagnosis.diagnose(HEALTHY, GOOD, preprocessing={"ok": True, "message": "matches"})
    assert found == []
    assert "Nothing" in diagnosis.format_findings(found)


def test_low_learning_rate_loss_stuck_at_the_class_share_level():
    share = diagnosis.class_share_loss(STUCK)
    assert 1.0 < share < 1.2  # entropy of DermaMNIST's class shares
    stuck = history([1.30, 1.12, 1.11, 1.10, 1.10], [1.12, 1.11, 1.10, 1.10, 1.10], [0.66] * 5, lr=1e-4)
    found = diagnosis.diagnose(stuck, STUCK, config={"optimizer": "Adam", "lr": 1e-4})
    assert rules(found) == ["loss_flat"], "a stuck run is a learning-rate problem, not a class-weight one"
    assert "Adam lr=0.0001" in found[0]["evidence"] and "1.100" in found[0]["evidence"]
    # the same loss with a model that ranks well is not "stuck" (label smoothing keeps losses high)
    assert "loss_flat" not in rules(diagnosis.diagnose(stuck, GOOD))


def test_majority_collapse_points_at_class_weights():
    found = diagnosis.diagnose(HEALTHY, NV_ONLY)
    assert rules(found) == ["majority"]
    assert "mel" in found[0]["evidence"] and "weight=" in found[0]["try"]
    one_mel = metrics(0.82, {c: 0.0 for c in CLASS_NAMES} | {"nv": 0.98, "mel": 0.05})
    assert "majority" not in rules(diagnosis.diagnose(HEALTHY, one_mel))


def test_trap_names_the_transform_and_the_measured_channel_statistics():
    trap_hist = history([0.9, 0.7, 0.65], [5.0, 6.0, 6.1], [0.70, 0.76, 0.786], [0.06, 0.06, 0.062])
    trap = metrics(0.40, {c: 0.0 for c in CLASS_NAMES} | {"df": 1.0}, accuracy=0.062)
    found = diagnosis.diagnose(trap_hist, trap, preprocessing=TRAP_PRE)
    assert rules(found) == ["preprocessing"], "the mismatch explains the collapse and the rising val loss"
    text = found[0]["evidence"]
    assert "Normalize(mean=[0.485" in text and "(1.22, 0.37, 0.69)" in text and "(0.76, 0.54, 0.56)" in text
    assert "0.786" in text and "0.062" in text
    # the same collapse with consistent preprocessing is not blamed on it; without a measurement it says how to check
    assert "preprocessing" not in rules(diagnosis.diagnose(trap_hist, trap, preprocessing={"ok": True}))
    assert "pytest tests/" in diagnosis.diagnose(trap_hist, trap)[0]["try"]
    # a mismatch that did not collapse validation is left to the preprocessing check itself
    assert "preprocessing" not in rules(diagnosis.diagnose(HEALTHY, GOOD, preprocessing=TRAP_PRE))


class OutOfRange:
    """A train_transform step that moves `percent` of the values just outside [-0.1, 1.1], half below, half above:
    the channel means and stds stay within the check's tolerances, only the range gives it away."""

    def __init__(self, percent):
        self.percent = percent

    def __call__(self, x):
        flat, index = x.clone().reshape(-1), torch.arange(x.numel())
        chosen = index % 100 < self.percent
        flat[chosen] = torch.where(index[chosen] % 2 == 0, -0.15, 1.15)
        return flat.reshape(x.shape)


def test_values_out_of_range_alone_are_the_mismatch_the_diagnosis_names(small_splits):
    """The preprocessing check (locked/consistency.py) tolerates 5% of values out of range (noise-style
    augmentation) and refuses 30% even when means and stds pass; the diagnosis then names the step."""
    def check(percent):
        transform = transforms.Compose([transforms.ToTensor(), transforms.Lambda(OutOfRange(percent))])
        return consistency.check_preprocessing(transform, small_splits.images["train"])

    noisy, trap = check(5), check(30)
    assert noisy.ok, noisy.message
    assert not trap.ok and "31% of training values lie outside [0, 1]" in trap.message, trap.message
    assert "per-channel" not in trap.message  # the range alone: means and stds are within their tolerances
    collapsed = history([0.9, 0.7, 0.65], [5.0, 6.0, 6.1], [0.70, 0.76, 0.786], [0.06, 0.06, 0.062])
    found = diagnosis.diagnose(collapsed, metrics(0.40, {c: 0.0 for c in CLASS_NAMES} | {"df": 1.0}, accuracy=0.062),
                               preprocessing={"ok": trap.ok, "message": trap.message, "measured": trap.measured})
    assert rules(found) == ["preprocessing"] and "Lambda()" in found[0]["evidence"]


def test_overfitting_needs_validation_loss_rising_while_training_loss_falls():
    over = history([0.8, 0.6, 0.5, 0.4, 0.3, 0.2], [0.70, 0.60, 0.62, 0.66, 0.70, 0.75])
    found = diagnosis.diagnose(over, GOOD)
    assert rules(found) == ["overfitting"]
    assert "epoch 2" in found[0]["evidence"] and "about 2 epochs" in found[0]["try"]
    noisy = history([0.8, 0.6, 0.5, 0.4, 0.3, 0.2], [0.70, 0.60, 0.62, 0.61, 0.63, 0.64])  # +7%: noise
    assert diagnosis.diagnose(noisy, GOOD) == []
    late = history([0.8, 0.6, 0.5, 0.4], [0.70, 0.65, 0.60, 0.70])  # rose only in the last epoch
    assert diagnosis.diagnose(late, GOOD) == []


def test_good_auc_with_melanomas_missed_is_the_deployment_lesson():
    missed = metrics(0.92, {"mel": 0.37, "nv": 0.95})
    found = diagnosis.diagnose(HEALTHY, missed)
    assert rules(found) == ["melanoma"]
    assert "70 of 111" in found[0]["evidence"] and "class weights" in found[0]["try"]
    weighted = diagnosis.diagnose(HEALTHY, missed, config={"class_weights": True})
    assert "threshold" in weighted[0]["try"] and "class weights" not in weighted[0]["try"]
    assert diagnosis.diagnose(HEALTHY, metrics(0.80, {"mel": 0.2, "nv": 0.9})) == []  # weak AUC: not the lesson


def test_divergence_from_the_history_or_the_loops_error():
    rising = history([1.2, 1.5, 1.9], [1.3, 1.6, 2.0], lr=0.5)
    found = diagnosis.diagnose(rising, STUCK, config={"optimizer": "SGD", "lr": 0.5})
    assert rules(found) == ["diverged"], "divergence explains the stuck metrics"
    assert "1.200" in found[0]["evidence"] and "SGD lr=0.5" in found[0]["evidence"]
    blown = history([1.0, 40.0], [1.0, None])
    assert "epoch 2" in diagnosis.diagnose(blown, None)[0]["evidence"]
    error = {"check": "train", "message": "Training diverged: the loss became inf at epoch 1, batch 3. Usually..."}
    assert rules(diagnosis.diagnose([], None, error=error)) == ["diverged"]
    assert diagnosis.diagnose([], None, error={"check": "build", "message": "NameError"}) == []


@pytest.mark.parametrize("row", ["not a row", {"train_loss": "1.0", "val_loss": [1], "train_acc": True},
                                 {"train_loss": {"x": 1}}, {}])
def test_hostile_history_rows_do_not_crash_the_rules(row):
    """The grader's history comes from a status file student code can rewrite."""
    for hist in ([row], [row, row, row], HEALTHY + [row]):
        diagnosis.diagnose(hist, GOOD, preprocessing=TRAP_PRE)
        diagnosis.diagnose(hist, None)
    assert all(set(r) == set(HISTORY_KEYS) for r in diagnosis.clean_history([row, {"lr": 1}]))


def test_the_report_card_carries_the_block(tmp_path):
    from grader import results

    record = {"score": 50, "max_score": 90, "data": {"kind": "synthetic", "label": "SYNTHETIC"}, "history": HEALTHY,
              "metrics": {"val": NV_ONLY, "test": NV_ONLY}, "error": None, "ignored_files": [],
              "sandbox": {"isolation": ["test"], "output": ""},
              "tests": [{"key": "preprocessing", "name": "Preprocessing", "score": 10, "max_score": 10,
                         "status": "passed", "output": "train_transform matches validation", "visibility": "visible",
                         "ran": True}]}
    card = results.report_card(record)
    assert "What your numbers say:" in card and "predicts nevus" in card
    record["tests"][0].update(status="failed", output=TRAP_PRE["message"])
    record["history"] = history([0.9, 0.7, 0.65], [5.0, 6.0, 6.1], [0.70, 0.76, 0.786])
    record["metrics"]["val"] = metrics(0.40, {c: 0.0 for c in CLASS_NAMES} | {"df": 1.0}, accuracy=0.062)
    card = results.report_card(record)
    assert "Normalize(mean=[0.485" in card and "per-channel mean: train (1.2, 0.37" in card


BOX = {"time_limit_s": 540, "cpu_share": 0.5, "overhead_s": 8.0}  # the grading box the numbers below are worked for


def test_forecast_against_the_limit_and_what_to_change():
    """Worked by hand. One full core: 8 s start-up, then per epoch 219 steps and one validation pass, then the final
    prediction; the grading box has half a core, and the forecast warns above 80% of its 540 s limit."""
    # 219 x 0.04 s + 1 s = 9.76 s an epoch; 8 + 5 x 9.76 + 3 = 59.8 s on one core; 119.6 s at half a core
    ok = diagnosis.forecast(step_seconds=0.04, steps_per_epoch=219, epochs=5, eval_seconds=1.0, predict_seconds=3.0,
                            **BOX)
    assert ok["full_core_seconds"] == pytest.approx(59.8) and ok["seconds"] == pytest.approx(119.6)
    assert ok["epoch_seconds"] == pytest.approx(19.52) and ok["fits"] and not ok["tight"]
    assert diagnosis.format_forecast(ok) == (
        "Grading-time forecast: about 120 s of the 540 s limit on the grading box.\n  (Measured here: 60 s of work on "
        "one core; the box gives 0.5 of a core. Load on either machine moves this, so it warns above 80% of the "
        "limit.)")
    # experiment 23's measured step (issue 14): 219 x 0.114 s + 4 s = 28.966 s an epoch; 8 + 10 x 28.966 + 12 =
    # 309.66 s on one core, 619.32 s at half a core: over the limit
    resnet = diagnosis.forecast(step_seconds=0.114, steps_per_epoch=219, epochs=10, eval_seconds=4.0,
                                predict_seconds=12.0, **BOX)
    assert resnet["seconds"] == pytest.approx(619.32) and not resnet["fits"] and resnet["tight"]
    text = diagnosis.format_forecast(resnet, batch_size=32)
    assert "about 619 s of the 540 s limit" in text and "WILL NOT FINISH" in text and "than 32" in text
    # what fits under 80% of the limit (432 s): 40 s outside the epochs + 57.932 s an epoch -> 6 epochs (387.6 s);
    # 7 would take 445.5 s
    assert "EPOCHS = 6 (from 10)" in text
    assert settings.TIME_LIMIT_POLICIES["score"] in text  # the course's rubric scores the epochs that fit
    zero = diagnosis.format_forecast(diagnosis.forecast(0.114, 219, 10, 4.0, 12.0, **BOX, on_time_limit="zero"))
    assert "WILL NOT FINISH: a run cut by the time limit scores nothing for training or the test." in zero
    assert not diagnosis.forecast(0.114, 219, 6, 4.0, 12.0, **BOX)["tight"]
    assert diagnosis.forecast(0.114, 219, 7, 4.0, 12.0, **BOX)["tight"]


def test_history_keeps_every_run_and_returns_the_previous(tmp_path):
    first = {"val": {"auc": 0.80, "mel_recall": 0.10, "cancer_sensitivity": 0.2}, "train_seconds": 20.0,
             "files": {"model.py": "a\n", "train_config.py": "EPOCHS = 5\nlr = 1\n"}}
    second = {"val": {"auc": 0.90, "mel_recall": 0.55, "cancer_sensitivity": 0.6}, "train_seconds": 41.5,
              "files": {"model.py": "a\n", "train_config.py": "EPOCHS = 10\nlr = 1\n"}}
    out = tmp_path / "runs" / "student.json"
    assert train.save(first, out)[0] is None
    previous, kept = train.save(second, out)
    assert previous["val"]["auc"] == 0.80 and previous["timestamp"]
    assert len(list(kept.parent.glob("*.json"))) == 2, "two runs in one second still get two files"
    assert json.loads(out.read_text())["val"]["auc"] == 0.90
    text = compare.compare(previous, second)
    for line in ("0.8000 -> 0.9000  (+0.1000)", "0.10 -> 0.55  (+0.45)", "20.0 s -> 41.5 s  (wall clock: machine-",
                 "model.py: code unchanged", "train_config.py: 1 code line(s) removed, 1 added", "- EPOCHS = 5",
                 "+ EPOCHS = 10"):
        assert line in text, line
    assert not math.isnan(previous["train_seconds"])


def test_the_speed_probe_reports_student_errors_like_the_run(small_splits, tmp_path):
    """The probe runs the student's forward/loss/step before the real run: errors must read the same."""
    from locked.submission import SubmissionError

    model = (REPO / "student" / "model.py").read_text().replace(
        "def forward(self, x):", "def forward(self, x):\n        if self.training:\n            raise ValueError('boom')")
    assert "raise ValueError('boom')" in model
    (tmp_path / "model.py").write_text(model)
    (tmp_path / "train_config.py").write_text((REPO / "student" / "train_config.py").read_text())
    with pytest.raises(SubmissionError, match="boom") as err:
        train.run(tmp_path, small_splits, device="cpu", log=lambda *a: None, progress=False)
    assert err.value.check == "train"
    forecast, config = train.probe(REPO / "student", small_splits)
    assert forecast["fits"] and forecast["seconds"] > 0 and config["optimizer"] == "SGD"


# --- issue 22: the bonus's operating point, and the learning rate the student configured -----------------------------
def with_calls(m, caught, flagged):
    """`m` with evaluate()'s melanoma counts: `caught` of 111 melanomas, `flagged` of the 892 other lesions."""
    return {**m, "mel_recall": caught / 111, "mel_caught": caught, "mel_total": 111, "other_flagged": flagged,
            "other_total": 892, "mel_false_alarm": flagged / 892}


def test_melanomas_caught_by_calling_too_many_lesions_melanoma_is_the_lesson_too():
    at_limit, over = with_calls(GOOD, 69, 223), with_calls(GOOD, 69, 224)  # 223 / 892 is exactly 25%
    assert diagnosis.diagnose(HEALTHY, at_limit) == []
    found = diagnosis.diagnose(HEALTHY, over)
    assert rules(found) == ["melanoma"] and found[0]["title"].startswith("Melanomas caught by calling too many")
    assert "caught 69 of 111 melanomas; sent 25.1% of other lesions to biopsy, over the 25% the bonus allows" in \
        found[0]["evidence"]
    everything = diagnosis.diagnose(HEALTHY, with_calls(metrics(0.80, {"mel": 1.0}), 111, 892))
    assert "sent 100% of other lesions to biopsy" in everything[0]["evidence"]  # below GOOD_AUC too
    weighted = diagnosis.diagnose(HEALTHY, over, config={"class_weights": True})
    assert "weaker class weights" in weighted[0]["try"]
    missed = diagnosis.diagnose(HEALTHY, with_calls(metrics(0.92, {"mel": 0.37, "nv": 0.95}), 41, 10))
    assert "70 of 111 melanomas missed" in missed[0]["evidence"] and "caught 41 of 111 melanomas" in \
        missed[0]["evidence"]


def test_the_report_card_diagnosis_reads_the_rubrics_false_alarm_limit():
    val = with_calls(GOOD, 69, 134)  # 15%: within the course's 25%, over this rubric's 10%
    record = {"history": HEALTHY, "metrics": {"val": val}, "tests": [], "error": None,
              "rubric": {"checks": {"mel_recall_bonus": {"threshold": 0.5, "max_false_alarm": 0.1}}}}
    assert "over the 10% the bonus allows" in diagnosis.from_grading_record(record)
    assert diagnosis.from_grading_record({**record, "rubric": None}).endswith("matches a known problem.")


def test_the_learning_rate_quoted_is_the_configured_one_never_a_schedulers_momentary_rate():
    stuck = history([1.34, 1.17, 1.15, 1.14, 1.14], [1.19, 1.16, 1.15, 1.15, 1.15], [0.66] * 5)
    for row, lr in zip(stuck, (0.077, 0.095, 0.060, 0.018, 4e-7)):  # what OneCycleLR(max_lr=0.1) leaves per epoch
        row["lr"] = lr
    config = {"optimizer": "SGD", "lr": 0.1, "scheduler": "OneCycleLR"}
    found = diagnosis.diagnose(stuck, STUCK, config)
    assert rules(found) == ["loss_flat"] and "with SGD lr=0.1 under OneCycleLR." in found[0]["evidence"]
    assert "cycle_momentum=False" in found[0]["try"] and "SGD(lr=0.1)" not in found[0]["try"]
    assert "with your learning rate." in diagnosis.diagnose(stuck, STUCK)[0]["evidence"]  # the grader: no config
    constant = history([1.34, 1.17, 1.15, 1.14, 1.14], [1.19, 1.16, 1.15, 1.15, 1.15], [0.66] * 5, lr=0.01)
    assert "with lr=0.01." in diagnosis.diagnose(constant, STUCK)[0]["evidence"]


def test_a_stuck_sgd_at_a_large_rate_is_not_told_to_use_that_rate():
    """The baseline's SGD(lr=0.1) stalls on a small stand-in: the advice must not be "try SGD(lr=0.1)"."""
    stuck = history([1.34, 1.17, 1.15, 1.14, 1.14], [1.19, 1.16, 1.15, 1.15, 1.15], [0.66] * 5, lr=0.1)
    found = diagnosis.diagnose(stuck, STUCK, {"optimizer": "SGD", "lr": 0.1})
    assert rules(found) == ["loss_flat"] and "SGD(lr=0.1)" not in found[0]["try"], found
    assert "already lr=0.1" in found[0]["try"] and "momentum=0.9" in found[0]["try"]
    slow = diagnosis.diagnose(stuck, STUCK, {"optimizer": "SGD", "lr": 0.001})
    assert "SGD(lr=0.1)" in slow[0]["try"], "a small SGD rate is still told to go larger"


SCHEDULERS = {"none": (lambda o: None, 0.1),
              "cosine": (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4), 0.1),
              "onecycle": (lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=100), 0.05),
              "warm-up": (lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=10), 0.1)}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_configured_lr_is_what_train_config_wrote(name):
    """A scheduler moves param_groups' lr when it is built (OneCycleLR to max_lr / 25, LinearLR to lr / 10) and
    every step after; the diagnosis quotes what train_config.py set."""
    make, lr = SCHEDULERS[name]
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 7).parameters(), lr=0.1)
    scheduler = make(optimizer)
    optimizer.step()
    if scheduler:
        scheduler.step()
    assert train.configured_lr(optimizer) == pytest.approx(lr)


def test_a_onecycle_run_is_diagnosed_with_the_rate_the_student_wrote(small_splits, tmp_path):
    """Issue 22: the old OneCycleLR recipe (max_lr=0.1, momentum cycled) on the baseline; the diagnosis said "SGD
    lr=0.004" (OneCycleLR's starting rate) beside "try SGD(lr=0.1)"."""
    (tmp_path / "model.py").write_text((REPO / "student" / "model.py").read_text())
    (tmp_path / "train_config.py").write_text((REPO / "student" / "train_config.py").read_text() + (
        '\nEPOCHS = 2\nSCHEDULER_STEP = "batch"\n\n\ndef make_scheduler(optimizer, steps_per_epoch):\n'
        "    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=EPOCHS, "
        "steps_per_epoch=steps_per_epoch)\n"))
    record = train.run(tmp_path, small_splits, device="cpu", log=lambda *a: None, progress=False)
    assert record["config"]["lr"] == 0.1 and record["config"]["scheduler"] == "OneCycleLR"
    text = train.diagnose(record)
    assert "The loss barely moved" in text and "with SGD lr=0.1 under OneCycleLR." in text and "0.004" not in text

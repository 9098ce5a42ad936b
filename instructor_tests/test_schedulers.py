"""Learning-rate schedulers as students write them: per epoch (the default), per batch, and on the validation loss.

train_config.SCHEDULER_STEP declares when the locked loop calls scheduler.step(); a scheduler that the declared
stepping would break (ReduceLROnPlateau without its metric, OneCycleLR stepped per epoch) is refused before training
with a message that names the setting to choose. Trainings are 2 epochs of the baseline CNN on the synthetic
stand-in at scale 0.2 (1,401 training images: 44 batches of 32, the last of 25).
"""
import shutil
import sys
from pathlib import Path

import pytest
import torch

from locked import engine, submission
from locked.submission import SubmissionError

REPO = Path(__file__).resolve().parents[1]
BASELINE_CONFIG = (REPO / "student" / "train_config.py").read_text()
LR = 0.1


def make_submission(folder, config_tail):
    """The baseline with `config_tail` appended to train_config.py (later definitions win), loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "student" / "model.py", folder / "model.py")
    (folder / "train_config.py").write_text(BASELINE_CONFIG + "\n" + config_tail)
    return submission.load(folder)


def train(sub, splits):
    engine.seed_everything()
    model = engine.build_model(sub)
    return engine.fit(sub, model, splits, "cpu", log=lambda *a: None, progress=False)


pytestmark = pytest.mark.usefixtures("one_thread")  # instructor_tests/conftest.py


def test_steps_per_epoch_counts_the_loops_batches():
    assert engine.steps_per_epoch(7007, 32) == 219  # the official training split, baseline batch size
    assert engine.steps_per_epoch(1401, 32) == 44  # last batch: 25 images
    assert engine.steps_per_epoch(33, 32) == 1  # a lone 33rd image is dropped (BatchNorm), so is its step
    assert engine.steps_per_epoch(1, 32) == 1


def test_cosine_is_stepped_once_per_epoch_by_default(tmp_path, small_splits):
    sub = make_submission(tmp_path / "cosine", "def make_scheduler(optimizer):\n"
                          "    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)\n")
    assert sub.scheduler_step == "epoch"
    history = train(sub, small_splits)  # EPOCHS = 5: the cosine runs its 4 epochs and then climbs back
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=4)
    expected = []
    for _ in history:
        reference.step()
        cosine.step()
        expected.append(reference.param_groups[0]["lr"])
    assert [row["lr"] for row in history] == pytest.approx(expected)
    assert history[3]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_onecycle_is_stepped_after_every_batch(tmp_path, small_splits):
    sub = make_submission(tmp_path / "onecycle", 'EPOCHS = 2\nSCHEDULER_STEP = "batch"\n\n'
                          "def make_scheduler(optimizer, steps_per_epoch):\n"
                          "    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=EPOCHS,\n"
                          "                                               steps_per_epoch=steps_per_epoch)\n")
    history = train(sub, small_splits)
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    cycle = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.1, epochs=2, steps_per_epoch=44)
    expected = []
    for _ in range(2):
        for _ in range(44):
            reference.step()
            cycle.step()
        expected.append(reference.param_groups[0]["lr"])
    assert [row["lr"] for row in history] == pytest.approx(expected)  # 88 steps: one per batch, the whole cycle


def test_reduce_on_plateau_gets_the_validation_loss(tmp_path, small_splits):
    sub = make_submission(tmp_path / "plateau", 'EPOCHS = 3\nSCHEDULER_STEP = "val_loss"\nSEEN = []\n\n\n'
                          "class Recording(torch.optim.lr_scheduler.ReduceLROnPlateau):\n"
                          "    def step(self, metrics):\n"
                          "        SEEN.append(metrics)\n"
                          "        super().step(metrics)\n\n\n"
                          "def make_scheduler(optimizer):  # no improvement is ever big enough: halve every epoch\n"
                          "    return Recording(optimizer, factor=0.5, patience=0, threshold=100.0, "
                          "threshold_mode='abs')\n")
    history = train(sub, small_splits)
    assert sys.modules["train_config"].SEEN == [row["val_loss"] for row in history]
    assert [row["lr"] for row in history] == pytest.approx([LR, LR / 2, LR / 4])  # the first epoch sets `best`


REFUSED = {  # config tail: texts the refusal must contain (it names the setting to choose)
    "plateau_per_epoch": ("def make_scheduler(optimizer):\n"
                          "    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)\n",
                          ["ReduceLROnPlateau and SCHEDULER_STEP is 'epoch'", 'SCHEDULER_STEP = "val_loss"']),
    "plateau_per_batch": ('SCHEDULER_STEP = "batch"\n\ndef make_scheduler(optimizer):\n'
                          "    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)\n",
                          ["SCHEDULER_STEP is 'batch'", 'SCHEDULER_STEP = "val_loss"']),
    "plateau_mode_max": ('SCHEDULER_STEP = "val_loss"\n\ndef make_scheduler(optimizer):\n'
                         "    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode='max')\n",
                         ["mode='max'", "mode='min'"]),
    "cosine_on_val_loss": ('SCHEDULER_STEP = "val_loss"\n\ndef make_scheduler(optimizer):\n'
                           "    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)\n",
                           ["only ReduceLROnPlateau takes a metric", 'SCHEDULER_STEP = "epoch"']),
    "onecycle_per_epoch": ("def make_scheduler(optimizer):\n"
                           "    return torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.1, epochs=EPOCHS, "
                           "steps_per_epoch=219)\n",
                           ["stepped 5 times (5 epochs), but it was built for 1095 steps", "never finish its cycle",
                            'set SCHEDULER_STEP = "batch"']),
    "onecycle_too_short": ('SCHEDULER_STEP = "batch"\n\ndef make_scheduler(optimizer):\n'
                           "    return torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.1, total_steps=1000)\n",
                           ["stepped 1095 times (5 epochs x 219 batches)", "with an error at step 1001",
                            "def make_scheduler(optimizer, steps_per_epoch)"]),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_wrong_stepping_is_refused_before_training(tmp_path, name):
    tail, texts = REFUSED[name]
    sub = make_submission(tmp_path / name, tail)
    with pytest.raises(SubmissionError) as err:
        engine.make_training_objects(sub, engine.build_model(sub), [100] * 7)
    assert err.value.check == "config"
    for text in texts:
        assert text in str(err.value), str(err.value)


@pytest.mark.parametrize("value", ["step", "Epoch", 1, None])
def test_unknown_scheduler_step_is_refused_at_load(tmp_path, value):
    with pytest.raises(SubmissionError) as err:
        make_submission(tmp_path / "unknown", f"SCHEDULER_STEP = {value!r}\n")
    message = str(err.value)
    assert err.value.check == "config" and f"SCHEDULER_STEP = {value!r} is not a choice" in message
    for choice in submission.SCHEDULER_STEPS:
        assert repr(choice) in message


def test_no_scheduler_goes_with_every_stepping(tmp_path):
    """make_scheduler() returning None (a constant learning rate) is valid whatever SCHEDULER_STEP says."""
    for step in submission.SCHEDULER_STEPS:
        sub = make_submission(tmp_path / step, f"SCHEDULER_STEP = {step!r}\n")
        assert engine.make_training_objects(sub, engine.build_model(sub), [100] * 7)[2] is None


# --- through the grader: the metric-driven scheduler trains and is scored; a wrong stepping is refused ---------------
BROKEN = Path(__file__).resolve().parent / "broken_submissions"


def grade(folder, out, root, monkeypatch):
    from grader.grade import grade as grade_submission

    monkeypatch.setenv("DERMA_SYNTHETIC_SCALE", "0.2")  # conftest.TEST_SCALE, what `synthetic_root` holds
    record = grade_submission(folder, out, data_dir=root, synthetic=True, log=lambda *a: None)
    return record, {t["key"]: t for t in record["tests"]}


def test_grader_trains_reduce_on_plateau_end_to_end(synthetic_root, tmp_path, monkeypatch):
    record, tests = grade(BROKEN / "plateau_ok", tmp_path / "out", synthetic_root, monkeypatch)
    assert tests["trains"]["status"] == "passed", tests["trains"]["output"]
    assert record["metrics"]["test"]["auc"] > 0.5 and record["score"] > tests["trains"]["score"]
    assert len(record["history"]) == 5 and all(row["val_loss"] is not None for row in record["history"])


def test_grader_refuses_onecycle_stepped_per_epoch(synthetic_root, tmp_path, monkeypatch):
    record, tests = grade(BROKEN / "onecycle_per_epoch", tmp_path / "out", synthetic_root, monkeypatch)
    assert tests["builds"]["status"] == "passed" and tests["trains"]["status"] == "failed"
    assert 'set SCHEDULER_STEP = "batch"' in tests["trains"]["output"], tests["trains"]["output"]
    assert record["metrics"]["test"] is None

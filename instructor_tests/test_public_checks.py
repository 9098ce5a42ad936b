"""The public checks (tests/) catch each broken submission with the intended check and the intended lesson.

Each folder in broken_submissions/ is the baseline with one defect (its docstring says which). For each, we run what
a student runs, `python -m pytest tests --submission <folder> -q`, in a subprocess, and assert exactly which checks
fail, which are skipped because of them, and that the failing check's message carries the lesson. The baseline
(student/) and the *_ok variants must pass.
The second half re-checks locked.consistency's thresholds: augmentations pass, every trap is caught.
"""
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import transforms as T

from locked import synthetic
from locked.consistency import check_preprocessing

ROOT = Path(__file__).resolve().parents[1]
BROKEN = Path(__file__).resolve().parent / "broken_submissions"

BUILDS, OUTPUT, BUDGET = "test_model_builds", "test_model_output_shape_and_values", "test_parameter_budget"
CONFIG, TRANSFORM, SMOKE = ("test_config_is_valid", "test_train_transform_matches_validation",
                            "test_training_smoke_loss_decreases")
ALL = {BUILDS, OUTPUT, BUDGET, CONFIG, TRANSFORM, SMOKE}

# variant: (checks that must fail, checks skipped because of them, the check whose message is inspected, texts that
# message must contain). One problem is reported once, by its own check; the checks built on it say they were skipped.
AFTER_MODEL = {OUTPUT, BUDGET, CONFIG, SMOKE}  # what a model.py that does not load takes down with it
EXPECTED = {
    "syntax_error": ({BUILDS}, AFTER_MODEL, BUILDS, ["model.py line 31: syntax error", "def build_model()"]),
    "no_build_model": ({BUILDS}, AFTER_MODEL, BUILDS, ["model.py must define a function build_model()"]),
    "cp1252_model": ({BUILDS}, AFTER_MODEL, BUILDS, ["model.py line 1: the file is not saved as UTF-8",
                                                     "byte 0xe9", "Save the file with the UTF-8 encoding"]),
    "helper_module": ({BUILDS}, AFTER_MODEL, BUILDS, ["model.py imports helpers, your own helpers.py",
                                                      "Helper modules are not supported", "only model.py and "
                                                      "train_config.py", "Move the code you need from it into "
                                                      "model.py"]),
    "wrong_output_shape": ({OUTPUT}, {SMOKE}, OUTPUT, ["shape (5, 10)", "logits of shape (5, 7)",
                                                       "nn.Linear(in_features, 7)"]),
    "ten_classes_class_weights": ({OUTPUT}, {SMOKE}, OUTPUT, ["shape (5, 10)", "logits of shape (5, 7)"]),
    "nan_output": ({OUTPUT}, {SMOKE}, OUTPUT, ["NaN or infinite", "log() of zero or a negative number"]),
    "over_budget": ({BUDGET}, set(), BUDGET, ["12,673,399 parameters", "at most 12,000,000"]),
    "config_name_error": ({CONFIG}, {TRANSFORM, SMOKE}, CONFIG, ["train_config.py line 23", "NameError: name "
                                                                 "'epochs' is not defined"]),
    "no_make_scheduler": ({CONFIG}, {SMOKE}, CONFIG, ["train_config.py does not define make_scheduler",
                                                      "def make_scheduler(optimizer): return None",
                                                      "cannot start without it"]),
    "negative_lr": ({CONFIG}, {SMOKE}, CONFIG, ["Invalid learning rate: -0.1", "The learning rate must be positive"]),
    "batch_size_zero": ({CONFIG}, {SMOKE}, CONFIG, ["BATCH_SIZE = 0 is outside 1..4096", "averages the gradient"]),
    "too_many_epochs": ({CONFIG}, {SMOKE}, CONFIG, ["EPOCHS = 500 is outside 1..50", "time budget"]),
    "plateau_without_val_loss": ({CONFIG}, {SMOKE}, CONFIG, ["returns ReduceLROnPlateau and SCHEDULER_STEP is "
                                                             "'epoch'", 'Add `SCHEDULER_STEP = "val_loss"`']),
    "onecycle_per_epoch": ({CONFIG}, {SMOKE}, CONFIG, ["stepped 5 times (5 epochs), but it was built for 1095 steps",
                                                       'set SCHEDULER_STEP = "batch"', "steps_per_epoch)"]),
    "unknown_scheduler_step": ({CONFIG}, {SMOKE}, CONFIG, ["SCHEDULER_STEP = 'step' is not a choice", "'epoch'",
                                                           "'batch'", "'val_loss'"]),
    "normalize_trap": ({TRANSFORM}, {SMOKE}, TRANSFORM, ["Found in train_transform: Normalize(mean=[0.485, 0.456, "
                                                         "0.406]", "per-channel std", "AUC to 0.54",
                                                         "normalise inside your model's forward()"]),
    "resize_trap": ({TRANSFORM}, {SMOKE}, TRANSFORM, ["shape (3, 32, 32)", "Found in train_transform: Resize(size=32",
                                                      "F.interpolate"]),
    "pixels_0_255": ({TRANSFORM}, {SMOKE}, TRANSFORM, ["looks like 0..255 pixel values", "Lambda()",
                                                       "multiplying by 255"]),
    "no_totensor": ({TRANSFORM}, {SMOKE}, TRANSFORM, ["returned a PIL image", "transforms.ToTensor()"]),
    "loss_does_not_decrease": ({SMOKE}, set(), SMOKE, ["moved the loss from", "learning rate far too small", "1e-06"]),
    "frozen_model": ({SMOKE}, set(), SMOKE, ["every parameter has requires_grad=False"]),
    "augmented_ok": (set(), set(), None, []),
    "plateau_ok": (set(), set(), None, []),
    "onecycle_ok": (set(), set(), None, []),
}


def run_public_checks(folder):
    """(returncode, output, failed checks, {skipped check: the check it names}, {failed check: its message})."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "--submission", str(folder), "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    failed = set(re.findall(r"^FAILED tests/test_submission\.py::(\w+)", out, re.M))
    skipped = dict(re.findall(r"^SKIPPED \[1\] tests/test_submission\.py:\d+: (\w+): skipped because (\w+) failed; "
                              r"fix what it reports", out, re.M))
    sections = dict(re.findall(r"^_{3,} (\w+) _{3,}\n(.*?)(?=^_{3,} |^=+ )", out, re.M | re.S))
    return proc.returncode, out, failed, skipped, sections


def test_every_variant_is_listed():
    assert sorted(p.name for p in BROKEN.iterdir() if (p / "model.py").is_file()) == sorted(EXPECTED)


def test_baseline_passes():
    code, out, failed, skipped, _ = run_public_checks(ROOT / "student")
    assert code == 0 and not failed and not skipped, out
    assert "6 passed" in out, out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_variant(name):
    must_fail, must_skip, inspected, texts = EXPECTED[name]
    code, out, failed, skipped, sections = run_public_checks(BROKEN / name)
    assert failed == must_fail, f"{name}: expected failures {sorted(must_fail)}, got {sorted(failed)}\n{out}"
    assert set(skipped) == must_skip, f"{name}: expected skipped {sorted(must_skip)}, got {sorted(skipped)}\n{out}"
    assert set(skipped.values()) <= must_fail, f"{name}: a skip names a check that did not fail\n{out}"
    assert f"{6 - len(must_fail) - len(must_skip)} passed" in out, out
    assert (code == 0) == (not must_fail), out
    assert "Traceback" not in out, f"{name}: a student would see a traceback, not a message\n{out}"
    for text in texts:
        assert text in sections.get(inspected, ""), f"{name}: {text!r} missing from {inspected}'s message\n{out}"


# --- locked.consistency: thresholds ---------------------------------------------------------------------------

_TT = T.ToTensor()
_JITTER = T.ColorJitter(0.2, 0.2, 0.2, 0.05)
_AFFINE = T.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(0.9, 1.1))
AUGMENTATIONS = {
    "totensor": _TT,
    "hflip": T.Compose([T.RandomHorizontalFlip(), _TT]),
    "vflip": T.Compose([T.RandomVerticalFlip(), _TT]),
    "rotation15": T.Compose([T.RandomRotation(15), _TT]),
    "rotation20": T.Compose([T.RandomRotation(20), _TT]),
    "jitter": T.Compose([_JITTER, _TT]),
    "affine": T.Compose([_AFFINE, _TT]),
    "stack": T.Compose([T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomRotation(20), _JITTER, _AFFINE,
                        _TT]),
    "heavy_stack": T.Compose([T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomRotation(45),
                              T.ColorJitter(0.4, 0.4, 0.4, 0.1), _AFFINE, _TT]),
    "random_resized_crop_28": T.Compose([T.RandomResizedCrop(28, scale=(0.7, 1.0)), _TT]),
    "trivial_augment": T.Compose([T.TrivialAugmentWide(), _TT]),
    "random_erasing": T.Compose([_TT, T.RandomErasing()]),
}
TRAPS = {  # transform: text the message must contain
    "normalize_imagenet": (T.Compose([T.RandomHorizontalFlip(), _TT, T.Normalize([0.485, 0.456, 0.406],
                                                                                [0.229, 0.224, 0.225])]),
                           "Found in train_transform: Normalize("),
    "normalize_half": (T.Compose([_TT, T.Normalize([0.5] * 3, [0.5] * 3)]), "Normalize("),
    "resize_32": (T.Compose([T.Resize(32), _TT]), "Found in train_transform: Resize("),
    "resize_224": (T.Compose([T.Resize(224), _TT]), "(3, 224, 224)"),
    "pil_to_tensor": (T.PILToTensor(), "uint8"),
    "times_255": (T.Compose([_TT, T.Lambda(lambda x: x * 255)]), "0..255"),
    "divided_by_255": (T.Compose([_TT, T.Lambda(lambda x: x / 255)]), "per-channel mean"),
    "no_totensor": (T.Compose([T.RandomHorizontalFlip()]), "PIL image"),
    "normalize_before_totensor": (T.Compose([T.Normalize([0.5] * 3, [0.5] * 3), _TT]), "raised"),
}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors: one thread is fastest, and far faster than two on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def images():
    return synthetic.generate(scale=0.05)["train_images"][:64]


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentations_pass(images, name):
    result = check_preprocessing(AUGMENTATIONS[name], images)
    assert result.ok, result.message
    json.dumps(result.measured)


@pytest.mark.parametrize("name", sorted(TRAPS))
def test_traps_are_caught(images, name):
    transform, text = TRAPS[name]
    result = check_preprocessing(transform, images)
    assert not result.ok and text in result.message, result.message
    json.dumps(result.measured)


def test_distribution_messages_teach_the_lesson(images):
    message = check_preprocessing(TRAPS["normalize_imagenet"][0], images).message
    for text in ("per-channel mean", "per-channel std", "validation", "experiment 14", "0.54", "forward()"):
        assert text in message, message


def test_callers_random_streams_are_untouched(images):
    augment = AUGMENTATIONS["stack"]

    def seed_and_draw(check=False):
        random.seed(7), np.random.seed(7), torch.manual_seed(7)
        result = check_preprocessing(augment, images) if check else None
        return (random.random(), float(np.random.rand()), float(torch.rand(1))), result

    expected, _ = seed_and_draw()
    after_check, first = seed_and_draw(check=True)
    assert after_check == expected
    assert check_preprocessing(augment, images).measured == first.measured  # seeded: reproducible


def test_bad_images_argument_is_a_programming_error():
    with pytest.raises(ValueError):
        check_preprocessing(_TT, np.zeros((4, 32, 32, 3), dtype=np.uint8))

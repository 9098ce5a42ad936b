"""Every training recipe the course shows trains as written (issue 22): a documented recipe that kills the model is
worse than none, because the student blames their own change.

Where the recipes are shown, and how each is trained here (the small stand-in of conftest, scale 0.2: 1,401
training images; one torch thread, like the grader):
  - student/train_config.py's comments and docstrings, and README's "you want / edit" table: each applied alone to
    the baseline in student/, as a student tries it, and trained exactly as written (EPOCHS = 5).
  - solutions/exp_*, the course's experiments. Their configuration recipes (Adam, momentum, every augmentation,
    class weights, label smoothing, both at once, batch 64 and 128, cosine) are among the recipes above; their
    models are trained with their own train_config.py for 2 epochs on at most 100 training images per class (the
    ResNet18s, with random weights, on fewer: a step costs 0.1-1.5 s on one core). Experiments 03, 04, 07 and 14 are
    the course's lessons in what fails (a learning rate too small, no normalisation, the Normalize trap): not recipes.

What must hold: the training loss falls (last epoch below the first) and the model ranks the images it trained on
better than chance, macro AUC >= TRAINED_AUC. A dead network (94% of its ReLUs off, as OneCycleLR's default
momentum at max_lr=0.1 leaves the baseline) scores 0.50 there; every recipe below 0.65 or more (batch 128, the
fewest steps; most 0.75-0.84). The training images, not validation: at this scale validation holds 2-7 images of the
rare classes, and its AUC moves by 0.05 on noise alone. About 60 s on one core.
The ResNet18 with a frozen backbone and the 3x3-stem ResNet18 are held to the loss only: random frozen features
leave a linear probe at lr=1e-4 nothing a few dozen steps can show, and the stem's 28x28 maps make a step 1.5 s.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from locked import data, engine, metrics, submission

REPO = Path(__file__).resolve().parents[1]
STUDENT_CONFIG = (REPO / "student" / "train_config.py").read_text()
SOLUTIONS = REPO / "solutions"
#: Macro AUC on the training images that counts as "learned something" (a dead network: 0.50).
TRAINED_AUC = 0.6


def _optimizer(call):
    return f"def make_optimizer(model):\n    return torch.optim.{call}\n"


def _loss(call):
    return f"def make_loss(class_counts):\n    return {call}\n"


def _transform(steps):
    return f"train_transform = transforms.Compose([{steps}, transforms.ToTensor()])\n"


def _scheduler(call, step=None):
    head = f'SCHEDULER_STEP = "{step}"\n\n\n' if step else ""
    args = "optimizer, steps_per_epoch" if step == "batch" else "optimizer"
    return f"{head}def make_scheduler({args}):\n    return torch.optim.lr_scheduler.{call}\n"


ONECYCLE = "OneCycleLR(optimizer, max_lr={}, epochs=EPOCHS, steps_per_epoch=steps_per_epoch{})"
#: name: (what the source file shows, the lines a student appends to student/train_config.py)
ON_THE_BASELINE = {
    "adam": ("Adam(lr=1e-3)", _optimizer("Adam(model.parameters(), lr=1e-3)")),
    "sgd_momentum": ("SGD(lr=0.01, momentum=0.9)", _optimizer("SGD(model.parameters(), lr=0.01, momentum=0.9)")),
    "hflip": ("transforms.RandomHorizontalFlip()", _transform("transforms.RandomHorizontalFlip()")),
    "rotation": ("transforms.RandomRotation(15)", _transform("transforms.RandomRotation(15)")),
    "color_jitter": ("transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05)",
                     _transform("transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05)")),
    "class_weights": ("weight = class_counts.sum() / (7 * class_counts)",
                      _loss("nn.CrossEntropyLoss(weight=class_counts.sum() / (7 * class_counts))")),
    "label_smoothing": ("nn.CrossEntropyLoss(label_smoothing=0.1)", _loss("nn.CrossEntropyLoss(label_smoothing=0.1)")),
    "cosine": ("CosineAnnealingLR(optimizer, T_max=EPOCHS)", _scheduler("CosineAnnealingLR(optimizer, T_max=EPOCHS)")),
    "onecycle": (ONECYCLE.format(0.1, ", cycle_momentum=False"),
                 _scheduler(ONECYCLE.format(0.1, ", cycle_momentum=False"), "batch")),
    "onecycle_with_momentum": ("keep the momentum with max_lr=0.01", _scheduler(ONECYCLE.format(0.01, ""), "batch")),
    "warm_up": ("LinearLR(optimizer, start_factor=0.1, total_iters=steps_per_epoch)",
                _scheduler("LinearLR(optimizer, start_factor=0.1, total_iters=steps_per_epoch)", "batch")),
    "reduce_on_plateau": ("ReduceLROnPlateau(optimizer)", _scheduler("ReduceLROnPlateau(optimizer)", "val_loss")),
}
#: Shown by the course's experiments (solutions/exp_NN/train_config.py), applied to the baseline the same way.
FROM_SOLUTIONS = {
    "batch_64": (17, "BATCH_SIZE = 64", "BATCH_SIZE = 64\n"),
    "batch_128": (18, "BATCH_SIZE = 128", "BATCH_SIZE = 128\n"),
    "every_augmentation": (25, "transforms.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(0.9, 1.1))",
                           _transform("transforms.RandomHorizontalFlip(), transforms.RandomVerticalFlip(), "
                                      "transforms.RandomRotation(20), transforms.RandomAffine(degrees=0, "
                                      "translate=(0.1, 0.1), scale=(0.9, 1.1)), transforms.ColorJitter("
                                      "brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05)")),
    "weighted_and_smoothed": (22, "nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)",
                              _loss("nn.CrossEntropyLoss(weight=class_counts.sum() / (7 * class_counts), "
                                    "label_smoothing=0.1)")),
}
#: The recipes these replaced (issue 22), kept to show that the checks catch a recipe that does not train.
DID_NOT_TRAIN = {
    "onecycle_max_lr_0.1_momentum_cycled": _scheduler(ONECYCLE.format(0.1, ""), "batch"),
    "sgd_lr_0.1_momentum_0.9": _optimizer("SGD(model.parameters(), lr=0.1, momentum=0.9)"),
}
#: Model recipes (README: BatchNorm, dropout, wider/deeper CNN, ResNet18 fine-tune / frozen / 3x3 stem), each with
#: its experiment's own config: (experiment, epochs, training images per class at most (None: all), AUC held).
MODELS = {"wider": (6, 2, None, True), "batchnorm": (8, 2, 100, True), "dropout": (9, 2, 100, True),
          "hidden_fc": (10, 2, 100, True), "best_custom_cnn": (21, 2, 100, True),
          "resnet18_finetune": (23, 5, 32, True), "resnet18_frozen": (24, 4, 16, False),
          "resnet18_3x3_stem": (25, 3, 16, False)}
LESSONS = {3, 4, 7, 14}  # the experiments that show a failure (solutions/README.md)


pytestmark = pytest.mark.usefixtures("one_thread")  # instructor_tests/conftest.py


def _solution(num):
    return next(SOLUTIONS.glob(f"exp_{num:02d}_*"))


def _shown(text, source):
    """Whitespace aside, `text` appears in `source` (docstrings wrap long calls)."""
    return re.sub(r"\s+", " ", text) in re.sub(r"\s+", " ", source)


def _subset(splits, per_class):
    """At most `per_class` training images of each class (every class kept, so the AUC is defined), and 64
    validation images (the loop's per-epoch validation loss)."""
    if per_class is None:
        return splits
    y = splits.labels["train"]
    keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(7)])
    return data.Splits(images={"train": splits.images["train"][keep], "val": splits.images["val"][:64],
                               "test": splits.images["test"]},
                       labels={"train": y[keep], "val": splits.labels["val"][:64], "test": splits.labels["test"]})


def train(folder, model_py, config_py, splits):
    """Train a submission through the locked loop; return (training losses per epoch, AUC on its training images)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(model_py)
    (folder / "train_config.py").write_text(config_py)
    sub = submission.load(folder)
    engine.seed_everything()
    model = engine.build_model(sub)
    history = engine.fit(sub, model, splits, "cpu", log=lambda *a: None, progress=False)
    proba = metrics.softmax(engine.predict_logits(model, engine.to_val_tensor(splits.images["train"]), "cpu"))
    return [row["train_loss"] for row in history], metrics.evaluate(splits.labels["train"], proba)["auc"]


def _assert_trains(name, losses, auc, auc_held=True):
    assert losses[-1] < losses[0], f"{name}: the training loss did not fall: {losses}"
    if auc_held:
        assert auc >= TRAINED_AUC, f"{name}: AUC {auc:.3f} on its own training images (a dead network: 0.50)"


@pytest.mark.parametrize("name", sorted(ON_THE_BASELINE))
def test_each_recipe_shown_to_students_trains_the_baseline(name, small_splits, tmp_path):
    shown, tail = ON_THE_BASELINE[name]
    assert _shown(shown, STUDENT_CONFIG), f"student/train_config.py no longer shows {shown!r}: update the recipe"
    losses, auc = train(tmp_path, (REPO / "student" / "model.py").read_text(), STUDENT_CONFIG + "\n" + tail,
                        small_splits)
    _assert_trains(name, losses, auc)


@pytest.mark.parametrize("name", sorted(FROM_SOLUTIONS))
def test_each_recipe_of_the_course_experiments_trains_the_baseline(name, small_splits, tmp_path):
    num, shown, tail = FROM_SOLUTIONS[name]
    assert _shown(shown, (_solution(num) / "train_config.py").read_text()), (num, shown)
    losses, auc = train(tmp_path, (REPO / "student" / "model.py").read_text(), STUDENT_CONFIG + "\n" + tail,
                        small_splits)
    _assert_trains(name, losses, auc)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_recipe_trains_with_its_experiments_config(name, small_splits, tmp_path):
    num, epochs, per_class, auc_held = MODELS[name]
    folder = _solution(num)
    model_py = (folder / "model.py").read_text()
    if "resnet18" in name:  # offline: the same network with random weights (locked/weights.py caches the real ones)
        assert "weights=ResNet18_Weights.IMAGENET1K_V1" in model_py
        model_py = model_py.replace("weights=ResNet18_Weights.IMAGENET1K_V1", "weights=None")
    config_py = (folder / "train_config.py").read_text() + f"\nEPOCHS = {epochs}\n"
    losses, auc = train(tmp_path, model_py, config_py, _subset(small_splits, per_class))
    _assert_trains(name, losses, auc, auc_held)


def test_the_recipes_cover_readme_and_every_experiment_that_is_not_a_lesson():
    readme = (REPO / "README.md").read_text()
    for row in ("| cosine schedule |", "| OneCycleLR, warm-up (per batch) |", "| ReduceLROnPlateau",
                "| class weights, label smoothing |", "| augmentation (flips, rotation, colour jitter) |",
                "| BatchNorm, dropout, wider/deeper CNN |", "| ResNet18 fine-tune / frozen backbone / 3x3 stem |"):
        assert row in readme, row
    experiments = {int(p.name[4:6]) for p in SOLUTIONS.glob("exp_*")}
    # 01 is the baseline itself; 02, 05, 11-13, 15-20 are its recipes (Adam, momentum, augmentation, loss, batch,
    # epochs, cosine) on the BatchNorm model; 22 is 21 with the weighted and smoothed loss
    covered = {1, 2, 5, 11, 12, 13, 15, 16, 19, 20, 22} | {n for n, *_ in FROM_SOLUTIONS.values()} | {
        n for n, *_ in MODELS.values()}
    assert experiments - LESSONS == covered, sorted(experiments - LESSONS - covered)


@pytest.mark.parametrize("name", sorted(DID_NOT_TRAIN))
def test_the_recipes_that_did_not_train_fail_these_checks(name, small_splits, tmp_path):
    """The checks can tell: the recipes issue 22 replaced leave the baseline a dead network."""
    losses, auc = train(tmp_path, (REPO / "student" / "model.py").read_text(),
                        STUDENT_CONFIG + "\n" + DID_NOT_TRAIN[name], small_splits)
    assert auc < 0.55, (name, auc, losses)

"""Public checks for your submission. Run `pytest tests/` before you submit (a few seconds, no internet needed).

Each check is something the grader relies on, or a way a run goes silently wrong. A failure names the file, what
was found, what was expected and why it matters. Each problem is reported once, by the check it belongs to; a check
that builds on a failed one is skipped, and says which one to fix first. Passing them does not mean you beat the
baseline: only training (`python -m locked.train`) tells you that.

PYTEST_DONT_REWRITE: plain asserts, so a failure shows the teaching message exactly as written.
"""
import math
import textwrap

import torch
from PIL import Image
from torch import nn

from locked import engine, weights
from locked.consistency import check_preprocessing
from locked.info import CLASS_NAMES, NUM_CLASSES
from locked.submission import SubmissionError
from locked.terms import TERMS  # the grader's budget (an instructor's packaged one in a starter kit)

OUTPUT_BATCH = 5       # an odd size, so a forward() that hard-codes the batch size shows up
SMOKE_BATCH = 16       # images per smoke-run batch (16 halves a full-resolution ResNet18's time vs 32)
SMOKE_STEPS = 20       # optimizer steps on that batch
MIN_LOSS_DROP = 0.02   # the loss must fall by at least 2% (SGD(lr=0.1): ~60%, Adam(lr=1e-4): ~6%, lr=1e-6: 0.0%)
CONSISTENCY_IMAGES = 64
LR_ADVICE = "Typical values: Adam(lr=1e-3), or SGD(lr=0.01 to 0.1, momentum=0.9)."


def explain(file, found, expected, why):
    """The shape of every failure message: the file, what was found, what was expected, and the lesson."""
    where = "" if found.startswith(file) else f"{file}: "
    return f"{where}{found}\n  Expected: {expected}\n  Why: {why}"


def call_student(sub, what, fn, *args):
    """Run student code as the locked loop does (engine.student_call); its error becomes this check's failure."""
    try:
        return engine.student_call(sub, "check", what, fn, *args)
    except (SubmissionError, weights.WeightsUnavailable) as err:
        raise AssertionError(str(err)) from None


def build(sub):
    model = call_student(sub, "model.py: build_model()", sub.build_model)
    assert isinstance(model, nn.Module), explain(
        "model.py", f"build_model() returned {type(model).__name__}.",
        "a torch.nn.Module, e.g. `def build_model(): return MyModel()`.",
        "the grader calls build_model() and trains whatever it returns; it must be a network.")
    return model


def training_objects(sub, model, counts):
    try:
        return engine.make_training_objects(sub, model, counts)
    except SubmissionError as err:
        lesson = f"\n  {LR_ADVICE} The learning rate must be positive." if "Invalid learning rate" in str(err) else ""
        raise AssertionError(f"{err}{lesson}") from None


def test_model_builds(loaded):
    assert loaded.model_error is None, f"Could not load your submission from {loaded.path}:\n{loaded.model_error}"
    build(loaded.get("build_model"))


def test_model_output_shape_and_values(loaded, tiny_data, after):
    after("test_model_builds")
    sub = loaded.get("build_model")
    model = build(sub).eval()
    x = engine.to_val_tensor(tiny_data.images[:OUTPUT_BATCH])
    with torch.no_grad():
        out = call_student(sub, f"model.py: forward() on a batch of shape {tuple(x.shape)}", model, x)
    found = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (OUTPUT_BATCH, NUM_CLASSES), explain(
        "model.py", f"for {OUTPUT_BATCH} images of shape 3x28x28 (floats in [0, 1]) forward() returned {found}.",
        f"logits of shape ({OUTPUT_BATCH}, {NUM_CLASSES}): one raw score per class ({', '.join(CLASS_NAMES)}).",
        f"the loss and the grader read one score per class. The last layer needs {NUM_CLASSES} outputs, e.g. "
        f"nn.Linear(in_features, {NUM_CLASSES}); flatten with x.flatten(1) rather than a fixed batch size.")
    assert torch.isfinite(out).all(), explain(
        "model.py", f"forward() returned {int((~torch.isfinite(out)).sum())} NaN or infinite values for ordinary "
        "images, before any training.", "finite logits.",
        "a NaN in the logits makes the loss NaN and training cannot recover. Look in forward() for a division by "
        "zero, log() of zero or a negative number, or sqrt() of a negative number.")


def test_parameter_budget(loaded, after):
    after("test_model_builds")
    model = build(loaded.get("build_model"))
    n = engine.count_parameters(model)
    assert n <= TERMS.param_budget, explain(
        "model.py", f"your model has {n:,} parameters.", f"at most {TERMS.param_budget:,} (frozen ones count too).",
        "the budget keeps grading fast and fair, and it is generous: a ResNet18 with a 7-class head has 11.2M. "
        "Bigger is not better on 28x28 images (the course's 11M-parameter ResNet18 scored a lower AUC than a "
        "small CNN). Shrink the widest layers: Linear(a, b) has a*b + b parameters, Conv2d(a, b, k) a*b*k*k + b.")


def test_config_is_valid(loaded, tiny_data, after):
    error = loaded.config_error  # load()'s message names the value, the range and why (the grader says the same)
    assert error is None, f"Could not load your submission from {loaded.path}:\n{error}"
    after("test_model_builds")  # the optimizer and scheduler are built on your model
    sub = loaded.get("build_model", "make_optimizer", "make_loss", "make_scheduler")
    model = build(sub)
    optimizer, _, _ = training_objects(sub, model, tiny_data.class_counts)
    for i, group in enumerate(optimizer.param_groups):
        lr = group.get("lr")
        lr = float(lr) if isinstance(lr, (int, float, torch.Tensor)) else float("nan")
        assert lr > 0 and math.isfinite(lr), explain(
            "train_config.py", f"make_optimizer(model) gives parameter group {i} a learning rate of {group.get('lr')}.",
            "a positive learning rate in every parameter group.",
            f"each step does weight -= lr * gradient: lr = 0 never changes the weights, and a negative lr climbs "
            f"the loss instead of descending it. {LR_ADVICE}")


def test_train_transform_matches_validation(loaded, tiny_data):
    sub = loaded.get("train_transform")
    result = check_preprocessing(sub.train_transform, tiny_data.images[:CONSISTENCY_IMAGES])
    assert result.ok, ("train_config.py: train_transform does not match the validation transform.\n"
                       + textwrap.indent(result.message, "  "))


def test_training_smoke_loss_decreases(loaded, tiny_data, after):
    after("test_model_builds", "test_model_output_shape_and_values", "test_config_is_valid",
          "test_train_transform_matches_validation")
    sub = loaded.get("build_model", "train_transform", "make_optimizer", "make_loss", "make_scheduler")
    engine.seed_everything()
    model = build(sub)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable, explain(
        "model.py", "every parameter has requires_grad=False, so nothing can learn.",
        "at least some trainable parameters, e.g. a new classification head.",
        "freezing a pretrained body is fine (experiment 24), but the head you add must stay trainable.")
    optimizer, criterion, scheduler = training_objects(sub, model, tiny_data.class_counts)
    labels = torch.as_tensor(tiny_data.labels)
    model.train()

    # 1. One batch made by train_transform: does it go through forward, the loss and backward, as in the real run?
    xs = [call_student(sub, "train_config.py: train_transform", sub.train_transform, Image.fromarray(img))
          for img in tiny_data.images[:SMOKE_BATCH]]
    kinds = sorted({f"{type(x).__module__}.{type(x).__name__}" if not isinstance(x, torch.Tensor)
                    else f"tensors of shape {tuple(x.shape)}" for x in xs})
    assert all(isinstance(x, torch.Tensor) for x in xs) and len(kinds) == 1, explain(
        "train_config.py", f"train_transform returned {' and '.join(kinds)}, which the training loop cannot batch.",
        "tensors of one shape, 3x28x28: end train_transform with transforms.ToTensor().",
        "the loop stacks the transformed images into one tensor batch.")
    step(sub, model, criterion, torch.stack(xs).float(), labels[:SMOKE_BATCH])
    optimizer.zero_grad()

    # 2. The same fixed batch, SMOKE_STEPS times: the easiest task there is, so the loss must fall.
    x, y = engine.to_val_tensor(tiny_data.images[:SMOKE_BATCH]), labels[:SMOKE_BATCH]
    losses = []
    for i in range(SMOKE_STEPS):
        torch.manual_seed(i)  # step 0's dropout masks are reused for the final measurement below
        optimizer.zero_grad()
        losses.append(loss := step(sub, model, criterion, x, y))
        assert math.isfinite(loss) or i > 0, explain(
            "train_config.py", f"the loss is {loss} on the first batch, before any update.", "a finite loss.",
            "the model's output or the loss itself is not a number; check forward() (see "
            "test_model_output_shape_and_values) and make_loss().")
        assert math.isfinite(loss) and loss <= engine.DIVERGED_LOSS, explain(
            "train_config.py", f"the loss became {loss} after {i} optimizer steps on one fixed batch.",
            f"a finite loss that stays far below {engine.DIVERGED_LOSS:g} (it starts near 1.95).", f"training diverged: usually the learning rate is too high (yours: "
            f"{[g.get('lr') for g in optimizer.param_groups]}). Try 10x smaller. {LR_ADVICE}")
        call_student(sub, "optimizer.step()", optimizer.step)
    torch.manual_seed(0)
    with torch.no_grad():
        first, last = losses[0], float(criterion(model(x), y))
    for when in ("batch", "epoch", "val_loss"):  # the step SCHEDULER_STEP declares, as the training loop makes it
        try:
            engine.step_scheduler(sub, scheduler, when, val_loss=last)
        except SubmissionError as err:
            raise AssertionError(f"train_config.py: {err}") from None

    drop = (first - last) / abs(first) if first else 0.0
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if not any(id(p) in in_optimizer for p in trainable):
        cause = ("make_optimizer(model) optimises none of this model's trainable parameters: pass "
                 "model.parameters() (not the parameters of a new build_model()).")
    else:
        cause = (f"usually a learning rate far too small (yours: {[g.get('lr') for g in optimizer.param_groups]}). "
                 f"{LR_ADVICE}")
    assert drop >= MIN_LOSS_DROP, explain(
        "train_config.py", f"{SMOKE_STEPS} steps of your optimizer on one fixed batch of {SMOKE_BATCH} images "
        f"moved the loss from {first:.4f} to {last:.4f} ({-drop:+.1%}).",
        f"a drop of at least {MIN_LOSS_DROP:.0%} (the baseline's SGD(lr=0.1) drops it by more than half).",
        f"repeating one batch is the easiest task there is; if the loss does not fall here it will not fall on "
        f"the real data, and the model ends up predicting the majority class. Cause: {cause}")


def step(sub, model, criterion, x, y):
    """Forward, loss, backward; returns the loss as a float."""
    logits = call_student(sub, "model.py: forward() during training", model, x)
    loss = call_student(sub, "train_config.py: the loss from make_loss()", criterion, logits, y)
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0, explain(
        "train_config.py", f"the loss from make_loss() is {type(loss).__name__} of shape "
        f"{tuple(getattr(loss, 'shape', ()))}.", "a single number (a 0-dimensional tensor).",
        "backward() needs one number to differentiate: keep the loss's default reduction='mean'.")
    call_student(sub, "loss.backward()", loss.backward)
    return loss.item()


"""The locked training loop: seed, build, train, predict. Read it top to bottom; it is the whole run.

Reproducibility: `seed_everything` seeds Python, NumPy and torch, and `pin_threads` fixes torch's thread count,
so the same config on the same machine and torch build gives bit-identical weights (on the CPU).
Speed and memory: the fixed validation transform is applied once, up front; the student's train transform runs per
sample, per epoch, with its own randomness, on a PIL image made for that call (memory is the tighter limit on a
768 MB grading box: see `train_batch`). On the CPU, training batches are laid out channels-last (NHWC) when the
model gives the same logits that way (see `_channels_last_ok`).
"""
import copy
import inspect
import math
import os
import random
import time

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from locked.history import HistoryRow
from locked.info import NUM_CLASSES, SPLIT_SIZES
from locked.submission import SubmissionError, describe_exception
from locked.transforms import VAL_TRANSFORM
from locked import settings, weights

SEED = 0
EVAL_BATCH = 128  # measured fastest on CPU: large enough to amortise per-batch overhead, small enough to stay in cache
#: A batch loss above this counts as diverged, like NaN/inf. Cross-entropy starts near ln(7) = 1.95; an exploding
#: run (e.g. SGD lr=1e6) reaches 1e17 and more while staying finite, then trains on as a dead network.
DIVERGED_LOSS = 1e6
#: Under a deadline (the grader's time limit), the next epoch starts only if it and the final predictions would end
#: this much earlier than their estimate allows (epoch times vary with the student's transform and the machine's
#: load, and a run past the limit is killed with nothing to score), with this many seconds left for writing and exit.
DEADLINE_SAFETY = 1.25
DEADLINE_SLACK_S = 5.0


def pin_threads(n=None):
    """Fix torch's intra-op thread count (`n`, else $DERMA_THREADS, else 2). Call before training starts."""
    n = n or settings.number("DERMA_THREADS", 2, kind=int, minimum=1)
    torch.set_num_threads(n)
    return n


def count_parameters(model, trainable_only=False):
    """All parameters, frozen ones included (the course's definition); or only those the optimizer trains."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def seed_everything(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def deterministic(device):
    """On a GPU, the algorithms that give the same numbers on every run (cuBLAS reads its workspace setting when its
    first handle is made, after this). The CPU's are already."""
    if torch.device(device).type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)  # an op without one warns, never fails a student
        torch.backends.cudnn.benchmark = False


def pick_device(name=None):
    """CUDA, then Apple MPS, then CPU; DERMA_DEVICE or `name` overrides (the grader uses its rubric's device)."""
    name = name or settings.text("DERMA_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def student_call(sub, check, what, fn, *args):
    """Call student code; turn its exceptions into SubmissionErrors that point at the student's line."""
    try:
        return fn(*args)
    except (SubmissionError, weights.WeightsUnavailable):
        raise
    except Exception as err:
        if weights.is_download_failure(err):
            raise weights.unavailable(err) from None
        raise SubmissionError(check, f"{what} raised an error: {describe_exception(err, sub.folder)}") from None


def build_model(sub):
    """Call build_model() and check that it is an nn.Module mapping a (2, 3, 28, 28) batch to (2, 7) logits."""
    model = new_model(sub)
    check_output(model, sub)
    return model


def new_model(sub):
    """The student's build_model(), checked to return an nn.Module."""
    model = student_call(sub, "build", "build_model() in model.py", sub.build_model)
    if not isinstance(model, torch.nn.Module):
        raise SubmissionError("build", f"build_model() must return a torch.nn.Module; it returned "
                              f"{type(model).__name__}. Did you forget `return MyModel()`?")
    return model


def check_output(model, sub):
    """The model maps a plain (2, 3, 28, 28) batch to finite (2, 7) logits."""
    model.eval()
    with torch.no_grad():
        out = student_call(sub, "output", "Your model's forward()", model, torch.rand(2, 3, 28, 28))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, NUM_CLASSES):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SubmissionError("output", f"For a batch of 2 images of shape 3x28x28 the model must return logits of "
                              f"shape (2, {NUM_CLASSES}), one score per class; it returned {shape}. Check the last "
                              f"layer: it needs {NUM_CLASSES} outputs (e.g. nn.Linear(..., {NUM_CLASSES})).")
    if not torch.isfinite(out).all():
        raise SubmissionError("output", "The model returns NaN or infinite values on a plain batch of images, "
                              "before any training. Check forward() for divisions by zero or log of zero.")


def epoch_batches(order, batch_size):
    """One epoch's batches of indices, in `order`. A lone last sample is dropped: it breaks BatchNorm in train mode."""
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches


def steps_per_epoch(n_train, batch_size):
    """Optimizer steps per epoch on `n_train` images: what make_scheduler(optimizer, steps_per_epoch) receives."""
    return len(epoch_batches(range(n_train), batch_size))


def make_training_objects(sub, model, class_counts, n_steps=None):
    """The student's optimizer, loss and scheduler, checked for the types the loop relies on.

    `n_steps`, optimizer steps per epoch (default: on the official training split), goes to make_scheduler if it
    takes a `steps_per_epoch` argument.
    """
    if n_steps is None:
        n_steps = steps_per_epoch(SPLIT_SIZES["train"], sub.batch_size)
    optimizer = student_call(sub, "config", "make_optimizer(model) in train_config.py", sub.make_optimizer, model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise SubmissionError("config", f"make_optimizer(model) must return a torch.optim optimizer; got "
                              f"{type(optimizer).__name__}.")
    counts = torch.tensor(class_counts, dtype=torch.float32)
    criterion = student_call(sub, "config", "make_loss(class_counts) in train_config.py", sub.make_loss, counts)
    if not callable(criterion):
        raise SubmissionError("config", f"make_loss(class_counts) must return a loss such as nn.CrossEntropyLoss(); "
                              f"got {type(criterion).__name__}.")
    try:
        wants_steps = "steps_per_epoch" in inspect.signature(sub.make_scheduler).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): call it with the optimizer alone
        wants_steps = False
    extra = {"steps_per_epoch": n_steps} if wants_steps else {}
    scheduler = student_call(sub, "config", "make_scheduler(optimizer) in train_config.py",
                              lambda: sub.make_scheduler(optimizer, **extra))
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise SubmissionError("config", "make_scheduler(optimizer) must return a torch.optim.lr_scheduler object "
                              f"or None; got {type(scheduler).__name__}.")
    check_scheduler_step(sub, scheduler, n_steps)
    return optimizer, criterion, scheduler


def check_scheduler_step(sub, scheduler, n_steps):
    """Refuse a scheduler that SCHEDULER_STEP would step wrongly: it would crash mid-run or train silently worse."""
    if scheduler is None:
        return
    lr_scheduler = torch.optim.lr_scheduler
    name, mode = type(scheduler).__name__, sub.scheduler_step
    plateau = isinstance(scheduler, lr_scheduler.ReduceLROnPlateau)
    declared = f"train_config.py: make_scheduler() returns {name} and SCHEDULER_STEP is {mode!r}"
    if plateau and mode != "val_loss":
        raise SubmissionError("config", f"{declared}, but ReduceLROnPlateau lowers the learning rate when a "
                              "metric stops improving, so its step() needs that metric. Add `SCHEDULER_STEP = "
                              "\"val_loss\"` to train_config.py: the loop then calls scheduler.step(val_loss) after "
                              "each epoch's validation.")
    if mode == "val_loss" and not plateau:
        raise SubmissionError("config", f"{declared}: the loop would call scheduler.step(val_loss), and only "
                              f"ReduceLROnPlateau takes a metric ({name} would read the loss as an epoch number). "
                              f"Set SCHEDULER_STEP = \"epoch\" (or \"batch\") for {name}, or return "
                              "ReduceLROnPlateau(optimizer).")
    if plateau and scheduler.mode != "min":
        raise SubmissionError("config", f"{declared} with mode={scheduler.mode!r}: the validation loss should "
                              "fall, so mode='max' would cut the learning rate exactly while training goes well. "
                              "Use ReduceLROnPlateau(optimizer, mode='min') (the default).")
    if isinstance(scheduler, lr_scheduler.OneCycleLR):
        steps = sub.epochs * (n_steps if mode == "batch" else 1)
        if scheduler.total_steps != steps:
            per = f"{sub.epochs} epochs x {n_steps} batches" if mode == "batch" else f"{sub.epochs} epochs"
            fate = (f"it would stop training with an error at step {scheduler.total_steps + 1}"
                    if scheduler.total_steps < steps else "it would never finish its cycle, and the learning rate "
                    "would stay near its warm-up value")
            raise SubmissionError("config", f"{declared}, so it will be stepped {steps} times ({per}), but it was "
                                  f"built for {scheduler.total_steps} steps: {fate}. OneCycleLR is a per-batch "
                                  "schedule: set SCHEDULER_STEP = \"batch\" and build it with "
                                  "`def make_scheduler(optimizer, steps_per_epoch): return OneCycleLR(optimizer, "
                                  "max_lr=0.1, epochs=EPOCHS, steps_per_epoch=steps_per_epoch, "
                                  "cycle_momentum=False)` (with SGD: OneCycleLR's own momentum 0.85-0.95 at "
                                  "max_lr=0.1 makes the steps too large to train).")


def step_scheduler(sub, scheduler, when, val_loss=None):
    """Step the scheduler if SCHEDULER_STEP is `when`, one of locked.submission.SCHEDULER_STEPS."""
    if scheduler is None or sub.scheduler_step != when:
        return
    args = (val_loss,) if when == "val_loss" else ()
    student_call(sub, "train", f"scheduler.step({'val_loss' if args else ''})", scheduler.step, *args)


def to_val_tensor(images):
    """Apply the locked validation transform to uint8 HWC images: float (N, 3, 28, 28) in [0, 1]."""
    return torch.stack([VAL_TRANSFORM(img) for img in images])


def train_step(sub, model, optimizer, criterion, x, y, where):
    """One training step as the loop takes it (and locked.train's speed probe measures it): forward, loss, the
    divergence check, backward, update, the student's errors named as such. `where` says which step, for the
    message. Returns (loss, logits)."""
    optimizer.zero_grad()
    logits = student_call(sub, "train", "The forward pass during training", model, x)
    loss = student_call(sub, "train", "The loss from make_loss()", criterion, logits, y)
    if not torch.isfinite(loss) or loss.item() > DIVERGED_LOSS:
        lr = optimizer.param_groups[0].get("lr")
        raise SubmissionError("train", f"Training diverged: the loss became {loss.item()} at {where}. Usually the "
                              f"learning rate is too high (yours starts at lr={lr}); try 10x smaller, e.g. "
                              "Adam(lr=1e-3) or SGD(lr=0.01).")
    student_call(sub, "train", "loss.backward()", loss.backward)
    student_call(sub, "train", "optimizer.step()", optimizer.step)
    return loss, logits


def train_batch(sub, images, idx, device, channels_last=False):
    """The student's train_transform on each image of the batch (uint8 HWC arrays, made PIL one at a time), on
    `device`, laid out channels-last when the model allows it (`_channels_last_ok`).

    PIL copies of the whole split, made once, would be 0.13 s faster per epoch but raise the run's peak by about
    30 MB: enough to push the course's ResNet18 over a 640 MB sandbox (benchmarks/SUITE_BENCH.md)."""
    xs = [student_call(sub, "transform", "train_transform", sub.train_transform, Image.fromarray(images[i]))
          for i in idx]
    if not all(isinstance(x, torch.Tensor) for x in xs):
        raise SubmissionError("transform", f"train_transform must return a tensor; it returned "
                              f"{type(xs[0]).__name__}. End it with transforms.ToTensor().")
    try:
        x = torch.stack(xs).float().to(device)
    except RuntimeError:
        raise SubmissionError("transform", "train_transform returns tensors of different shapes for different "
                              "images; every image must come out as 3x28x28.") from None
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def _channels_last_ok(model, device):
    """True if training batches may be laid out NHWC ("channels_last"): CPU training steps take ~30% less time.

    Only when the model, in train mode, gives the same logits for both layouts: a forward that calls .view() on
    its activations or treats strides specially fails or differs, and that model keeps plain NCHW batches.
    The check runs on throwaway copies with the RNG state restored, so the real run is not disturbed.
    """
    if torch.device(device).type != "cpu":
        return False
    x = torch.rand(4, 3, 28, 28, generator=torch.Generator().manual_seed(SEED))
    logits = []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for layout in (torch.contiguous_format, torch.channels_last):
                torch.manual_seed(SEED)  # the same dropout draws for both layouts
                logits.append(copy.deepcopy(model).train()(x.contiguous(memory_format=layout)))
            return torch.allclose(logits[0], logits[1], rtol=1e-3, atol=1e-5)
    except Exception:  # any failure just means: keep NCHW, where the student's own errors are reported as usual
        return False


@torch.no_grad()
def predict_logits(model, x, device):
    """Logits (N, 7) as float32 numpy, in eval mode, in large batches."""
    model.eval()
    out = [model(x[i:i + EVAL_BATCH].to(device)) for i in range(0, len(x), EVAL_BATCH)]
    shapes = {tuple(o.shape) if isinstance(o, torch.Tensor) else type(o).__name__ for o in out}
    if any(not isinstance(o, torch.Tensor) or o.ndim != 2 or o.shape[1] != NUM_CLASSES for o in out) or sum(
            len(o) for o in out) != len(x):
        raise SubmissionError("output", f"In evaluation your model returned {', '.join(sorted(map(str, shapes)))} "
                              f"for {len(x):,} images in batches of up to {EVAL_BATCH}; expected one row of "
                              f"{NUM_CLASSES} scores per image, ({len(x):,}, {NUM_CLASSES}) in all. It passed the "
                              "check on a batch of 2 when it was built: look in forward() for code that depends on "
                              "self.training or on the batch size.")
    return torch.cat([o.float().cpu() for o in out]).numpy()


def next_epoch_fits(deadline, epoch_seconds, val_seconds, rows_val, rows_after):
    """Whether one more epoch (as long as the longest so far, its validation pass included) and then predicting
    `rows_after` images (at the pace of the slowest validation pass of `rows_val`) end before `deadline`
    (time.time()), with DEADLINE_SAFETY and DEADLINE_SLACK_S to spare."""
    predict = val_seconds * rows_after / max(rows_val, 1)
    return time.time() + DEADLINE_SAFETY * (epoch_seconds + predict) + DEADLINE_SLACK_S <= deadline


def fit(sub, model, splits, device, log=print, progress=True, deadline=None):
    """Train `model` with the student's config; return the per-epoch history.

    deadline: a time.time() by which training and predicting every split in `splits` must be over (the grader's
    time limit). Training then stops before an epoch that would not finish in time, and the history is shorter than
    sub.epochs: the model of the last finished epoch is the one predicted with. None: every epoch runs.
    Raises SubmissionError when the loss diverges or the student's code fails mid-run.
    """
    train_y = torch.as_tensor(splits.labels["train"])
    val_x, val_y = to_val_tensor(splits.images["val"]), torch.as_tensor(splits.labels["val"])
    train_x = splits.images["train"]
    optimizer, criterion, scheduler = make_training_objects(sub, model, splits.class_counts("train"),
                                                            steps_per_epoch(len(train_x), sub.batch_size))
    model.to(device)
    channels_last = _channels_last_ok(model, device)
    shuffle = torch.Generator().manual_seed(SEED)
    n, history, longest_epoch, longest_val = len(train_x), [], 0.0, 0.0
    rows_after = sum(len(images) for name, images in splits.images.items() if name != "train")
    for epoch in range(1, sub.epochs + 1):
        if deadline is not None and history and not next_epoch_fits(deadline, longest_epoch, longest_val, len(val_x),
                                                                     rows_after):
            log(f"stopped after epoch {epoch - 1}/{sub.epochs}: another epoch (about {longest_epoch:.0f} s) and the "
                "predictions would not finish within the time limit, so the model of the last epoch is the one scored.")
            break
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=shuffle).tolist()  # plain ints index the image list faster than 0-d tensors
        batches = epoch_batches(order, sub.batch_size)
        loss_sum, correct, seen = 0.0, 0, 0
        for step, idx in enumerate(tqdm(batches, desc=f"epoch {epoch}/{sub.epochs}", leave=False,
                                        disable=None if progress else True, unit="batch")):
            x, y = train_batch(sub, train_x, idx, device, channels_last), train_y[idx].to(device)
            loss, logits = train_step(sub, model, optimizer, criterion, x, y, f"epoch {epoch}, batch {step + 1}")
            step_scheduler(sub, scheduler, "batch")
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(idx)
        step_scheduler(sub, scheduler, "epoch")
        t_val = time.perf_counter()
        val_logits = torch.from_numpy(predict_logits(model, val_x, device))
        longest_val = max(longest_val, time.perf_counter() - t_val)
        val_loss = torch.nn.functional.cross_entropy(val_logits, val_y).item()
        step_scheduler(sub, scheduler, "val_loss", val_loss)
        row = HistoryRow(epoch=epoch, train_loss=loss_sum / seen, train_acc=correct / seen,
                         val_loss=val_loss if math.isfinite(val_loss) else None,
                         val_acc=(val_logits.argmax(1) == val_y).float().mean().item(),
                         lr=optimizer.param_groups[0].get("lr"), seconds=time.perf_counter() - t0)._asdict()
        history.append(row)
        longest_epoch = max(longest_epoch, row["seconds"])
        log(f"epoch {epoch:>3}/{sub.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.3f}  "
            f"val loss {val_loss:.4f} acc {row['val_acc']:.3f}  ({row['seconds']:.1f}s)")
    return history

"""Does the student's train_transform show the model the same kind of input as the locked validation transform?

Why this check exists: validation and test images always go through `transforms.ToTensor()` only (float pixels
in [0, 1], shape 3x28x28). A train_transform that also normalises, resizes or rescales trains the model on one
distribution and validates it on another. Nothing crashes; the scores just collapse: in the course's
experiment 14 a train-only `Normalize` (ImageNet mean/std) dropped the AUC to 0.54, barely above chance.
Augmentations (flips, rotations, colour jitter, small affine moves) are fine: they vary the images but keep them
3x28x28 floats in [0, 1] with roughly the same colours.

How: the same images go through both transforms (the train one `draws` times, randomness included) and we
compare type, shape, dtype, the fraction of values outside [0, 1], and per-channel mean and std.
This is the ONE implementation: the public tests (tests/) and the grader both call `check_preprocessing`.

Thresholds, measured on 3 x 64 synthetic training images x 4 draws x 3 seeds
(instructor_tests/test_public_checks.py re-checks that augmentations pass and traps fail):
    legitimate augmentations  max |mean diff| 0.16 (flips+rot45+strong jitter+affine), std ratio 0.87..2.8,
                              values outside [-0.1, 1.1]: 0% (RandomErasing(value='random'): 6%)
    Normalize(ImageNet)       |mean diff| 0.24..0.27, std ratio 4.4, outside: 26..29%
    Normalize(0.5, 0.5)       |mean diff| 0.55, std ratio 2.0, outside: 22%
    x255 / PILToTensor        |mean diff| ~170, std ratio 255 (PILToTensor: uint8, caught by dtype)
Rotation/affine fill corners with black, which is what inflates the std ratio of legitimate augmentations.
"""
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from locked.transforms import VAL_TRANSFORM

EXPECTED_SHAPE = (3, 28, 28)
MEAN_TOL = 0.25          # max |train mean - val mean| per channel, in [0, 1] pixel units
STD_RATIO_MAX = 3.5      # train std / val std must lie in [1/STD_RATIO_MAX, STD_RATIO_MAX] per channel
RANGE_SLACK = 0.1        # values outside [-RANGE_SLACK, 1 + RANGE_SLACK] count as out of range ...
MAX_OUT_OF_RANGE = 0.10  # ... and at most this fraction is tolerated (noise-style augmentations)

_SHAPE_SUSPECTS = {"Resize", "RandomResizedCrop", "CenterCrop", "RandomCrop", "Pad", "FiveCrop", "TenCrop",
                   "Grayscale"}
_VALUE_SUSPECTS = {"Normalize", "Lambda", "PILToTensor", "ConvertImageDtype", "ToDtype"}

WHY = ("Why it matters: validation and test images always go through transforms.ToTensor() only (float pixels "
       "in [0, 1], 3x28x28). If training images look different, the model trains on one distribution and is "
       "validated on another. That is the Normalize trap of the course's experiment 14: a train-only "
       "Normalize dropped the validation AUC to 0.54 (chance is 0.50).")

CRASH_WHY = ("Why it matters: the training loop stacks the transformed images into one tensor batch; anything but a "
             "tensor makes the real run crash at its first batch.")


@dataclass
class ConsistencyResult:
    ok: bool
    message: str                                   # for the student; multi-line
    measured: dict = field(default_factory=dict)   # JSON-serialisable numbers behind the verdict


def _parts(transform, seen=None):
    """The transform and everything nested inside it (Compose, RandomApply, RandomChoice, nn.Sequential)."""
    seen = set() if seen is None else seen
    if id(transform) in seen:
        return
    seen.add(id(transform))
    yield transform
    children = getattr(transform, "transforms", None)
    if isinstance(transform, torch.nn.Module):
        children = list(children or []) + list(transform.children())
    try:
        children = list(children or [])
    except TypeError:
        children = []
    for child in children:
        yield from _parts(child, seen)


def _suspects(transform, names):
    return [repr(t).replace("\n", " ") for t in _parts(transform) if type(t).__name__ in names]


def _fmt(values):
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


def _stats(x):
    """x: (N, 3, H, W) float tensor -> JSON-friendly summary."""
    return {"shape": list(x.shape[1:]), "dtype": str(x.dtype).replace("torch.", ""),
            "min": float(x.min()), "max": float(x.max()),
            "mean": [float(v) for v in x.mean(dim=(0, 2, 3))],
            "std": [float(v) for v in x.std(dim=(0, 2, 3))],
            "out_of_range": float(((x < -RANGE_SLACK) | (x > 1 + RANGE_SLACK)).float().mean())}


def _describe(out):
    if isinstance(out, torch.Tensor):
        return f"a {str(out.dtype).replace('torch.', '')} tensor of shape {tuple(out.shape)}"
    if isinstance(out, Image.Image):
        return f"a PIL image ({out.size[0]}x{out.size[1]}, mode {out.mode})"
    return f"a {type(out).__name__}"


def _run(train_transform, images, draws):
    """(val, train, None), or (val, None, (kind, problem, fix)) when an output is not a float 3x28x28 tensor."""
    val = torch.stack([VAL_TRANSFORM(Image.fromarray(img)) for img in images])
    outs = []
    for img in images:
        for _ in range(draws):
            try:
                out = train_transform(Image.fromarray(img))
            except Exception as err:  # student code: report it, do not crash the caller
                return val, None, ("error", f"train_transform raised {type(err).__name__}: {err}",
                                   "train_transform receives a 28x28 RGB PIL image. Steps that need a tensor "
                                   "(Normalize, RandomErasing) must come after ToTensor(); try it on one image: "
                                   "train_transform(PIL.Image.new('RGB', (28, 28))).")
            if not isinstance(out, torch.Tensor):
                return val, None, ("type", f"train_transform returned {_describe(out)}; validation gives a "
                                   f"float tensor of shape {EXPECTED_SHAPE}.",
                                   "End train_transform with transforms.ToTensor(): it turns the PIL image into "
                                   "a float tensor with pixels in [0, 1], exactly what validation uses.")
            if tuple(out.shape) != EXPECTED_SHAPE:
                return val, None, ("shape", f"train_transform returned {_describe(out)}; validation images are "
                                   f"{EXPECTED_SHAPE}.",
                                   "Remove the resize/crop from train_transform (crops must keep 28x28). If "
                                   "your model needs bigger inputs (e.g. 224 for a pretrained ResNet), resize "
                                   "inside the model's forward(): x = F.interpolate(x, size=224, "
                                   "mode='bilinear'), so training and validation are resized the same way.")
            if not out.is_floating_point():
                return val, None, ("dtype", f"train_transform returned {_describe(out)}: integer pixels 0..255; "
                                   "validation gives float pixels in [0, 1].",
                                   "Use transforms.ToTensor() (floats in [0, 1]) instead of PILToTensor().")
            outs.append(out.detach().float().cpu())
    return val, torch.stack(outs), None


SAMPLE_IMAGES = 64  # the first images of the training split the check looks at (grader and public checks alike)


def check_preprocessing(train_transform, images, draws=4, seed=0):
    """Compare train_transform with the locked VAL_TRANSFORM on the first SAMPLE_IMAGES of `images` (uint8 array
    (N, 28, 28, 3)).

    Seeds Python, NumPy and torch with `seed` for the duration of the check and restores their previous state
    afterwards, so the verdict is reproducible and callers' random streams are unaffected.
    """
    images = np.asarray(images)[:SAMPLE_IMAGES]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (28, 28, 3) or len(images) == 0:
        raise ValueError(f"images must be a non-empty uint8 array (N, 28, 28, 3); got {images.dtype} {images.shape}")
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        val, train, failure = _run(train_transform, images, draws)
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])

    measured = {"images": int(len(images)), "draws": int(draws), "val": _stats(val), "train": None,
                "thresholds": {"mean_tol": MEAN_TOL, "std_ratio_max": STD_RATIO_MAX,
                               "range": [-RANGE_SLACK, 1 + RANGE_SLACK], "max_out_of_range": MAX_OUT_OF_RANGE}}
    if failure:
        kind, problem, fix = failure
        suspects = {"shape": _SHAPE_SUSPECTS, "dtype": _VALUE_SUSPECTS}.get(kind, set())
        why = {"error": None, "type": CRASH_WHY}.get(kind, WHY)
        return ConsistencyResult(False, _message(problem, _suspects(train_transform, suspects), fix, why), measured)

    t, v = _stats(train), measured["val"]
    if not torch.isfinite(train).all():
        return ConsistencyResult(False, _message("train_transform produced NaN or infinite values.", [],
                                                 "Check any Lambda or custom step for divisions by zero."),
                                 {**measured, "train": None})
    mean_diff = [a - b for a, b in zip(t["mean"], v["mean"])]
    std_ratio = [a / max(b, 1e-8) for a, b in zip(t["std"], v["std"])]
    measured.update(train=t, mean_diff=mean_diff, std_ratio=std_ratio)

    problems = []
    if t["out_of_range"] > MAX_OUT_OF_RANGE:
        scale = " (this looks like 0..255 pixel values)" if t["max"] > 10 else ""
        problems.append(f"{t['out_of_range']:.0%} of training values lie outside [0, 1]{scale}: train range "
                        f"[{t['min']:.3g}, {t['max']:.3g}], validation range [{v['min']:.3g}, {v['max']:.3g}].")
    if max(abs(d) for d in mean_diff) > MEAN_TOL:
        problems.append(f"per-channel mean: train {_fmt(t['mean'])} vs validation {_fmt(v['mean'])}, a "
                        f"difference of {_fmt(mean_diff)} (allowed: at most {MEAN_TOL} per channel).")
    if max(std_ratio) > STD_RATIO_MAX or min(std_ratio) < 1 / STD_RATIO_MAX:
        problems.append(f"per-channel std: train {_fmt(t['std'])} vs validation {_fmt(v['std'])}, "
                        f"{_fmt(std_ratio)} times as large (allowed: {1 / STD_RATIO_MAX:.2g}x to "
                        f"{STD_RATIO_MAX:g}x).")
    if problems:
        found = _suspects(train_transform, _VALUE_SUSPECTS)
        fix = ("Remove the Normalize (or other rescaling) from train_transform so its output stays in [0, 1] "
               "like validation's. If you want normalised inputs, normalise inside your model's forward(), e.g. "
               "x = (x - self.mean) / self.std with mean/std registered as buffers of shape (1, 3, 1, 1): then "
               "training and validation see the same thing.")
        if t["max"] > 10:
            fix = ("Keep pixels in [0, 1] as validation does: transforms.ToTensor() already scales 0..255 to "
                   "[0, 1]; remove any further rescaling (e.g. a Lambda multiplying by 255).")
        return ConsistencyResult(False, _message("\n  ".join(["train_transform's output differs from validation:"]
                                                             + problems), found, fix), measured)
    return ConsistencyResult(True, (f"train_transform matches validation: {EXPECTED_SHAPE} float tensors in [0, 1]; "
                                    f"per-channel mean difference {_fmt(mean_diff)} (allowed {MEAN_TOL}), std "
                                    f"ratio {_fmt(std_ratio)} (allowed up to {STD_RATIO_MAX:g}x)."), measured)


def _message(problem, found, fix, why=WHY):
    lines = [problem]
    if found:
        lines.append("Found in train_transform: " + "; ".join(found))
    lines += [why] if why else []
    lines += ["Fix: " + fix]
    return "\n".join(lines)

"""Every environment variable the project reads, in one place and under one prefix, checked when read.

    DERMA_DATA_DIR            folder holding dermamnist.npz (default: medmnist's ~/.medmnist)
    DERMA_SYNTHETIC           1/true/yes: use the synthetic stand-in everywhere (student run, tests, grader)
    DERMA_SYNTHETIC_SCALE     size of the stand-in as a fraction of DermaMNIST's (default 1)
    DERMA_THREADS             torch threads for the student's own run (default 2; the grader uses the rubric's)
    DERMA_DEVICE              cpu, cuda or mps for the student's own run (default: the fastest available)
    DERMA_SUBMISSION          folder or zip the public checks look at (default: student/)
    DERMA_RUBRIC              rubric TOML for packaging/run_grader.py (relative to its --source)
    DERMA_TIME_LIMIT_S        override the rubric's time_limit_s in run_grader.py
    DERMA_MEMORY_LIMIT_MB     override the rubric's memory_limit_mb in run_grader.py
    DERMA_WATCHDOG_MARGIN_S   seconds a grader may run beyond the sandbox time limit before its driver stops it
                              (default WATCHDOG_MARGIN_S below)
    TORCH_HOME, XDG_CACHE_HOME  torch's own: where pretrained weights are cached

Older names still work, deprecated (a note on stderr says so, once per name), the new name winning when both are
set: DERMAMNIST_ROOT (DERMA_DATA_DIR), DERMAMNIST_SYNTHETIC (DERMA_SYNTHETIC), DERMAMNIST_SYNTHETIC_SCALE
(DERMA_SYNTHETIC_SCALE). The grading images' folders and memory limit are packaging/image.py's.

A bad value raises SettingError naming the variable, its value and what it accepts. Standard library only:
packaging/run_grader.py reads its settings here too.
"""
import os
import sys
from pathlib import Path

OLD_NAMES = {"DERMA_DATA_DIR": "DERMAMNIST_ROOT", "DERMA_SYNTHETIC": "DERMAMNIST_SYNTHETIC",
             "DERMA_SYNTHETIC_SCALE": "DERMAMNIST_SYNTHETIC_SCALE"}

# The grading box's wall clock for the whole sandboxed run (training + prediction), seconds: Gradescope allows 600
# and the grader needs the rest to load the data, score and write. The rubric's default (grader/rubric.py).
TIME_LIMIT_S = 540
# What the time limit does to a run whose epochs would not all finish in it (the rubric's [limits] on_time_limit),
# in the words the student's forecast and starter kit use. "zero" is what every other grader does.
TIME_LIMIT_POLICIES = {
    "score": ("the grader stops training before the epoch that would not end in time, scores that model and gives "
              "the training check only the share of epochs done"),
    "zero": "a run cut by the time limit scores nothing for training or the test",
}
ON_TIME_LIMIT = "score"
# Beyond the sandbox's time limit, what a driver (run_grader.py, the suite's workers) allows the grader for loading
# data, scoring and writing before it stops it and reports the grader's failure.
WATCHDOG_MARGIN_S = 180

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}
_deprecation_noted = set()


class SettingError(ValueError):
    """An environment variable holds a value the project cannot use."""


def text(name, environ=None):
    """The variable's value, stripped (its older name's if only that is set), or None when unset or empty."""
    environ = os.environ if environ is None else environ
    value = environ.get(name, "").strip()
    old = OLD_NAMES.get(name)
    if not value and old and environ.get(old, "").strip():
        if old not in _deprecation_noted:
            _deprecation_noted.add(old)
            print(f"Note: {old} is deprecated and will stop working; set {name} instead.", file=sys.stderr)
        value = environ[old].strip()
    return value or None


def flag(name, environ=None):
    value = (text(name, environ) or "").lower()
    if value not in _TRUE | _FALSE:
        raise SettingError(f"{name}={value!r}: use 1 to switch it on or 0 (or leave it unset) to switch it off.")
    return value in _TRUE


def number(name, default=None, kind=float, minimum=None, environ=None):
    """The variable as a number (`kind`), `default` when unset; a value below `minimum` is refused."""
    value = text(name, environ)
    if value is None:
        return default
    try:
        result = kind(value)
    except ValueError:
        raise SettingError(f"{name}={value!r} is not a {'whole ' if kind is int else ''}number; "
                           f"unset it or give e.g. {name}={default if default is not None else 1}.") from None
    if minimum is not None and result < minimum:
        raise SettingError(f"{name}={value!r} is below its minimum of {minimum}.")
    return result


def path(name, environ=None):
    value = text(name, environ)
    return Path(value).expanduser() if value else None


def torch_home(environ=None):
    """Where torchvision caches pretrained weights (torch's own rule), found without importing torch."""
    environ = os.environ if environ is None else environ
    if environ.get("TORCH_HOME"):
        return environ["TORCH_HOME"]
    cache = environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "torch")


def weights_cache(environ=None):
    """The folder torchvision downloads pretrained weights into (read-only in the grader's sandbox)."""
    return os.path.join(torch_home(environ), "hub", "checkpoints")

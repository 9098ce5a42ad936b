"""The honest model, plus a forged parameter count (issue 11: `params = 10**400` in the status crashed the
grader's leaderboard with OverflowError and blamed the grader; issue 12: a forged count on the leaderboard).

It makes the grader child send 10**400 (and a negative trainable count) with every report line. The parent
must not take the count from the report at all.
"""
import sys

import torch.nn as nn

_child = sys.modules["__main__"]  # grader/child.py


_save = _child.save


def _forged_save(**fields):
    _save(**fields, params=10**400, trainable_params=-1)


_child.save = _forged_save


class Honest(nn.Sequential):
    pass


def build_model():
    return Honest(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

"""The honest model, plus a forged parameter count (issue 11: `params = 10**400` in the status crashed the
grader's leaderboard with OverflowError and blamed the grader; issue 12: a forged count on the leaderboard).

From forward() it writes 10**400 (and a negative trainable count) into the grader child's status, which the
child then saves. The parent must not take the count from the status at all.
"""
import sys

import torch.nn as nn

_child = sys.modules["__main__"]  # grader/child.py


class Honest(nn.Sequential):
    def forward(self, x):
        _child.STATUS.update(params=10**400, trainable_params=-1)
        return super().forward(x)


def build_model():
    return Honest(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

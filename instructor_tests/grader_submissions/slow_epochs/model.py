"""Honest, but slow: each training batch takes a quarter of a second more, so 30 epochs outrun a small time limit."""
import time

import torch.nn as nn


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))

    def forward(self, x):
        if self.training:
            time.sleep(0.25)
        return self.net(x)


def build_model():
    return Slow()

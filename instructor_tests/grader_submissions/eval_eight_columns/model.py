"""Passes the build check (a batch of 2 gives (2, 7)) but returns 8 scores per image in evaluation on larger
batches: a shape mistake, to be told as shape and numbers, never as tampering."""
import torch
import torch.nn as nn


class Eight(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 8))

    def forward(self, x):
        out = self.net(x)
        return out if not self.training and len(x) > 2 else out[:, :7]


def build_model():
    return Eight()

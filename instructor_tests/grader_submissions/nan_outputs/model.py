import torch
import torch.nn as nn


class LogModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))

    def forward(self, x):
        return self.head(torch.log(x - x))  # log(0) = -inf, then -inf * w + inf * w = NaN


def build_model():
    return LogModel()

import torch.nn as nn


def build_model():
    # Two linear layers with nothing in between: with lr=1e6 each step multiplies the weights' scale,
    # so the loss overflows to inf/NaN within a few batches.
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 64), nn.Linear(64, 7))

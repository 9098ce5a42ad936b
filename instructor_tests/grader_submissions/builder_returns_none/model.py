import torch.nn as nn


def build_model():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))  # forgot `return model`

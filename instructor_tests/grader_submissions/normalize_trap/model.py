"""Reference submission for the grader's tests: a tiny, honest CNN. The trust cases copy it and add an attack,
so their scores must equal this one's exactly."""
import torch.nn as nn


def build_model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

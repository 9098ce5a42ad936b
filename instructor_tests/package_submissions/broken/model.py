"""Packaging tests' BROKEN submission: the classic flatten-size slip. The head expects 16x14x14 features but two
poolings leave 16x7x7, so the model builds and then fails on the grader's first batch; nothing trains."""
import torch.nn as nn


class Broken(nn.Module):
    def __init__(self, num_classes=7):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(16 * 14 * 14, num_classes)  # should be 16 * 7 * 7

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return Broken()

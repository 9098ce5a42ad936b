"""Experiment 01 - Baseline (Ch1: Baseline).

Builds on nothing: this is the course baseline (identical to student/).
Changed: Nothing. 2 conv blocks, 8 -> 16 channels, Linear(784, 7).
Lesson: Accuracy 0.68 looks fine but is just the nv share (67%): the model predicts nv for nearly everything.
On imbalanced data, judge by AUC and per-class recall, never by accuracy alone.
"""
import torch.nn as nn


class BaselineModel(nn.Module):
    """The course's deliberately weak baseline: 2 conv blocks, 8 -> 16 channels, 6,887 parameters."""

    def __init__(self, num_classes=7):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 28x28 -> 14x14
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 14x14 -> 7x7
        )
        self.classifier = nn.Linear(16 * 7 * 7, num_classes)  # 784 -> 7

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return BaselineModel()

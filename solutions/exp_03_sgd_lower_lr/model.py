"""Experiment 03 - SGD lr=0.01 (Ch2: Optimizers).

Builds on exp 01.
Changed: Model unchanged from exp 01.
Lesson: Plain SGD at a 10x smaller learning rate barely moves in 5 epochs: it collapses to 'always nv' (AUC 0.66).
The learning rate must match the optimizer and the training budget.
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

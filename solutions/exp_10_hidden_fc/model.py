"""Experiment 10 - Hidden FC (Ch3: Architecture).

Builds on exp 08.
Changed: Exp 08's body with a hidden layer in the head: Linear(128,64)-ReLU-Dropout(0.2)-Linear(64,7).
Lesson: A bigger head made things worse (AUC 0.90 -> 0.84, accuracy 0.53): the extra layer needs more training than
5 epochs give it. Parameters in the classifier are not free.
"""
import torch.nn as nn


class HiddenFCModel(nn.Module):
    """The BatchNorm body with a hidden layer in the head: 128 -> 64 -> 7; 102,407 parameters."""

    def __init__(self, num_classes=7):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),    # 28 -> 14
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),   # 14 -> 7
            nn.Conv2d(64, 128, kernel_size=3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2), # 7 -> 3
            nn.AdaptiveAvgPool2d(1),                                                                       # 3 -> 1
        )
        self.classifier = nn.Sequential(
            nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return HiddenFCModel()

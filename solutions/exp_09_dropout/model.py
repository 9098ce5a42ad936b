"""Experiment 09 - Dropout (Ch3: Architecture).

Builds on exp 08.
Changed: Exp 08's model with Dropout(0.3) before the final Linear (no new parameters).
Lesson: Dropout fights overfitting, and 5 epochs do not overfit: AUC is unchanged (0.897). A regulariser only pays
when there is something to regularise.
"""
import torch.nn as nn


class DropoutModel(nn.Module):
    """The BatchNorm model with Dropout(0.3) before the final Linear; 94,599 parameters."""

    def __init__(self, num_classes=7):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),    # 28 -> 14
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),   # 14 -> 7
            nn.Conv2d(64, 128, kernel_size=3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2), # 7 -> 3
            nn.AdaptiveAvgPool2d(1),                                                                       # 3 -> 1
        )
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return DropoutModel()

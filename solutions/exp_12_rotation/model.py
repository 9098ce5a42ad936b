"""Experiment 12 - HFlip+Rotate (Ch4: Augmentation).

Builds on exp 11.
Changed: Model unchanged from exp 11 (BatchNormModel).
Lesson: AUC stays flat (0.92) but balanced accuracy rises 0.33 -> 0.48: augmentation can help the rare classes
even when the headline number does not move.
"""
import torch.nn as nn


class BatchNormModel(nn.Module):
    """3 conv blocks 32 -> 64 -> 128 (conv-BN-ReLU-maxpool), global average pool, Linear(128, 7); 94,599 parameters."""

    def __init__(self, num_classes=7):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),    # 28 -> 14
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),   # 14 -> 7
            nn.Conv2d(64, 128, kernel_size=3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2), # 7 -> 3
            nn.AdaptiveAvgPool2d(1),                                                                       # 3 -> 1
        )
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return BatchNormModel()

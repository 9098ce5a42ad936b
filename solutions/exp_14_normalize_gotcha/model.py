"""Experiment 14 - +Normalize (gotcha) (Ch4: Augmentation).

Builds on exp 13.
Changed: Model unchanged from exp 13 (BatchNormModel).
Lesson: The trap: the model is trained on normalised pixels and validated on raw [0, 1] ones, so at validation it
sees different data and AUC falls to chance (0.54). Put normalisation inside forward() so both see it.
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

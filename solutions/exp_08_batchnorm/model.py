"""Experiment 08 - BatchNorm (Ch3: Architecture).

Builds on exp 07.
Changed: Exp 07's model with BatchNorm2d after every conv (conv-bn-relu-pool). This is the base model of exps 11-20.
Lesson: BatchNorm makes the same depth trainable: AUC 0.86 -> 0.90 and melanoma recall 0 -> 0.41 for 448 more
parameters. Normalising activations is what lets deeper nets learn quickly.
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

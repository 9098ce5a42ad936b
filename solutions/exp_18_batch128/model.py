"""Experiment 18 - Batch=128 (Ch6: Batch/Epochs).

Builds on exp 08 (not exp 11: no augmentation; see solutions/README.md).
Changed: Model unchanged from exp 08 (BatchNormModel).
Lesson: AUC is fine (0.91) and training is over twice as fast, yet melanoma recall is 0.01: a good ranking with a
bad decision threshold. AUC and recall can tell opposite stories.
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

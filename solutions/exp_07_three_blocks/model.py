"""Experiment 07 - 3 Conv Blocks (Ch3: Architecture).

Builds on exp 06.
Changed: A third conv block (64 -> 128) and global average pooling replace the big Linear(3136, 7); no BatchNorm.
Lesson: Deeper is not automatically better: without normalisation this deeper net trains too slowly in 5 epochs
and falls back to 'always nv' (balanced accuracy 0.14), although its AUC (0.86) shows it ranks something.
"""
import torch.nn as nn


class ThreeBlockModel(nn.Module):
    """3 conv blocks 32 -> 64 -> 128 (conv-relu-maxpool), global average pool, Linear(128, 7); 94,151 parameters."""

    def __init__(self, num_classes=7):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 28x28 -> 14x14
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 14x14 -> 7x7
            nn.Conv2d(64, 128, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7x7 -> 3x3
            nn.AdaptiveAvgPool2d(1),                                                   # 3x3 -> 1x1
        )
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return ThreeBlockModel()

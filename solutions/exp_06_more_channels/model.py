"""Experiment 06 - More Channels (Ch3: Architecture).

Builds on exp 02.
Changed: Exp 02's model at 4x the width: 8 -> 16 channels become 32 -> 64 (Linear(3136, 7)); 6,887 -> 41,351 params.
Lesson: Capacity was the bottleneck: wider convolutions give the largest single jump so far (AUC 0.85 -> 0.90)
and the first real recall on the cancer classes.
"""
import torch.nn as nn


class MoreChannelsModel(nn.Module):
    """The baseline's 2 conv blocks at 4x the width: 32 -> 64 channels, 41,351 parameters."""

    def __init__(self, num_classes=7):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 28x28 -> 14x14
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 14x14 -> 7x7
        )
        self.classifier = nn.Linear(64 * 7 * 7, num_classes)  # 3136 -> 7

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return MoreChannelsModel()

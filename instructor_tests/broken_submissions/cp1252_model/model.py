"""BROKEN ON PURPOSE (cp1252_model): saved as Windows-1252, not UTF-8: the curly quotes and the é in
this docstring are single bytes that are not UTF-8 text (an editor’s “ANSI” encoding, café).

YOUR MODEL. You may change anything in this file.

The grader calls build_model() and trains what it returns. The contract:
  - build_model() returns a torch.nn.Module;
  - forward() takes a batch of images, shape (N, 3, 28, 28), float pixels in [0, 1];
  - forward() returns logits, shape (N, 7): one raw score per class, in the order
    akiec, bcc, bkl, df, mel, nv, vasc (no softmax: the loss and the grader apply it).
Parameter budget: see the assignment page (default 12,000,000, enough for a ResNet18).
If you want normalised inputs, normalise inside forward(): then training and validation see the same thing.
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

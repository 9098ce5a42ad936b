"""Experiment 17 - Batch=64 (Ch6: Batch/Epochs).

Builds on exp 08 (not exp 11: no augmentation; see solutions/README.md).
Changed: 10 epochs (from 5) and batch size 32 -> 64 (half the optimizer steps per epoch).
Lesson: Bigger batches run faster (fewer, smoother steps) but at the same learning rate they take fewer steps in
all: AUC 0.90, and melanoma recall falls to 0.08.
"""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 10
BATCH_SIZE = 64

train_transform = transforms.Compose([
    transforms.ToTensor(),
])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

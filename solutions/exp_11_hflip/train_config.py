"""Experiment 11 - HFlip (Ch4: Augmentation).

Builds on exp 08.
Changed: RandomHorizontalFlip added to train_transform; 5 -> 10 epochs.
Lesson: Flips are free extra data for skin lesions (no natural left/right) and let twice the epochs pay off:
AUC 0.92, the first to pass the 0.90 target. Two changes at once, though: flip and epochs are confounded.
"""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 10
BATCH_SIZE = 32

train_transform = transforms.Compose([
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),
])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

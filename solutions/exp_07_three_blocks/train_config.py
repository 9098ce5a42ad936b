"""Experiment 07 - 3 Conv Blocks (Ch3: Architecture).

Builds on exp 06.
Changed: Same as exp 06 (Adam(lr=1e-3), 5 epochs, batch 32).
Lesson: Deeper is not automatically better: without normalisation this deeper net trains too slowly in 5 epochs
and falls back to 'always nv' (balanced accuracy 0.14), although its AUC (0.86) shows it ranks something.
"""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 5
BATCH_SIZE = 32

train_transform = transforms.Compose([
    transforms.ToTensor(),
])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

"""Experiment 05 - SGD+Momentum (Ch2: Optimizers).

Builds on exp 01.
Changed: Optimizer SGD(lr=0.1) -> SGD(lr=0.01, momentum=0.9).
Lesson: Momentum rescues the small learning rate (AUC 0.66 -> 0.82): with beta=0.9 the effective step is about
lr / (1 - beta) = 0.1, but smoothed over batches.
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
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

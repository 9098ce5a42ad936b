"""Experiment 04 - Adam lr=1e-4 (Ch2: Optimizers).

Builds on exp 01.
Changed: Optimizer SGD(lr=0.1) -> Adam(lr=1e-4).
Lesson: Adam is not magic: at lr=1e-4 it is as stuck as slow SGD (AUC 0.65, always nv). 1e-3 is Adam's usual default.
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
    return torch.optim.Adam(model.parameters(), lr=1e-4)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

"""Experiment 03 - SGD lr=0.01 (Ch2: Optimizers).

Builds on exp 01.
Changed: Optimizer SGD(lr=0.1) -> SGD(lr=0.01).
Lesson: Plain SGD at a 10x smaller learning rate barely moves in 5 epochs: it collapses to 'always nv' (AUC 0.66).
The learning rate must match the optimizer and the training budget.
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
    return torch.optim.SGD(model.parameters(), lr=0.01)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

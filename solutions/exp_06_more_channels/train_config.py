"""Experiment 06 - More Channels (Ch3: Architecture).

Builds on exp 02.
Changed: Same as exp 02 (Adam(lr=1e-3), 5 epochs, batch 32).
Lesson: Capacity was the bottleneck: wider convolutions give the largest single jump so far (AUC 0.85 -> 0.90)
and the first real recall on the cancer classes.
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

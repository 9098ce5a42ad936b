"""Experiment 10 - Hidden FC (Ch3: Architecture).

Builds on exp 08.
Changed: Same as exp 08 (Adam(lr=1e-3), 5 epochs, batch 32).
Lesson: A bigger head made things worse (AUC 0.90 -> 0.84, accuracy 0.53): the extra layer needs more training than
5 epochs give it. Parameters in the classifier are not free.
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

"""Experiment 18 - Batch=128 (Ch6: Batch/Epochs).

Builds on exp 08 (not exp 11: no augmentation; see solutions/README.md).
Changed: 10 epochs (from 5) and batch size 32 -> 128 (a quarter of the steps per epoch).
Lesson: AUC is fine (0.91) and training is over twice as fast, yet melanoma recall is 0.01: a good ranking with a
bad decision threshold. AUC and recall can tell opposite stories.
"""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 10
BATCH_SIZE = 128

train_transform = transforms.Compose([
    transforms.ToTensor(),
])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

"""Experiment 01 - Baseline (Ch1: Baseline).

Builds on nothing: this is the course baseline (identical to student/).
Changed: Nothing. SGD(lr=0.1), 5 epochs, batch 32, ToTensor only, plain cross-entropy, no scheduler.
Lesson: Accuracy 0.68 looks fine but is just the nv share (67%): the model predicts nv for nearly everything.
On imbalanced data, judge by AUC and per-class recall, never by accuracy alone.
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
    return torch.optim.SGD(model.parameters(), lr=0.1)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

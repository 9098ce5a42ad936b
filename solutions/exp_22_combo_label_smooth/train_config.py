"""Experiment 22 - Custom+LabelSmooth (Ch8: Combinations).

Builds on exp 21.
Changed: label_smoothing=0.1 added to the class-weighted CrossEntropyLoss.
Lesson: One regulariser too many: AUC 0.85 and accuracy 0.39. Smoothing on top of class weights pushes the model to
over-predict the rare classes; more 'best practices' is not more performance.
"""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 15
BATCH_SIZE = 64

# ColorJitter values are exp 13's (the course names ColorJitter here without values).
train_transform = transforms.Compose([
    transforms.RandomHorizontalFlip(),
    transforms.RandomVerticalFlip(),
    transforms.RandomRotation(20),
    transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05),
    transforms.ToTensor(),
])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def make_loss(class_counts):
    """Class-weighted (weight_c = N / (7 * n_c), from the training-set class counts) and label-smoothed."""
    weight = class_counts.sum() / (7 * class_counts)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)


def make_scheduler(optimizer):
    """Cosine decay from the initial LR towards 0 over the whole run (stepped once per epoch)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)

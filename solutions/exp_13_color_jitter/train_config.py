"""Experiment 13 - +ColorJitter (Ch4: Augmentation).

Builds on exp 12.
Changed: ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05) after the rotation.
Lesson: Colour is diagnostic in dermoscopy: jittering it costs AUC (0.92 -> 0.915) and melanoma recall, and the
extra transform makes every epoch slower. Augment only what the task is invariant to.
"""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 10
BATCH_SIZE = 32

train_transform = transforms.Compose([
    transforms.RandomHorizontalFlip(),
    transforms.RandomRotation(15),
    transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05),
    transforms.ToTensor(),
])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

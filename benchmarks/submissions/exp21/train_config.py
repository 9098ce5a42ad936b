"""Experiment 21 (Best Custom CNN): HFlip+VFlip+Rotation(20)+ColorJitter, class-weighted CE, Adam(1e-3) with
cosine annealing over 15 epochs, batch 64."""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 15
BATCH_SIZE = 64
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
    return nn.CrossEntropyLoss(weight=class_counts.sum() / (len(class_counts) * class_counts))


def make_scheduler(optimizer):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)

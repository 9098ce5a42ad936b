"""Experiment 24 - ResNet18 Frozen (Ch9: Transfer Learning).

Builds on exp 23.
Changed: Same as exp 23 (Adam(lr=1e-4) + cosine, 10 epochs, batch 32); the optimizer skips the frozen parameters.
Lesson: Frozen ImageNet features do not transfer to 28x28 dermoscopy (AUC 0.76): a linear probe is only as good as
the features, and these must be fine-tuned to be useful.
"""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 10
BATCH_SIZE = 32

train_transform = transforms.Compose([
    transforms.ToTensor(),
])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-4)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    """Cosine decay from the initial LR towards 0 over the whole run (stepped once per epoch)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)

"""Experiment 23 - ResNet18 Finetune (Ch9: Transfer Learning).

Builds on exp 20's Adam + cosine recipe, with a new (pretrained) model.
Changed: Adam lr 1e-3 -> 1e-4 (fine-tuning pretrained weights), cosine T_max = EPOCHS = 10, batch 32, no augmentation,
plain cross-entropy.
Lesson: Over 100x the parameters of exp 20 for no gain (AUC 0.915 vs 0.929): ImageNet features are built for
224x224 photos, and at 28x28 the stem shrinks the lesion to 7x7 before the first residual block.
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

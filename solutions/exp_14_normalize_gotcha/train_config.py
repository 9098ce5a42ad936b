"""Experiment 14 - +Normalize (gotcha) (Ch4: Augmentation).

Builds on exp 13.
Changed: ImageNet Normalize at the end of the TRAIN transform only (validation stays ToTensor).
Lesson: The trap: the model is trained on normalised pixels and validated on raw [0, 1] ones, so at validation it
sees different data and AUC falls to chance (0.54). Put normalisation inside forward() so both see it.
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
    # THE TRAP: training images are normalised, validation images (locked ToTensor) are not. Deliberate.
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def make_loss(class_counts):
    return nn.CrossEntropyLoss()


def make_scheduler(optimizer):
    return None

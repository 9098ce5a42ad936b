"""Packaging tests' GOOD submission: Adam, class weights, two quick epochs."""
import torch
import torch.nn as nn
from torchvision import transforms

EPOCHS = 2
BATCH_SIZE = 64

train_transform = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()])


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=3e-3)


def make_loss(class_counts):
    counts = class_counts.float()
    return nn.CrossEntropyLoss(weight=counts.sum() / (len(counts) * counts))


def make_scheduler(optimizer):
    return None

"""Experiment 24 - ResNet18 Frozen (Ch9: Transfer Learning).

Builds on exp 23.
Changed: Exp 23's model with every backbone parameter frozen (requires_grad=False); only the fc (3,591 params) trains.
Lesson: Frozen ImageNet features do not transfer to 28x28 dermoscopy (AUC 0.76): a linear probe is only as good as
the features, and these must be fine-tuned to be useful.
"""
import torch.nn as nn
from torchvision.models import ResNet18_Weights, resnet18


class ResNet18Frozen(nn.Module):
    """ImageNet ResNet18 used as a fixed feature extractor: every backbone parameter has requires_grad=False and
    only the new fc (512 * 7 + 7 = 3,591 parameters) trains; 11,180,103 parameters in all.

    Freezing stops gradients, not BatchNorm's running statistics: in train mode those still adapt to DermaMNIST.
    """

    def __init__(self, num_classes=7):
        super().__init__()
        self.net = resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)
        for p in self.net.parameters():
            p.requires_grad = False
        self.net.fc = nn.Linear(self.net.fc.in_features, num_classes)  # created after freezing, so it trains

    def forward(self, x):
        return self.net(x)


def build_model():
    return ResNet18Frozen()

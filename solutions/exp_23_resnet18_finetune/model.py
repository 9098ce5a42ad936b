"""Experiment 23 - ResNet18 Finetune (Ch9: Transfer Learning).

Builds on exp 20's Adam + cosine recipe, with a new (pretrained) model.
Changed: A new model: torchvision ResNet18 with ImageNet weights, fc -> Linear(512, 7), fed native 28x28 images.
Lesson: Over 100x the parameters of exp 20 for no gain (AUC 0.915 vs 0.929): ImageNet features are built for
224x224 photos, and at 28x28 the stem shrinks the lesion to 7x7 before the first residual block.
"""
import torch.nn as nn
from torchvision.models import ResNet18_Weights, resnet18


class ResNet18Finetune(nn.Module):
    """torchvision's ResNet18 with ImageNet weights and a new 7-class fc; 11,180,103 parameters, all trainable.

    Inputs stay 28x28 (no resize): the stride-2 stem and maxpool leave 7x7 maps, layer4 sees 1x1.
    Needs the ImageNet weights: cached by `python -m locked.weights`, otherwise downloaded on first use.
    """

    def __init__(self, num_classes=7):
        super().__init__()
        self.net = resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)
        self.net.fc = nn.Linear(self.net.fc.in_features, num_classes)  # 512 -> 7 replaces 512 -> 1000

    def forward(self, x):
        return self.net(x)


def build_model():
    return ResNet18Finetune()

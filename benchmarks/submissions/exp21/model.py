"""Experiment 21's model (BestCustomCNN): exp 12's 3-block BN CNN, Dropout(0.4), head 128 -> 64 -> 7; 102,407 parameters."""
import torch.nn as nn


def block(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]


class BestCustomCNN(nn.Module):
    def __init__(self, num_classes=7, dropout=0.4):
        super().__init__()
        self.features = nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(128, 64), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return BestCustomCNN()

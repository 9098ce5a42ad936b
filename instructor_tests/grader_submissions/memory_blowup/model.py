import time

import torch
import torch.nn as nn

HOARD = []  # every batch's tensors kept forever: the classic leak, made fast


class Hoarder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))

    def forward(self, x):
        if self.training:
            print("training forward: allocating 40 MB every 20 ms", flush=True)
            for _ in range(2000):  # up to 80 GB: far past any limit
                HOARD.append(torch.ones(10_000_000))
                time.sleep(0.02)
        return self.net(x)


def build_model():
    return Hoarder()

import time

import torch.nn as nn


class Sleepy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))

    def forward(self, x):
        if self.training:
            print("training forward: going to sleep for an hour", flush=True)
            time.sleep(3600)
        return self.net(x)


def build_model():
    return Sleepy()

import torch.nn as nn


class Chatty(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))

    def forward(self, x):
        if self.training:
            n = 0
            while True:  # prints without end
                n += 1
                print(f"debug line {n}: " + "x" * 200)
        return self.net(x)


def build_model():
    return Chatty()

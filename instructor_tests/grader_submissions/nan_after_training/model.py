import torch.nn as nn


class Fragile(nn.Module):
    """Fine at build time; once trained, every prediction is NaN."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))
        self.trained = False

    def forward(self, x):
        if self.training:
            self.trained = True
        out = self.net(x)
        return out * float("nan") if self.trained and not self.training else out


def build_model():
    return Fragile()

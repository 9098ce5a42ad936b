"""Closes the grader child's report pipe from forward() during training, then trains on normally.

The child can no longer tell the parent how the run ended: the student's verdict (naming the pipe), not "the
grader failed" and not "before your code ran".
"""
import os

import torch.nn as nn


class Closer(nn.Sequential):
    closed = False

    def forward(self, x):
        if self.training and not Closer.closed:
            Closer.closed = True
            os.close(int(os.environ["DERMAGRADE_REPORT_FD"]))
            print("closes_report: closed the report pipe", flush=True)
        return super().forward(x)


def build_model():
    return Closer(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))

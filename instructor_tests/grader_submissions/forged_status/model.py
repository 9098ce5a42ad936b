"""Sends the grader's parent a forged report (malformed values, over the child's own report pipe), then exits.

The grader's parent must neither crash on it nor trust it: the result is the student's error and a score of 0.
"""
import json
import os

import torch.nn as nn


class Forger(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 7))

    def forward(self, x):
        if self.training:
            fd = int(os.environ["DERMAGRADE_REPORT_FD"])
            os.write(fd, json.dumps({"stage": "done", "params": "tiny", "model_name": ["x"], "history": "long",
                                     "preprocessing": {"ok": "yes", "message": 1}, "error": "none"}).encode() + b"\n")
            print(f"forged_status: wrote to file descriptor {fd}", flush=True)
            os._exit(0)
        return self.net(x)


def build_model():
    return Forger()

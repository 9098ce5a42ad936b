"""Overwrites the grader's own status report (sandbox/out/status.json) with malformed values, then exits.

The grader's parent must neither crash on it nor trust it: the result is an error and a score of 0.
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
            status = os.path.join(os.getcwd(), "..", "out", "status.json")
            with open(status, "w") as f:
                json.dump({"stage": "done", "params": "tiny", "model_name": ["x"], "history": "long",
                           "preprocessing": {"ok": "yes", "message": 1}, "error": "none"}, f)
            print(f"forged_status: overwrote {status}", flush=True)
            os._exit(0)
        return self.net(x)


def build_model():
    return Forger()

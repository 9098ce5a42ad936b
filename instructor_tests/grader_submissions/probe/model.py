"""The honest CNN, plus what README's "How grading stays fair and safe" says student code finds: it prints its
working directory and what is in it, then tries to reach a TCP listener the test opened on the grader's loopback
(PROBE_PORT is filled in by instructor_tests/test_readme_claims.py)."""
import os
import socket

import torch.nn as nn

PROBE_PORT = 0

print(f"probe: cwd {os.getcwd()} holds {sorted(os.listdir('.'))}", flush=True)
try:
    with socket.create_connection(("127.0.0.1", PROBE_PORT), timeout=3) as conn:
        conn.sendall(b"hello from the sandbox")
    print("probe: network CONNECTED to the grader's loopback", flush=True)
except OSError as err:
    print(f"probe: network blocked ({type(err).__name__}: {err})", flush=True)


def build_model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

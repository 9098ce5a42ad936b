"""The honest model, plus folders the grader's cleanup must survive (issue 11: a 5,000-deep folder in the work
folder raised RecursionError in cleanup, left the temp folder behind and blamed the grader).

At import it makes a 5,000-deep chain of folders in its working folder and /tmp, with names holding a
newline, invalid UTF-8 and 200 characters, and a folder without permissions, then trains honestly.
"""
import os

import torch.nn as nn

ODD = [b"a\nb", b"\xff\xfe", b"x" * 200, b" -rf "]


def _deep(root, depth=5000):
    made, fd = 0, os.open(root, os.O_RDONLY)
    try:
        for i in range(depth):
            name = ODD[i % len(ODD)]
            os.mkdir(name, dir_fd=fd)
            new = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd, made = new, made + 1
        os.mkdir(b"locked", 0o000, dir_fd=fd)
    except OSError as err:
        print(f"deep_tree: {root.decode()}: stopped at depth {made}: {type(err).__name__}", flush=True)
    finally:
        os.close(fd)
    print(f"deep_tree: {root.decode()}: {made} folders deep", flush=True)


for root in (".", "/tmp"):
    _deep(root.encode())


def build_model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

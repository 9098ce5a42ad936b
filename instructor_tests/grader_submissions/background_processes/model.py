"""The honest model, plus two kinds of process that try to outlive the grading run.

1. A classic daemon (double fork + setsid, SIGTERM/SIGHUP ignored) that waits until the graded process is
   gone, waits 3 s more, then writes MARKER_DIR/marker.
2. A fork chain: each generation forks the next and exits, so any one process lives only ~10 ms (a single
   scan-then-kill pass misses it). If the chain ever sees the graded process gone, it writes
   MARKER_DIR/chain-outlived.
The grader must kill both with the rest of the sandbox: neither file may ever appear.
MARKER_DIR is rewritten by the test to a fresh world-writable folder.
"""
import os
import signal
import time

import torch.nn as nn

MARKER_DIR = "/tmp/dermagrade-daemon-test"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _write(name, text):
    with open(os.path.join(MARKER_DIR, name), "w") as f:
        f.write(text)


def _daemon(watched):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _write("daemon-started", str(os.getpid()))
    while _alive(watched):  # wait until the grading process is gone ...
        time.sleep(0.05)
    time.sleep(3)  # ... then a little longer, and leave a trace
    _write("marker", "the daemon outlived the grading run")


def _chain(watched):
    os.setsid()
    _write("chain-started", str(os.getpid()))
    n = 0
    while True:
        n += 1
        if os.fork() != 0:
            os._exit(0)  # the parent goes at once: only the newest generation is alive
        time.sleep(0.01)
        if not _alive(watched):
            _write("chain-outlived", f"generation {n}")
            os._exit(0)


def _detach(target, watched):
    pid = os.fork()
    if pid == 0:  # double fork: the grandchild is re-parented away from the graded process
        try:
            os.setsid()
            if os.fork() == 0:
                target(watched)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


_detach(_daemon, os.getpid())
_detach(_chain, os.getpid())
print("background_processes: daemon and fork chain started", flush=True)


def build_model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

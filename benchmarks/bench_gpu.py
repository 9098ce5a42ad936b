"""The GPU path, run for real (issue 27 item 3): one script to run in one go on a machine with an NVIDIA GPU.

    python benchmarks/bench_gpu.py [--device cuda] [--only 1-22] [-j 4] [--out runs/bench_gpu] [--skip-student]

  1. The student's run (`python -m locked.train --synthetic`) of the baseline (student/) and experiment 21 on the CPU
     and on --device: validation AUC and melanoma recall side by side (they should agree within the rubric's
     stated noise, about 0.005-0.01 AUC) and the wall times.
  2. `python -m instructor suite solutions/ --only ONLY --synthetic --device DEVICE -j J`: the sandboxes share the
     GPU, deterministic algorithms on; wall time against the course's 452 s for experiments 1-22 on an Apple M1 Max
     GPU (the goal: at least 10x faster).
  3. Experiments 1 and 21 graded again into a second folder: are their saved predictions bit-identical?
On a machine without a GPU, `--device cpu --only 1 --skip-student` runs the same steps on the CPU (a check of the
script, not a figure). Nothing here asserts a time; it prints one table.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
COURSE_M1_MAX_S = 452  # the course's experiments 1-22 on an Apple M1 Max GPU (solutions/published.json's run)


def run(cmd):
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.monotonic() - t0


def student_run(folder, device, out):
    seconds = run([sys.executable, "-m", "locked.train", "--synthetic", "--submission", str(folder), "--device", device,
                   "--out", str(out)])
    val = json.loads(out.read_text())["val"]
    return seconds, val["auc"], val["mel_recall"]


def suite(only, device, jobs, out):
    return run([sys.executable, "-m", "instructor", "suite", "solutions/", "--only", only, "--synthetic", "--rerun",
                "--device", device, "-j", str(jobs), "--out", str(out), "--no-progress"])


def identical(first, second, names):
    same = {}
    for name in names:
        a, b = np.load(first / name / "predictions.npz"), np.load(second / name / "predictions.npz")
        same[name] = all(np.array_equal(a[k], b[k]) for k in a.files)
    return same


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--only", default="1-22")
    p.add_argument("-j", "--jobs", type=int, default=4)
    p.add_argument("--out", default="runs/bench_gpu")
    p.add_argument("--skip-student", action="store_true", help="skip step 1 (its CPU runs take minutes)")
    args = p.parse_args()
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    import torch
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    print(f"device: {args.device} ({name}); torch {torch.__version__}")
    if not args.skip_student:
        print(f"\n{'student run':<34}{'device':>8}{'wall s':>9}{'val AUC':>9}{'mel rec':>9}")
        for folder in ("student", "solutions/exp_21_best_custom_cnn"):
            for device in ("cpu", args.device):
                s, auc, mel = student_run(ROOT / folder, device, out / f"{Path(folder).name}-{device}.json")
                print(f"{folder:<34}{device:>8}{s:>9.1f}{auc:>9.4f}{mel:>9.3f}")
    wall = suite(args.only, args.device, args.jobs, out / "suite")
    print(f"\nsuite --only {args.only} on {args.device}, -j {args.jobs}: {wall:.0f} s" + (
        f" (the course's 1-22 on an M1 Max: {COURSE_M1_MAX_S} s; {COURSE_M1_MAX_S / wall:.1f}x faster)"
        if args.only == "1-22" else ""))
    names = sorted(d.name for d in (out / "suite").iterdir() if (d / "predictions.npz").exists())
    again = [n for n in names if n.startswith(("exp_01_", "exp_21_"))]
    if again:
        nums = ",".join(str(int(n.split("_")[1])) for n in again)
        suite(nums, args.device, min(args.jobs, len(again)), out / "regrade")
        print("regrade bit-identical:", identical(out / "suite", out / "regrade", again))


if __name__ == "__main__":
    main()

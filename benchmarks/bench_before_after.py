"""One submission graded by two versions of the grader, side by side in one run: did a change cost time?

    python benchmarks/bench_before_after.py [--before HEAD] [--submission solutions/exp_01_baseline] [--repeats 3]
                                            [--scale 1.0]

`--before` is a git revision, checked out into a temporary worktree; the other side is this working tree. The two
sides alternate (before, after, before, ...), each a fresh `python -m grader grade SUB --synthetic` process with
one thread on the same synthetic data, so machine load drifts onto both alike. Prints each run's wall time, the
medians and their ratio (after / before).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def grade_once(source, submission, data_dir, out, scale):
    env = {**os.environ, "DERMA_THREADS": "1", "DERMA_SYNTHETIC_SCALE": f"{scale:g}"}
    cmd = [sys.executable, "-m", "grader", "grade", str(submission), "--synthetic", "--data-dir", str(data_dir),
           "--out", str(out)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"{source}: grading failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.monotonic() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="HEAD", help="git revision of the 'before' side (default: HEAD)")
    ap.add_argument("--submission", default=str(ROOT / "solutions" / "exp_01_baseline"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="synthetic stand-in scale (default: full size)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-before-after-") as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        env = {**os.environ, "DERMA_SYNTHETIC_SCALE": f"{args.scale:g}"}
        subprocess.run([sys.executable, "-c", "import sys; from locked import data; data.locate(sys.argv[1], True)",
                        str(Path(tmp) / "data")], cwd=ROOT, env=env, check=True)  # the data, made before timing
        try:
            sides, times = {"before": before, "after": ROOT}, {"before": [], "after": []}
            for i in range(args.repeats):
                for name, source in sides.items():
                    seconds = grade_once(source, Path(args.submission).resolve(), Path(tmp) / "data",
                                         Path(tmp) / f"out-{name}-{i}", args.scale)
                    times[name].append(seconds)
                    print(f"run {i + 1} {name:6s} {seconds:6.2f} s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"\nmedian of {args.repeats}: before ({args.before}) {med['before']:.2f} s, after (working tree) "
          f"{med['after']:.2f} s, ratio {med['after'] / med['before']:.3f}")


if __name__ == "__main__":
    main()

"""Grader overhead and Gradescope fit, measured side by side in one run.

    python benchmarks/bench_grader.py [--experiments exp_01_baseline,exp_21_best_custom_cnn] [--repeats 1]

For each experiment, alternating the two sides:
  grade     wall time of `python -m grader grade SUB --synthetic` (a fresh process, 1 thread, full-size data)
            and the peak resident memory of its whole process tree (grader + sandboxed child), polled from /proc;
  in-process  the same config trained by `python -m locked.train --synthetic` with 1 thread: its own wall time,
            and the training time it reports (the loop alone).
Overhead = grade wall / in-process training time (target <= 1.15), and grade wall / in-process wall.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.sandbox import _descendants, _proc_table  # noqa: E402


def run_tree(cmd, env):
    """Run cmd; return (wall seconds, peak summed RSS MB of its process tree)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        table = _proc_table()
        peak = max(peak, sum(table[p][1] for p in _descendants({proc.pid}, table) if p in table) / 1024)
        time.sleep(0.05)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return time.monotonic() - t0, peak


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", default="exp_01_baseline,exp_21_best_custom_cnn")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    env = {**os.environ, "DERMAMNIST_SYNTHETIC": "1", "DERMA_THREADS": "1", "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", "from locked import data; data.load(synthetic_data=True)"],
                       cwd=ROOT, env=env, check=True)  # generate the data once, outside the timings
        for exp in args.experiments.split(","):
            sub = ROOT / "solutions" / exp
            for r in range(args.repeats):
                out = Path(tmp) / f"{exp}-{r}"
                g_wall, g_peak = run_tree([sys.executable, "-m", "grader", "grade", str(sub), "--synthetic",
                                           "--out", str(out)], env)
                record = json.loads((out / "grading_record.json").read_text())
                run_json = Path(tmp) / f"{exp}-{r}.json"
                i_wall, i_peak = run_tree([sys.executable, "-m", "locked.train", "--synthetic", "--device", "cpu",
                                           "--submission", str(sub), "--out", str(run_json)], env)
                i_train = json.loads(run_json.read_text())["train_seconds"]
                rows.append({"experiment": exp, "grade_wall_s": g_wall, "grade_peak_tree_mb": g_peak,
                             "sandbox_peak_mb": record["sandbox"]["peak_rss_mb"], "score": record["score"],
                             "inproc_wall_s": i_wall, "inproc_train_s": i_train, "inproc_peak_mb": i_peak,
                             "overhead_vs_train": g_wall / i_train, "overhead_vs_wall": g_wall / i_wall})
    print(f"{'experiment':<28} {'grade s':>8} {'train s':>8} {'inproc s':>9} {'/train':>7} {'/wall':>6} "
          f"{'tree MB':>8} {'inproc MB':>9}")
    for r in rows:
        print(f"{r['experiment']:<28} {r['grade_wall_s']:>8.1f} {r['inproc_train_s']:>8.1f} {r['inproc_wall_s']:>9.1f} "
              f"{r['overhead_vs_train']:>7.2f} {r['overhead_vs_wall']:>6.2f} {r['grade_peak_tree_mb']:>8.0f} "
              f"{r['inproc_peak_mb']:>9.0f}")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

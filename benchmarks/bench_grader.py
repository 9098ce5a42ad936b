"""Grader overhead and Gradescope fit, measured side by side in one run.

    python benchmarks/bench_grader.py [--experiments exp_01_baseline,exp_21_best_custom_cnn] [--repeats 1]
                                      [--python PATH]   # another interpreter, e.g. a venv with the CPU build of torch

For each experiment, alternating the two sides:
  grade     wall time of `python -m grader grade SUB --synthetic` (a fresh process, 1 thread, full-size data)
            and the peak resident memory of its whole process tree (grader + sandboxed child), polled from /proc;
  in-process  the same config trained by `python -m locked.train --synthetic` with 1 thread: its own wall time,
            and the training time it reports (the loop alone).
Overhead = grade wall / in-process training time (target <= 1.15), and grade wall / in-process wall. The child's
own training time (reported by grader/child.py) shows how much the sandbox slows the training loop itself.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.sandbox import _descendants, _memory_kb, _proc_table, _tree_memory_mb  # noqa: E402


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


def watchdog_poll_cost(py, polls=30):
    """Milliseconds of one watchdog poll beside a process that has imported torch and torchvision: the sandbox's
    own measure (RSS from /proc/PID/stat for one large process) against reading smaps_rollup (kept for forks)."""
    proc = subprocess.Popen([py, "-c", "import torch, torchvision, time; print(flush=True); time.sleep(120)"],
                            stdout=subprocess.PIPE)
    proc.stdout.readline()  # imports done
    try:
        costs = {}
        for name, measure in (("sandbox", _tree_memory_mb),
                              ("smaps_rollup", lambda tree, table: [_memory_kb(p, table[p][1]) for p in tree])):
            t0 = time.perf_counter()
            for _ in range(polls):
                table = _proc_table()
                measure(_descendants({proc.pid}, table), table)
            costs[name] = (time.perf_counter() - t0) / polls * 1000
        return costs
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", default="exp_01_baseline,exp_21_best_custom_cnn")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--python", default=sys.executable, help="interpreter for both sides (default: this one)")
    args = ap.parse_args()
    py = args.python
    env = {**os.environ, "DERMA_SYNTHETIC": "1", "DERMA_THREADS": "1", "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([py, "-c", "from locked import data; data.load(synthetic_data=True)"],
                       cwd=ROOT, env=env, check=True)  # generate the data once, outside the timings
        for exp in args.experiments.split(","):
            sub = ROOT / "solutions" / exp
            for r in range(args.repeats):
                out = Path(tmp) / f"{exp}-{r}"
                g_wall, g_peak = run_tree([py, "-m", "grader", "grade", str(sub), "--synthetic",
                                           "--out", str(out)], env)
                record = json.loads((out / "grading_record.json").read_text())
                run_json = Path(tmp) / f"{exp}-{r}.json"
                i_wall, i_peak = run_tree([py, "-m", "locked.train", "--synthetic", "--device", "cpu",
                                           "--submission", str(sub), "--out", str(run_json)], env)
                i_train = json.loads(run_json.read_text())["train_seconds"]
                rows.append({"experiment": exp, "grade_wall_s": g_wall, "grade_peak_tree_mb": g_peak,
                             "sandbox_peak_mb": record["sandbox"]["peak_rss_mb"], "score": record["score"],
                             "child_train_s": record["train_seconds"],
                             "inproc_wall_s": i_wall, "inproc_train_s": i_train, "inproc_peak_mb": i_peak,
                             "overhead_vs_train": g_wall / i_train, "overhead_vs_wall": g_wall / i_wall})
    poll = watchdog_poll_cost(py)
    print(f"watchdog poll beside an idle torch process: {poll['sandbox']:.1f} ms as the sandbox measures, "
          f"{poll['smaps_rollup']:.1f} ms with smaps_rollup (the sandbox polls every 0.1 s)")
    version = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    print(f"{py}: torch {version.stdout.strip()}; load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{'experiment':<28} {'grade s':>8} {'child train s':>13} {'train s':>8} {'inproc s':>9} {'/train':>7} "
          f"{'/wall':>6} {'tree MB':>8} {'inproc MB':>9}")
    for r in rows:
        print(f"{r['experiment']:<28} {r['grade_wall_s']:>8.1f} {r['child_train_s']:>13.1f} "
              f"{r['inproc_train_s']:>8.1f} {r['inproc_wall_s']:>9.1f} {r['overhead_vs_train']:>7.2f} "
              f"{r['overhead_vs_wall']:>6.2f} {r['grade_peak_tree_mb']:>8.0f} {r['inproc_peak_mb']:>9.0f}")
    if args.repeats > 1:  # single runs vary by +-15% on a shared VM; medians of alternated runs are the figures
        print("medians:")
        for exp in args.experiments.split(","):
            med = {k: statistics.median(r[k] for r in rows if r["experiment"] == exp)
                   for k in ("grade_wall_s", "child_train_s", "inproc_train_s", "inproc_wall_s", "grade_peak_tree_mb")}
            print(f"{exp:<28} {med['grade_wall_s']:>8.1f} {med['child_train_s']:>13.1f} {med['inproc_train_s']:>8.1f} "
                  f"{med['inproc_wall_s']:>9.1f} {med['grade_wall_s'] / med['inproc_train_s']:>7.2f} "
                  f"{med['grade_wall_s'] / med['inproc_wall_s']:>6.2f} {med['grade_peak_tree_mb']:>8.0f}")
    print(json.dumps({"watchdog_poll_ms": poll, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()

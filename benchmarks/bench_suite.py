"""The suite's speed levers, measured side by side in one run.

    python benchmarks/bench_suite.py [--only 1,3] [--scale 1.0] [--jobs 1,2] [--out runs/bench_suite] [--json F]

Levers measured:
  parallel sandboxes  `python -m instructor suite solutions/ --only ONLY --synthetic --rerun -j N` for each N in
                      --jobs (default 1 and 2), one after the other on the same data: wall time, and whether every
                      experiment's saved predictions are bit-identical between the two (they must be: same thread
                      count, same machine).
  per-sandbox start-up  from the grading records of those runs, per experiment: the sandboxed child's wall time
                      minus its own training time (interpreter, `import torch`, data, model build, preprocessing
                      check, prediction), the grader's time around the sandbox (data, layout, scoring, writing), and
                      the worker process's (a fresh interpreter per grading); and, alone, a fresh interpreter's
                      `import torch, torchvision` (what every sandbox pays first).
  --floor             then, in the same run, bench_levers.py's floor for the same experiments (each one's training
                      steps and validation passes alone, one core each) and the ratio of the last -j run's wall time
                      to that floor on this machine's cores: what data, start-up and scoring add to the arithmetic.
The CPU build of torch, torch.compile, mixed precision and data handling in the loop: benchmarks/bench_levers.py.

The machine may be shared: the script prints the load average before and after; wall times on a loaded machine are
upper bounds and the -j1/-j2 ratio is only as good as the load was steady.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from instructor import runs, suite  # noqa: E402


def load():
    return os.getloadavg()[0]


def import_seconds(repeats=3):
    """Median wall time of a fresh `python -I -c 'import torch, torchvision'` (the sandbox's first cost)."""
    times = []
    for _ in range(repeats):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-I", "-c", "import torch, torchvision"], check=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_NUM_THREADS": "1"})
        times.append(time.monotonic() - t0)
    return statistics.median(times)


def per_experiment(out):
    """{id: seconds split into training, child start-up and prediction, grader around the sandbox, worker}."""
    rows = {}
    for record, info in runs.graded(out):
        box = record.get("sandbox") or {}
        train = record.get("train_seconds")  # the child times engine.fit alone
        rows[info["id"]] = {
            "train_s": train, "sandbox_s": box.get("seconds"), "grade_s": record.get("seconds"),
            "worker_s": info.get("worker_seconds"),
            "child_overhead_s": box["seconds"] - train if train is not None else None,
            "grader_overhead_s": record["seconds"] - box["seconds"],
            "worker_overhead_s": info["worker_seconds"] - record["seconds"] if info.get("worker_seconds") else None}
    return rows


def identical(out_a, out_b, ids):
    import numpy as np

    same = {}
    for eid in ids:
        a, b = Path(out_a) / eid / runs.PREDICTIONS, Path(out_b) / eid / runs.PREDICTIONS
        if not (a.exists() and b.exists()):
            same[eid] = None
            continue
        with np.load(a) as x, np.load(b) as y:
            same[eid] = all(np.array_equal(x[s], y[s]) for s in ("val", "test"))
    return same


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="1,3", help="experiment numbers (default 1,3)")
    ap.add_argument("--scale", type=float, default=1.0, help="synthetic data scale (default 1: official sizes)")
    ap.add_argument("--jobs", default="1,2", help="sandboxes at once to compare (default 1,2)")
    ap.add_argument("--out", default="runs/bench_suite")
    ap.add_argument("--time-limit", type=float, default=1800, help="per run; generous so load cannot time out")
    ap.add_argument("--floor", action="store_true", help="also measure the compute floor and print the ratio")
    ap.add_argument("--json", help="write the raw figures here")
    args = ap.parse_args(argv)
    os.environ["DERMA_SYNTHETIC_SCALE"] = str(args.scale)
    only, jobs = suite.parse_only(args.only), [int(j) for j in args.jobs.split(",")]
    result = {"only": only, "scale": args.scale, "hardware": suite.hardware(), "load_before": load(), "runs": {}}
    print(f"load average before: {result['load_before']:.1f} on {result['hardware']['cores']} cores")
    result["import_torch_s"] = import_seconds()
    print(f"fresh interpreter, import torch + torchvision: {result['import_torch_s']:.1f} s (median of 3)")
    for j in jobs:
        out = Path(args.out) / f"j{j}"
        start_load = load()
        summary = suite.run(ROOT / "solutions", out, synthetic=True, only=only, rerun=True, progress=False,
                            log=lambda msg: None, jobs=j, time_limit=args.time_limit)
        result["runs"][j] = {"wall_s": summary["wall_seconds"], "load_start": start_load, "load_end": load(),
                             "experiments": per_experiment(out), "failed": summary["failed"]}
        print(f"-j {j}: {summary['wall_seconds']:.1f} s wall for {len(only)} experiments "
              f"(load {start_load:.1f} -> {load():.1f})")
    ids = sorted(result["runs"][jobs[0]]["experiments"])
    if len(jobs) > 1:
        result["bit_identical"] = identical(Path(args.out) / f"j{jobs[0]}", Path(args.out) / f"j{jobs[-1]}", ids)
    print(f"\n{'experiment':<28}" + "".join(f"{'-j' + str(j) + ' train':>11}{'child+':>8}{'grader+':>8}{'worker+':>8}"
                                           for j in jobs) + f"{'identical':>10}")
    for eid in ids:
        line = f"{eid:<28}"
        for j in jobs:
            e = result["runs"][j]["experiments"].get(eid, {})
            line += "".join(f"{v:{w}.1f}" if isinstance(v, (int, float)) else f"{'-':>{w}}" for v, w in (
                (e.get("train_s"), 11), (e.get("child_overhead_s"), 8), (e.get("grader_overhead_s"), 8),
                (e.get("worker_overhead_s"), 8)))
        print(line + f"{str(result.get('bit_identical', {}).get(eid, '-')):>10}")
    walls = {j: result["runs"][j]["wall_s"] for j in jobs}
    if len(jobs) > 1:
        print(f"\nspeed-up -j{jobs[-1]} over -j{jobs[0]}: {walls[jobs[0]] / walls[jobs[-1]]:.2f}x "
              f"({walls[jobs[0]]:.0f} s -> {walls[jobs[-1]]:.0f} s)")
    print("child+ = sandbox wall - training (interpreter, imports, data, build, checks, prediction); grader+ = "
          "grading - sandbox; worker+ = worker process - grading. Seconds.")
    if args.floor:
        import bench_levers  # beside this file
        floor = bench_levers.floor(argparse.Namespace(only=only, steps=40, data_dir=None))
        result["floor"] = floor
        result["suite_over_floor"] = walls[jobs[-1]] / floor["wall_floor_s"]
        print(f"\nsuite -j{jobs[-1]} {walls[jobs[-1]]:.0f} s over its compute floor {floor['wall_floor_s']:.0f} s "
              f"({floor['core_seconds']:.0f} core-seconds on {bench_levers.CORES} cores): "
              f"**{result['suite_over_floor']:.2f}x**")
    result["load_after"] = load()
    print(f"load average after: {result['load_after']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

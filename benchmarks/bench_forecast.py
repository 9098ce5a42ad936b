"""Check locked.train's grading-time forecast against the grader's actual time, on this machine.

    DERMA_DATA_DIR=/tmp/standin python benchmarks/bench_forecast.py 1 2 5 6 7 --out runs/forecast

For each solution: the one-thread speed probe of `locked.train.probe` (CPU seconds, forecast for a full core:
cpu_share=1), then `python -m grader grade` on the same synthetic data. Actuals: the CPU time of the grading
(getrusage of the reaped children: the grader's parent, about 2 s of it, plus the sandboxed child) and the sandbox's
wall time, which is what the rubric's limit applies to and equals the CPU time only on an otherwise idle core.
Prints one row per solution and writes OUT/forecast.json.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DERMA_THREADS", "1")

from locked import data, train  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiments", nargs="+", type=int)
    ap.add_argument("--out", default="runs/forecast")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = data.load(synthetic_data=True)
    rows = []
    for num in args.experiments:
        folder = next((REPO / "solutions").glob(f"exp_{num:02d}_*"))
        t0 = time.perf_counter()
        fc, _ = train.probe(folder, splits)
        probe_s = time.perf_counter() - t0
        full_core = fc["full_core_seconds"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "grader", "grade", str(folder), "--synthetic", "--out",
                        str(out / folder.name), "--time-limit", "1800"], cwd=REPO, check=True,
                       capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        record = json.loads((out / folder.name / "grading_record.json").read_text())
        wall = record["sandbox"]["seconds"]
        rows.append({"experiment": folder.name, "forecast_full_core_s": full_core, "actual_cpu_s": cpu,
                     "actual_sandbox_wall_s": wall, "error_vs_cpu": full_core / cpu - 1, "probe_s": probe_s,
                     "epochs": fc["epochs"], "load_average": os.getloadavg()[0]})
        print(f"{folder.name:<28} forecast {full_core:6.1f} s  actual CPU {cpu:6.1f} s ({full_core / cpu - 1:+.0%})"
              f"  sandbox wall {wall:6.1f} s; probe took {probe_s:.1f} s; load {os.getloadavg()[0]:.1f}",
              flush=True)
        (out / "forecast.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

"""What the sandbox's isolation costs per grading (issue 11 allows at most 1 s).

    python benchmarks/bench_sandbox.py [--reps 10] [--before DIR] [--gradings 3]

1. Isolation alone: a trivial child (`python -I -c pass`) through grader.sandbox.Sandbox (folder, uid lock, seal,
   cgroup, run, cleanup), alternating the bubblewrap view with the hand-written fallback (no bubblewrap), `--reps`
   times each; medians.
2. With `--before DIR` (a checkout of an earlier commit, e.g. `git archive d8a559a | tar -x -C DIR`): the honest
   test submission graded by `python -m grader grade ... --synthetic` in this tree and in DIR, alternating,
   `--gradings` times each: median wall time, median sandbox seconds, and the grader's own peak RSS (its
   children excluded). On a shared machine the load average printed matters: only alternated medians compare.
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

from grader import rubric, sandbox  # noqa: E402

HONEST = "instructor_tests/grader_submissions/honest"
PEAK = ("import resource, runpy, sys; sys.argv = sys.argv[1:]\n"
        "try:\n    runpy.run_module('grader', run_name='__main__')\n"
        "finally:\n    print('PARENT_MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")


def trivial_run(view):
    state = sandbox._bwrap_state.get("result")
    if not view:
        sandbox._bwrap_state["result"] = (None, "benchmark: fallback")
    try:
        t0 = time.monotonic()
        with sandbox.Sandbox(rubric.load().limits) as sb:
            sb.seal()
            out = sb.run([sys.executable, "-I", "-c", "pass"], env={"PATH": "/usr/bin:/bin"})
        assert out.returncode == 0, out
        return time.monotonic() - t0, out.isolation
    finally:
        if state is not None:
            sandbox._bwrap_state["result"] = state
        else:
            sandbox._bwrap_state.pop("result", None)


def grading(tree, out):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", PEAK, "grader", "grade", HONEST, "--synthetic", "--out", str(out)],
                          cwd=tree, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    record = json.loads((Path(out) / "grading_record.json").read_text())
    return wall, record["sandbox"]["seconds"], int(proc.stdout.rsplit("PARENT_MAXRSS_KB", 1)[1].split()[0]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--before", help="a checkout of an earlier commit to compare whole gradings with")
    ap.add_argument("--gradings", type=int, default=3)
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()}; bubblewrap: {sandbox.bubblewrap()}")
    times = {True: [], False: []}
    for _ in range(args.reps):
        for view in (True, False):
            seconds, isolation = trivial_run(view)
            times[view].append(seconds)
    for view, label in ((True, "bubblewrap view"), (False, "fallback (no view)")):
        print(f"trivial child, {label}: median {statistics.median(times[view]):.3f} s over {args.reps}")
    print(f"isolation cost of the view: {statistics.median(times[True]) - statistics.median(times[False]):+.3f} s")
    if args.before:
        rows = {"before": [], "after": []}
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.gradings):
                for side, tree in (("before", args.before), ("after", ROOT)):
                    rows[side].append(grading(tree, Path(tmp) / f"{side}{i}"))
        for side, got in rows.items():
            wall, box, rss = (statistics.median(x) for x in zip(*got))
            print(f"honest grading, {side}: wall {wall:.1f} s, sandbox {box:.1f} s, grader's own peak RSS "
                  f"{rss:.0f} MB (medians of {len(got)}: {[round(g[0], 1) for g in got]})")
        print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

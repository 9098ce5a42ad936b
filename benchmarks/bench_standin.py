"""Does the synthetic stand-in still teach the course's lessons? Train solutions directly with the locked loop.

    DERMA_DATA_DIR=/tmp/standin python benchmarks/bench_standin.py 8 14 15 3 4 --out runs/standin

One experiment per process call, 1 thread (the grader's setting), full-size synthetic data, validation metrics.
Each result is written to OUT/exp_NN.json as soon as it finishes (the run record of locked.train plus the wall
time), so a long batch can be read while it runs. The targets it is checked against are in docs/DIAGNOSIS.md.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DERMA_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locked import data, train  # noqa: E402

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiments", nargs="+", type=int)
    ap.add_argument("--out", default="runs/standin")
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args(argv)
    splits = data.load(synthetic_data=True, scale=args.scale)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for num in args.experiments:
        folder = next(SOLUTIONS.glob(f"exp_{num:02d}_*"))
        t0 = time.perf_counter()
        record = train.run(folder, splits, device="cpu", log=lambda *a: None, progress=False)
        record["wall_seconds"] = time.perf_counter() - t0
        (out / f"exp_{num:02d}.json").write_text(json.dumps(record, indent=1))
        v = record["val"]
        print(f"exp {num:02d} {folder.name:<28} val AUC {v['auc']:.4f} mel recall {v['mel_recall']:.2f} "
              f"acc {v['accuracy']:.3f} train {record['train_seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()

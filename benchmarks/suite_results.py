"""docs/SUITE_RESULTS.md's tables, from a suite folder: each experiment beside the course's published figures, and
the rank correlation (Spearman) of this run's validation AUC with the course's.

    python -m instructor suite solutions/ --only 1-22 --synthetic --out runs/suite_full -j 2
    python benchmarks/suite_results.py runs/suite_full > table.md
"""
import json
import sys
from pathlib import Path

from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from instructor import suite  # noqa: E402


def _f(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


def main(folder):
    ctx = suite.read(folder)
    published = {e["id"]: e["reported"] for e in json.loads((ROOT / "solutions" / "published.json").read_text())
                 ["experiments"]}
    run = (ctx["meta"].get("runs") or [{}])[-1]
    print(f"Data: {ctx['data'].get('label', '?')}. Hardware: "
          f"{suite.hardware_label(run.get('hardware') or {}, run.get('threads'))}, {run.get('jobs', 1)} sandbox(es) "
          f"at once. Wall time: {run.get('wall_seconds', 0):.0f} s for {len(ctx['rows'])} experiments.\n")
    print("| # | experiment | val AUC | mel recall | cancer sens. | test AUC | params | train s | published AUC "
          "| published mel recall |\n|---|---|---|---|---|---|---|---|---|---|")
    ours, theirs = [], []
    for i, r in enumerate((r for r in ctx["rows"] if r["status"] == "ok"), 1):
        pub = published.get(r["id"], {})
        print(f"| {i} | {r['id']} | {_f(r['val_auc'])} | {_f(r['val_mel_recall'], 2)} | "
              f"{_f(r['val_cancer_sensitivity'], 2)} | {_f(r['test_auc'])} | {r['params']:,} | "
              f"{r['train_seconds']:.0f} | {_f(pub.get('auc'), 3)} | {_f(pub.get('mel_recall'), 2)} |")
        if pub.get("auc") is not None:
            ours.append(r["val_auc"])
            theirs.append(pub["auc"])
    rho = spearmanr(ours, theirs).statistic
    print(f"\nSpearman rank correlation of this run's validation AUC with the course's published AUC, over the "
          f"{len(ours)} experiments above: **{rho:.2f}**.")


if __name__ == "__main__":
    main(sys.argv[1])

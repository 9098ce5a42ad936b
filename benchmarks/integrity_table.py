"""The perturbed-vs-plain test AUC table of docs/INTEGRITY.md, from a suite folder's grading records.

    DERMA_SYNTHETIC_SCALE=0.2 python -m instructor suite solutions --only 1-22 --synthetic --out runs/int -j 2
    python benchmarks/integrity_table.py runs/int > table.md

One row per graded experiment: val AUC, the test AUC on plain and perturbed images (the grader's own, in each
record's `integrity`), the drop, the AUC per perturbation kind ("-" where that quarter lacks a class), test minus
val, and the flags the grader raised.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from instructor import runs  # noqa: E402


def _f(value, signed=False):
    return "-" if value is None else f"{value:+.3f}" if signed else f"{value:.3f}"


def main(folder):
    rows = ["| experiment | val AUC | test AUC plain | perturbed | drop | flip | shift | noise | JPEG | test - val "
            "| flags |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for record in runs.read(folder)["records"].values():
        review, val = record.get("integrity") or {}, (record["metrics"].get("val") or {})
        if "plain_auc" not in review:
            continue
        kinds = review.get("by_kind") or {}
        flags = ", ".join(f["kind"] for f in review["flags"]) or "none"
        rows.append(f"| {Path(record['submission']).name} | {_f(val.get('auc'))} | {_f(review['plain_auc'])} | "
                    f"{_f(review['perturbed_auc'])} | {_f(review['drop'], True)} | "
                    + " | ".join(_f(kinds.get(k)) for k in ("flip", "shift", "noise", "jpeg"))
                    + f" | {_f(review.get('val_gap'), True)} | {flags} |")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1])

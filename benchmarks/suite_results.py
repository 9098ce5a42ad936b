"""docs/SUITE_RESULTS.md's tables, from a suite folder: each experiment beside the course's published figures, the
rank correlation (Spearman) of this run's validation AUC with the course's, and whether the run shows the course's
lessons at the size the course measured them (LESSONS: the stand-in's calibration targets, issue 22).

    python -m instructor suite solutions/ --only 1-22 --synthetic --out runs/suite_full -j 2
    python benchmarks/suite_results.py runs/suite_full > table.md
"""
import json
import sys
from pathlib import Path

from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from instructor import runs  # noqa: E402


def _f(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


#: The course's table in miniature: what a run on the stand-in must show. Each lesson: what it says, its target,
#: what to show of a run and whether the run holds it; `v` maps an experiment's number to (val AUC, melanoma
#: recall), `rho` is the ranking's Spearman. The course's column comes from solutions/published.json.
LESSONS = [
    ("the baseline misses the target and most melanomas", "AUC <= 0.86, recall <= 0.15",
     lambda v, rho: f"AUC {v[1][0]:.3f}, recall {v[1][1]:.2f}",
     lambda v, rho: v[1][0] <= 0.86 and v[1][1] <= 0.15),
    ("a model can win on AUC and still miss melanomas", "exp 17 or 18: AUC >= 0.90 with recall <= 0.20",
     lambda v, rho: f"17: {v[17][0]:.3f} / {v[17][1]:.2f}; 18: {v[18][0]:.3f} / {v[18][1]:.2f}",
     lambda v, rho: any(v[e][0] >= 0.90 and v[e][1] <= 0.20 for e in (17, 18))),
    ("class weights catch more melanomas", "exp 15 recall >= exp 08 + 0.15",
     lambda v, rho: f"{v[15][1]:.2f} vs {v[8][1]:.2f}",
     lambda v, rho: v[15][1] - v[8][1] >= 0.15),
    ("the train-only Normalize collapses the AUC", "exp 14 AUC <= 0.65",
     lambda v, rho: f"{v[14][0]:.3f}",
     lambda v, rho: v[14][0] <= 0.65),
    ("too small a learning rate does not learn", "exps 03 and 04 AUC <= 0.70",
     lambda v, rho: f"{v[3][0]:.3f}, {v[4][0]:.3f}",
     lambda v, rho: max(v[3][0], v[4][0]) <= 0.70),
    ("the experiments rank as the course's do", "Spearman with the course's AUC >= 0.80",
     lambda v, rho: "-" if rho is None else f"{rho:.2f}",
     lambda v, rho: rho >= 0.80),
]


def lessons(v, rho, course):
    """The LESSONS table as (lesson, target, course's figures, this run's, holds) rows; a lesson whose experiments
    were not in the run reads 'not run'."""
    out = []
    for lesson, target, show, check in LESSONS:
        try:
            out.append((lesson, target, show(course, None), show(v, rho), check(v, rho)))
        except KeyError:
            out.append((lesson, target, show(course, None), "not run", None))
    return out


def main(folder):
    ctx = runs.read(folder)
    published = {e["id"]: e["reported"] for e in json.loads((ROOT / "solutions" / "published.json").read_text())
                 ["experiments"]}
    run = (ctx["meta"].get("runs") or [{}])[-1]
    print(f"Data: {ctx['data'].get('label', '?')}. Hardware: "
          f"{runs.hardware_label(run.get('hardware') or {}, run.get('threads'))}, {run.get('jobs', 1)} sandbox(es) "
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
    run = {r["num"]: (r["val_auc"], r["val_mel_recall"]) for r in ctx["rows"] if r["status"] == "ok"}
    course = {int(k[4:6]): (p["auc"], p["mel_recall"]) for k, p in published.items() if p.get("auc") is not None}
    print("\n| the course's lesson | target | course (real data) | this run | holds |\n|---|---|---|---|---|")
    for lesson, target, theirs, mine, holds in lessons(run, rho, course):
        print(f"| {lesson} | {target} | {theirs} | {mine} | {'-' if holds is None else 'yes' if holds else '**no**'} |")


if __name__ == "__main__":
    main(sys.argv[1])

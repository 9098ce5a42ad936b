"""Which diagnosis rules fire on each of the course's solutions: the table in docs/DIAGNOSIS.md.

    python benchmarks/diagnosis_table.py [LABEL=RUNS_DIR ...] > table.md

Two sources per solution. The course's published figures (solutions/published.json: AUC, accuracy and per-class
recall, no history), through the rules that need only the per-class table; and any measured run records found in
RUNS_DIR (benchmarks/bench_standin.py's exp_NN.json, or a grader result folder's grading_record.json), through
every rule. LABEL names the data a folder's runs used (the first folder holding an experiment wins).
"""
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from locked import diagnosis  # noqa: E402
from locked.info import CLASS_NAMES, OFFICIAL_COUNTS  # noqa: E402


def published_metrics(reported):
    support = dict(zip(CLASS_NAMES, OFFICIAL_COUNTS["val"]))
    return {"auc": reported["auc"], "accuracy": reported["accuracy"], "mel_recall": reported["mel_recall"],
            "per_class": {c: {"recall": reported["per_class"][c]["recall"], "support": support[c]}
                          for c in CLASS_NAMES}}


def measured(args):
    """{experiment number: (findings, val AUC, label)} from run records in the LABEL=DIR folders."""
    found = {}
    for arg in args:
        label, _, folder = arg.rpartition("=")
        for path in sorted(Path(folder).rglob("*.json")):
            if path.name.startswith("exp_") and path.parent.name != "history":
                rec, num = json.loads(path.read_text()), int(path.stem[4:6])
                result = (diagnosis.diagnose(rec["history"], rec["val"], rec.get("config"), rec.get("preprocessing")),
                          rec["val"]["auc"], label)
            elif path.name == "grading_record.json" and path.parent.name.startswith("exp_"):
                rec, num = json.loads(path.read_text()), int(path.parent.name[4:6])
                result = diagnosis.grading_record_findings(rec), rec["metrics"]["val"]["auc"], label
            else:
                continue
            found.setdefault(num, result)
    return found


def main(argv=None):
    runs = measured(argv if argv is not None else sys.argv[1:])
    pub = json.loads((REPO / "solutions" / "published.json").read_text())
    print("| # | experiment | published: AUC, mel recall | rules on published figures | synthetic val AUC (data) | "
          "rules on the synthetic run |")
    print("|---|---|---|---|---|---|")
    for exp in pub["experiments"]:
        r = exp["reported"]
        rules = [f["rule"] for f in diagnosis.diagnose([], published_metrics(r))]
        num = exp["num"]
        syn = runs.get(num)
        syn_cells = (f"{syn[1]:.3f} ({syn[2]}) | {', '.join(f['rule'] for f in syn[0]) or 'none'}" if syn
                     else "not run | -")
        print(f"| {num} | {exp['id']} | {r['auc']:.3f}, {r['mel_recall']:.2f} | {', '.join(rules) or 'none'} | "
              f"{syn_cells} |")


if __name__ == "__main__":
    main()

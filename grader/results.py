"""What the grader writes: Gradescope's results.json (with leaderboard), the full record, the report card."""
import json
from pathlib import Path

from grader import resultfile
from locked import report

LEADERBOARD = (  # (name, metric key in the test metrics or record, order)
    ("Test AUC", "auc", "desc"),
    ("Melanoma recall", "mel_recall", "desc"),
    ("Cancer sensitivity", "cancer_sensitivity", "desc"),
    ("Parameters", "params", "asc"),
    ("Training time (s)", "seconds", "asc"),
)


MAX_RESULTS_BYTES = 1_000_000  # Gradescope's results.json, whatever the submission printed, named or reported
MAX_NAME = 200                 # characters of one ignored file's name shown
MAX_TEST_OUTPUT = 8_000        # characters of one check's output


def _cut(text, limit):
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit:,} characters cut]"


def report_card(record):
    """The human-readable summary: every check, then the per-class tables, then the data banner."""
    lines = [f"DermaMNIST 'Beat the Baseline' grade: {record['score']:g} / {record['max_score']:g}",
             report.data_banner(record["data"]), ""]
    for t in record["tests"]:
        mark = "PASS" if t["status"] == "passed" else "FAIL"
        lines.append(f"[{mark}] {t['name']}: {t['score']:g}/{t['max_score']:g}")
        lines.extend("    " + line for line in _cut(t["output"], MAX_TEST_OUTPUT).splitlines())
    for split in ("test", "val"):
        m = record["metrics"].get(split)
        if m:
            lines += ["", f"{split.capitalize()} split ({m['n']} images):", report.per_class_table(m),
                      report.headline(m), report.verdict(m)]
    if record.get("ignored_files"):
        lines += ["", "Ignored (only model.py and train_config.py are graded): "
                  + ", ".join(_cut(name, MAX_NAME) for name in record["ignored_files"])]
    lines += ["", f"Sandbox: {'; '.join(record['sandbox']['isolation'])}."]
    if record["sandbox"].get("output"):
        lines += ["", "Your code's printed output (truncated):", record["sandbox"]["output"]]
    return "\n".join(lines)


def gradescope(record):
    """results.json in Gradescope's schema, under MAX_RESULTS_BYTES: the printed output is cut first, then the
    report card, so the checks and scores always arrive."""
    results = _gradescope(record)
    for printed in (16_000, 0):
        if len(json.dumps(results, indent=1).encode()) <= MAX_RESULTS_BYTES:
            return results
        sandbox = {**record["sandbox"], "output": _cut(record["sandbox"].get("output") or "", printed)}
        results = _gradescope({**record, "sandbox": sandbox})
    results["output"] = _cut(results["output"], MAX_RESULTS_BYTES // 4)
    return results


def _gradescope(record):
    results = {
        "score": record["score"],
        "execution_time": int(round(record["seconds"])),
        "output": report_card(record),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{k: t[k] for k in ("name", "score", "max_score", "status", "visibility")}
                  | {"output": _cut(t["output"], MAX_TEST_OUTPUT), "number": str(i + 1)}
                  for i, t in enumerate(record["tests"])],
    }
    test = record["metrics"].get("test")
    if test:
        values = {**test, "params": record.get("params"), "seconds": record.get("train_seconds")}
        results["leaderboard"] = [{"name": name, "value": round(float(values[key]), 4), "order": order}
                                  for name, key, order in LEADERBOARD if values.get(key) is not None]
    return results


def write(out_dir, record):
    """Write results.json, grading_record.json and report.txt into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resultfile.write_atomic(out / "grading_record.json", json.dumps(record, indent=1, default=str))
    resultfile.write_atomic(out / "report.txt", report_card(record) + "\n")
    resultfile.write_atomic(out / "results.json", json.dumps(gradescope(record), indent=1))


def write_crash(out_dir, err, seconds=0.0):
    """The grader itself failed: still a valid results.json, score 0, and a message that it is not the student's fault."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = resultfile.fallback(f"{type(err).__name__}: {err}", seconds)
    resultfile.write_json(out / "results.json", results)
    return results["output"]

"""What the grader writes: Gradescope's results.json (with leaderboard), the full record, the report card."""
import json
import os
import shutil
from pathlib import Path

from locked import diagnosis, report

LEADERBOARD = (  # (name, metric key in the test metrics or record, order)
    ("Test AUC", "auc", "desc"),
    ("Melanoma recall", "mel_recall", "desc"),
    ("Cancer sensitivity", "cancer_sensitivity", "desc"),
    ("Parameters", "params", "asc"),
    ("Training time (s)", "seconds", "asc"),
)


def report_card(record):
    """The human-readable summary: every check, then the per-class tables, then the data banner."""
    lines = [f"DermaMNIST 'Beat the Baseline' grade: {record['score']:g} / {record['max_score']:g}",
             report.data_banner(record["data"]), ""]
    for t in record["tests"]:
        mark = "PASS" if t["status"] == "passed" else "FAIL"
        lines.append(f"[{mark}] {t['name']}: {t['score']:g}/{t['max_score']:g}")
        lines.extend("    " + line for line in t["output"].splitlines())
    for split in ("test", "val"):
        m = record["metrics"].get(split)
        if m:
            lines += ["", f"{split.capitalize()} split ({m['n']} images):", report.per_class_table(m),
                      report.headline(m), report.verdict(m)]
    lines += ["", diagnosis.from_grading_record(record)]
    if record.get("ignored_files"):
        lines += ["", "Ignored (only model.py and train_config.py are graded): " + ", ".join(record["ignored_files"])]
    lines += ["", f"Sandbox: {'; '.join(record['sandbox']['isolation'])}."]
    if record["sandbox"].get("output"):
        lines += ["", "Your code's printed output (truncated):", record["sandbox"]["output"]]
    return "\n".join(lines)


def gradescope(record):
    """results.json in Gradescope's schema."""
    results = {
        "score": record["score"],
        "execution_time": int(round(record["seconds"])),
        "output": report_card(record),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{k: t[k] for k in ("name", "score", "max_score", "status", "output", "visibility")}
                  | {"number": str(i + 1)} for i, t in enumerate(record["tests"])],
    }
    test = record["metrics"].get("test")
    if test:
        values = {**test, "params": record.get("params"), "seconds": record.get("train_seconds")}
        results["leaderboard"] = [{"name": name, "value": round(float(values[key]), 4), "order": order}
                                  for name, key, order in LEADERBOARD if values.get(key) is not None]
    return results


def _write_file(path, text):
    """Write `path` as a new regular file, atomically, whatever was there before.

    If the output folder is writable by the sandbox user, student code may have planted a symlink (we would
    write through it, as root), a directory, or a file it keeps open there: remove it and create a fresh file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    for old in (tmp, path):
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write(out_dir, record):
    """Write results.json, grading_record.json and report.txt into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_file(out / "grading_record.json", json.dumps(record, indent=1, default=str))
    _write_file(out / "report.txt", report_card(record) + "\n")
    _write_file(out / "results.json", json.dumps(gradescope(record), indent=1))


def write_crash(out_dir, err, seconds=0.0):
    """The grader itself failed: still a valid results.json, score 0, and a message that it is not the student's fault."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    message = (f"The grader itself failed ({type(err).__name__}: {err}). This is not a problem with your "
               "submission: please tell your instructor. Your score is 0 until it is regraded.")
    results = {"score": 0.0, "execution_time": int(seconds), "output": message, "visibility": "visible",
               "tests": [{"name": "Grader ran", "score": 0.0, "max_score": 0.0, "status": "failed",
                          "output": message, "visibility": "visible", "number": "1"}]}
    _write_file(out / "results.json", json.dumps(results, indent=1))
    return message

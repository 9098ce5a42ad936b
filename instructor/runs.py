"""Result folders: the files `python -m instructor suite` and `grade-class` leave in OUT, and reading them back.

    OUT/<id>/       one submission's (or experiment's) grading: what the grader writes (grading_record.json, the
                    RECORD; results.json and the reports; predictions.npz, the PREDICTIONS: val and test
                    probabilities), experiment.json (EXPERIMENT: what it is, where and when it was graded, its resume
                    key) and grader.log (LOG)
    OUT/labels.npz  the val and test labels (LABELS, this user's alone) and labels.json (LABELS_DATA), their data
    OUT/suite.json  every run of the suite or class, and the current table (SUITE)

This module writes OUT's own files and reads every file back: for the runner (instructor/suite.py: which gradings
are finished and kept), the reports and the gradebook (the rows, the records, the labels and probabilities). It
imports no other instructor module, and never torch.
"""
import glob
import json
import os
from pathlib import Path

import numpy as np

from grader import resultfile
from locked import settings
from locked.info import TARGET_AUC, TARGET_MEL_RECALL

RECORD, PREDICTIONS, EXPERIMENT, LABELS, SUITE, LOG = (
    "grading_record.json", "predictions.npz", "experiment.json", "labels.npz", "suite.json", "grader.log")
LABELS_DATA = "labels.json"  # the data and its key that OUT/labels.npz holds the labels of
WEIGHTS_GLOB = "resnet18-*.pth"  # torchvision's cached ImageNet ResNet18 file name


# --- what a grading record says ----------------------------------------------------------------------------------

def weights_fix(message):
    """The 'Fix: ...' sentence of a WeightsUnavailable message (or the standard one)."""
    if message and "Fix:" in message:
        return "Fix: " + message.split("Fix:", 1)[1].strip()
    return "Fix: on a machine with internet, run `python -m locked.weights` once to cache the ImageNet weights."


def outcome(record):
    """('ok' | 'skipped' | 'failed', note) for one grading record."""
    metrics = record.get("metrics") or {}
    if metrics.get("val") is not None:
        return "ok", ""
    error = record.get("error") or {}
    message = error.get("message", "")
    if error.get("check") == "weights" or (not error and any("needs pretrained weights" in t.get("output", "")
                                                             for t in record.get("tests", []))):
        return "skipped", "skipped: weights not available. " + weights_fix(message or next(
            (t["output"] for t in record.get("tests", []) if "needs pretrained weights" in t.get("output", "")), ""))
    failed = [t for t in record.get("tests", []) if t["status"] == "failed" and t.get("ran", True)]
    reason = message or (failed[0]["output"] if failed else "no predictions")
    return "failed", "failed: " + reason


def summary_row(record, info):
    """One experiment's line of the suite table (plain JSON values; None where there is no number)."""
    status, note = outcome(record)
    val, test = (record.get("metrics") or {}).get("val"), (record.get("metrics") or {}).get("test")
    row = {**{k: info.get(k) for k in ("id", "num", "name", "chapter")}, "status": status, "note": note,
           "params": record.get("params"), "train_seconds": record.get("train_seconds"),
           "grade_seconds": record.get("seconds"), "score": record.get("score"),
           "max_score": record.get("max_score"),
           "flags": [f["kind"] for f in (record.get("integrity") or {}).get("flags", [])]}
    for split, m in (("val", val), ("test", test)):
        for key in ("auc", "mel_recall", "cancer_sensitivity", "balanced_accuracy", "accuracy"):
            row[f"{split}_{key}"] = m[key] if m else None
        row[f"{split}_recall"] = {c: v["recall"] for c, v in m["per_class"].items()} if m else None
    return row


def sort_rows(rows):
    """By validation macro AUC, best first; experiments without a number last, in their own order."""
    return sorted(rows, key=lambda r: (r["val_auc"] is None, -(r["val_auc"] or 0.0), r.get("num") or 0))


def format_table(rows):
    """The suite summary for the terminal."""
    head = (f"{'#':>3}  {'experiment':<27} {'val AUC':>7}  {'mel rec':>7}  {'cancer':>6}  {'test AUC':>8}  "
            f"{'params':>10}  {'train s':>7}")
    lines = [head, "-" * len(head)]
    low_mel = False
    for rank, r in enumerate(sort_rows(rows), 1):
        if r["status"] != "ok":
            lines.append(f"{'-':>3}  {r['id']:<27} {r['note']}")
            continue
        mark = "!" if r["val_mel_recall"] < TARGET_MEL_RECALL else " "
        low_mel |= mark == "!"
        train = f"{r['train_seconds']:7.1f}" if r["train_seconds"] is not None else f"{'-':>7}"
        lines.append(f"{rank:>3}  {r['id']:<27} {r['val_auc']:7.4f}  {r['val_mel_recall']:6.2f}{mark}  "
                     f"{r['val_cancer_sensitivity']:6.2f}  {r['test_auc']:8.4f}  {r['params']:>10,}  {train}"
                     + (f"  FLAGGED: {', '.join(r['flags'])}" if r.get("flags") else ""))
    lines.append(f"Sorted by validation macro AUC (target {TARGET_AUC:.2f}); mel rec = validation melanoma recall, "
                 "cancer = validation cancer sensitivity (mean recall of akiec, bcc, mel).")
    if low_mel:
        lines.append(f"! melanoma recall below {TARGET_MEL_RECALL:.2f}: misses more than half the melanomas.")
    if any(r.get("flags") for r in rows):
        lines.append("FLAGGED: the integrity review found a tell of memorised test labels; see the experiment's "
                     "instructor_report.txt (for review, not a penalty).")
    return "\n".join(lines)


def hardware_label(hw, threads=None):
    """A recorded machine (suite.json's or experiment.json's "hardware"), in words."""
    device = hw.get("device", "cpu")
    label = f"{hw.get('cpu', '?')}, {hw.get('cores', '?')} cores, {'CPU' if device == 'cpu' else 'trained on ' + device}"
    if threads:
        label += f", {threads} torch thread{'s' if int(threads) != 1 else ''} per run"
    return label


# --- reading a result folder -------------------------------------------------------------------------------------

def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def provenance_key(provenance):
    """What makes two gradings comparable: the same data and the same private test file, if any (not the same paths
    to them)."""
    if provenance.get("kind") == "synthetic":
        key = {"kind": "synthetic", "scale": float(provenance.get("scale", 1.0)),
               "generator_version": provenance.get("generator_version")}
    else:
        key = {"kind": provenance.get("kind"), "md5": provenance.get("md5")}
    test_md5 = (provenance.get("test") or {}).get("md5")
    return {**key, "test_md5": test_md5} if test_md5 else key


def weights_cached():
    """True if torchvision's ImageNet ResNet18 file is in the cache the grader hands to the sandbox."""

    return bool(glob.glob(os.path.join(settings.weights_cache(), WEIGHTS_GLOB)))


def finished(exp_dir, key):
    """The record in exp_dir, if it counts as done for data `key` (else None)."""
    record = read_json(Path(exp_dir) / RECORD)
    if not record or provenance_key(record.get("data") or {}) != key or record.get("grader_failure"):
        return None  # a grading the environment failed is never kept
    status, _ = outcome(record)
    if status == "ok" and not (Path(exp_dir) / PREDICTIONS).exists():
        return None  # graded before predictions were kept: grade again for the ensembles
    if status == "skipped" and weights_cached():
        return None  # the weights have arrived since: try again
    return record


def up_to_date(exp_dir, key):
    """The record in exp_dir if it is finished on this data (see finished) and was graded with the same resume key
    (suite.resume_key, plus the submission's under "submission"); else None."""
    info = read_json(Path(exp_dir) / EXPERIMENT) or {}
    return finished(exp_dir, key["data"]) if info.get("resume_key") == key else None


def graded(out):
    """(record, info) of every experiment graded under `out`, in folder order."""
    for exp_dir in sorted(p for p in Path(out).iterdir() if p.is_dir()):
        record, info = read_json(exp_dir / RECORD), read_json(exp_dir / EXPERIMENT)
        if record and info:
            yield record, info


def load_rows(out):
    """Every experiment graded under `out` (rows, unsorted), with its experiment.json info."""
    return [summary_row(record, info) for record, info in graded(out)]


def read(out):
    """Everything a finished or partial suite folder holds, for the reports: the suite log, the label provenance,
    the rows (and full records) graded on the labels' data (others listed as stale), the labels and each ok row's
    probabilities."""
    out = Path(out)
    meta = read_json(out / SUITE) or {}
    label_meta = read_json(out / LABELS_DATA) or {}
    key = label_meta.get("key") or meta.get("key")
    rows, stale, infos, records = [], [], {}, {}
    for record, info in graded(out):
        if key and provenance_key(record.get("data") or {}) != key:
            stale.append(info["id"])
            continue
        infos[info["id"]], records[info["id"]] = info, record
        rows.append(summary_row(record, info))
    labels, probas = None, {}
    if (out / LABELS).exists():
        with np.load(out / LABELS) as npz:
            labels = {s: np.array(npz[s]) for s in ("val", "test")}
        for r in rows:
            path = out / r["id"] / PREDICTIONS
            if r["status"] == "ok" and path.exists():
                with np.load(path) as npz:
                    probas[r["id"]] = {s: np.array(npz[s]) for s in ("val", "test")}
    return {"meta": meta, "data": label_meta.get("data") or meta.get("data") or {}, "rows": sort_rows(rows),
            "stale": stale, "infos": infos, "records": records, "labels": labels, "probas": probas}


# --- writing one -------------------------------------------------------------------------------------------------

def save_labels(out, splits, provenance):
    """OUT/labels.npz, readable by this user alone (0600 in a 0700 folder): it holds the held-out labels, and a
    sandboxed child running under another uid must not be able to read it even where it can see the host."""
    os.chmod(out, 0o700)
    path = Path(out) / LABELS
    if path.is_symlink() or path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        np.savez(f, val=splits.labels["val"], test=splits.labels["test"])
    (Path(out) / LABELS_DATA).write_text(json.dumps({"data": provenance, "key": provenance_key(provenance)},
                                                    indent=1))


def write_suite(out, provenance, key, hw, threads, solutions, runs):
    """OUT/suite.json: the data, the machine, every run of the suite, and the current table (after each experiment)."""
    suite = {"data": provenance, "key": key, "hardware": hw, "threads": threads,
             "solutions": str(Path(solutions).resolve()), "runs": runs, "experiments": sort_rows(load_rows(out))}
    resultfile.write_json(Path(out) / SUITE, suite)

"""What the grader writes: two documents, one per reader.

For the student: results.json (Gradescope's format: a short summary, then one entry per check, so each check is
read once), report.txt and report.html (the report card: every check shown now, the tables, the diagnosis, the
limits of the run, their own printed output).
For the instructor: grading_record.json (everything measured) and instructor_report.txt (the card with every check).
Instructor-only, never in a student's document: a held check (its name, points and test-set numbers; Gradescope
gets its entry with its visibility, and shows it when that allows), each check's visibility annotation, the
sandbox's mechanics (isolation, uid, cgroup, bubblewrap), the integrity review (flags, perturbations, grader key),
the submission's path on the grading machine.
"""
import html
import json
import re
from pathlib import Path

from grader import resultfile
from grader.rubric import TEST_CHECKS
from locked import diagnosis, report
from locked.text import shown

LEADERBOARD = (  # (name, metric key in the test metrics or record, order)
    ("Test AUC", "auc", "desc"),
    ("Melanoma recall", "mel_recall", "desc"),
    ("Cancer sensitivity", "cancer_sensitivity", "desc"),
    ("Parameters", "params", "asc"),
    ("Training time (s)", "train_seconds", "asc"),  # engine.fit alone, as in the suite and `locked.train`
)
TEST_METRICS = {"auc", "mel_recall", "cancer_sensitivity"}
MARKS = {"passed": "PASS", "partial": "PART", "failed": "FAIL"}
CHECK_LINE = re.compile(r"\W*\[(?:%s)\]" % "|".join(MARKS.values()), re.IGNORECASE)  # a check's line, or a forgery


MAX_RESULTS_BYTES = 1_000_000  # Gradescope's results.json, whatever the submission printed, named or reported
MAX_NAME = 200                 # characters of one ignored file's name shown
MAX_TEST_OUTPUT = 8_000        # characters of one check's output


def _cut(text, limit):
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit:,} characters cut]"


def _quoted(value):
    """Multi-line student text, printable, each line that starts like a check's ("[PASS] ...") quoted with "> ": a
    message or a print cannot add a check line to the report card."""
    return "\n".join("> " + line if CHECK_LINE.match(line) else line for line in shown(value).split("\n"))


def _safe(record):
    """A copy of `record` whose student text (the submission's path and file names, each check's output with the
    messages it quotes, the error, the printed output) is printable, encodes as UTF-8 and forges no check line.
    Every writer reads only this copy, so none can raise on what a student wrote, or show it raw."""
    safe = {**record, "tests": [{**t, "output": _quoted(t["output"])} for t in record["tests"]]}
    if "submission" in record:
        safe["submission"] = shown(record["submission"], one_line=True)
    if record.get("ignored_files"):
        safe["ignored_files"] = [shown(name, one_line=True) for name in record["ignored_files"]]
    if record.get("error"):
        error = record["error"]
        safe["error"] = {**error, "check": shown(error.get("check"), one_line=True),
                         "message": _quoted(error.get("message"))}
    if record["sandbox"].get("output"):
        safe["sandbox"] = {**record["sandbox"], "output": _quoted(record["sandbox"]["output"])}
    return safe


def _visible(test):
    return test["visibility"] == "visible"


def test_metrics_visible(record):
    """True when every check scored on the test set is visible now: only then may test numbers reach a student
    (the AUC and melanoma recall are those checks' results, whatever table or leaderboard they appear in)."""
    return all(_visible(t) for t in record["tests"] if t["key"] in TEST_CHECKS)


def _total(tests):
    """'88.32 / 90 + 10 extra credit = 98.32' (or '88.32 / 90' with no extra credit earned)."""
    required = sum(t["score"] for t in tests if not t.get("bonus"))
    maximum = sum(t["max_score"] for t in tests if not t.get("bonus"))
    extra = sum(t["score"] for t in tests if t.get("bonus"))
    text = f"{round(required, 4):g} / {maximum:g}"
    return text + (f" + {round(extra, 4):g} extra credit = {round(required + extra, 4):g}" if extra else "")


def _split_tables(record, student):
    metrics, lines = record["metrics"], []
    checks = (record.get("rubric") or {}).get("checks") or {}
    rule, auc = checks.get("mel_recall_bonus") or {}, checks.get("test_auc") or {}
    bonus = {k: rule[k] for k in ("threshold", "max_false_alarm") if k in rule}  # the rubric graded, not the course's
    bonus.update({"auc_target": auc["target"]} if "target" in auc else {})
    public = metrics.get("test_public")
    titles = {"test_public": "Public part of the test set ({n} images): feedback and leaderboard; the points come "
                             "from the other part",
              "test": "Private part of the test set ({n} images): the points" if public else "Test split ({n} images)",
              "val": "Val split ({n} images)"}
    for split in ("test_public", "test", "val"):
        m = metrics.get(split)
        if m and not (student and split == "test" and not test_metrics_visible(record)):
            lines += ["", titles[split].format(n=m["n"]) + ":", report.per_class_table(m), report.headline(m, **bonus),
                      report.verdict(m, **bonus)]
    return lines


def report_card(record, student=False):
    """The human-readable summary: every check, the per-class tables, the data banner.

    student=True: what a student may see now. A check that is not "visible" (and every test-set number while such a
    check exists) is left out entirely: name, points, metrics, and the total they are part of; so are the sandbox's
    mechanics. student=False: the instructor's view, with each check's visibility, the sandbox and the integrity
    review."""
    return _card(_safe(record), student)


def _card(record, student, checks=True):
    """checks=False: the card without its checks, for results.json, where each check has an entry of its own."""
    tests = [t for t in record["tests"] if _visible(t)] if student else record["tests"]
    held = student and len(tests) < len(record["tests"])
    head = "score on the checks shown so far" if held else "score"
    lines = [f"DermaMNIST 'Beat the Baseline' {head}: {_total(tests)}", report.data_banner(record["data"])]
    test_set = record["data"].get("test")
    if test_set and test_set.get("md5"):
        lines.append(f"Test set: private file ({test_set['n']:,} images, md5 {test_set['md5']}, "
                     f"{test_set['bytes']:,} bytes).")
    lines.append("")
    for t in tests if checks else ():
        tag = (" (extra credit)" if t.get("bonus") else "") + ("" if student or _visible(t) else
                                                               f"  [students see it: {t['visibility']}]")
        lines.append(f"[{MARKS[t['status']]}] {t['name']}: {t['score']:g}/{t['max_score']:g}{tag}")
        lines.extend("    " + line for line in _cut(t["output"], MAX_TEST_OUTPUT).splitlines())
    if not checks:
        lines.append("Each check's result and points are in its own entry below.")
    if held:
        lines += ["", "More checks are shown after the due date or when your instructor publishes grades."]
    lines += _split_tables(record, student)
    lines += ["", diagnosis.from_grading_record(record)]
    if record.get("ignored_files"):
        lines += ["", "Ignored (only model.py and train_config.py are graded): "
                  + ", ".join(_cut(name, MAX_NAME) for name in record["ignored_files"])]
    limits = (record.get("rubric") or {}).get("limits")
    if limits:
        threads = limits["threads"]
        where = f"{threads} CPU thread{'s' if threads != 1 else ''}"
        if limits.get("device", "cpu") != "cpu":
            where = f"the {limits['device']} device ({where} beside it)"
        lines += ["", f"Limits of the graded run: {limits['time_limit_s']:g} s and {limits['memory_limit_mb']:g} MB "
                      f"of memory, on {where}."]
    if not student:
        lines += ["", f"Sandbox: {'; '.join(record['sandbox']['isolation'])}."]
        cut = record.get("time_limit_cut")
        if cut:
            done = ("that model scored, the training check credited for the share of epochs done" if
                    cut["on_time_limit"] == "score" else "scored as a timeout")
            lines += ["", f"FLAG time limit: training stopped after {cut['epochs_trained']} of {cut['epochs_planned']} "
                          f"epochs, the next would not have finished in time; {done} (rubric on_time_limit = "
                          f"\"{cut['on_time_limit']}\")."]
        if record.get("integrity"):
            lines += ["", "Integrity review (instructor only; flags are for review, not a penalty):",
                      *_integrity_lines(record["integrity"])]
    if record["sandbox"].get("output"):
        lines += ["", "Your code's printed output (truncated):", record["sandbox"]["output"]]
    return "\n".join(lines)


def _integrity_lines(review):
    lines = []
    if review.get("perturbed_auc") is not None:
        kinds = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in review["by_kind"].items())
        lines.append(f"  test AUC plain {review['plain_auc']:.4f}, perturbed {review['perturbed_auc']:.4f} "
                     f"(drop {review['drop']:+.4f}; by kind: {kinds})")
    if review.get("val_gap") is not None:
        lines.append(f"  test AUC minus val AUC: {review['val_gap']:+.4f}")
    src = review.get("source") or {}
    if src:
        lines.append(f"  source: {src['source_compressed_bytes']:,} bytes compressed; largest literal "
                     f"{src['largest_literal_compressed_bytes']:,} bytes ({src['largest_literal_at']})")
    lines += [f"  FLAG {f['kind']}: {f['message']}" for f in review["flags"]] or ["  no flags"]
    return lines


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em}}
pre{{white-space:pre-wrap;font-size:.9em}} .pass{{color:#1a7f37}} .part{{color:#9a6700}} .fail{{color:#cf222e}}</style>
</head><body>
<h1>{title}</h1>
<pre>{body}</pre>
</body></html>
"""


def _html(card):
    """report.html: the student's card as one self-contained page (no script, nothing loaded from elsewhere), each
    character escaped, so whatever a student wrote is shown, never run. Check lines are coloured by their mark."""
    title, _, body = card.partition("\n")
    marks = {f"[{mark}] ": mark.lower() for mark in MARKS.values()}
    rows = [f'<span class="{marks[line[:7]]}">{html.escape(line)}</span>' if line[:7] in marks
            else html.escape(line) for line in body.split("\n")]
    return HTML_PAGE.format(title=html.escape(title), body="\n".join(rows))


def gradescope(record):
    """results.json in Gradescope's schema. The top-level output and the leaderboard are always visible, so they
    carry only what students may see now: the card without its checks, each check being read once, in its own
    entry, which carries its visibility for Gradescope to apply.
    A partially earned check is "passed" for Gradescope (it earned points; its score says how many), a bonus's
    max_score is its points, and the check says it is extra credit.
    Kept under MAX_RESULTS_BYTES: the printed output is cut first, then the report card, so the checks and scores
    always arrive."""
    return _sized(_safe(record))


def _sized(record):
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
        "output": _card(record, student=True, checks=False),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{k: t[k] for k in ("name", "score", "max_score", "visibility")}
                  | {"status": "failed" if t["status"] == "failed" else "passed",
                     "output": _cut(t["output"], MAX_TEST_OUTPUT), "number": str(i + 1)}
                  for i, t in enumerate(record["tests"])],
    }
    metrics = record["metrics"]
    test = metrics.get("test_public") or (metrics.get("test") if test_metrics_visible(record) else None)
    if metrics.get("val"):
        values = {**(test or {}), "params": record.get("params"), "train_seconds": record.get("train_seconds")}
        suffix = " (public part)" if metrics.get("test_public") else ""
        results["leaderboard"] = [{"name": name + (suffix if key in TEST_METRICS else ""),
                                   "value": round(float(values[key]), 4), "order": order}
                                  for name, key, order in LEADERBOARD if values.get(key) is not None]
    return results


def write(out_dir, record):
    """Write the student's results.json, report.txt and report.html and the instructor's grading_record.json and
    instructor_report.txt into out_dir, all from the record's safe copy."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = _safe(record)
    resultfile.write_atomic(out / "grading_record.json", json.dumps(record, indent=1, default=str))
    resultfile.write_atomic(out / "instructor_report.txt", _card(record, student=False) + "\n")
    card = _card(record, student=True)
    resultfile.write_atomic(out / "report.txt", card + "\n")
    resultfile.write_atomic(out / "report.html", _html(card))
    resultfile.write_atomic(out / "results.json", json.dumps(_sized(record), indent=1))


def write_crash(out_dir, err, seconds=0.0):
    """The grader itself failed: still a valid results.json, score 0, and a message that it is not the student's fault."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = resultfile.fallback(f"{type(err).__name__}: {err}", seconds)
    resultfile.write_json(out / "results.json", results)
    return results["output"]

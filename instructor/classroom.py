"""`python -m instructor grade-class EXPORT -j N --out DIR`: grade a whole class on this machine, N at a time.

EXPORT is either
    - Gradescope's "Export Submissions" folder (unzipped): submission_metadata.yml maps each submission_NNN/
      folder to its submitters (name, email, SID; several for a group submission); or
    - any folder of per-student folders or zips (the student is the folder's or zip's name).
What counts as a student's two files inside each one is decided by locked/upload.py, the same rule every grader
uses, so a submission refused here is refused on Gradescope with the same message.

Grading is `python -m instructor suite`'s machinery (instructor/suite.py grade_all): one worker process and one
sandbox per submission, N at once, resumable (a submission is kept while its files, the data and test set, the
grader key, the rubric and the grader's sources are unchanged: suite.resume_key), a progress bar with ETA. OUT is
a suite folder (one result folder per submission) plus
    gradebook.csv       one row per student: score per check, test AUC, melanoma recall, cancer sensitivity,
                        flags, errors
    gradebook_canvas.csv  the scores in the layout Canvas's gradebook import reads
    class_report.html   score and AUC distributions, melanoma recall vs AUC, the submissions a clinic would deploy,
                        each check's pass rate, every student (sortable by score, AUC, melanoma recall)

Concurrent gradings: each runs in its own process, sandbox and time and memory limits, so a crashed, hanging or
memory-hungry submission is stopped at its own limits and the others go on. Every grading runs in its own
bubblewrap view (grader/sandbox.py), which binds its own 0700 folder and nothing of the class or of the other
gradings; as root it also runs under a uid of its own. So two gradings at once cannot see or touch each other, as
root (instructor_tests/test_hardening.py grades two at once) or without root, where both share the instructor's
uid and the views alone keep them apart (instructor_tests/test_rootless.py grades a class with -j 2).
"""
import csv
import dataclasses
import json
import re
import sys
from pathlib import Path

from grader.preflight import EnvironmentUnusable
from instructor import runs, suite
from locked.report import mel_bonus_met, mel_operating_point, share
from locked.text import shown

GRADESCOPE_METADATA = "submission_metadata.yml"
GRADEBOOK, CANVAS_GRADEBOOK, CLASS_REPORT = "gradebook.csv", "gradebook_canvas.csv", "class_report.html"
RESERVED = {runs.LABELS, runs.SUITE, runs.LABELS_DATA, GRADEBOOK, CANVAS_GRADEBOOK, CLASS_REPORT}
SKIPPED = {"__MACOSX", "__pycache__"}
DEPLOY_SHOWN = 10
SCATTER_NAMES_MAX = 40  # more names than this on one scatter plot cover each other: the points are left unlabelled
# Canvas's gradebook CSV (Grades > Import reads the layout its own export writes): five student columns, then one
# column per assignment; a row whose first cell holds "Points Possible" gives each assignment's points.
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "Points Possible"
CANVAS_ASSIGNMENT = "DermaMNIST Beat the Baseline"
# The student table's sort orders and number columns: (id suffix, words, gradebook key), the first shown on opening.
STUDENT_SORTS = (("score", "score", "score"), ("auc", "test AUC", "test_auc"),
                 ("mel", "melanoma recall", "test_mel_recall"))


class ExportError(ValueError):
    """The export folder cannot be read as a class; the message says what was found and what to do."""


# --- what a class export holds -----------------------------------------------------------------------------------

def _yaml_loader():
    """PyYAML's safe loader that reads any tagged value (e.g. Ruby's !ruby/object:BigDecimal scores in some
    exports) as the plain value under the tag, instead of refusing the whole file."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def plain(loader, _suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("!", plain)
    Loader.add_multi_constructor("tag:", plain)
    return Loader


def _field(mapping, key):
    """Gradescope writes Ruby symbols as keys (':name'); accept them with or without the colon."""
    if not isinstance(mapping, dict):
        return None
    value = mapping.get(f":{key}", mapping.get(key))
    return None if value is None else str(value)


def read_metadata(path):
    """{folder name: {"students": [{name, email, sid}], "submitted_at": str}} from submission_metadata.yml."""
    import yaml

    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_yaml_loader())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ExportError(f"{path} cannot be read as YAML ({type(err).__name__}: {err}). Download the export "
                          "again from Gradescope (Assignment > Review Grades > Export Submissions).") from None
    if not isinstance(raw, dict) or not raw:
        raise ExportError(f"{path} holds no submissions (expected a mapping of submission_NNN folders to their "
                          f"submitters; found {type(raw).__name__}).")
    out = {}
    for folder, meta in raw.items():
        people = (meta or {}).get(":submitters", (meta or {}).get("submitters")) if isinstance(meta, dict) else None
        students = [{k: _field(p, k) for k in ("name", "email", "sid")} for p in (people or [])]
        out[str(folder)] = {"students": students or [{"name": str(folder), "email": None, "sid": None}],
                            "submitted_at": _field(meta, "created_at")}
    return out


def _safe_id(name, taken):
    """A folder name under OUT for this submission: its own name made safe, unique, never one of OUT's files."""
    base = re.sub(r"[^A-Za-z0-9._@+-]+", "_", name).strip("._") or "submission"
    base = base[:100]
    candidate, n = base, 1
    while candidate in taken or candidate in RESERVED:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate)
    return candidate


def _visible(path):
    return not (path.name.startswith(".") or path.name in SKIPPED or path.is_symlink())


def discover(export):
    """(entries, notes): one entry per submission ({"id", "submission", "info"}) and what was left out, and why."""
    export = Path(export)
    if export.is_file() and export.suffix.lower() == ".zip":
        raise ExportError(f"{export} is a zip: unzip it first (unzip '{export}' -d class_export/) and pass the "
                          "folder. Only the two files of each submission are ever read, never run.")
    if not export.is_dir():
        raise ExportError(f"{export} is not a folder. Pass Gradescope's unzipped 'Export Submissions' folder, or a "
                          "folder holding one folder or zip per student.")
    inner = [p for p in export.iterdir() if _visible(p)]
    if not (export / GRADESCOPE_METADATA).exists() and len(inner) == 1 and (inner[0] / GRADESCOPE_METADATA).exists():
        export = inner[0]  # the zip's own top folder (assignment_NNN_export/)
    if any((export / f).exists() for f in ("model.py", "train_config.py")):
        raise ExportError(f"{export} holds model.py itself: it is one submission, not a class. Grade it with "
                          f"`python -m grader grade {export}`, or put it in a folder of its own inside the class "
                          "folder.")
    taken, entries, notes = set(), [], []
    if (export / GRADESCOPE_METADATA).exists():
        metadata = read_metadata(export / GRADESCOPE_METADATA)
        for folder, meta in metadata.items():
            if folder in (".", "..") or "/" in folder or "\\" in folder:
                notes.append(f"{folder!r}: listed in {GRADESCOPE_METADATA} but not a folder name, not graded")
                continue
            names = "; ".join(s["name"] or "?" for s in meta["students"])
            info = {"name": names, "num": None, "chapter": "", "source": "gradescope", "submission_folder": folder,
                    **meta}
            entries.append({"id": _safe_id(folder, taken), "submission": export / folder, "info": info})
        listed = set(metadata)
        notes += [f"{p.name}: not in {GRADESCOPE_METADATA}, not graded" for p in sorted(export.iterdir())
                  if _visible(p) and p.is_dir() and p.name not in listed]
    else:
        for path in sorted(export.iterdir()):
            if not _visible(path):
                continue
            if path.is_dir() or path.suffix.lower() == ".zip":
                name = path.stem if path.is_file() else path.name
                info = {"name": name, "num": None, "chapter": "", "source": "folder", "submission_folder": path.name,
                        "students": [{"name": name, "email": None, "sid": None}], "submitted_at": None}
                entries.append({"id": _safe_id(name, taken), "submission": path, "info": info})
            else:
                notes.append(f"{path.name}: neither a folder nor a zip, not graded")
    if not entries:
        raise ExportError(f"{export} holds no submissions (found: "
                          f"{', '.join(sorted(p.name for p in export.iterdir())[:10]) or 'nothing'}). Pass a folder "
                          "of per-student folders or zips, or Gradescope's export with its submission_metadata.yml.")
    for entry in entries:
        entry["info"]["id"] = entry["id"]
    return entries, notes


# --- the gradebook -----------------------------------------------------------------------------------------------

def flags(record, row, twins):
    """What an instructor should look at, beyond the score."""
    out = []
    box = record.get("sandbox") or {}
    if box.get("timed_out"):
        out.append("stopped at the time limit")
    if box.get("memory_exceeded"):
        out.append("stopped at the memory limit")
    if any(t.get("key") == "preprocessing" and t["status"] == "failed" and t.get("ran", True)
           for t in record.get("tests", [])):
        out.append("train/validation preprocessing differ")
    if row["status"] == "ok" and row["test_mel_recall"] < record_terms(record).mel_threshold:
        out.append("misses most melanomas")
    if record.get("ignored_files"):
        out.append(f"{len(record['ignored_files'])} extra file(s) ignored")
    if twins:
        out.append("same files as " + ", ".join(twins))
    return out


def _twins(infos):
    """{id: [other ids with byte-identical model.py and train_config.py]}."""
    by_print = {}
    for eid, info in infos.items():
        if info.get("fingerprint"):
            by_print.setdefault(info["fingerprint"], []).append(eid)
    return {eid: [o for o in ids if o != eid] for ids in by_print.values() for eid in ids}


def _tail(path, lines=1):
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def gradebook(out, entries, checks):
    """One row per student (a group submission gives each member the same row), in the export's order."""
    ctx = runs.read(out)
    rows = {r["id"]: r for r in ctx["rows"]}
    twins = _twins({e["id"]: e["info"] for e in entries})
    book = []
    for entry in entries:
        eid, info = entry["id"], entry["info"]
        record, row = ctx["records"].get(eid), rows.get(eid)
        line = {"submission": info.get("submission_folder", eid), "status": "not graded", "score": None,
                "max_score": None, **{f"{c} (points)": None for c in checks}, "test_auc": None,
                "test_mel_recall": None, "test_cancer_sensitivity": None, "val_auc": None, "params": None,
                "train_seconds": None, "flags": "", "errors": ""}
        if record is None or record.get("grader_failure"):
            line["errors"] = ("the grader failed on this submission: " + ((record or {}).get("grader_failure") or
                              _tail(Path(out) / eid / runs.LOG) or "no log") + f" (see {eid}/{runs.LOG})")
        else:
            status, note = runs.outcome(record)
            points = {t.get("key"): t["score"] for t in record.get("tests", [])}
            line.update(status=status, score=record.get("score"), max_score=record.get("max_score"),
                        **{f"{c} (points)": points.get(c) for c in checks},
                        **{k: row[k] for k in ("test_auc", "test_mel_recall", "test_cancer_sensitivity", "val_auc",
                                               "params", "train_seconds")},
                        flags="; ".join(flags(record, row, twins.get(eid, []))),
                        errors=note.split(": ", 1)[1] if note else "")
        for student in info.get("students") or [{"name": info.get("name")}]:
            book.append({"student": student.get("name"), "email": student.get("email"), "sid": student.get("sid"),
                         **line})
    return book, ctx


def _cell(value):
    """A CSV cell a spreadsheet will not run: student-chosen text starting with = + - @ becomes plain text, and
    control characters and invalid Unicode are escaped (locked/text.py)."""
    if isinstance(value, float):
        return f"{value:.4f}"
    text = "" if value is None else shown(value if isinstance(value, str) else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_gradebook(path, book):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(book[0]))
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in book)


def _canvas_name(name):
    """A name Canvas reads as a student: Canvas takes any row whose first cell holds "Points Possible" for the
    points row, so a student so named could set the assignment's points; the words are joined by '_'."""
    return re.sub(r"(?i)(points)\s+(possible)", r"\1_\2", _cell(name))


def write_canvas_gradebook(path, book, points_possible):
    """The scores for Canvas's Grades > Import: one row per student, matched by SIS User ID (the export's SID), else
    by name; Canvas's own user ID and the section are not in the export and stay blank. A student without a grade
    gets a blank cell, never a zero."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*CANVAS_STUDENT_COLUMNS, CANVAS_ASSIGNMENT])
        writer.writerow([CANVAS_POINTS_ROW, "", "", "", "", _cell(points_possible)])
        writer.writerows([_canvas_name(b["student"]), "", _cell(b["sid"]), "", "", _cell(b["score"])] for b in book)


# --- the class report --------------------------------------------------------------------------------------------

def record_terms(record):
    """The terms one grading used: its rubric's AUC target and bonus rule (an instructor's own, or the course's that
    the rubric defaulted to); the course's (locked/terms.py) for a record without them."""
    from locked import terms

    checks = (record.get("rubric") or {}).get("checks") or {}
    auc, bonus, course = checks.get("test_auc") or {}, checks.get("mel_recall_bonus") or {}, terms.Terms()
    return dataclasses.replace(course, auc_target=auc.get("target", course.auc_target),
                               mel_threshold=bonus.get("threshold", course.mel_threshold),
                               max_false_alarm=bonus.get("max_false_alarm", course.max_false_alarm))


def graded_terms(ctx):
    """The terms the class was graded with (one rubric per run: suite.resume_key keeps it so)."""
    return record_terms(next(iter(ctx["records"].values()), {}))


def deployable(ctx):
    """Submissions a clinic could deploy, best first: test AUC at the target and the melanoma bonus's operating point
    (locked.report.mel_bonus_met: recall at the threshold with false alarms within the limit; calling every lesion
    melanoma is not deployable), ranked by cancer sensitivity (screening view of instructor/deployment.py), then by
    fewer biopsies. Returns (rows, screening by id); each screening also holds the bonus's numbers under "mel"."""
    from instructor import deployment
    from locked import metrics

    if ctx["labels"] is None:
        return [], {}
    y = ctx["labels"]["test"]
    screen = {eid: deployment.screening(y, deployment.flags_cancer(p["test"])) for eid, p in ctx["probas"].items()}
    for eid, p in ctx["probas"].items():
        screen[eid]["at_90_specificity"] = deployment.sensitivity_at_specificity(y, p["test"], 0.90)["sensitivity"]
        screen[eid]["mel"] = metrics.evaluate(y, p["test"])
    rule = graded_terms(ctx)
    ok = [r for r in ctx["rows"] if r["id"] in screen and r["test_auc"] >= rule.auc_target
          and mel_bonus_met(screen[r["id"]]["mel"], rule.mel_threshold, rule.max_false_alarm)]
    ok.sort(key=lambda r: (-screen[r["id"]]["cancer_sensitivity"], screen[r["id"]]["biopsy_rate"], -r["test_auc"]))
    return ok, screen


def pass_rates(ctx):
    """Each rubric check over the submissions the grader finished, in the rubric's order: how many earned its full
    points ("passed"), some ("partial"), none ("failed"; "not_run": of those, how many it never ran on because an
    earlier check failed), of "graded"."""
    rates = {}
    for record in ctx["records"].values():
        for test in record.get("tests", []):
            rate = rates.setdefault(test["key"], {"key": test["key"], "name": test.get("name", test["key"]),
                                                  "points": test["max_score"], "bonus": bool(test.get("bonus")),
                                                  "graded": 0, "passed": 0, "partial": 0, "failed": 0,
                                                  "not_run": 0})
            rate["graded"] += 1
            rate[test["status"]] += 1
            rate["not_run"] += not test.get("ran", True)
    return list(rates.values())


def _pass_rate_table(rates):
    from instructor import report

    esc, fmt = report.esc, report.fmt
    head = ("<tr><th class='l'>check</th><th>points</th><th>full points</th><th>partial</th><th>none</th>"
            "<th>of those, not run</th><th>share with full points</th></tr>")
    body = "".join(
        f"<tr><td class='l'>{esc(r['name'])}{' (bonus)' if r['bonus'] else ''}</td><td>{r['points']:g}</td>"
        f"<td>{r['passed']}</td><td>{r['partial']}</td><td>{r['failed']}</td><td>{r['not_run']}</td>"
        f"<td><b>{fmt(r['passed'] / r['graded'], pct=True)}</b></td></tr>"
        for r in rates)
    return f"<div class='scroll'><table id='pass-rates'>{head}{body}</table></div>"


def _students_table(book, by):
    """One student per row, best first by the gradebook key `by` (no number last; ties in the export's order);
    errors keep their line breaks."""
    from instructor import report

    esc, fmt = report.esc, report.fmt
    ranked = sorted(book, key=lambda b: (b[by] is None, -(b[by] or 0.0)))
    head = ("<tr><th class='l'>student</th><th class='l'>submission</th><th class='l'>status</th>"
            + "".join(f"<th class='by'>{words} ▼</th>" if key == by else f"<th>{words}</th>"
                      for _, words, key in STUDENT_SORTS)
            + "<th class='l'>flags</th><th class='l'>errors</th></tr>")
    body = "".join(
        f"<tr><td class='l'>{esc(b['student'] or '')}</td><td class='l'>{esc(b['submission'])}</td>"
        f"<td class='l'>{esc(b['status'])}</td><td>{fmt(b['score'], 1)}</td><td>{fmt(b['test_auc'], 4)}</td>"
        f"<td class='{report.mel_class(b['test_mel_recall'])}'>{fmt(b['test_mel_recall'], 2)}</td>"
        f"<td class='wrap flags'>{esc(b['flags'])}</td><td class='wrap'>"
        + (f"<pre class='err'>{esc(b['errors'])}</pre>" if b["errors"] else "") + "</td></tr>"
        for b in ranked)
    return f"<table>{head}{body}</table>"


def students_html(book):
    """Every student, sortable without scripts: the table once per sort order (STUDENT_SORTS), one shown at a time
    by radio buttons and CLASS_CSS."""
    radios = "".join(f"<input type='radio' name='student-sort' id='by-{slug}'{' checked' if not i else ''}>"
                     f"<label for='by-{slug}'>{words}</label>" for i, (slug, words, _) in enumerate(STUDENT_SORTS))
    tables = "".join(f"<div class='sorted scroll' id='students-by-{slug}'>{_students_table(book, key)}</div>"
                     for slug, _, key in STUDENT_SORTS)
    return f"<div class='sorter' id='students'><span class='note'>Sort by </span>{radios}{tables}</div>"


CLASS_CSS = (".sorter>input{position:absolute;opacity:0}"
             ".sorter>label{display:inline-block;margin:0 6px 6px 0;padding:2px 12px;border:1px solid #c7d2fe;"
             "border-radius:12px;font-size:12.5px;cursor:pointer}.sorter>.sorted{display:none}"
             "th.by{background:#e0e7ff}td.flags{min-width:14em}"
             "pre.err{margin:0;white-space:pre-wrap;font-size:11.5px;min-width:24em}"
             + "".join(f"#by-{slug}:checked+label{{background:#2563eb;color:#fff}}"
                       f"#by-{slug}:checked~#students-by-{slug}{{display:block}}" for slug, _, _ in STUDENT_SORTS))


def report_html(out, book, ctx, notes=()):
    """The class report: one self-contained page (inline CSS and PNGs, no scripts), like the suite's."""
    from instructor import deployment, plots, report

    esc, fmt = report.esc, report.fmt
    graded = {r["id"]: r for r in ctx["rows"]}
    ok = [r for r in ctx["rows"] if r["status"] == "ok"]
    scores = [r["score"] for r in ctx["rows"] if r["score"] is not None]
    max_score = next((r["max_score"] for r in ctx["rows"] if r["max_score"]), None)
    candidates, screen = deployable(ctx)
    rule = graded_terms(ctx)
    target, threshold, max_false_alarm = rule.auc_target, rule.mel_threshold, rule.max_false_alarm
    bonus = (f"the melanoma bonus's operating point (melanoma recall >= {threshold:.2f} with at most "
             f"{share(max_false_alarm)} of other lesions sent to biopsy)")
    figs = [(plots.histogram(scores, "score", "Scores", [(max_score, "full marks")] if max_score else ()),
             "Scores, every graded submission (bonus points included)."),
            (plots.histogram([r["test_auc"] for r in ok], "test macro AUC", "Test AUC",
                             [(target, f"target {target:.2f}")]), "Test macro AUC of the submissions "
             "that trained.")]
    if ok:
        named = len(ok) <= SCATTER_NAMES_MAX
        figs.append((plots.auc_vs_mel(ok, split="test", annotate=named, terms=rule, label="name"),
                     "Each dot is a submission" + (", named by its students" if named else
                                                   f" (not named: more than {SCATTER_NAMES_MAX} would cover each "
                                                   "other; the table of students below has every one)")
                     + ": the ones high up but left of the line rank well and still miss most melanomas."))
    cards = [("submissions", f"{len(graded)} graded", f"{sum(1 for b in book if b['status'] == 'not graded')} "
              "student rows without a grade"),
             ("trained", f"{len(ok)} / {len(graded)}", "the others failed a check; see their errors below"),
             (f"test AUC >= {target:.2f}", f"{sum(r['test_auc'] >= target for r in ok)}", ""),
             ("deployable", f"{len(candidates)}", f"AUC target and melanoma recall >= {threshold:.2f} with false "
              f"alarms <= {share(max_false_alarm)}")]
    if scores:
        cards.insert(1, ("median score", f"{sorted(scores)[len(scores) // 2]:.1f}", f"of {max_score:g}"
                         if max_score else ""))
    card_html = "".join(f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div>'
                        f'<div class="d">{esc(d)}</div></div>' for k, v, d in cards)
    fig_html = "".join(f"<div class='fig'><img alt='figure' src='{src}'><div class='cap'>{esc(cap)}</div></div>"
                       for src, cap in figs)
    answer = ""
    if candidates:
        view = {"rows": [{"name": f"{r['id']} ({ctx['infos'][r['id']].get('name', '')})", "test": screen[r["id"]]}
                         for r in candidates]}
        answer = deployment.recommend(view)["text"]
    top_auc = max(ok, key=lambda r: r["test_auc"]) if ok else None
    if top_auc and top_auc["id"] in screen:
        answer += (f" For comparison, the highest test AUC ({top_auc['test_auc']:.3f}, {top_auc['id']}) flags "
                   f"{screen[top_auc['id']]['mel_recall']:.0%} of melanomas for biopsy.")
    head = ("<tr><th class='l'>submission</th><th class='l'>students</th><th>test AUC</th>"
            "<th class='l'>melanoma bonus: caught, false alarms</th><th>cancer sens.</th><th>specificity</th>"
            "<th>biopsy rate</th><th>mel. sens. at 90% spec.</th><th>score</th></tr>")
    body = "".join(
        f"<tr><td class='l'>{esc(r['id'])}</td><td class='l'>{esc(ctx['infos'][r['id']].get('name', ''))}</td>"
        f"<td>{fmt(r['test_auc'], 4)}</td>"
        f"<td class='l {report.mel_class(screen[r['id']]['mel']['mel_recall'])}'>"
        f"{esc(mel_operating_point(screen[r['id']]['mel']))}</td>"
        f"<td><b>{fmt(screen[r['id']]['cancer_sensitivity'], pct=True)}</b></td>"
        f"<td>{fmt(screen[r['id']]['specificity'], pct=True)}</td><td>{fmt(screen[r['id']]['biopsy_rate'], pct=True)}"
        f"</td><td>{fmt(screen[r['id']]['at_90_specificity'], pct=True)}</td><td>{r['score']:g}</td></tr>"
        for r in candidates[:DEPLOY_SHOWN])
    question = "<b>Which submission would a clinic deploy?</b>"
    deploy = (f"<div class='answer' id='deploy-answer'>{question} {esc(answer)}</div>"
              f"<div class='scroll'><table id='deployable'>{head}{body}</table></div>"
              f"<p class='note'>{len(candidates)} submission(s) reach test AUC {target:.2f} and {esc(bonus)}: "
              "melanoma is the predicted class, as the grader counts it. The best "
              f"{min(len(candidates), DEPLOY_SHOWN)} by "
              "cancer sensitivity (mean of akiec, bcc, mel caught), then fewer biopsies; in the columns after the "
              "bonus a cancer is caught when the predicted class is any cancer (a melanoma called bcc still gets its "
              "biopsy). Test split.</p>"
              if candidates else
              f"<div class='answer' id='deploy-answer'>{question} None reaches "
              f"test AUC {target:.2f} at {esc(bonus)}. "
              f"{esc(answer)}</div>")
    rates = pass_rates(ctx)
    hw = report.hardware_text(ctx)
    sections = ["<h1>DermaMNIST 'Beat the Baseline': the class, graded</h1>",
                f"<p class='sub'>{len(book)} student rows, {len(graded)} submissions, each graded by the isolated "
                f"grader on {esc(hw)}. Gradebook: <code>{esc(GRADEBOOK)}</code> beside this page.</p>",
                report.banner(ctx), "<h2>Headline figures</h2>", f'<div class="cards" id="headline">{card_html}</div>',
                "<h2>Distributions</h2>", f"<div class='grid2' id='figures'>{fig_html}</div>",
                "<h2 id='deploy'>The submissions a clinic would deploy</h2>", deploy,
                "<h2 id='checks'>Each check over the class</h2>",
                (f"<p class='note'>The {rates[0]['graded']} submission(s) the grader finished, check by check "
                 "(a check not run failed because an earlier one did).</p>" + _pass_rate_table(rates))
                if rates else "<p>No submission was graded.</p>",
                "<h2>Every student: scores, flags and errors</h2>", students_html(book)]
    if notes:
        sections.append("<p class='note'>Left out of the export: " + esc("; ".join(notes)) + ".</p>")
    title = "DermaMNIST class report" + (" (SYNTHETIC data)" if ctx["data"].get("kind") == "synthetic" else "")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{report.CSS}{CLASS_CSS}</style></head><body><main>"
            + "\n".join(sections) + "</main></body></html>\n")


# --- the command -------------------------------------------------------------------------------------------------

def run(export, out, data_dir=None, synthetic=False, rerun=False, rubric=None, threads=None, time_limit=None,
        memory_limit=None, jobs=None, progress=True, log=None, cluster=None, device=None):
    """Grade the class (here, or on the Dask `cluster`); write the gradebook and the report; return (summary,
    gradebook rows, notes)."""
    from grader import rubric as rubric_mod

    entries, notes = discover(export)
    summary = suite.grade_all(entries, out, data_dir=data_dir, synthetic=synthetic, rerun=rerun, rubric=rubric,
                              threads=threads, time_limit=time_limit, memory_limit=memory_limit, device=device,
                              progress=progress,
                              log=log, jobs=jobs, desc="class", source=export,
                              command="grade-class" if sys.argv[1:2] == ["grade-class"] else None, cluster=cluster)
    graded_rubric = rubric_mod.load(rubric)
    book, ctx = gradebook(summary["out"], entries, [c.key for c in graded_rubric.checks])
    write_gradebook(Path(summary["out"]) / GRADEBOOK, book)
    write_canvas_gradebook(Path(summary["out"]) / CANVAS_GRADEBOOK, book, graded_rubric.max_score)
    (Path(summary["out"]) / CLASS_REPORT).write_text(report_html(summary["out"], book, ctx, notes), encoding="utf-8")
    (Path(summary["out"]) / "export.json").write_text(json.dumps({"export": str(Path(export).resolve()),
                                                                  "left_out": notes}, indent=1))
    return summary, book, notes


def main(args):
    """The `grade-class` subcommand."""
    from locked import data

    try:
        summary, book, notes = run(args.export, args.out, args.data_dir, args.synthetic, args.rerun, args.rubric,
                                   args.threads, args.time_limit, args.memory_limit, args.jobs,
                                   progress=not args.no_progress, cluster=args.cluster, device=args.device)
    except (ExportError, data.DataUnavailable, EnvironmentUnusable) as err:  # nothing graded: the cause, the fix
        print(err, file=sys.stderr)
        return 2
    for note in notes:
        print(f"Left out: {note}")
    ungraded = [b for b in book if b["status"] == "not graded"]
    print(f"\nData: {summary['data']['label']}")
    print(f"{len(summary['graded'])} graded, {len(summary['resumed'])} kept from earlier runs, "
          f"{len(summary['failed'])} grader failures, in {summary['wall_seconds']:.0f} s wall "
          + (f"on the cluster {args.cluster}." if args.cluster else f"with {summary['jobs']} sandbox(es) at once."))
    if ungraded:
        print(f"{len(ungraded)} student row(s) have no grade (the grader failed; see errors in the gradebook).")
    out = Path(summary["out"])
    print(f"Gradebook: {out / GRADEBOOK}\nReport: {out / CLASS_REPORT}")
    return 0


def add_parser(cmds):
    """Register `grade-class` on the instructor's subcommand parser."""
    c = cmds.add_parser("grade-class", help="grade a class export (Gradescope or per-student folders/zips) in "
                        "parallel; write a gradebook CSV and a class report")
    c.add_argument("export", help="Gradescope's unzipped Export Submissions folder, or a folder of student folders "
                   "or zips")
    c.add_argument("--out", required=True, help="result folder (resumable: run again to finish or update)")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--data-dir", help="folder holding dermamnist.npz")
    src.add_argument("--synthetic", action="store_true", help="grade on the synthetic stand-in (offline)")
    suite.add_parallel_arguments(c)
    c.add_argument("--rubric", help="rubric TOML overriding grader/rubric.toml")
    c.add_argument("--time-limit", type=float, help="override the rubric's time_limit_s per submission")
    c.add_argument("--memory-limit", type=float, help="override the rubric's memory_limit_mb per submission")
    c.add_argument("--rerun", action="store_true", help="grade every submission again")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(run=main)
    return c

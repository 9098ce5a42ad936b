"""Grading a class: reading exports, the parallel runner's worker handling, and one real class run.

The class run grades a Gradescope-style export of six students with two sandboxes at once on the 0.2-scale
synthetic data: two byte-identical honest submissions, one that sleeps in training (stopped at a 45 s limit),
a group submission that crashes mid-training, and a student whose folder is missing. The honest ones must come
out scored and bit-identical, the others failed with their own reasons, and nothing may stop the run.
"""
import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from instructor import classroom, worker
from locked import terms

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUBS = HERE / "grader_submissions"
RUBRIC = HERE / "grader_test_rubric.toml"
LIMIT_S = 45

METADATA = """\
submission_1:
  :submitters:
  - :name: Alice Ng
    :sid: '1001'
    :email: alice@example.edu
  :created_at: 2025-03-01 10:00:00.000000000 -08:00
  :score: !ruby/object:BigDecimal 18:0.0
submission_2:
  :submitters:
  - :name: Bob Ray
    :sid: '1002'
    :email: bob@example.edu
submission_3:
  :submitters:
  - :name: Carol Li
    :sid: '1003'
    :email: carol@example.edu
  - :name: "=HYPERLINK(\\"http://x\\")"
    :sid: '1004'
    :email: dan@example.edu
submission_5:
  :submitters:
  - :name: Eve Sol
    :sid: '1005'
    :email: eve@example.edu
submission_6:
  :submitters:
  - :name: Frank Oz
    :sid: '1006'
    :email: frank@example.edu
"""


def _copy(name, dest):
    shutil.copytree(SUBS / name, dest, ignore=shutil.ignore_patterns("__pycache__"))


def gradescope_export(root):
    """Gradescope's Export Submissions layout: assignment_NNN_export/ with the metadata and one folder each."""
    export = root / "assignment_77_export"
    export.mkdir(parents=True)
    (export / "submission_metadata.yml").write_text(METADATA)
    _copy("honest", export / "submission_1")
    _copy("sleep_in_training", export / "submission_2")
    _copy("crash_mid_training", export / "submission_3" / "student")  # one folder down, as uploads often are
    _copy("honest", export / "submission_5")
    _copy("honest", export / "submission_9")  # not in the metadata: left out, said so
    # submission_6 (Frank) is listed but missing
    return root


# --- reading exports (no grading) --------------------------------------------------------------------------------

def test_gradescope_export_is_read_from_its_metadata(tmp_path):
    entries, notes = classroom.discover(gradescope_export(tmp_path))  # the zip's top folder is looked into
    assert [e["id"] for e in entries] == ["submission_1", "submission_2", "submission_3", "submission_5",
                                          "submission_6"]
    by_id = {e["id"]: e["info"] for e in entries}
    assert by_id["submission_1"]["students"] == [{"name": "Alice Ng", "email": "alice@example.edu", "sid": "1001"}]
    assert by_id["submission_1"]["submitted_at"].startswith("2025-03-01")  # a Ruby-tagged score did not stop it
    assert [s["name"] for s in by_id["submission_3"]["students"]][0] == "Carol Li"  # a group: both members
    assert len(by_id["submission_3"]["students"]) == 2
    assert notes == ["submission_9: not in submission_metadata.yml, not graded"]


def test_folder_export_of_folders_and_zips(tmp_path):
    export = tmp_path / "class"
    _copy("honest", export / "Ann Lee (late)")
    _copy("honest", export / "ann_lee_late")
    with zipfile.ZipFile(export / "suite.json.zip", "w") as zf:  # a student named like one of OUT's files
        for f in ("model.py", "train_config.py"):
            zf.write(SUBS / "honest" / f, f"student/{f}")
    (export / "roster.csv").write_text("name\n")
    (export / "__MACOSX").mkdir()
    (export / ".DS_Store").write_text("")
    entries, notes = classroom.discover(export)
    ids = [e["id"] for e in entries]
    assert ids == ["Ann_Lee_late", "ann_lee_late", "suite.json-2"]  # safe, unique, never one of OUT's own files
    assert {e["info"]["name"] for e in entries} == {"Ann Lee (late)", "ann_lee_late", "suite.json"}
    assert notes == ["roster.csv: neither a folder nor a zip, not graded"]


def test_export_that_is_not_a_class_is_refused_with_the_fix(tmp_path):
    with pytest.raises(classroom.ExportError, match="unzip it first"):
        (tmp_path / "export.zip").write_bytes(b"PK")
        classroom.discover(tmp_path / "export.zip")
    with pytest.raises(classroom.ExportError, match="python -m grader grade"):
        classroom.discover(SUBS / "honest")
    (tmp_path / "empty").mkdir()
    with pytest.raises(classroom.ExportError, match="holds no submissions"):
        classroom.discover(tmp_path / "empty")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "submission_metadata.yml").write_text(METADATA.replace("submission_6:", "../../etc:"))
    _copy("honest", outside / "submission_1")
    entries, notes = classroom.discover(outside)
    assert all(e["submission"].parent == outside for e in entries)  # a listed path never leaves the export
    assert "'../../etc': listed in submission_metadata.yml but not a folder name, not graded" in notes
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "submission_metadata.yml").write_text("just a string\n")
    with pytest.raises(classroom.ExportError, match="holds no submissions"):
        classroom.discover(bad)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what Excel, LibreOffice and Sheets read as a formula


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_spreadsheet_formulas_in_names_stay_text(start):
    """OWASP's CSV-injection list: a student's text never starts a cell with one (a quote goes first, a CR is
    escaped), and the text itself is kept."""
    cell = classroom._cell(start + 'HYPERLINK("http://x")')
    assert cell[:1] not in FORMULA_STARTS and cell.endswith('HYPERLINK("http://x")'), repr(cell)


def test_plain_names_and_numbers_are_written_as_they_are():
    assert classroom._cell("Alice") == "Alice" and classroom._cell("O'Neil-Smith") == "O'Neil-Smith"
    assert classroom._cell(0.123456) == "0.1235" and classroom._cell(-0.5) == "-0.5000" and classroom._cell(None) == ""


# --- the worker process: a grader that hangs or crashes is stopped and reported ----------------------------------

def test_hung_worker_is_killed_with_everything_it_started(tmp_path, monkeypatch):
    pid_file = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
            f"time.sleep(600)']); open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(600)")
    monkeypatch.setattr(worker, "COMMAND", [sys.executable, "-c", code])
    t0 = time.monotonic()
    rc, seconds, note = worker.run({}, tmp_path / "log", None, deadline_s=3)
    assert time.monotonic() - t0 < 15 and rc != 0
    assert "still running after 3 s and was killed" in note
    grandchild = int(pid_file.read_text())
    time.sleep(0.5)
    state = Path(f"/proc/{grandchild}/stat")
    assert not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_crashing_worker_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(worker, "COMMAND", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
    rc, _, note = worker.run({}, tmp_path / "log", None, deadline_s=30)
    assert rc == 3 and "exited with code 3" in note and "boom" in (tmp_path / "log").read_text()


def test_slots_get_their_own_cores():
    cores = worker.cpus()
    assert worker.pinning(len(cores), 1) == [[c] for c in cores]
    assert worker.pinning(len(cores) + 1, 1) == [None] * (len(cores) + 1)  # more slots than cores: no pinning
    assert worker.default_jobs(1) == len(cores)


# --- one real class, two sandboxes at once -----------------------------------------------------------------------

def _cli(args, env):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "instructor", "grade-class", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, time.monotonic() - t0


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    export, out = gradescope_export(tmp / "export"), tmp / "out"
    env = {**os.environ, "DERMA_DATA_DIR": str(tmp / "data"), "DERMA_SYNTHETIC_SCALE": "0.2",
           "PYTHONPATH": str(REPO)}
    args = [str(export), "--out", str(out), "-j", "2", "--synthetic", "--rubric", str(RUBRIC),
            "--time-limit", str(LIMIT_S), "--memory-limit", "1200"]
    proc, seconds = _cli(args, env)
    with open(out / classroom.GRADEBOOK, newline="", encoding="utf-8") as f:
        book = list(csv.DictReader(f))
    return {"export": export, "out": out, "env": env, "args": args, "proc": proc, "seconds": seconds, "book": book}


def _row(book, student):
    return next(r for r in book if r["student"] == student)


def test_every_student_gets_a_row_and_hostile_ones_fail_on_their_own(graded_class):
    book = graded_class["book"]
    assert [r["student"] for r in book] == ["Alice Ng", "Bob Ray", "Carol Li", "'=HYPERLINK(\"http://x\")",
                                            "Eve Sol", "Frank Oz"]
    alice, bob, carol, eve, frank = (_row(book, n) for n in ("Alice Ng", "Bob Ray", "Carol Li", "Eve Sol", "Frank Oz"))
    for honest in (alice, eve):
        assert honest["status"] == "ok" and float(honest["score"]) > 0 and 0.5 < float(honest["test_auc"]) <= 1
        assert honest["builds (points)"] == "5.0000" and honest["errors"] == ""
        assert honest["test_mel_recall"] != "" and honest["test_cancer_sensitivity"] != ""
    assert "same files as submission_5" in alice["flags"] and "same files as submission_1" in eve["flags"]
    assert bob["status"] == "failed" and "stopped at the time limit" in bob["flags"]
    assert re.search(rf"within the {LIMIT_S}(\.0)? s limit", bob["errors"]) and bob["test_auc"] == ""
    assert carol["status"] == "failed" and "simulated failure after 5 training batches" in carol["errors"]
    assert book[3]["errors"] == carol["errors"] and book[3]["email"] == "dan@example.edu"  # the group's 2nd member
    assert frank["status"] == "failed" and "does not exist" in frank["errors"]
    bob_record = json.loads((graded_class["out"] / "submission_2" / "grading_record.json").read_text())
    assert bob_record["sandbox"]["timed_out"] and bob_record["sandbox"]["seconds"] < LIMIT_S + 5
    meta = json.loads((graded_class["out"] / "suite.json").read_text())
    assert meta["runs"][-1]["jobs"] == 2 and meta["runs"][-1]["finished"]
    assert "class:" in graded_class["proc"].stderr  # the progress bar, on stderr
    assert "Left out: submission_9: not in submission_metadata.yml" in graded_class["proc"].stdout


def test_identical_submissions_graded_side_by_side_are_bit_identical(graded_class):
    out = graded_class["out"]
    with np.load(out / "submission_1" / "predictions.npz") as a, np.load(out / "submission_5" / "predictions.npz") as b:
        assert np.array_equal(a["test"], b["test"]) and np.array_equal(a["val"], b["val"])


def test_class_report_is_self_contained(graded_class):
    text = (graded_class["out"] / classroom.CLASS_REPORT).read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in text and "id='deploy-answer'" in text
    assert "Which submission would a clinic deploy?" in text
    assert text.count("data:image/png;base64,") == 3  # score and AUC distributions, mel recall vs AUC
    assert "<script" not in text.lower() and "<link" not in text.lower()
    assert "stopped at the time limit" in text and "submission_2" in text and "simulated failure" in text
    # the rubric's target (grader_test_rubric.toml), not the course's
    assert "test AUC 0.95" in text and not re.search(r"AUC (>= )?0\.90\b", text)


def test_class_report_lists_every_student_and_each_check(graded_class):
    text = (graded_class["out"] / classroom.CLASS_REPORT).read_text(encoding="utf-8")
    names = [html.escape(r["student"].lstrip("'"), quote=True) for r in graded_class["book"]]
    for slug in ("score", "auc", "mel"):
        table = text.split(f"id='students-by-{slug}'", 1)[1].split("</table>", 1)[0]
        assert sorted(re.findall(r"<tr><td class='l'>(.*?)</td>", table)) == sorted(names)  # each student once
    score_order = re.findall(r"<tr><td class='l'>(.*?)</td>", text.split("id='students-by-score'", 1)[1])[:2]
    assert set(score_order) == {"Alice Ng", "Eve Sol"}  # the two honest ones first
    rates = text.split("id='pass-rates'", 1)[1].split("</table>", 1)[0]
    builds = re.search(r"<td class='l'>Model builds</td><td>5</td><td>(\d+)</td>", rates)
    assert builds and int(builds.group(1)) == 4  # Frank's missing folder is the one that does not build
    assert "Each dot is a submission, named by its students" in text


def test_canvas_gradebook_matches_the_gradebook(graded_class):
    from grader import rubric

    with open(graded_class["out"] / classroom.CANVAS_GRADEBOOK, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "DermaMNIST Beat the Baseline"]
    assert rows[1][:5] == ["Points Possible", "", "", "", ""]
    assert float(rows[1][5]) == rubric.load(RUBRIC).max_score == 90  # the bonus is extra credit, outside
    assert [(r[0], r[2], r[5]) for r in rows[2:]] == [(b["student"], b["sid"], b["score"])
                                                      for b in graded_class["book"]]


def test_class_report_renders_in_headless_chromium(graded_class, screenshot):
    pixels, console = screenshot(graded_class["out"] / classroom.CLASS_REPORT, 1280, 2000)
    pixels = pixels.reshape(-1, 3).astype(int)
    assert len(np.unique(pixels[::97], axis=0)) > 20 and not console  # not a blank page, no browser errors
    bars = np.abs(pixels - (0x4C, 0x78, 0xA8)).max(axis=1) <= 8  # the histograms' bars (plots.histogram)
    assert bars.sum() > 2_000, bars.sum()


def test_second_run_keeps_everything_and_a_changed_submission_is_regraded(graded_class):
    out, export = graded_class["out"], graded_class["export"]
    stamps = {s: (out / s / "grading_record.json").stat().st_mtime_ns for s in ("submission_1", "submission_2")}
    again, seconds = _cli(graded_class["args"], graded_class["env"])
    assert "0 graded, 5 kept from earlier runs" in again.stdout
    assert seconds < graded_class["seconds"] / 2
    assert {s: (out / s / "grading_record.json").stat().st_mtime_ns for s in stamps} == stamps
    model = export / "assignment_77_export" / "submission_5" / "model.py"
    model.write_text(model.read_text() + "\n# resubmitted\n")
    third, _ = _cli(graded_class["args"], graded_class["env"])
    assert "1 graded, 4 kept from earlier runs" in third.stdout
    with open(out / classroom.GRADEBOOK, newline="", encoding="utf-8") as f:
        eve = _row(list(csv.DictReader(f)), "Eve Sol")
    assert eve["status"] == "ok" and "same files" not in eve["flags"]


# --- the deploy table: the melanoma bonus's operating point (issue 22) ----------------------------------------------
def _deploy_ctx(limit=None):
    """Two submissions with the same ranking on 20 test images per class: one honest, with 12 of the 120 other
    lesions called melanoma (10%), and the same output changed so melanoma is every image's argmax."""
    from locked.info import MEL

    y = np.repeat(np.arange(7), 20)
    called = y.copy()
    called[np.flatnonzero(y != MEL)[::10]] = MEL
    honest = np.full((len(y), 7), 0.02)
    honest[np.arange(len(y)), called] = 0.88
    rule = {} if limit is None else {"rubric": {"checks": {"mel_recall_bonus": {"threshold": 0.5,
                                                                                 "max_false_alarm": limit}}}}
    return {"labels": {"test": y}, "records": {"honest": rule, "flag_all": rule},
            "probas": {"honest": {"test": honest}, "flag_all": {"test": 0.5 * honest + 0.5 * np.eye(7)[MEL]}},
            "rows": [{"id": "honest", "test_auc": 0.95}, {"id": "flag_all", "test_auc": 0.95}]}


def test_the_deploy_table_keeps_the_bonus_operating_point_and_drops_flag_everything():
    from locked.report import mel_operating_point

    rows, screen = classroom.deployable(_deploy_ctx())
    assert [r["id"] for r in rows] == ["honest"]
    assert mel_operating_point(screen["honest"]["mel"]) == "caught 20 of 20 melanomas; sent 10% of other lesions " \
        "to biopsy"
    assert mel_operating_point(screen["flag_all"]["mel"]) == "caught 20 of 20 melanomas; sent 100% of other " \
        "lesions to biopsy"
    assert classroom.graded_terms(_deploy_ctx()) == terms.Terms()  # no rubric in the records: the course's
    strict = _deploy_ctx(limit=0.05)  # the rubric the class was graded with
    assert classroom.graded_terms(strict).max_false_alarm == 0.05 and classroom.deployable(strict)[0] == []

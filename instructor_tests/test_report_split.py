"""Two documents, one per reader (issue 23): the student's (results.json, report.txt, report.html) holds each check
once and nothing instructor-only; the instructor's (grading_record.json, instructor_report.txt) holds everything.

Records are built from the scoring code without training (test_integrity._record): about a second in all.
"""
import json
import re

import pytest

import grader.__main__ as grader_main
from grader import results
from test_integrity import _record, _rubric

FLAG = "SECRET-FLAG"  # _record's integrity flag
HELD = "HELD-BONUS"   # a check students see only after the due date
ISOLATION = ["minimal filesystem view (bubblewrap): the interpreter, the harness, its two files and data without "
             "test labels, read-only; own PID namespace; no network",
             "runs as uid 2008060, this grading's own, with private 0700 folders",
             "memory cgroup of 1536 MB (tmpfs, /dev/shm and memfd count)"]
# What only the instructor reads: the integrity review, visibility annotations, the sandbox's mechanics.
INSTRUCTOR_ONLY = (FLAG, "Integrity review", "students see it", "Sandbox:", "bubblewrap", "2008060", "cgroup")
UID = re.compile(r"\buid\b")
PRINTED = "epoch 1/1 train loss 0.42"
STUDENT_FILES = ("results.json", "report.txt", "report.html")


@pytest.fixture
def graded(tmp_path):
    rubric = _rubric(tmp_path, f'[checks.mel_recall_bonus]\nname = "{HELD}"\nvisibility = "after_due_date"\n')
    record = _record(rubric)
    record.update(rubric=rubric.as_dict(), ignored_files=["<script>alert(1)</script>.py"],
                  sandbox={"isolation": ISOLATION, "output": PRINTED})
    out = tmp_path / "out"
    results.write(out, record)
    return record, out


def _visible(record):
    return [t for t in record["tests"] if t["visibility"] == "visible"]


def test_no_instructor_only_field_reaches_a_student_document(graded):
    record, out = graded
    for name in STUDENT_FILES:
        text = (out / name).read_text()
        found = [field for field in INSTRUCTOR_ONLY if field in text] + UID.findall(text)
        assert not found, (name, found)
    for name in ("report.txt", "report.html"):
        assert HELD not in (out / name).read_text()
    r = json.loads((out / "results.json").read_text())
    assert HELD not in r["output"] and HELD not in json.dumps(r.get("leaderboard"))
    assert [t["visibility"] for t in r["tests"] if HELD in json.dumps(t)] == ["after_due_date"]  # Gradescope holds it


def test_a_student_reads_each_check_once_on_gradescope(graded):
    record, out = graded
    r = json.loads((out / "results.json").read_text())
    assert not [line for line in r["output"].splitlines() if results.CHECK_LINE.match(line)]
    read = r["output"] + "\n" + "\n".join(t["output"] for t in r["tests"])
    for t in record["tests"]:
        assert [e["name"] for e in r["tests"]].count(t["name"]) == 1
        assert f"{t['name']}: " not in r["output"] and read.count(t["output"]) == 1, t["name"]
    assert r["output"].splitlines()[0].startswith("DermaMNIST 'Beat the Baseline' score")
    assert "SYNTHETIC" in r["output"] and PRINTED in r["output"] and "Val split" in r["output"]


def test_the_report_card_holds_each_visible_check_once_and_the_limits(graded):
    record, out = graded
    for name in ("report.txt", "report.html"):
        text = (out / name).read_text()
        for t in _visible(record):
            line = f"[{results.MARKS[t['status']]}] {t['name']}: {t['score']:g}/{t['max_score']:g}"
            assert text.count(line) == 1 and t["output"] in text, (name, line)
        assert "540 s" in text and "1536 MB" in text and PRINTED in text and "Val split" in text


def test_the_html_card_escapes_everything_and_runs_nothing(graded):
    _, out = graded
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.py" in page
    assert "src=" not in page and "href=" not in page  # self-contained: nothing loaded from elsewhere


def test_the_instructor_report_holds_everything(graded):
    record, out = graded
    text = (out / "instructor_report.txt").read_text()
    assert all(field in text for field in INSTRUCTOR_ONLY) and UID.search(text)
    assert f"{HELD}: " in text and "[students see it: after_due_date]" in text
    assert all(f"{t['name']}: " in text for t in record["tests"])
    assert FLAG in (out / "grading_record.json").read_text()


def test_the_grader_names_each_file_for_its_reader(graded, tmp_path, monkeypatch, capsys):
    record, _ = graded
    out = tmp_path / "cli"
    monkeypatch.setattr("grader.grade.grade", lambda *a, **kw: results.write(out, record) or record)
    assert grader_main.main(["grade", "upload", "--out", str(out), "--synthetic"]) == 0
    printed = capsys.readouterr().out
    closing = printed.strip().splitlines()[-1]
    assert "report.txt" in closing and "report.html" in closing and "instructor_report.txt" in closing
    assert "instructor's view" not in closing.split("instructor_report.txt")[0]  # report.txt is the student's
    assert not [field for field in INSTRUCTOR_ONLY if field in printed] and HELD not in printed

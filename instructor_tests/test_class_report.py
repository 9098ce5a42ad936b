"""The class report's parts, on a class made up in memory (no grading): the student table's three sort orders,
multi-line errors, each check's pass rate, names on the scatter plot, and the Canvas gradebook.

The report from a real graded class (and its screenshot in headless Chromium) is in test_classroom.py.
"""
import csv
import html
import re

import pytest

from instructor import classroom, plots

TRACEBACK = "Traceback (most recent call last):\n  File \"model.py\", line 9, in build_model\nValueError: boom"
CHECKS = (("builds", "Model builds", 5), ("test_auc", "Test macro AUC", 55), ("mel_recall_bonus", "Bonus", 10))


def _tests(*statuses):
    """A record's tests: one per CHECKS entry with the given status ("not run" is a failed check never run)."""
    out = []
    for (key, name, points), status in zip(CHECKS, statuses):
        score = {"passed": points, "partial": points / 2}.get(status, 0.0)
        out.append({"key": key, "name": name, "score": score, "max_score": points, "bonus": key.endswith("bonus"),
                    "status": "failed" if status == "not run" else status,
                    "output": "Not run: an earlier check failed." if status == "not run" else "...",
                    "ran": status != "not run"})
    return out


# (submission, students, status, score, test AUC, melanoma recall, errors, the tests' statuses)
CLASS = [
    ("s1", ["Ann Ash"], "ok", 80.0, 0.85, 0.30, "", ("passed", "partial", "failed")),
    ("s2", ["Ben Birch"], "ok", 95.0, 0.80, 0.70, "", ("passed", "passed", "passed")),
    ("s3", ["Cy Cedar"], "failed", 0.0, None, None, TRACEBACK, ("failed", "not run", "not run")),
    ("s4", ["Dee Dogwood", "=cmd|' /C calc'!A0"], "ok", 60.0, 0.90, 0.55, "", ("passed", "partial", "passed")),
    ("s5", ["Eve Elm"], "not graded", None, None, None, "the grader failed on this submission: killed", None),
]


def _book():
    return [{"student": name, "email": None, "sid": f"{sub}-{i}", "submission": sub, "status": status,
             "score": score, "max_score": None if score is None else 70, "test_auc": auc, "test_mel_recall": mel,
             "flags": "misses most melanomas" if mel is not None and mel < 0.5 else "", "errors": errors}
            for sub, names, status, score, auc, mel, errors, _ in CLASS for i, name in enumerate(names)]


def _ctx():
    graded = [c for c in CLASS if c[-1]]
    return {"rows": [{"id": sub, "name": "; ".join(names), "status": status, "score": score, "max_score": 70,
                      "test_auc": auc, "test_mel_recall": mel} for sub, names, status, score, auc, mel, _, _ in graded],
            "records": {c[0]: {"tests": _tests(*c[-1])} for c in graded}, "infos": {c[0]: {} for c in graded},
            "labels": None, "probas": {}, "meta": {}, "data": {"kind": "synthetic", "label": "synthetic stand-in"}}


def _order(page, slug):
    """The students of one sorted table, top to bottom."""
    table = page.split(f"id='students-by-{slug}'", 1)[1].split("</table>", 1)[0]
    return [html.unescape(name) for name in re.findall(r"<tr><td class='l'>(.*?)</td>", table)]


def test_student_table_is_sorted_three_ways_best_first_and_unknown_last():
    page = classroom.students_html(_book())
    assert _order(page, "score") == ["Ben Birch", "Ann Ash", "Dee Dogwood", "=cmd|' /C calc'!A0", "Cy Cedar",
                                     "Eve Elm"]
    assert _order(page, "auc") == ["Dee Dogwood", "=cmd|' /C calc'!A0", "Ann Ash", "Ben Birch", "Cy Cedar", "Eve Elm"]
    assert _order(page, "mel") == ["Ben Birch", "Dee Dogwood", "=cmd|' /C calc'!A0", "Ann Ash", "Cy Cedar", "Eve Elm"]


def test_student_table_switches_with_css_alone():
    page = classroom.students_html(_book())
    radios = re.findall(r"<input type='radio' name='student-sort' id='by-(\w+)'( checked)?>", page)
    assert radios == [("score", " checked"), ("auc", ""), ("mel", "")]  # score first, one checked
    for slug in ("score", "auc", "mel"):
        assert f"<label for='by-{slug}'>" in page
        assert f"#by-{slug}:checked~#students-by-{slug}{{display:block}}" in classroom.CLASS_CSS
    assert ".sorter>.sorted{display:none}" in classroom.CLASS_CSS


def test_errors_keep_their_line_breaks_once_per_student_and_table():
    page = classroom.students_html(_book())
    shown = "<pre class='err'>" + html.escape(TRACEBACK) + "</pre>"
    assert page.count(shown) == 3  # Cy's error in each of the three sorted tables, its lines kept
    assert page.count("the grader failed on this submission: killed") == 3


def test_pass_rates_count_full_partial_none_and_not_run():
    rates = {r["key"]: r for r in classroom.pass_rates(_ctx())}
    assert list(rates) == ["builds", "test_auc", "mel_recall_bonus"]
    assert {k: (r["graded"], r["passed"], r["partial"], r["failed"], r["not_run"]) for k, r in rates.items()} == {
        "builds": (4, 3, 0, 1, 0), "test_auc": (4, 1, 2, 1, 1), "mel_recall_bonus": (4, 2, 0, 2, 1)}
    table = classroom._pass_rate_table(classroom.pass_rates(_ctx()))
    assert "<td class='l'>Bonus (bonus)</td><td>10</td><td>2</td><td>0</td><td>2</td><td>1</td><td><b>50%</b>" in table
    assert "<td class='l'>Model builds</td><td>5</td><td>3</td><td>0</td><td>1</td><td>0</td><td><b>75%</b>" in table


@pytest.fixture
def labels(monkeypatch):
    """The labels on each figure's points, instead of drawing it."""
    from matplotlib.text import Annotation

    texts = []

    def capture(fig):
        texts.append([t.get_text() for ax in fig.axes for t in ax.texts if isinstance(t, Annotation)])
        plots.plt.close(fig)
        return "data:,"

    monkeypatch.setattr(plots, "_png", capture)
    return texts


def test_report_names_the_points_of_a_small_class_and_has_every_part(labels):
    page = classroom.report_html("out", _book(), _ctx())
    assert labels[-1] == ["Ann Ash", "Ben Birch", "Dee Dogwood; =cmd|' /C …"]  # the scatter; long names cut
    assert "Each dot is a submission, named by its students" in page
    assert "id='pass-rates'" in page and "id='students-by-mel'" in page and "<script" not in page.lower()
    assert "<ul id='problems'>" not in page  # the student table lists flags and errors, once per student


def test_report_leaves_a_large_class_unnamed_and_says_so(labels, monkeypatch):
    monkeypatch.setattr(classroom, "SCATTER_NAMES_MAX", 2)
    page = classroom.report_html("out", _book(), _ctx())
    assert labels[-1] == []
    assert "not named: more than 2 would cover each other" in page


def test_a_name_is_drawn_as_text_never_as_mathtext():
    rows = [{"id": "s1", "name": "a $x^{$ b\x1b[31m", "test_auc": 0.8, "test_mel_recall": 0.4}]
    assert plots.auc_vs_mel(rows, split="test", label="name").startswith("data:image/png;base64,")


def test_canvas_gradebook_is_canvas_import_layout(tmp_path):
    book = _book() + [{**_book()[0], "student": "Points Possible", "sid": "666", "score": 1.0},
                      {**_book()[0], "student": "@SUM(A1)", "sid": None, "score": None}]
    path = tmp_path / classroom.CANVAS_GRADEBOOK
    classroom.write_canvas_gradebook(path, book, 90)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "DermaMNIST Beat the Baseline"]
    assert rows[1] == ["Points Possible", "", "", "", "", "90"]
    assert rows[2] == ["Ann Ash", "", "s1-0", "", "", "80.0000"]
    assert rows[5:7] == [["Dee Dogwood", "", "s4-0", "", "", "60.0000"],
                         ["'=cmd|' /C calc'!A0", "", "s4-1", "", "", "60.0000"]]  # a group: both; a formula is text
    assert rows[7] == ["Eve Elm", "", "s5-0", "", "", ""]  # no grade: blank, never a zero
    assert rows[8] == ["Points_Possible", "", "666", "", "", "1.0000"]  # never read as Canvas's points row
    assert rows[9] == ["'@SUM(A1)", "", "", "", "", ""]
    assert [r[0] for r in rows[1:]].count("Points Possible") == 1 and len(rows) == 2 + len(book)

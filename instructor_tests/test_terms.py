"""One source for each term a student reads (issue 25): an instructor who packages `--time-limit 300` and an AUC target
of 0.85 has those numbers, not the course's, in the starter kit's README, the student's forecast and verdict (the kit's
locked/terms.json, read by locked/terms.py), the public checks, and the grader's report card. The class report's
target is checked in test_classroom.py (its rubric's 0.95)."""
import io
import json
import os
import re
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from grader import results, rubric as rubric_mod
from instructor import package
from locked import metrics, settings, terms
from locked.info import NUM_CLASSES, TARGET_AUC

REPO = Path(__file__).resolve().parents[1]
# what the student's run prints, asked of whichever locked/ sits in the working folder
SHOW = ("from locked import diagnosis, report; "
        "print(diagnosis.format_forecast(diagnosis.forecast(0.01, 100, 5, 1.0, 1.0))); "
        "print(report.headline({'auc': 0.87, 'mel_recall': 0.6, 'cancer_sensitivity': 0.5, "
        "'balanced_accuracy': 0.5, 'accuracy': 0.8})); print(report.verdict({'auc': 0.87, 'mel_recall': 0.1}))")


def _show(folder):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", SHOW], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_packaged_limits_and_targets_reach_the_students_kit(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[checks.test_auc]\ntarget = 0.85\n[limits]\nparam_budget = 2_000_000\non_time_limit = \"zero\"\n")
    kit_zip = package.build(tmp_path / "dist", rubric, only=("starter",), time_limit=300, log=lambda *a: None)
    with zipfile.ZipFile(kit_zip["starter"]) as z:
        z.extractall(tmp_path / "kit")
    kit = tmp_path / "kit" / "dermamnist_starter"

    assert json.loads((kit / "locked" / "terms.json").read_text()) == terms.of_rubric(
        rubric_mod.load(rubric, time_limit_s=300)).as_dict()
    readme = (kit / "README.md").read_text()
    assert "at least 0.85" in readme and "finish in 300 s" in readme and "at most 2,000,000 parameters" in readme
    assert settings.TIME_LIMIT_POLICIES["zero"] in readme  # what the time limit does to a run, as the rubric says
    shown = _show(kit)
    assert "about 38 s of the 300 s limit" in shown  # (8 + 5 x (100 x 0.01 + 1) + 1) / 0.5
    assert "(target >= 0.85)" in shown and "VERDICT: AUC target met" in shown  # 0.87 passes 0.85, not 0.90
    budget = subprocess.run([sys.executable, "-c", "from locked.terms import TERMS; print(TERMS.param_budget)"],
                            cwd=kit, capture_output=True, text=True, timeout=60)
    assert budget.stdout.strip() == "2000000"  # what tests/test_submission.py holds the model to


def test_without_a_kit_file_the_student_reads_the_courses_terms():
    """The repository has no locked/terms.json: its student reads the course's terms, which the default rubric uses."""
    assert not terms.FILE.exists()
    shown = _show(REPO)
    assert f"of the {settings.TIME_LIMIT_S} s limit" in shown and f"(target >= {TARGET_AUC:.2f})" in shown
    assert "VERDICT: below target (AUC 0.870 < 0.90)" in shown


def test_a_broken_kit_file_falls_back_key_by_key(tmp_path):
    """The kit's file is the student's to break; the grader never reads it. Bad keys fall back, good ones hold."""
    path = tmp_path / "terms.json"
    path.write_text(json.dumps({"auc_target": 0.8, "time_limit_s": -1, "param_budget": 1.5, "max_epochs": True,
                                "mel_threshold": "x", "unknown": 1, "on_time_limit": ["zero"]}))
    assert terms.load(path) == terms.Terms(auc_target=0.8)
    path.write_text(json.dumps({"on_time_limit": "zero", "max_false_alarm": "half"}))
    assert terms.load(path) == terms.Terms(on_time_limit="zero")
    for text in ("", "[1, 2]", "{", "\udcff"):
        path.write_text(text, errors="surrogateescape")
        assert terms.load(path) == terms.Terms()


def test_the_report_card_shows_the_rubrics_target(tmp_path):
    """The grader's report card quotes the AUC target and bonus rule it graded with, not the course's."""
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[checks.test_auc]\ntarget = 0.85\n[checks.mel_recall_bonus]\nthreshold = 0.4\n")
    rules = rubric_mod.load(rubric)
    y = np.repeat(np.arange(NUM_CLASSES), 10)
    m = metrics.evaluate(y, np.eye(NUM_CLASSES)[y] * 0.9 + 0.1 / NUM_CLASSES)
    record = {"score": 0, "max_score": rules.max_score, "tests": [], "metrics": {"test": m, "val": m},
              "data": {"kind": "synthetic", "label": "SYNTHETIC"}, "rubric": rules.as_dict(),
              "sandbox": {"isolation": ["test"]}}
    card = results.report_card(record)
    assert card.count("(target >= 0.85)") == 2 and "0.90" not in card
    assert "(bonus >= 0.40, with false alarms <= 0.25)" in card



def _code():
    """(file, line number, kind, text) over the code that runs: each Python file's numbers and strings (kind
    "token") and every file's non-comment lines (kind "line"). Tests, docs and the course's solutions define nothing."""
    files = subprocess.run(["git", "ls-files", "*.py", "*.sh", "*.tmpl", "Dockerfile", "packaging/gradescope/*"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith(("instructor_tests/", "tests/", "solutions/", "benchmarks/")) or name == "conftest.py":
            continue
        text = (REPO / name).read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if not line.lstrip().startswith("#"):
                yield name, n, "line", line.split(" #")[0]
        if name.endswith(".py"):
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type in (tokenize.NUMBER, tokenize.STRING):
                    yield name, tok.start[0], "token", tok.string


def test_each_limit_and_path_is_defined_once():
    """Issue 25's grep: the 540 s time limit, the image's 640 MB, the 180 s watchdog margin, the image's folder and
    the AUC target each appear in exactly one place of the code that runs (a number as a Python literal or on a
    script's line, the target as an assignment); everything else reads that one."""
    number = lambda v: lambda name, kind, text: (  # noqa: E731
        text == v if name.endswith(".py") and kind == "token" else kind == "line" and not name.endswith(".py")
        and re.search(rf"(?<![\w.]){v}(?![\w.])", text))
    checks = {"540": number("540"), "640": number("640"), "180": number("180"),
              "/opt/dermamnist": lambda name, kind, text: (kind == "token") == name.endswith(".py")
              and "/opt/dermamnist" in text,
              "AUC target": lambda name, kind, text: kind == "line"
              and re.search(r"(?i)target\w*['\"]?\s*[=:]\s*0\.90?(?!\d)", text)}
    found = {value: set() for value in checks}
    for name, line, kind, text in _code():
        for value, check in checks.items():
            if check(name, kind, text):
                found[value].add(name)
    assert found == {"540": {"locked/settings.py"}, "640": {"packaging/image.py"}, "180": {"locked/settings.py"},
                     "/opt/dermamnist": {"packaging/image.py"}, "AUC target": {"locked/info.py"}}


def test_the_report_card_names_the_device_it_graded_on():
    """"on 1 CPU thread" for a run graded on a GPU would tell the student the wrong machine."""
    for device, expected in (("cpu", "on 1 CPU thread."), ("cuda", "on the cuda device (1 CPU thread beside it).")):
        rules = rubric_mod.load(threads=1, device=device)
        record = {"score": 0, "max_score": rules.max_score, "tests": [], "metrics": {},
                  "data": {"kind": "synthetic", "label": "SYNTHETIC"}, "rubric": rules.as_dict(),
                  "sandbox": {"isolation": ["test"]}}
        assert expected in results.report_card(record), device

"""Blame where it belongs: every verdict names the party that failed.

grader/child.py sends its first report ("started") over a pipe just before it imports the student's files; a child
that ended with none (memory spent importing torch and loading the data, e.g. the CUDA build of torch in a 768 MB
box) gets a message that says so and names the instructor's fix, instead of "Use a smaller model". Anything sent
after it is the student's to answer for; a host that cannot run the sandbox at all is found before any grading.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import grader.grade as grade_mod
from grader import preflight, protocol, results, rubric as rubric_mod, sandbox, scoring
from grader.grade import grade
from grader.sandbox import Outcome
from instructor import runs
from locked import metrics

HERE = os.path.dirname(__file__)
RUBRIC_PATH = os.path.join(HERE, "grader_test_rubric.toml")
RUBRIC = rubric_mod.load(RUBRIC_PATH)


def _builds_output(status, outcome):
    tests, _ = scoring.score(status, None, None, outcome, RUBRIC)
    return tests[0]["output"], sum(t["score"] for t in tests)


def test_kill_before_student_code_blames_the_environment():
    out, points = _builds_output({}, Outcome(returncode=-9, seconds=3.0, memory_exceeded=True, peak_rss_mb=651.0))
    assert "before your code ran" in out and "not with your submission" in out and "CPU build of torch" in out
    assert "smaller model" not in out and points == 0
    out, _ = _builds_output({}, Outcome(returncode=-9, seconds=600.0, timed_out=True))
    assert "did not even reach your files" in out and "DERMA_TIME_LIMIT_S" in out


def test_kill_after_student_code_started_is_the_students():
    started = {"stage": "started"}  # child.py's first report: the student's files are being imported
    out, _ = _builds_output(started, Outcome(returncode=-9, seconds=3.0, memory_exceeded=True, peak_rss_mb=900.0))
    assert "Your run used more than" in out and "smaller model" in out and "before your code ran" not in out
    out, _ = _builds_output(started, Outcome(returncode=3, seconds=3.0))
    assert "Your code ended the grader's process early" in out


def test_a_sigkill_the_grader_did_not_send_is_reported_as_memory():
    """Without a cgroup (Docker, Gradescope) the kernel's OOM killer can stop a fast-growing run between two of the
    grader's 0.1 s memory checks: the child dies by SIGKILL with memory_exceeded unset. It must read as memory (with
    the figures), not as the student's exit (packaging/check_docker.sh's memory bomb once got "ended early")."""
    training = {"stage": "checked", "params": 6887, "trainable_params": 6887, "model_name": "Net"}

    def trains(outcome):
        tests, _ = scoring.score(training, None, None, outcome, RUBRIC)
        return next(t for t in tests if t["key"] == "trains")

    check = trains(Outcome(returncode=-9, seconds=4.0, peak_rss_mb=598.0))
    out = check["output"]
    assert "ran out of memory" in out and "598 MB" in out and "smaller model" in out and "while training" in out
    assert "ended the grader's process early" not in out and check["score"] == 0
    out = trains(Outcome(returncode=-15, seconds=4.0, peak_rss_mb=598.0))["output"]
    assert "ended the grader's process early" in out  # any other signal or exit status keeps its own message


def test_a_sandbox_too_small_for_torch_is_reported_as_the_environments(synthetic_root, tmp_path, monkeypatch):
    """For real: a 120 MB limit cannot even hold `import torch`, so the child dies before any student code."""
    monkeypatch.setenv("DERMA_SYNTHETIC_SCALE", "0.2")
    good = os.path.join(HERE, "package_submissions", "good")
    grade(good, tmp_path / "out", rubric_path=RUBRIC_PATH, data_dir=synthetic_root, synthetic=True,
          log=lambda *a: None, time_limit_s=120, memory_limit_mb=120)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["score"] == 0
    assert "before your code ran" in results["tests"][0]["output"], results["tests"][0]["output"]


# --------------------------------------------------------------------------------------------------------------
# Issue 21: blame by origin. The report pipe, the environment check, and what the parent reads from the child.

REPO = Path(HERE).parent
HONEST = Path(HERE) / "grader_submissions" / "honest"
VIEW = os.geteuid() == 0 and sandbox.bubblewrap()[0] is not None
STARTED = protocol.encode_report({"stage": "started"})


@pytest.mark.parametrize("off", [0.5e-4, 1.05e-4, 3e-4])
def test_probabilities_near_one_are_scored_not_refused(off):
    """Rows summing to 1 within 1.1e-4 passed the probability test (allclose's atol plus rtol) and then failed the
    metrics' 1e-4 check after a whole training run, blamed on the grader."""
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(7), 70)
    proba[:, 0] += off  # each row now sums to 1 + off
    labels = np.arange(70) % 7
    got = protocol.as_probabilities(proba, "test", 70)
    assert np.allclose(got.sum(axis=1), 1, rtol=0, atol=1e-12)
    assert metrics.evaluate(labels, got)["n"] == 70  # the metrics accept what scoring passes on


def test_the_environment_check_passes_here_and_names_a_missing_package(monkeypatch):
    preflight.check(RUBRIC.limits)  # this host grades: no exception
    monkeypatch.setattr(preflight, "NEEDED", (*preflight.NEEDED, "no_such_package_dermagrade"))
    with pytest.raises(preflight.EnvironmentUnusable, match="no_such_package_dermagrade cannot be found"):
        preflight.check(RUBRIC.limits)


def test_a_grading_the_environment_failed_is_never_kept_by_resume(tmp_path):
    key = runs.provenance_key({"kind": "synthetic", "label": "x"})
    record = {"data": {"kind": "synthetic", "label": "x"}, "metrics": {"val": None}, "tests": [],
              "grader_failure": "The grader was stopped before your code ran: ..."}
    (tmp_path / runs.RECORD).write_text(json.dumps(record))
    assert runs.finished(tmp_path, key) is None
    (tmp_path / runs.RECORD).write_text(json.dumps({**record, "grader_failure": None}))
    assert runs.finished(tmp_path, key) is not None


def _venv_under_tmp():
    """A virtual environment in /tmp (a new instructor's first try): bubblewrap's private /tmp hides it."""
    folder = Path(tempfile.mkdtemp(prefix="dermagrade-venv-", dir="/tmp"))
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(folder / "venv")],
                   check=True)
    return folder, str(folder / "venv" / "bin" / "python")


@pytest.mark.skipif(not VIEW, reason="needs root and bubblewrap (the minimal filesystem view)")
def test_an_interpreter_under_tmp_is_the_environments_verdict_before_anything_is_graded(synthetic_root, tmp_path):
    """Measured: every grading of a class "failed" with "stopped before your code ran", the summary said "0 grader
    failures", and a rerun kept the failures. Now one line before any grading, with the cause and the fix."""
    folder, python = _venv_under_tmp()
    try:
        env = {**os.environ, "DERMA_SYNTHETIC_SCALE": "0.2", "DERMA_DATA_DIR": str(synthetic_root)}
        common = ["--synthetic", "--rubric", RUBRIC_PATH]
        one = subprocess.run([python, "-m", "grader", "grade", str(HONEST), "--out", str(tmp_path / "one"), *common],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert one.returncode == 2, one.stdout + one.stderr
        output = json.loads((tmp_path / "one" / "results.json").read_text())["output"]
        assert "The autograder itself failed" in output and "not a problem with your submission" in output
        assert "under /tmp" in output and "outside /tmp" in output
        assert not (tmp_path / "one" / "grading_record.json").exists()  # nothing was graded
        export = tmp_path / "export"
        shutil.copytree(HONEST, export / "alice")
        shutil.copytree(HONEST, export / "bob")
        cls = subprocess.run([python, "-m", "instructor", "grade-class", str(export), "--out",
                              str(tmp_path / "class"), "-j", "1", "--no-progress", *common],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert cls.returncode == 2, cls.stdout + cls.stderr
        lines = cls.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Grading environment check failed:") and "/tmp" in lines[0]
        assert "0 grader failures" not in cls.stdout and not (tmp_path / "class" / "gradebook.csv").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _record_from(report):
    outcome = Outcome(returncode=0, seconds=1.0, report=report, report_bytes=len(report), isolation=["test"])
    with sandbox.Sandbox(RUBRIC.limits) as sb:
        (sb.path / "out").mkdir()
        status, predictions = grade_mod._read_outputs(sb, outcome, {"val": 4, "test": 6})
    tests, scored = scoring.score(status, predictions, {"val": [], "test": []}, outcome, RUBRIC)
    return status, outcome, {"score": sum(t["score"] for t in tests), "max_score": RUBRIC.max_score, "seconds": 1.0,
                             "tests": tests, "metrics": scored, "data": {"label": "synthetic", "kind": "synthetic"},
                             "ignored_files": [], "sandbox": {"isolation": ["test"], "output": ""}}


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(tail=st.binary(max_size=3000) | st.lists(st.sampled_from(
    [STARTED, b"junk\n", b"\n", b'{"stage": "done"}\n', b'{"stage": "built", "model_name": "\\ud800\\u001b[32m"}\n',
     b'{"error": {"check": "crash", "message": "\\udcff[PASS] x"}}\n', b"[" * 3000 + b"\n", b'{"stage": 1}\n',
     b'{"history": [{"epoch": 1e999}]}\n']), max_size=8).map(b"".join))
def test_whatever_student_code_sends_after_started_is_the_students_verdict(tail, tmp_path_factory):
    """Once "started" arrived, no bytes the child sends can raise in the parent or make results.json say the
    grader failed: the verdict is the student's, and the files are written."""
    status, outcome, record = _record_from(STARTED + tail)
    assert status and scoring.grader_failure(status, outcome, RUBRIC.limits) is None
    out = tmp_path_factory.mktemp("out")
    results.write(out, record)
    written = (out / "results.json").read_text()
    assert "autograder itself failed" not in written and "before your code ran" not in written

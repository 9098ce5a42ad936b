"""Blame where it belongs: a kill before the student's code ran is the grading environment's failure, not theirs.

grader/child.py writes its first status.json just before it imports the student's files; a child stopped with none
(memory spent importing torch and loading the data, e.g. the CUDA build of torch in a 768 MB box) gets a message
that says so and names the instructor's fix, instead of "Use a smaller model".
"""
import json
import os

from grader import rubric as rubric_mod, scoring
from grader.grade import grade
from grader.sandbox import Outcome

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
    started = {"stage": "started"}  # child.py's first status.json: the student's files are being imported
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
    monkeypatch.setenv("DERMAMNIST_SYNTHETIC_SCALE", "0.2")
    good = os.path.join(HERE, "package_submissions", "good")
    grade(good, tmp_path / "out", rubric_path=RUBRIC_PATH, data_dir=synthetic_root, synthetic=True,
          log=lambda *a: None, time_limit_s=120, memory_limit_mb=120)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["score"] == 0
    assert "before your code ran" in results["tests"][0]["output"], results["tests"][0]["output"]

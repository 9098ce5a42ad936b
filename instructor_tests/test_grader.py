"""The isolated grader against bad, broken and hostile submissions (instructor_tests/grader_submissions/).

Every case checks three things: results.json exists and follows Gradescope's schema, the score is exactly the
points the submission earned (never a point it did not), and the student-facing message says what to change.
Then trust (patched metrics, a shipped locked/, a forged results.json, reading the held-out labels), crash
safety (exits, floods, sleeps, leaks, background processes, a grader bug), reproducibility and intake.

Cost: every sandboxed run pays torch's import in the child (~10 s on a loaded 2-core box); trainings are 1 epoch
on the synthetic stand-in at scale 0.2. Runs are sequential (one sandbox at a time).
"""
import dataclasses
import json
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

import grader.__main__ as grader_main
import grader.grade as grade_mod
from grader import protocol, resultfile, results, rubric as rubric_mod, sandbox
from grader.grade import grade
from instructor import runs
from locked.submission import SubmissionError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUBS = HERE / "grader_submissions"
RUBRIC_PATH = HERE / "grader_test_rubric.toml"
RUBRIC = rubric_mod.load(RUBRIC_PATH)
POINTS = {c.key: c.points for c in RUBRIC.checks}
SANITY = ("builds", "output_shape", "param_budget", "preprocessing", "trains")
BUILT = {"builds", "output_shape", "param_budget", "preprocessing"}  # everything up to training
SCALE = "0.2"  # conftest.TEST_SCALE: the scale of the session's `synthetic_root`
MEMORY_LIMIT_MB = 1200  # the plain baseline peaks at ~800 MB here (CUDA torch build); a leak crosses it fast
KILL_LIMIT_S = 20  # time limit for the cases that must be stopped
KILL_SLACK_S = 10  # grade() may take this much longer than the limit (data, layout, kill, cleanup, scoring)
IS_ROOT = os.geteuid() == 0
VIEW = IS_ROOT and sandbox.bubblewrap()[0] is not None  # the minimal filesystem view
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(autouse=True)
def _scale(monkeypatch):
    """locate() picks the synthetic scale from the environment; the session fixture wrote scale 0.2."""
    monkeypatch.setenv("DERMA_SYNTHETIC_SCALE", SCALE)


def _grade(submission, out, root, time_limit_s=None, **limits):
    t0 = time.monotonic()
    record = grade(submission, out, rubric_path=RUBRIC_PATH, data_dir=root, synthetic=True, log=lambda *a: None,
                   time_limit_s=time_limit_s, memory_limit_mb=MEMORY_LIMIT_MB, **limits)
    return record, time.monotonic() - t0


def _cli(submission, out, data_dir):
    """`python -m grader grade ...` in its own process, so the child can find --out/--data-dir in /proc."""
    cmd = [sys.executable, "-m", "grader", "grade", str(submission), "--synthetic", "--data-dir", str(data_dir),
           "--out", str(out), "--rubric", str(RUBRIC_PATH), "--memory-limit", str(MEMORY_LIMIT_MB)]
    env = {**os.environ, "DERMA_SYNTHETIC_SCALE": SCALE}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((Path(out) / "grading_record.json").read_text())


def _world_dir(mode):
    """A fresh folder in /tmp the sandbox user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="dermagrade-test-", dir="/tmp"))
    path.chmod(mode)
    return path


def check_gradescope(path):
    """results.json exists and follows Gradescope's schema; return it."""
    path = Path(path)
    assert path.is_file() and not path.is_symlink(), f"{path} missing or not a plain file"
    r = json.loads(path.read_text())
    assert isinstance(r["score"], (int, float)) and math.isfinite(r["score"]) and r["score"] >= 0
    assert isinstance(r["execution_time"], (int, float)) and r["execution_time"] >= 0
    assert isinstance(r["tests"], list) and r["tests"]
    for key in ("visibility", "stdout_visibility"):
        assert r.get(key, "visible") in GRADESCOPE_VISIBILITY
    for t in r["tests"]:
        assert isinstance(t["name"], str) and t["name"]
        assert isinstance(t["output"], str) and t["output"]
        assert t["status"] in ("passed", "failed")
        assert t["visibility"] in GRADESCOPE_VISIBILITY
        assert isinstance(t["score"], (int, float)) and isinstance(t["max_score"], (int, float))
        assert 0 <= t["score"] and (t["score"] <= t["max_score"] or t["max_score"] == 0)  # 0 max: the bonus
    assert r["score"] == pytest.approx(sum(t["score"] for t in r["tests"]), abs=1e-3)
    for entry in r.get("leaderboard", []):
        assert set(entry) == {"name", "value", "order"}
        assert isinstance(entry["name"], str) and isinstance(entry["value"], (int, float))
        assert entry["order"] in ("asc", "desc")
    return r


def by_key(record):
    return {t["key"]: t for t in record["tests"]}


def check_outcome(record, out, passed, messages=()):
    """The checks in `passed` (and only those) passed with full points, the score is their sum (plus, when trained,
    the AUC's credit, which is full, none or partial as the test AUC stands to the rubric's band, and the bonus), each
    message snippet is in its check's output, and the results.json on disk says the same. The partial-credit formula
    itself is checked against hand-worked values in test_scoring.py."""
    tests = by_key(record)
    for key in SANITY:
        want = key in passed
        assert (tests[key]["status"] == "passed") == want, (key, tests[key]["output"])
        assert tests[key]["score"] == (POINTS[key] if want else 0.0), key
    expected = sum(POINTS[k] for k in passed)
    if "trains" in passed:
        test, spec, auc = record["metrics"]["test"], RUBRIC.check("test_auc"), tests["test_auc"]
        assert f"Test macro AUC {test['auc']:.4f}" in auc["output"]
        if test["auc"] >= spec.target:
            assert auc["status"] == "passed" and auc["score"] == POINTS["test_auc"]
        elif test["auc"] <= spec.floor:
            assert auc["status"] == "failed" and auc["score"] == 0.0
        else:
            assert auc["status"] == "partial" and 0.0 < auc["score"] < POINTS["test_auc"]
        spec = RUBRIC.check("mel_recall_bonus")
        bonus = test["mel_recall"] >= spec.threshold and test["mel_false_alarm"] <= spec.max_false_alarm
        assert tests["mel_recall_bonus"]["status"] == ("passed" if bonus else "failed")
        expected += auc["score"] + (POINTS["mel_recall_bonus"] if bonus else 0.0)
    else:
        for key in ("test_auc", "mel_recall_bonus"):
            assert tests[key]["score"] == 0.0 and tests[key]["status"] == "failed"
            assert tests[key]["output"].startswith("Not run") and not tests[key]["ran"]
        assert record["metrics"] == {"val": None, "test": None}
    assert record["score"] == pytest.approx(expected, abs=1e-3)
    for key, snippet in messages:
        assert snippet in tests[key]["output"], (key, tests[key]["output"])
    r = check_gradescope(Path(out) / "results.json")
    assert r["score"] == pytest.approx(record["score"], abs=1e-3)
    assert [t["name"] for t in r["tests"]] == [t["name"] for t in record["tests"]]
    assert ("leaderboard" in r) == ("trains" in passed)
    return r


@pytest.fixture(scope="module")
def honest(synthetic_root, tmp_path_factory):
    """The reference: a tiny honest CNN. The trust cases are this model plus an attack."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DERMA_SYNTHETIC_SCALE", SCALE)
        out = tmp_path_factory.mktemp("honest")
        record, _ = _grade(SUBS / "honest", out, synthetic_root)
    check_outcome(record, out, set(SANITY))
    assert record["metrics"]["test"]["auc"] > RUBRIC.check("test_auc").floor  # partial credit moves
    assert record["ignored_files"] == []  # the two files, flat
    return record


def test_leaderboard_time_is_the_training_time(honest):
    """engine.fit's time, as the suite and `python -m locked.train` report it: its epochs (with their validation)
    and nothing of the sandbox run around it (torch's import, the checks, the prediction)."""
    train, epochs = honest["train_seconds"], sum(row["seconds"] for row in honest["history"])
    assert epochs <= train < epochs + 1.0 and train < honest["sandbox"]["seconds"] - 1.0
    board = {e["name"]: e for e in results.gradescope(honest)["leaderboard"]}
    assert board["Training time (s)"] == {"name": "Training time (s)", "value": round(train, 4), "order": "asc"}
    assert runs.summary_row(honest, {})["train_seconds"] == train


# --------------------------------------------------------------------------------------------------------------
# Bad submissions: (folder, checks that pass, [(check, snippet of its message)])
CASES = [
    ("syntax_error", set(), [("builds", "model.py line 4: syntax error: expected ':'"),
                             ("builds", "def build_model()"), ("trains", "syntax error")]),
    ("import_error", set(), [("builds", "model.py could not import timm_not_on_the_grader"),
                             ("builds", "Only the packages in requirements.txt")]),
    ("missing_build_model", set(), [("builds", "model.py must define a function build_model()")]),
    ("missing_epochs", set(), [("builds", "train_config.py does not define EPOCHS. Add it back, e.g. `EPOCHS = 5`")]),
    ("builder_raises", set(), [("builds", "build_model() in model.py raised an error: model.py line 5, in "
                                          "build_model: TypeError")]),
    ("builder_returns_none", set(), [("builds", "it returned NoneType. Did you forget `return MyModel()`?")]),
    ("ten_classes", {"builds"}, [("output_shape", "shape (2, 7), one score per class; it returned (2, 10)"),
                                 ("output_shape", "nn.Linear(..., 7)")]),
    ("nan_outputs", {"builds"}, [("output_shape", "NaN or infinite values on a plain batch of images")]),
    ("nan_after_training", BUILT, [("trains", "After training, your model output NaN or infinite values for 201 "
                                              "of the 201 val images")]),
    ("loss_diverges", BUILT, [("trains", "Training diverged: the loss became"),
                              ("trains", "yours starts at lr=1000000.0")]),
    ("crash_mid_training", BUILT, [("trains", "The forward pass during training raised an error: model.py line 14, "
                                              "in forward: RuntimeError: simulated failure after 5 training")]),
    ("over_param_budget", {"builds", "output_shape", "preprocessing"},
     [("param_budget", "12,000,607 parameters (all, frozen included); budget 12,000,000"),
      ("param_budget", "Your model was not trained: make it smaller"),
      ("trains", "Not trained: your model has 12,000,607 parameters, over the budget of 12,000,000")]),
    ("batch_size_zero", set(), [("builds", "train_config.py: BATCH_SIZE = 0 is outside 1..4096")]),
    ("negative_lr", BUILT, [("trains", "make_optimizer(model) in train_config.py raised an error: train_config.py "
                                       "line 11, in make_optimizer: ValueError: Invalid learning rate: -0.01")]),
    ("too_many_epochs", set(), [("builds", "train_config.py: EPOCHS = 500 is outside 1..50")]),
    ("transform_wrong_shape", {"builds", "output_shape", "param_budget"},
     [("preprocessing", "train_transform returned a float32 tensor of shape (3, 32, 32); validation images are "
                        "(3, 28, 28)"),
      ("preprocessing", "Found in train_transform: Resize(size=32"),
      ("preprocessing", "Remove the resize/crop from train_transform"),
      ("trains", "The forward pass during training raised an error: model.py line 26, in forward")]),
    ("exit_at_import", set(), [("builds", "Your code called sys.exit(0)"), ("trains", "Remove it")]),
    ("os_exit_in_training", BUILT, [("trains", "Your code ended the grader's process early (exit status 0, while "
                                               "training)"), ("trains", "Remove any sys.exit(), os._exit()")]),
    ("closes_report", BUILT, [("trains", "Your code closed or replaced the grader's report pipe (the file descriptor "
                                         "in $DERMAGRADE_REPORT_FD) while training")]),
    ("eval_eight_columns", BUILT, [("trains", "In evaluation your model returned (128, 8)"),
                                   ("trains", "expected one row of 7 scores per image")]),
    ("raises_harness_error", set(), [("builds", "raises_harness_error: no model here")]),
    ("forged_status", set(), [("builds", "progress reports (its report pipe, $DERMAGRADE_REPORT_FD) were written "
                                         "to or garbled by your code")]),
]


#: What the submission printed, which must reach the record and the report card.
PRINTED = {"os_exit_in_training": "forward: calling os._exit(0)", "forged_status": "forged_status: wrote to file",
           "closes_report": "closes_report: closed the report pipe"}


@pytest.mark.parametrize("name, passed, messages", CASES, ids=[c[0] for c in CASES])
def test_bad_submission(name, passed, messages, synthetic_root, tmp_path):
    record, _ = _grade(SUBS / name, tmp_path / "out", synthetic_root)
    check_outcome(record, tmp_path / "out", passed, messages)
    assert not record["sandbox"]["timed_out"] and not record["sandbox"]["memory_exceeded"]
    assert record["grader_failure"] is None  # the student's verdict, never the grader's
    assert "autograder itself failed" not in (tmp_path / "out" / "results.json").read_text()
    if name in PRINTED:
        assert PRINTED[name] in record["sandbox"]["output"]
        assert PRINTED[name] in (tmp_path / "out" / "report.txt").read_text()


def test_text_that_forges_report_lines_is_escaped_and_the_verdict_is_the_students(synthetic_root, tmp_path):
    """Issue 21: a student's error message that is not valid UTF-8 made the report writer raise (score 0, "the
    autograder itself failed"); escapes and newlines in student text printed fake [PASS] lines."""
    record, _ = _grade(SUBS / "hostile_text", tmp_path / "out", synthetic_root)
    check_outcome(record, tmp_path / "out", set(), [("builds", "ValueError: \\udcff\\x1b[31m oops\\n[PASS] Model")])
    assert record["grader_failure"] is None
    for name in ("results.json", "report.txt"):
        text = (tmp_path / "out" / name).read_text()
        assert "\x1b" not in text and "\r" not in text and "autograder itself failed" not in text
        assert not any(line.lstrip().startswith("[PASS]") for line in text.splitlines()), name
    gradescope = json.loads((tmp_path / "out" / "results.json").read_text())
    assert not any(line.lstrip().startswith("[PASS]") for line in gradescope["output"].splitlines())


FROZEN_PARAMS, FROZEN_TRAINABLE = 5415, 4935  # grader_submissions/frozen_layers: its first block is frozen


@pytest.mark.parametrize("budget", [FROZEN_PARAMS, FROZEN_PARAMS - 1], ids=["exactly_the_budget", "one_over"])
def test_parameter_budget_counts_frozen_parameters(budget, synthetic_root, tmp_path):
    """Graded with the budget at exactly its parameter count it trains; one under, it is not trained, although
    its trainable parameters alone would fit."""
    record, _ = _grade(SUBS / "frozen_layers", tmp_path / "out", synthetic_root, param_budget=budget)
    assert (record["params"], record["trainable_params"]) == (FROZEN_PARAMS, FROZEN_TRAINABLE)
    if budget == FROZEN_PARAMS:
        check_outcome(record, tmp_path / "out", set(SANITY), [("param_budget", "5,415 parameters")])
    else:
        check_outcome(record, tmp_path / "out", {"builds", "output_shape", "preprocessing"}, [
            ("param_budget", "5,415 parameters (all, frozen included); budget 5,414"),
            ("trains", "Not trained: your model has 5,415 parameters, over the budget of 5,414")])


# --------------------------------------------------------------------------------------------------------------
# Killed at a limit: the grader returns soon after the limit, with results


def test_sleep_in_training_is_stopped_at_the_time_limit(synthetic_root, tmp_path):
    record, elapsed = _grade(SUBS / "sleep_in_training", tmp_path / "out", synthetic_root, time_limit_s=KILL_LIMIT_S)
    assert record["sandbox"]["timed_out"]
    assert record["sandbox"]["seconds"] < KILL_LIMIT_S + 3
    assert elapsed < KILL_LIMIT_S + KILL_SLACK_S
    assert "going to sleep for an hour" in record["sandbox"]["output"]  # it really got that far
    check_outcome(record, tmp_path / "out", BUILT, [
        ("trains", f"Your run did not finish within the {KILL_LIMIT_S} s limit and was stopped (while training)"),
        ("trains", "look for an infinite loop or a sleep")])


CUT_LIMIT_S = 40  # slow_epochs: about 3 s an epoch, 30 epochs; a few fit in this after torch's import


def test_epochs_that_outrun_the_limit_are_cut_and_the_model_is_scored(synthetic_root, tmp_path):
    """Issue 27: every anchor gives nothing when the time limit hits. The locked loop knows the deadline: it stops
    before an epoch that would not finish, predicts with the model it has, and the training check gets the share of
    epochs done; the instructor's report flags it."""
    record, elapsed = _grade(SUBS / "slow_epochs", tmp_path / "out", synthetic_root, time_limit_s=CUT_LIMIT_S)
    assert not record["sandbox"]["timed_out"] and record["sandbox"]["seconds"] < CUT_LIMIT_S
    cut = record["time_limit_cut"]
    done = len(record["history"])
    assert cut == {"epochs_trained": done, "epochs_planned": 30, "on_time_limit": "score"} and 1 <= done < 30
    trains = by_key(record)["trains"]
    assert trains["status"] == "partial" and trains["score"] == pytest.approx(POINTS["trains"] * done / 30, abs=1e-4)
    assert f"Trained {done} of 30 epochs within the {CUT_LIMIT_S} s limit" in trains["output"]
    assert f"set EPOCHS to at most {done}" in trains["output"]
    auc = by_key(record)["test_auc"]
    assert auc["ran"] and f"Test macro AUC {record['metrics']['test']['auc']:.4f}" in auc["output"]
    assert record["score"] == pytest.approx(sum(POINTS[k] for k in BUILT) + trains["score"] + auc["score"]
                                            + by_key(record)["mel_recall_bonus"]["score"], abs=1e-3)
    report = (tmp_path / "out" / "instructor_report.txt").read_text()
    assert f"FLAG time limit: training stopped after {done} of 30 epochs" in report
    assert "FLAG" not in (tmp_path / "out" / "report.txt").read_text()
    check_gradescope(tmp_path / "out" / "results.json")


def test_a_rubric_can_score_a_cut_run_as_a_timeout(synthetic_root, tmp_path):
    record, _ = _grade(SUBS / "slow_epochs", tmp_path / "out", synthetic_root, time_limit_s=CUT_LIMIT_S,
                       on_time_limit="zero")
    done = record["time_limit_cut"]["epochs_trained"]
    assert record["time_limit_cut"]["on_time_limit"] == "zero" and 1 <= done < 30
    check_outcome(record, tmp_path / "out", BUILT, [
        ("trains", f"Trained {done} of 30 epochs within the {CUT_LIMIT_S} s limit"),
        ("trains", "scores a run that does not finish its epochs within the limit as a timeout")])
    assert "scored as a timeout" in (tmp_path / "out" / "instructor_report.txt").read_text()


def test_a_cut_run_whose_predictions_are_refused_is_not_flagged_as_scored(synthetic_root, tmp_path):
    """The flag says the cut model was scored; when its predictions are refused (NaN here), nothing was."""
    sub = tmp_path / "sub"
    shutil.copytree(SUBS / "slow_epochs", sub)
    model = sub / "model.py"
    model.write_text(model.read_text().replace(  # NaN in evaluation once training began: past build_model's check
        "        return self.net(x)", "        self.trained = self.training or getattr(self, 'trained', False)\n"
        "        return self.net(x) * (float('nan') if self.trained and not self.training else 1.0)"))
    record, _ = _grade(sub, tmp_path / "out", synthetic_root, time_limit_s=CUT_LIMIT_S)
    assert 1 <= len(record["history"]) < 30
    assert by_key(record)["trains"]["status"] == "failed" and "NaN" in by_key(record)["trains"]["output"]
    assert record["time_limit_cut"] is None
    assert "FLAG time limit" not in (tmp_path / "out" / "instructor_report.txt").read_text()


def test_print_flood_is_stopped_and_truncated(synthetic_root, tmp_path):
    record, elapsed = _grade(SUBS / "print_flood", tmp_path / "out", synthetic_root, time_limit_s=KILL_LIMIT_S)
    box = record["sandbox"]
    assert box["timed_out"] and elapsed < KILL_LIMIT_S + KILL_SLACK_S
    limit = RUBRIC.limits.output_limit_kb * 1024
    assert box["output_bytes"] > 10 * limit  # it printed a lot ...
    assert len(box["output"]) < 2 * limit + 200  # ... and only the head and the tail were kept
    assert "bytes of output skipped ...]" in box["output"]
    assert "debug line 1: " in box["output"]
    assert (tmp_path / "out" / "results.json").stat().st_size < 4 * limit
    check_outcome(record, tmp_path / "out", BUILT, [("trains", f"within the {KILL_LIMIT_S} s limit")])


def test_memory_blowup_is_stopped_at_the_memory_limit(synthetic_root, tmp_path):
    record, elapsed = _grade(SUBS / "memory_blowup", tmp_path / "out", synthetic_root)
    box = record["sandbox"]
    assert box["memory_exceeded"] and not box["timed_out"]
    assert MEMORY_LIMIT_MB <= box["peak_rss_mb"] < MEMORY_LIMIT_MB + 600  # the cgroup stops it at the limit
    assert "allocating 40 MB every 20 ms" in box["output"]
    check_outcome(record, tmp_path / "out", BUILT, [
        ("trains", f"Your run used more than {MEMORY_LIMIT_MB} MB of memory"),
        ("trains", "do not keep tensors (e.g. every batch's outputs) in Python lists")])


# --------------------------------------------------------------------------------------------------------------
# Teaching traps, scored against the honest reference


def test_normalize_trap_fails_the_check_and_costs_auc(honest, synthetic_root, tmp_path):
    record, _ = _grade(SUBS / "normalize_trap", tmp_path / "out", synthetic_root)
    check_outcome(record, tmp_path / "out", {"builds", "output_shape", "param_budget", "trains"}, [
        ("preprocessing", "train_transform's output differs from validation"),
        ("preprocessing", "Found in train_transform: Normalize(mean=[0.485, 0.456, 0.406]"),
        ("preprocessing", "That is the Normalize trap of the course's experiment 14"),
        ("preprocessing", "normalise inside your model's forward()")])
    assert record["metrics"]["test"]["auc"] < honest["metrics"]["test"]["auc"]
    assert record["score"] < honest["score"] - POINTS["preprocessing"]


# --------------------------------------------------------------------------------------------------------------
# Trust: nothing the submission does changes its score


def _same_grade(record, honest):
    assert record["metrics"] == honest["metrics"]
    assert record["score"] == honest["score"]
    assert record["params"] == honest["params"]
    assert [t["score"] for t in record["tests"]] == [t["score"] for t in honest["tests"]]


def test_shipped_locked_folder_is_ignored(honest, synthetic_root, tmp_path):
    """A folder with student/ and a forged locked/metrics.py: only the two files are used; the rest is listed."""
    record, _ = _grade(SUBS / "ships_locked", tmp_path / "out", synthetic_root)
    check_outcome(record, tmp_path / "out", set(SANITY))
    assert record["ignored_files"] == ["locked/__init__.py", "locked/metrics.py"]
    assert "Ignored (only model.py and train_config.py are graded): locked/__init__.py, locked/metrics.py" in \
        (tmp_path / "out" / "report.txt").read_text()
    _same_grade(record, honest)


def test_patching_the_metrics_in_the_child_changes_nothing(honest, synthetic_root, tmp_path):
    record, _ = _grade(SUBS / "patch_metrics", tmp_path / "out", synthetic_root)
    assert "patched sklearn.metrics, locked.metrics and locked.engine" in record["sandbox"]["output"]
    check_outcome(record, tmp_path / "out", set(SANITY))
    _same_grade(record, honest)  # params too: the patched count_parameters said 1


def test_forged_results_json_is_replaced_by_the_graders(honest, synthetic_root, tmp_path):
    """The submission looks for --out on the grader's command line to write a perfect results.json there, plant
    a symlink and a directory where the grader writes, and leave a process rewriting results.json. In the
    minimal filesystem view it finds no command line (its own PID namespace) and no such folder; without it,
    everything it plants is replaced."""
    out = _world_dir(0o777)  # the worst case: the sandbox user can write where results go
    try:
        record = _cli(SUBS / "fake_results", out, synthetic_root)
        said = record["sandbox"]["output"]
        if VIEW:
            assert "fake_results: no --out on the grader's command line" in said, said
        else:
            assert "fake_results: wrote a forged" in said  # the attack really ran, and really wrote
            assert "planted results.json.tmp -> decoy.txt and a grading_record.json directory" in said
            assert "started a background rewriter" in said
            assert (out / "decoy.txt").read_text() == "decoy"
        first = (out / "results.json").read_text()
        r = check_gradescope(out / "results.json")
        assert "FORGED" not in first and r["score"] == pytest.approx(honest["score"], abs=1e-3)
        _same_grade(record, honest)
        assert (out / "grading_record.json").is_file()
        time.sleep(2)  # a rewriter would have struck by now
        assert (out / "results.json").read_text() == first
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="the grader protects the labels by dropping the sandbox to another user")
def test_held_out_labels_cannot_be_read(honest, synthetic_root, tmp_path):
    """The submission walks the grader's --data-dir (from /proc), its environment, ~/.medmnist and the
    sandbox's data; if it found test labels its eval-mode forward() would return them (a perfect AUC)."""
    data_dir = _world_dir(0o755)
    try:
        target = data_dir / "synthetic" / f"scale-{SCALE}"
        shutil.copytree(Path(synthetic_root) / "synthetic" / f"scale-{SCALE}", target)
        for p in (data_dir / "synthetic", target):
            p.chmod(0o755)
        npz = target / "dermamnist.npz"
        npz.chmod(0o644)  # readable by anyone, until the grader protects it
        record = _cli(SUBS / "steal_labels", tmp_path / "out", data_dir)
        said = record["sandbox"]["output"]
        print(said)
        if VIEW:  # no grader process, no data folder: nothing of the host exists for it
            assert "steal_labels: found" not in said and "grader command line" not in said
        else:
            assert f"steal_labels: found {npz}" in said  # it found the file ...
            assert f"{npz}: could not read it: PermissionError" in said  # ... and could not open it
            assert "grader environment: PermissionError" in said
        assert "data.npz: readable, but it holds no test labels" in said
        assert f"{npz}: LEAKED" not in said
        # Other readable copies elsewhere (e.g. another scale's synthetic file in /root/.medmnist, left by other
        # runs) are not the graded data: their "labels" do not match these test images, so the grade is the same.
        assert not npz.stat().st_mode & (stat.S_IROTH | stat.S_IRGRP)
        check_gradescope(tmp_path / "out" / "results.json")
        _same_grade(record, honest)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="a PID namespace needs root; without it a fast fork chain can escape")
def test_background_processes_do_not_outlive_grading(honest, synthetic_root, tmp_path, monkeypatch):
    """A double-forked daemon and a fork chain, both waiting for the graded process to end: neither may act.
    They leave their marks in the sandbox's out/, which the grader looks at 4 s after the run."""
    sub = tmp_path / "sub"
    shutil.copytree(SUBS / "background_processes", sub)
    model = sub / "model.py"
    model.write_text(model.read_text().replace('MARKER_DIR = "/tmp/dermagrade-daemon-test"',
                                               'MARKER_DIR = os.path.join(os.getcwd(), "..", "out")'))
    seen, read = [], grade_mod._read_outputs

    def look_later(sb, outcome, rows):
        time.sleep(4)  # the daemon writes 3 s after the graded process is gone, the chain at once
        seen.extend(sorted(p.name for p in (sb.path / "out").iterdir()))
        return read(sb, outcome, rows)

    monkeypatch.setattr(grade_mod, "_read_outputs", look_later)
    record, _ = _grade(sub, tmp_path / "out", synthetic_root)
    assert "daemon and fork chain started" in record["sandbox"]["output"]
    assert {"chain-started", "daemon-started"} <= set(seen)
    assert not {"marker", "chain-outlived"} & set(seen), seen
    _same_grade(record, honest)  # and the fork was not counted as twice the memory


# --------------------------------------------------------------------------------------------------------------
# The grader itself fails: still a valid results.json


def test_grader_crash_still_writes_valid_results(monkeypatch, synthetic_root, tmp_path):
    def broken_layout(*args, **kwargs):
        raise RuntimeError("simulated grader bug")

    monkeypatch.setattr(grade_mod, "_layout", broken_layout)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated grader bug"):
        grader_main.main(["grade", str(SUBS / "honest"), "--out", str(out), "--synthetic",
                          "--data-dir", str(synthetic_root)])
    r = check_gradescope(out / "results.json")
    assert r["score"] == 0
    assert "The autograder itself failed (RuntimeError: simulated grader bug)" in r["output"]
    assert "This is not a problem with your submission" in r["tests"][0]["output"]


# --------------------------------------------------------------------------------------------------------------
# Reproducibility and intake


def test_graded_twice_is_identical(honest, synthetic_root, tmp_path):
    """The honest reference again, now uploaded as a zip of student/: same metrics, history and score.
    (The trust tests above add five more runs that must match it exactly.)"""
    upload = tmp_path / "upload.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        for name in ("model.py", "train_config.py"):
            zf.write(SUBS / "honest" / name, f"student/{name}")
        zf.write(REPO / "student" / "README.md", "student/README.md")
    again, _ = _grade(upload, tmp_path / "out", synthetic_root)
    check_outcome(again, tmp_path / "out", set(SANITY))
    assert again["metrics"] == honest["metrics"] and again["score"] == honest["score"]

    def strip(history):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert strip(again["history"]) == strip(honest["history"])
    assert again["ignored_files"] == ["student/README.md"]  # paths as the upload holds them (locked/upload.py)


def test_folder_without_the_two_files_scores_zero_with_a_clear_message(synthetic_root, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "my_model.py").write_text("print('hi')\n")
    (sub / "notebook.ipynb").write_text("{}\n")
    record, elapsed = _grade(sub, tmp_path / "out", synthetic_root)
    check_outcome(record, tmp_path / "out", set(), [
        ("builds", "Could not find model.py and train_config.py in"),
        ("builds", "found: my_model.py, notebook.ipynb"),
        ("builds", "Submit model.py and train_config.py from your student/ folder")])
    assert record["sandbox"]["isolation"] == ["not started"] and elapsed < 30


# --------------------------------------------------------------------------------------------------------------
# What the sandbox user can plant where the grader reads or writes (no sandbox needed)


def test_predictions_that_are_not_numbers_are_an_error_not_a_crash():
    with pytest.raises(SubmissionError, match="The val predictions have shape"):
        protocol.as_probabilities([["a"] * 7] * 3, "val", 3)


def test_results_are_written_as_fresh_files_over_planted_ones(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "decoy.txt").write_text("decoy")
    (out / "results.json.tmp").symlink_to(out / "decoy.txt")
    (out / "grading_record.json").mkdir()
    (out / "results.json").mkdir()
    (out / "results.json" / "inside").write_text("x")
    results.write_crash(out, RuntimeError("planted"))
    resultfile.write_atomic(out / "grading_record.json", "{}")
    check_gradescope(out / "results.json")
    assert (out / "grading_record.json").read_text() == "{}"
    assert (out / "decoy.txt").read_text() == "decoy" and not (out / "results.json.tmp").exists()


# --------------------------------------------------------------------------------------------------------------
# The sandbox on its own, with small scripts instead of a training run (seconds, no torch)

DAEMON = """
import os, sys, time
marker, watched = sys.argv[1], os.getpid()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:  # wait for the graded process to end, then leave a trace
            try:
                os.kill(watched, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        time.sleep(1)
        open(marker, "w").write("outlived")
    os._exit(0)
print("daemon started", flush=True)
"""

FORKS = """
import os, time
hog = bytearray(300 * 1024 * 1024)  # 300 MB, touched
for i in range(0, len(hog), 4096):
    hog[i] = 1
for _ in range(3):  # three forks share those pages copy-on-write
    if os.fork() == 0:
        time.sleep(3)
        os._exit(0)
time.sleep(2)
print("done", flush=True)
"""


def _sandbox_limits(**changes):
    return dataclasses.replace(RUBRIC.limits, **{"time_limit_s": 30, "memory_limit_mb": 500, **changes})


@pytest.mark.parametrize("pid_namespace", [True, False], ids=["pid_namespace", "subreaper_only"])
def test_sandbox_kills_a_daemon_with_or_without_a_pid_namespace(pid_namespace, monkeypatch):
    if pid_namespace and not IS_ROOT:
        pytest.skip("a PID namespace needs root")
    if not pid_namespace:  # as if a container forbade new PID namespaces (and so bubblewrap)
        monkeypatch.setattr(sandbox, "_can_unshare", lambda flags: not flags & sandbox.CLONE_NEWPID)
        monkeypatch.setattr(sandbox, "bubblewrap", lambda: (None, "forbidden in this test"))
    with sandbox.Sandbox(_sandbox_limits()) as sb:
        sb.seal()
        out = sb.run([sys.executable, "-c", DAEMON, sb.inside("out/marker")], env={"PATH": "/usr/bin:/bin"})
        assert out.output == "daemon started\n" and out.returncode == 0
        assert any("PID namespace" in note for note in out.isolation) == pid_namespace
        assert any("the host's filesystem is visible (forbidden in this test)" in note
                   for note in out.isolation) == (not pid_namespace)
        time.sleep(2)
        assert not (sb.path / "out" / "marker").exists()


def test_sandbox_counts_forked_pages_once():
    """300 MB shared by a process and its 3 forks is ~300 MB, not 1200 MB (the sum of their RSS)."""
    with sandbox.Sandbox(_sandbox_limits(memory_limit_mb=800)) as sb:
        sb.seal()
        out = sb.run([sys.executable, "-c", FORKS], env={"PATH": "/usr/bin:/bin"})
    assert not out.memory_exceeded and out.output == "done\n"
    assert 300 < out.peak_rss_mb < 500


def test_sandbox_reads_smaps_only_when_two_processes_are_large(monkeypatch):
    """smaps_rollup stalls the child (16 ms under its memory lock per read): one large process is counted from
    /proc/PID/stat alone; two large ones (maybe forks sharing pages) are counted page by page."""
    reads = []
    monkeypatch.setattr(sandbox, "_memory_kb", lambda pid, rss_kb: reads.append(pid) or (rss_kb // 2, rss_kb // 2))
    big, small = 400 * 1024, 10 * 1024
    assert sandbox._tree_memory_mb({1, 2}, {1: (0, small), 2: (1, big)}) == (small + big) / 1024
    assert reads == []
    two_forks = sandbox._tree_memory_mb({1, 2, 3}, {1: (0, small), 2: (1, big), 3: (2, big)})
    assert two_forks == (small // 2 + big // 2 + big // 2 + big // 2) / 1024  # all private parts + one shared part
    assert sorted(reads) == [1, 2, 3]

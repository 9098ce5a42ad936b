"""Edges of the rules that decide grades which a mutation run (benchmarks/mutation_run.py, benchmarks/MUTATION.md)
showed no other fast test pinned: each test here kills mutants that survived it, so a changed comparison, cap or
key in these rules now fails a test. Unit tests only, no sandbox and no subprocess: the whole file runs in seconds.
"""
import dataclasses
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader import protocol, rubric as rubric_mod, sandbox, scoring
from instructor import classroom
from locked import settings, upload
from locked.info import CLASS_NAMES
from locked.submission import SubmissionError
from locked.text import shown

HONEST = Path(__file__).resolve().parent / "grader_submissions" / "honest"
TWO = {n: (HONEST / n).read_bytes() for n in ("model.py", "train_config.py")}
RUBRIC = rubric_mod.load()


def _files(root, entries):
    """Write {relative name: bytes} under `root`; return `root`."""
    for name, data in entries.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _pair(prefix=""):
    return {f"{prefix}{n}": d for n, d in TWO.items()}


def _short(value):
    """A short test id that pytest can select again by node id."""
    return re.sub(r"\W+", "_", str(list(value) if isinstance(value, dict) else value)).strip("_")[:40]


def _refusal(path):
    with pytest.raises(SubmissionError) as err:
        upload.read(path)
    return str(err.value)


# --- the gradebook's cell guard (instructor/classroom.py _cell) --------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1"])
def test_every_formula_lead_is_made_text(text):
    """A spreadsheet runs a cell that starts with = + - @ or a tab (then a formula): each gets a leading quote."""
    assert classroom._cell(text) == "'" + text


def test_a_carriage_return_lead_is_escaped_before_the_guard_looks():
    """shown() writes a leading CR as the two characters \\r, so it needs no quote (and never reaches a sheet)."""
    assert classroom._cell("\r=1") == "\\r=1"


def test_values_that_are_not_text_are_written_by_their_str_and_guarded():
    class Formula:
        def __str__(self):
            return "=HYPERLINK(1)"

        def __repr__(self):
            return "Formula()"

    assert classroom._cell(3) == "3" and classroom._cell(-2) == "'-2" and classroom._cell(True) == "True"
    assert classroom._cell(Formula()) == "'=HYPERLINK(1)"


# --- the upload rule (locked/upload.py): caps, depth, skipped names ----------------------------------------------

def test_a_folder_upload_may_hold_exactly_max_entries(tmp_path, monkeypatch):
    """Every file and folder counts (the student/ folder too); one more than the cap is refused, naming the upload."""
    monkeypatch.setattr(upload, "MAX_ENTRIES", 5)
    up = _files(tmp_path / "up", {**_pair("student/"), "a.txt": b"", "b.txt": b""})  # student/ + 2 + 2 = 5
    assert upload.read(up).where == "student"
    _files(up, {"c.txt": b""})
    message = _refusal(up)
    assert message.startswith("up holds more than 5 files and folders.") and upload.HOW_TO in message


def test_the_entry_cap_names_an_upload_given_as_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(upload, "MAX_ENTRIES", 2)
    monkeypatch.chdir(_files(tmp_path / "up", {**_pair(), "x.txt": b""}))
    assert _refusal(".").startswith(". holds more than 2 files and folders.")


def test_skipped_folders_are_neither_walked_nor_counted_past_their_own_entry(tmp_path, monkeypatch):
    """A .git or __MACOSX folder may hold thousands of files: only its own entry counts toward the cap."""
    monkeypatch.setattr(upload, "MAX_ENTRIES", 6)
    up = _files(tmp_path / "up", {**_pair(), **{f".git/o{i}": b"" for i in range(9)},
                                  **{f"__MACOSX/m{i}": b"" for i in range(9)}, **{f"__pycache__/p{i}": b""
                                                                                    for i in range(9)}})
    found = upload.read(up)
    assert found.where == "." and found.ignored_summary() == []


def test_files_more_than_max_depth_plus_one_folders_down_are_not_even_looked_at(tmp_path):
    """Folders are walked to MAX_DEPTH + 1 levels so a pair one level too deep is named; deeper, nothing is seen."""
    one_too_deep = _files(tmp_path / "a", _pair("a/b/c/d/"))
    assert "4 folders deep (a/b/c/d/); at most 3 are looked at" in _refusal(one_too_deep)
    two_too_deep = _files(tmp_path / "b", _pair("a/b/c/d/e/"))
    assert "Could not find model.py and train_config.py in Your upload (found: nothing)" in _refusal(two_too_deep)


def test_a_zip_is_read_only_when_it_lies_at_the_top_of_a_folder(tmp_path):
    up = tmp_path / "up"
    (up / "sub").mkdir(parents=True)
    with zipfile.ZipFile(up / "sub" / "hw.zip", "w") as zf:
        for name, data in TWO.items():
            zf.writestr(name, data)
    assert "(found: sub/hw.zip)" in _refusal(up)
    (up / "sub" / "hw.zip").rename(up / "hw.zip")
    assert upload.read(up).files == TWO


def test_folder_refusals_name_the_upload_and_the_file(tmp_path):
    dup = _files(tmp_path / "dup", {**_pair("a/"), **_pair("a/student/")})
    assert "Your upload holds model.py and train_config.py in 2 places (a/, a/student/)" in _refusal(dup)
    big = _files(tmp_path / "big", {**_pair(), "model.py": b"#" * (upload.MAX_FILE_BYTES + 1)})
    assert _refusal(big).startswith("model.py is over 1,000,000 bytes")
    at_cap = _files(tmp_path / "cap", {**_pair(), "model.py": b"#" * upload.MAX_FILE_BYTES})
    assert len(upload.read(at_cap).files["model.py"]) == upload.MAX_FILE_BYTES


def test_a_folder_the_grader_cannot_read_is_the_students_and_says_why(tmp_path, monkeypatch):
    up = _files(tmp_path / "up", _pair())

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(upload, "open", refuse, raising=False)
    assert _refusal(up).startswith("Your upload could not be read (PermissionError: [Errno 13] Permission denied).")


def test_a_folder_upload_counts_and_keeps_its_folder(tmp_path):
    up = _files(tmp_path / "up", {**_pair("student/"), **{f"junk/{i:02}.txt": b"" for i in range(upload.MAX_LISTED
                                                                                                      + 1)}})
    found = upload.read(up)
    assert found.folder == up / "student" and found.ignored_count == upload.MAX_LISTED + 1
    assert found.ignored_summary()[-1] == "... and 1 more"  # one over the listing cap is still said
    assert upload.find_folder(up) == up / "student"


def test_find_folder_writes_a_zips_two_files_only_into_scratch(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in {**_pair("student/"), "student/notes.txt": b"n"}.items():
            zf.writestr(name, data)
    with pytest.raises(SubmissionError, match=r"^s\.zip is a zip: unzip it first\.$") as err:
        upload.find_folder(path)
    assert err.value.check == "files"
    scratch = tmp_path / "scratch" / "deep"
    assert upload.find_folder(path, scratch) == scratch
    assert {p.name: p.read_bytes() for p in scratch.iterdir()} == TWO


def test_collect_makes_missing_folders_and_overwrites_an_existing_one(tmp_path):
    up = _files(tmp_path / "up", _pair())
    dest = tmp_path / "a" / "b" / "dest"
    upload.collect(up, dest)
    upload.collect(up, dest)  # a resumed grading writes into the folder it made before
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == TWO


# --- the rubric (grader/rubric.py) --------------------------------------------------------------------------------

def test_the_rubric_as_recorded_has_every_section_and_no_empty_check_fields():
    record = rubric_mod.load().as_dict()
    assert set(record) == {"source", "limits", "test", "integrity", "checks"}
    assert record["source"] == str(rubric_mod.DEFAULT) and record["limits"] == dataclasses.asdict(RUBRIC.limits)
    assert record["test"] == dataclasses.asdict(RUBRIC.test)
    assert record["integrity"] == dataclasses.asdict(RUBRIC.integrity)
    assert set(record["checks"]) == set(rubric_mod.CHECKS)
    for key, fields in record["checks"].items():
        assert "key" not in fields and None not in fields.values(), key
    assert set(record["checks"]["builds"]) == {"name", "points", "visibility", "bonus"}


def test_with_test_data_resolves_the_path_and_none_keeps_the_rubric(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert RUBRIC.with_test_data(None) is RUBRIC
    private = RUBRIC.with_test_data("private.npz")
    assert private.test.data == str(tmp_path / "private.npz") and private.test.public_fraction == 0.0
    assert private.checks == RUBRIC.checks and private.limits == RUBRIC.limits


# --- what the parent takes from the child's report (grader/protocol.py clean_status) -----------------------------

FULL = {"stage": "done", "error": {"check": "crash", "message": "boom"}, "epochs": 3, "batch_size": 64,
        "model_name": "Net", "preprocessing": {"ok": False, "message": "differs"}, "params": 5, "other": 1,
        "history": [{"epoch": 1, "train_loss": 1, "train_acc": 0.5, "val_loss": None, "val_acc": 0.25, "lr": None,
                     "seconds": 2, "junk": 1}], "train_seconds": 12}
TAMPERED = {"stage": "started", "error": {"check": "status", "message": protocol.TAMPERED}}


def test_a_full_report_keeps_exactly_its_known_fields_typed():
    clean = protocol.clean_status(FULL)
    assert clean == {"stage": "done", "error": {"check": "crash", "message": "boom"}, "epochs": 3, "batch_size": 64,
                     "model_name": "Net", "preprocessing": {"ok": False, "message": "differs"},
                     "history": [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": None,
                                  "val_acc": 0.25, "lr": None, "seconds": 2.0}], "train_seconds": 12.0}
    assert type(clean["train_seconds"]) is float and type(clean["history"][0]["train_loss"]) is float
    assert protocol.clean_status({}) == {"stage": "started"}  # a report without a stage is the first one


@pytest.mark.parametrize("change", [
    {"epochs": 0}, {"epochs": 10**6}, {"batch_size": 10**7}, {"train_seconds": 1e12}, {"train_seconds": -1e12},
    {"history": [{**FULL["history"][0], "epoch": protocol.MAX_HISTORY}]},
    {"history": [{**FULL["history"][0], "val_loss": 0.5, "lr": 0.1}]},
    {"history": [FULL["history"][0]] * protocol.MAX_HISTORY},
    {"preprocessing": {"ok": True, "message": ""}},
], ids=_short)
def test_values_at_their_bounds_are_kept(change):
    clean = protocol.clean_status({**FULL, **change})
    assert clean["stage"] == "done" and clean["error"]["check"] == "crash", clean["error"]


@pytest.mark.parametrize("change", [
    {"epochs": -1}, {"epochs": 10**6 + 1}, {"epochs": True}, {"epochs": 3.0}, {"batch_size": 10**7 + 1},
    {"batch_size": -1}, {"train_seconds": 1e12 + 0.5}, {"train_seconds": -1e12 - 0.5}, {"train_seconds": True},
    {"train_seconds": float("nan")}, {"train_seconds": None}, {"train_seconds": "1"},
    {"history": [{**FULL["history"][0], "epoch": protocol.MAX_HISTORY + 1}]},
    {"history": [{**FULL["history"][0], "seconds": None}]}, {"history": [{**FULL["history"][0], "train_acc": None}]},
    {"history": [FULL["history"][0]] * (protocol.MAX_HISTORY + 1)}, {"history": [1]}, {"history": {"epoch": 1}},
    {"preprocessing": {"ok": 1, "message": "x"}}, {"preprocessing": ["ok"]}, {"preprocessing": {"ok": True,
                                                                                                 "message": 3}},
    {"error": "boom"}, {"error": {"check": 1, "message": "m"}}, {"error": {"check": "c"}},
    {"model_name": 5}, {"stage": "over"}, {"stage": None},
], ids=_short)
def test_a_value_of_the_wrong_type_or_out_of_bounds_is_tampering(change):
    assert protocol.clean_status({**FULL, **change}) == TAMPERED


@pytest.mark.parametrize("report", [None, [], "done", 1])
def test_a_report_that_is_not_a_mapping_is_tampering(report):
    assert protocol.clean_status(report) == TAMPERED


def test_texts_are_shown_escaped_and_cut_at_their_own_limits():
    long = {"error": {"check": "c" * 65, "message": "m\x1b" * protocol.MAX_TEXT}, "model_name": "n" * 201,
            "preprocessing": {"ok": True, "message": "p" * (protocol.MAX_TEXT + 1)}}
    clean = protocol.clean_status({**FULL, **long})
    assert clean["error"] == {"check": shown("c" * 65, 64), "message": shown("m\x1b" * protocol.MAX_TEXT,
                                                                              protocol.MAX_TEXT)}
    assert clean["error"]["check"].startswith("c" * 64 + " [... 1 characters cut]")
    assert clean["model_name"] == "n" * 200 + " [... 1 characters cut]"
    assert clean["preprocessing"]["message"] == "p" * protocol.MAX_TEXT + " [... 1 characters cut]"
    exact = protocol.clean_status({**FULL, "error": {"check": "c" * 64, "message": "m"}, "model_name": "n" * 200})
    assert exact["error"]["check"] == "c" * 64 and exact["model_name"] == "n" * 200


# --- whose failure it was (grader/scoring.py grader_failure) -------------------------------------------------------

LIMITS = RUBRIC.limits


@pytest.mark.parametrize("outcome, words", [
    (sandbox.Outcome(None, 5.0, memory_exceeded=True, peak_rss_mb=1234.4),
     [f"more than the {LIMITS.memory_limit_mb:g} MB memory limit (peak seen 1234 MB)", "DERMA_MEMORY_LIMIT_MB",
      "install the CPU build of torch"]),
    (sandbox.Outcome(None, 5.0, timed_out=True), [f"within the {LIMITS.time_limit_s:g} s limit",
                                                  "DERMA_TIME_LIMIT_S"]),
    (sandbox.Outcome(-11, 5.0), ["(exit status -11) while importing torch", "sandbox.output"]),
], ids=["memory", "time", "crash"])
def test_nothing_reported_is_the_environments_failure_with_the_fix(outcome, words):
    message = scoring.grader_failure({}, outcome, LIMITS)
    assert message.startswith("The grader was stopped before your code ran: ")
    assert "a problem with the grading environment, not with your submission" in message
    for text in words:
        assert text in message, message
    assert scoring.grader_failure({"stage": "started"}, outcome, LIMITS) is None
    tests = {t["key"]: t for t in scoring.score({}, None, {}, outcome, RUBRIC)[0]}
    assert tests["builds"]["output"] == message and tests["builds"]["score"] == 0


# --- how a grading is scored, stage by stage (grader/scoring.py score) ------------------------------------------

NOT_BUILT, NOT_SHAPED = "Not run: the model did not build.", "Not run: the model's output did not pass its check."
NO_PREDICTIONS = "Not run: training did not finish, so there are no predictions to score."
EXTRA = " (Extra credit: counted in your score, not in the maximum.)"
OK = sandbox.Outcome(returncode=0, seconds=12.0, peak_rss_mb=300.0)


def _labelled(n=20):
    """n images of each class, each predicted right with probability 0.88: AUC 1, every melanoma caught."""
    y = np.repeat(np.arange(7), n)
    proba = np.full((len(y), 7), 0.02)
    proba[np.arange(len(y)), y] = 0.88
    return {"val": y, "test": y}, {"val": proba, "test": proba}


def _table(status, predictions=None, labels=None, outcome=OK):
    return {t["key"]: (t["status"], t["score"], t["output"])
            for t in scoring.score(status, predictions, labels or {}, outcome, RUBRIC)[0]}


def test_a_model_that_does_not_load_fails_builds_and_runs_nothing_else():
    error = {"check": "builds", "message": "model.py line 3: boom"}
    table = _table({"stage": "loaded", "error": error}, outcome=sandbox.Outcome(1, 2.0))
    assert table == {"builds": ("failed", 0.0, "model.py line 3: boom"), "output_shape": ("failed", 0.0, NOT_BUILT),
                     "param_budget": ("failed", 0.0, NOT_BUILT), "preprocessing": ("failed", 0.0, NOT_BUILT),
                     "trains": ("failed", 0.0, "model.py line 3: boom"), "test_auc": ("failed", 0.0, NO_PREDICTIONS),
                     "mel_recall_bonus": ("failed", 0.0, NO_PREDICTIONS + EXTRA)}


def test_a_model_whose_output_fails_keeps_builds_and_runs_nothing_after():
    status = {"stage": "built", "model_name": "Net", "params": 10, "error": {"check": "output", "message": "bad"}}
    table = _table(status, outcome=sandbox.Outcome(1, 2.0))
    assert table["builds"] == ("passed", 5.0, "build_model() returned Net.")
    assert table["output_shape"] == ("failed", 0.0, "bad")
    assert table["param_budget"] == table["preprocessing"] == ("failed", 0.0, NOT_SHAPED)


def test_a_trained_model_is_scored_with_every_output_said():
    status = {"stage": "done", "model_name": "Net", "params": 1000, "preprocessing": {"ok": True, "message": "same"},
              "history": [{"epoch": 1}, {"epoch": 2}]}
    labels, predictions = _labelled()
    table = _table(status, predictions, labels)
    assert table["output_shape"] == ("passed", 5.0, "A batch of 2 images gives logits of shape (2, 7).")
    assert table["param_budget"] == ("passed", 5.0, f"1,000 parameters (all, frozen included); budget "
                                                    f"{RUBRIC.limits.param_budget:,}.")
    assert table["preprocessing"] == ("passed", 10.0, "same")
    assert table["trains"] == ("passed", 10.0, f"Trained 2 epochs in 12 s (limit {RUBRIC.limits.time_limit_s:g} s), "
                                               f"peak memory 300 MB (limit {RUBRIC.limits.memory_limit_mb:g} MB).")
    assert table["test_auc"][:2] == ("passed", 55.0) and "Ideas from the course" not in table["test_auc"][2]


def test_predictions_of_the_wrong_shape_fail_trains_and_name_the_split():
    status = {"stage": "done", "model_name": "Net", "params": 10, "preprocessing": {"ok": True, "message": "same"}}
    labels, predictions = _labelled()
    table = _table(status, {"val": predictions["val"][:5], "test": predictions["test"]}, labels)
    assert table["trains"][:2] == ("failed", 0.0)
    assert table["trains"][2].startswith("The val predictions have shape (5, 7); expected (140, 7)")
    assert table["test_auc"] == ("failed", 0.0, NO_PREDICTIONS)
    assert table["mel_recall_bonus"] == ("failed", 0.0, NO_PREDICTIONS + EXTRA)


def test_a_check_entry_has_exactly_the_fields_results_json_reads():
    entry = scoring._check("builds", RUBRIC, True, "ok")
    assert entry == {"key": "builds", "name": "Model builds", "score": 5.0, "max_score": 5.0, "status": "passed",
                     "output": "ok", "visibility": "visible", "bonus": False, "ran": True}
    tests, metrics = scoring.score({"stage": "checked", "params": 10**9, "model_name": "Net"}, None, {}, OK, RUBRIC)
    assert metrics == {"val": None, "test": None}
    budget = {t["key"]: t for t in tests}["param_budget"]["output"]
    assert budget.endswith(" Your model was not trained: make it smaller (fewer channels, a smaller head, or a "
                           "smaller backbone).")


def test_a_finished_run_without_predictions_did_not_train():
    status = {"stage": "done", "model_name": "Net", "params": 10, "preprocessing": {"ok": True, "message": "same"}}
    assert _table(status, None, _labelled()[0])["trains"] == ("failed", 0.0, "Training did not run.")


def test_params_reported_before_the_output_check_are_not_judged():
    table = _table({"stage": "built", "model_name": "Net", "params": 10**9}, outcome=sandbox.Outcome(1, 2.0))
    assert table["param_budget"] == ("failed", 0.0, NOT_SHAPED)


@pytest.mark.parametrize("auc, score, status", [(0.8, 18.3333, "partial"), (0.751, 0.3667, "partial"),
                                                (0.75, 0.0, "failed"), (0.9, 55.0, "passed")])
def test_auc_points_are_rounded_to_four_places_and_partial_means_any_points(auc, score, status):
    check = scoring._auc_check(auc, RUBRIC)
    assert (check["score"], check["status"]) == (score, status)
    assert check["output"].startswith(f"Partial credit: {score:g} of 55 points ({score / 55:.0%}). Test macro AUC"
                                      if status == "partial" else "Test macro AUC")
    assert ("Ideas from the course" in check["output"]) == (status != "passed")


def test_a_missed_bonus_still_says_what_was_measured():
    labels, predictions = _labelled()
    proba = predictions["test"].copy()
    mel = np.flatnonzero(labels["test"] == CLASS_NAMES.index("mel"))
    proba[mel[:15]] = proba[mel[:15]][:, ::-1]  # 15 of 20 melanomas called something else
    status = {"stage": "done", "model_name": "Net", "params": 10, "preprocessing": {"ok": True, "message": "same"}}
    output = _table(status, {"val": proba, "test": proba}, labels)["mel_recall_bonus"][2]
    assert output.startswith("Test melanoma recall 0.250: caught 5 of 20 melanomas")
    assert "Missing melanomas is the costly error" in output


# --- why a run did not finish (grader/scoring.py _failure_reason) -------------------------------------------------

def _reason(stage, returncode, params=None):
    status = {"stage": stage, **({"params": params} if params is not None else {})}
    return scoring._failure_reason(status, sandbox.Outcome(returncode, 1.0), RUBRIC.limits)


def test_a_timeout_names_what_the_child_was_doing():
    outcome = sandbox.Outcome(None, 600.0, timed_out=True)
    assert "(while training)" in scoring._failure_reason({"stage": "checked"}, outcome, RUBRIC.limits)
    assert "(while starting)" in scoring._failure_reason({"stage": "odd"}, outcome, RUBRIC.limits)


def test_only_a_checked_model_over_the_budget_is_said_untrained():
    budget = RUBRIC.limits.param_budget
    assert _reason("checked", 0, budget + 1).startswith("Not trained: your model has")
    assert _reason("checked", 0, budget).startswith("Your code ended the grader's process early (exit status 0, "
                                                    "while training)")
    assert _reason("built", 0, budget + 1).startswith("Your code ended the grader's process early")


def test_a_lost_report_pipe_or_sigkill_is_said_only_before_done():
    assert _reason("trained", 86).startswith("Your code closed or replaced the grader's report pipe")
    assert "while predicting" in _reason("trained", 86)
    assert _reason("done", 86) is None and _reason("done", -9) is None and _reason("done", 0) is None
    assert _reason("trained", 1).startswith("Your code ended the grader's process early (exit status 1, while "
                                            "predicting)")
    assert _reason("checked", -9).startswith("Your run was killed by the system (SIGKILL) while training")
    assert _reason("checked", 9).startswith("Your code ended the grader's process early (exit status 9")
    for code, words in ((86, "while starting, so the grader"), (-9, "(SIGKILL) while starting:"),
                        (1, "(exit status 1, while starting)")):
        assert words in _reason("odd", code)  # a stage the words do not know reads as starting


def test_reached_is_inclusive_and_an_unknown_stage_reaches_nothing():
    assert protocol.reached({"stage": "built"}, "built") and not protocol.reached({"stage": "built"}, "shaped")
    assert not protocol.reached({"stage": "bogus"}, "started") and not protocol.reached({}, "started")


# --- the child's predictions (grader/protocol.py as_probabilities) -----------------------------------------------

def test_probabilities_are_kept_and_renormalised_and_logits_are_softmaxed():
    one_hot = np.eye(7)[[0, 1, 2]].astype(np.float32)
    got = protocol.as_probabilities(one_hot, "test", 3)
    assert got.dtype == np.float64 and (got == one_hot).all()
    near = np.full((2, 7), (1 - 5e-5) / 7)  # within PROBA_ATOL of 1: divided by its sum, exactly normalised
    assert np.allclose(protocol.as_probabilities(near, "test", 2).sum(axis=1), 1, atol=1e-12, rtol=0)
    for logits in ([2.0, -1.0, 0, 0, 0, 0, 0], [3.0, 1.0, 0, 0, 0, 0, 0]):  # sums to 1 with a negative; over 1
        row = np.array([logits])
        assert np.allclose(protocol.as_probabilities(row, "val", 1), np.exp(row) / np.exp(row).sum())


def test_predictions_that_are_not_an_array_or_not_finite_are_the_students():
    with pytest.raises(SubmissionError) as err:
        protocol.as_probabilities([[1.0, 2.0], [3.0]], "test", 2)
    assert err.value.check == "predictions"
    assert str(err.value) == "The test predictions have shape (0,); expected (2, 7), one row per image and one " \
                             "column per class."
    bad = np.zeros((3, 7))
    bad[0, :2] = np.nan
    bad[2, 1] = np.inf
    with pytest.raises(SubmissionError) as err:
        protocol.as_probabilities(bad, "val", 3)
    assert err.value.check == "predictions" and "infinite values for 2 of the 3 val images" in str(err.value)


# --- the rubric's rules (grader/rubric.py) ------------------------------------------------------------------------

def _rubric_error(tmp_path, text):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(rubric_mod.RubricError) as err:
        rubric_mod.load(path)
    return str(err.value)


def _loaded(tmp_path, text):
    path = tmp_path / "r.toml"
    path.write_text(text)
    return rubric_mod.load(path)


@pytest.mark.parametrize("text", [
    "[limits]\nthreads = 64\noutput_limit_kb = 1\nmax_epochs = 1\nparam_budget = 1\nmax_file_mb = 1\nscratch_mb = 1\n"
    "max_processes = 16\ntime_limit_s = 0.5\nsandbox_uids = [1000, 1000]\n",
    "[limits]\nsandbox_uids = [5000, 2147483646]\n",
    "[checks.builds]\npoints = 0.5\nvisibility = \"after_due_date\"\n[checks.trains]\nvisibility = \"hidden\"\n"
    "points = 0\n",
    "[test]\npublic_fraction = 0.9\n[checks.test_auc]\nvisibility = \"after_published\"\n"
    "[checks.mel_recall_bonus]\nvisibility = \"after_due_date\"\n",
    "[integrity]\nmax_val_gap = 1e-9\n",
], ids=["limits_at_bounds", "last_uid", "points_visibility", "public_fraction", "integrity"])
def test_values_at_their_bounds_load(tmp_path, text):
    rubric = _loaded(tmp_path, text)
    assert rubric.source == str(tmp_path / "r.toml")


def test_a_loaded_rubric_keeps_every_value_it_was_given(tmp_path):
    (tmp_path / "private.npz").write_bytes(b"")
    rubric = _loaded(tmp_path, "[limits]\nthreads = 4\nsandbox_uids = [3000, 3999]\nmax_epochs = 7\nmax_file_mb = 9\n"
                               "[test]\ndata = \"private.npz\"\n"
                               "public_fraction = 0.5\n[checks.test_auc]\nvisibility = \"after_published\"\n"
                               "[checks.mel_recall_bonus]\nvisibility = \"after_published\"\n[checks.builds]\n"
                               "name = \"Builds\"\nvisibility = \"after_due_date\"\n[integrity]\nmax_val_gap = 0.2\n")
    assert rubric.limits.threads == 4 and rubric.limits.sandbox_uids == (3000, 3999)
    assert rubric.limits.max_epochs == 7 and rubric.limits.max_file_mb == 9
    assert rubric.test == rubric_mod.TestSet(data=str(tmp_path / "private.npz"), public_fraction=0.5)
    assert rubric.integrity.max_val_gap == 0.2 and rubric.integrity.max_source_kb == 8.0
    builds = rubric.check("builds")
    assert (builds.name, builds.visibility, builds.bonus, builds.points) == ("Builds", "after_due_date", False, 5.0)
    assert rubric.check("mel_recall_bonus").bonus is True


@pytest.mark.parametrize("text, words", [
    ("[limits]\nthreads = 65\n", "threads = 65: must be >= 1 and <= 64."),
    ("[limits]\nmax_processes = 15\n", "max_processes = 15: must be >= 16."),
    ("[limits]\nmax_epochs = 0\n", "[limits] max_epochs = 0: must be >= 1."),
    ("[limits]\nparam_budget = 0\n", "[limits] param_budget = 0: must be >= 1."),
    ("[limits]\nmax_file_mb = 0\n", "[limits] max_file_mb = 0: must be >= 1."),
    ("[limits]\noutput_limit_kb = 0\n", "[limits] output_limit_kb = 0: must be >= 1."),
    ("[limits]\ntime_limit_s = 0\n", "[limits] time_limit_s = 0: must be > 0."),
    ("[limits]\nmemory_limit_mb = 0\n", "memory_limit_mb = 0: must be > 0."),
    ("[limits]\nsandbox_uids = [999, 2000]\n", "sandbox_uids = [999, 2000]: give [first, last]"),
    ("[limits]\nsandbox_uids = [5000, 4999]\n", "sandbox_uids = [5000, 4999]: give [first, last]"),
    ("[limits]\nsandbox_uids = [5000, 2147483647]\n", "sandbox_uids = [5000, 2147483647]: give [first, last]"),
    ("[integrity]\nmax_val_gap = 0\n", "[integrity] max_val_gap = 0: must be > 0."),
    ("[checks.trains]\nname = \"  \"\n", "[checks.trains] name = '  ': give the check a name students will read."),
    ("[checks.trains]\nvisibility = \"hidden\"\npoints = 0.5\n", "visibility = \"hidden\" on a check worth 0.5 points"),
    ("[checks.test_auc]\nfloor = 0.9\n", "[checks.test_auc]: floor (0.9) must be below target (0.9)."),
    ("[checks.builds]\npoints = -1\n", "[checks.builds] points = -1: must be >= 0."),
    ("[test]\npublic_fraction = 0.91\n", "[test] public_fraction = 0.91: must be >= 0 and <= 0.9."),
    ("[test]\npublic_fraction = 0.5\n", "public_fraction = 0.5: the points then come from the private part"),
    ("[test]\ndata = 5\n", "[test] data = 5: give the private test file's path as a string"),
    ("[tests]\ndata = 5\n", "r.toml: unknown key 'tests'; the keys are limits, checks, test, integrity"),
    ("[checks.auc]\npoints = 1\n", "r.toml [checks]: unknown key 'auc'"),
    ("[limits]\ncores = 1\n", "r.toml [limits]: unknown key 'cores'"),
    ("[integrity]\ngap = 1\n", "r.toml [integrity]: unknown key 'gap'"),
    ("[test]\nfile = 1\n", "r.toml [test]: unknown key 'file'"),
], ids=_short)
def test_a_value_past_its_bound_is_refused_naming_it(tmp_path, text, words):
    message = _rubric_error(tmp_path, text)
    assert words in message and f"rubric {tmp_path / 'r.toml'}" in message, message


def test_public_fraction_names_the_first_visible_test_check(tmp_path):
    message = _rubric_error(tmp_path, "[test]\npublic_fraction = 0.5\n[checks.test_auc]\nvisibility = \"hidden\"\n"
                                      "points = 0\n")
    assert "but [checks.mel_recall_bonus] is visible" in message
    assert "but [checks.test_auc] is visible" in _rubric_error(tmp_path, "[test]\npublic_fraction = 0.5\n")
    hidden_builds = "[test]\npublic_fraction = 0.5\n[checks.builds]\nvisibility = \"hidden\"\npoints = 0\n"
    assert "[checks.test_auc] is visible" in _rubric_error(tmp_path, hidden_builds)


def test_a_missing_rubric_or_limit_says_so(tmp_path, monkeypatch):
    with pytest.raises(rubric_mod.RubricError, match=r"nope\.toml: cannot be read \(No such file or directory\)"):
        rubric_mod.load(tmp_path / "nope.toml")
    with pytest.raises(rubric_mod.RubricError, match=r"^command line \[limits\] time_limit_s = -1: must be > 0\.$"):
        RUBRIC.with_limits(time_limit_s=-1)
    raw = {"time_limit_s": 1, "output_limit_kb": 1}
    with pytest.raises(rubric_mod.RubricError, match=r"^x \[limits\]: memory_limit_mb is missing; grader/rubric.toml"):
        rubric_mod._limits(raw, "x")
    assert rubric_mod._limits({"memory_limit_mb": 1, "output_limit_kb": 1}, "x").time_limit_s == settings.TIME_LIMIT_S


def test_a_shipped_rubric_may_leave_optional_keys_to_their_defaults(tmp_path, monkeypatch):
    """rubric.toml documents every key, but only two limits, each check's name and points and test_auc's floor are
    required."""
    default = tmp_path / "rubric.toml"
    extra = {"test_auc": "target = 0.9\nfloor = 0.8\n", "mel_recall_bonus": "threshold = 0.5\n"}
    default.write_text("[limits]\ntime_limit_s = 10\nmemory_limit_mb = 100\noutput_limit_kb = 2\n" + "".join(
        f"[checks.{key}]\nname = \"{key}\"\npoints = 1\n{extra.get(key, '')}" for key in rubric_mod.CHECKS))
    monkeypatch.setattr(rubric_mod, "DEFAULT", default)
    override = tmp_path / "mine.toml"
    override.write_text("[limits]\nthreads = 2\n[test]\npublic_fraction = 0.0\n[integrity]\nmax_val_gap = 0.3\n")
    for rubric in (rubric_mod.load(), rubric_mod.load(override)):
        assert rubric.limits == dataclasses.replace(rubric_mod.Limits(10.0, 100.0, 2),
                                                    threads=rubric.limits.threads)
        assert rubric.test == rubric_mod.TestSet()
        assert rubric.check("builds").visibility == "visible" and rubric.check("builds").bonus is False
    assert rubric_mod.load().integrity == rubric_mod.Integrity()
    assert rubric_mod.load(override).integrity == rubric_mod.Integrity(max_val_gap=0.3)
    assert rubric_mod.load(override).limits.threads == 2 and rubric_mod.load().limits.threads == 1


# --- the upload rule, zips (locked/upload.py) ---------------------------------------------------------------------

def _zip_of(path, entries, comment=b""):
    """A zip of {name: bytes} (a name ending in / is a folder entry), with `comment`; return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        zf.comment = comment
    return path


def _no_zipfile(monkeypatch):
    """zipfile.ZipFile made to fail: a refusal that still comes back was decided before zipfile parsed anything."""
    def refuse(*args, **kwargs):
        raise AssertionError("zipfile was asked to parse the zip")
    monkeypatch.setattr(upload.zipfile, "ZipFile", refuse)


@pytest.mark.parametrize("comment", [b"", b"c" * 10, b"x" * 30 + b"\0\0", b"y" * 65535], ids=len)
def test_the_entry_count_is_read_from_the_end_record_wherever_the_comment_puts_it(comment, tmp_path, monkeypatch):
    monkeypatch.setattr(upload, "MAX_ENTRIES", 1)
    path = _zip_of(tmp_path / "s.zip", _pair(), comment)
    _no_zipfile(monkeypatch)
    assert _refusal(path).startswith("s.zip holds 2 entries; the limit is 1.")


def test_the_end_record_found_is_the_last_one_not_one_inside_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr(upload, "MAX_ENTRIES", 2)
    inner = b"PK\x05\x06" + bytes(18)  # an empty zip, stored inside the upload
    path = _zip_of(tmp_path / "s.zip", {**_pair(), "inner.zip": inner}, comment=b"note")
    _no_zipfile(monkeypatch)
    assert _refusal(path).startswith("s.zip holds 3 entries; the limit is 2.")


def test_the_central_directory_is_counted_from_offset_zero(tmp_path, monkeypatch):
    """A directory that starts the file (no local data before it) is counted too, before zipfile parses it."""
    import struct
    monkeypatch.setattr(upload, "MAX_ENTRIES", 3)
    central = b"".join(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0)
                       + b"f%d" % i for i in range(5))
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), 0, 0)
    path = tmp_path / "s.zip"
    path.write_bytes(central + end)
    assert _refusal(path).startswith("s.zip holds more than 3 entries; the limit is 3.")


def test_a_zip64_record_counts_only_with_its_locator(tmp_path, monkeypatch):
    """A forged zip64 end record (in the last entry's comment, just before the end record) without the locator that
    must follow it is ignored: its zero entries do not hide the five the end record lists."""
    import struct
    monkeypatch.setattr(upload, "MAX_ENTRIES", 3)
    forged = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 0, 0, 0, 0) + b"y" * 20
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(5):
            info = zipfile.ZipInfo(f"f{i}")
            info.comment = forged if i == 4 else b""
            zf.writestr(info, b"")
    _no_zipfile(monkeypatch)
    assert _refusal(path).startswith("s.zip holds 5 entries; the limit is 3.")


def test_central_header_lengths_are_unsigned(tmp_path):
    """A 40,000-byte entry comment is a length over 32,767: read as signed, the count would walk backwards."""
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in TWO.items():
            info = zipfile.ZipInfo(name)
            info.comment = b"c" * 40_000
            zf.writestr(info, data)
    assert upload.read(path).files == TWO


def test_a_zip_may_hold_exactly_max_entries_and_max_zip_bytes(tmp_path, monkeypatch):
    path = _zip_of(tmp_path / "s.zip", _pair())
    monkeypatch.setattr(upload, "MAX_ENTRIES", 2)
    monkeypatch.setattr(upload, "MAX_ZIP_BYTES", path.stat().st_size)
    assert upload.read(path).files == TWO
    monkeypatch.setattr(upload, "MAX_ZIP_BYTES", path.stat().st_size - 1)
    assert _refusal(path).startswith(f"s.zip is {path.stat().st_size:,} bytes; uploads must be under "
                                     f"{path.stat().st_size - 1:,}.")


@pytest.mark.parametrize("cut", [10, 30], ids=["end_record_cut_short", "end_record_gone"])
def test_a_zip_without_a_whole_end_record_is_zipfiles_to_refuse(cut, tmp_path):
    raw = _zip_of(tmp_path / "ok.zip", _pair()).read_bytes()
    (tmp_path / "s.zip").write_bytes(raw[:-cut])
    assert "could not be read as a zip (zipfile.BadZipFile: " in _refusal(tmp_path / "s.zip")


def test_a_garbled_central_header_is_zipfiles_to_refuse(tmp_path):
    raw = bytearray(_zip_of(tmp_path / "ok.zip", _pair()).read_bytes())
    second = raw.find(b"PK\x01\x02", raw.find(b"PK\x01\x02") + 4)
    raw[second:second + 4] = b"XXXX"
    (tmp_path / "s.zip").write_bytes(bytes(raw))
    assert "could not be read as a zip (zipfile.BadZipFile: " in _refusal(tmp_path / "s.zip")


def test_an_empty_zip_holds_nothing(tmp_path):
    assert "(found: nothing)" in _refusal(_zip_of(tmp_path / "s.zip", {}))


def test_zip_folder_entries_drive_names_and_duplicates(tmp_path):
    found = upload.read(_zip_of(tmp_path / "a.zip", {"student/": b"", **_pair("student/"), "C:/evil.py": b"",
                                                     "D:evil.py": b""}))
    assert found.where == "student" and found.ignored_summary() == []
    flat_twice = _zip_of(tmp_path / "b.zip", {"model.py": b"#", "./model.py": b"#", "train_config.py": b""})
    assert _refusal(flat_twice).startswith("b.zip holds model.py twice, as model.py and ./model.py")
    nested = _zip_of(tmp_path / "c.zip", {**_pair("student/"), "./student/model.py": b"#"})
    assert _refusal(nested).startswith("c.zip holds student/model.py twice")


def test_dot_names_in_a_zip_are_neither_read_nor_listed(tmp_path):
    found = upload.read(_zip_of(tmp_path / "s.zip", {**_pair("student/"), **_pair(".trash/"), ".notes.txt": b""}))
    assert found.where == "student" and found.ignored_summary() == []


def test_zip_refusals_name_the_zip_and_the_file(tmp_path):
    dup = _zip_of(tmp_path / "d.zip", {**_pair(), **_pair("student/")})
    assert _refusal(dup).startswith("d.zip holds model.py and train_config.py in 2 places (./, student/)")
    big = _zip_of(tmp_path / "b.zip", {**_pair(), "model.py": b"#" * (upload.MAX_FILE_BYTES + 1)})
    assert _refusal(big).startswith("model.py is over 1,000,000 bytes")
    with pytest.raises(SubmissionError) as err:
        upload.read(big)
    assert err.value.check == "files"


def test_lone_files_are_named_with_their_folder(tmp_path):
    assert _refusal(_zip_of(tmp_path / "a.zip", {"student/model.py": b""})).startswith(
        "a.zip has student/model.py but no train_config.py beside it.")
    assert _refusal(_zip_of(tmp_path / "b.zip", {"model.py": b""})).startswith(
        "b.zip has model.py but no train_config.py beside it.")
    apart = _zip_of(tmp_path / "c.zip", {"student/model.py": b"", "other/train_config.py": b""})
    assert _refusal(apart).startswith("c.zip has other/train_config.py, student/model.py but no matching pair")


def test_a_long_name_is_cut_in_messages(tmp_path):
    name = "n" * 250 + ".txt"
    message = _refusal(_files(tmp_path / "up", {name: b""}))
    assert f"(found: {'n' * 200} [... 54 characters cut])" in message


def test_a_link_a_missing_path_and_a_dangling_link_are_refused_by_name(tmp_path):
    target = _zip_of(tmp_path / "s.zip", _pair())
    (tmp_path / "link.zip").symlink_to(target)
    assert _refusal(tmp_path / "link.zip").startswith("link.zip is not a zip or a folder.")
    assert _refusal(tmp_path / "missing").startswith(f"The upload {tmp_path / 'missing'} does not exist.")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert _refusal(tmp_path / "dangling").startswith("dangling is not a zip or a folder.")


def test_read_capped_asks_for_one_byte_more_than_the_cap():
    asked = []

    def read(n):
        asked.append(n)
        return b"#" * min(n, 10)
    assert upload._read_capped(read, "model.py") == b"#" * 10 and asked == [upload.MAX_FILE_BYTES + 1]


def test_a_folder_that_cannot_be_listed_does_not_stop_the_walk(tmp_path, monkeypatch):
    up = _files(tmp_path / "up", {**_pair("student/"), "locked/x.txt": b""})
    real = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return sorted(real(path), key=lambda e: e.name, reverse=True)  # "locked" is walked before "student"
    monkeypatch.setattr(upload.os, "scandir", scandir)
    assert upload.read(up).where == "student"


# --- the preprocessing check (locked/consistency.py) --------------------------------------------------------------

@pytest.fixture(scope="module")
def images():
    from locked import synthetic
    return synthetic.generate(scale=0.05)["train_images"][:16]


def _transforms():
    from torchvision import transforms as T
    return T


def _lam(fn):
    return _transforms().Compose([_transforms().ToTensor(), _transforms().Lambda(fn)])


class _Bound(float):
    """A ratio bound whose reciprocal is exactly `low` (no float r has 1 / r equal to every measured ratio)."""

    def __new__(cls, value, low):
        bound = super().__new__(cls, value)
        bound.low = low
        return bound

    def __rtruediv__(self, other):
        return self.low


def test_each_threshold_is_inclusive(images, monkeypatch, one_thread):
    """A measured value equal to its limit passes and the next float below the value fails (the limits are the
    module's, set here to what the transform measures)."""
    from locked import consistency as c
    shifted = _lam(lambda x: 0.5 * x + 0.15)  # mean moves, std halves, nothing out of range
    m = c.check_preprocessing(shifted, images).measured
    mean, low = max(abs(d) for d in m["mean_diff"]), min(m["std_ratio"])
    monkeypatch.setattr(c, "MEAN_TOL", mean)
    assert c.check_preprocessing(shifted, images).ok
    monkeypatch.setattr(c, "MEAN_TOL", np.nextafter(mean, 0))
    assert not c.check_preprocessing(shifted, images).ok
    monkeypatch.setattr(c, "MEAN_TOL", 10.0)
    monkeypatch.setattr(c, "STD_RATIO_MAX", _Bound(10.0, low))  # 1 / STD_RATIO_MAX is exactly the lowest ratio
    assert c.check_preprocessing(shifted, images).ok
    monkeypatch.setattr(c, "STD_RATIO_MAX", _Bound(10.0, np.nextafter(low, 1)))
    assert not c.check_preprocessing(shifted, images).ok
    wide = _lam(lambda x: 2.0 * x - 0.5)  # std doubles, some values leave [0, 1]
    m = c.check_preprocessing(wide, images).measured
    monkeypatch.setattr(c, "STD_RATIO_MAX", max(m["std_ratio"]))
    monkeypatch.setattr(c, "MAX_OUT_OF_RANGE", m["train"]["out_of_range"])
    assert c.check_preprocessing(wide, images).ok
    monkeypatch.setattr(c, "STD_RATIO_MAX", np.nextafter(max(m["std_ratio"]), 0))
    assert "per-channel std" in c.check_preprocessing(wide, images).message
    monkeypatch.setattr(c, "STD_RATIO_MAX", 10.0)
    monkeypatch.setattr(c, "MAX_OUT_OF_RANGE", np.nextafter(m["train"]["out_of_range"], 0))
    assert "of training values lie outside [0, 1]" in c.check_preprocessing(wide, images).message


def test_half_the_contrast_is_within_the_std_bound(images, one_thread):
    from locked import consistency as c
    result = c.check_preprocessing(_lam(lambda x: 0.5 * x + 0.25), images)
    assert result.ok is True and 0.45 < min(result.measured["std_ratio"]) < 0.55, result.message
    assert result.message.startswith("train_transform matches validation: (3, 28, 28) float tensors in [0, 1]")
    m = result.measured
    assert set(m) == {"images", "draws", "val", "train", "thresholds", "mean_diff", "std_ratio"}
    assert m["thresholds"] == {"mean_tol": c.MEAN_TOL, "std_ratio_max": c.STD_RATIO_MAX, "range": [-0.1, 1.1],
                               "max_out_of_range": c.MAX_OUT_OF_RANGE}
    assert (m["draws"], m["images"], len(m["mean_diff"]), len(m["std_ratio"])) == (4, 16, 3, 3)
    assert m["train"]["shape"] == [3, 28, 28] and m["thresholds"]["range"] == [-0.1, 1.1]


def test_out_of_range_counts_strictly_outside_the_slack():
    import torch
    from locked import consistency as c
    x = torch.tensor([-0.2, -0.1, 0.0, 0.5, 0.95, 1.1, 1.15, 2.05, 0.3, 0.3, 0.3, 0.3],
                     dtype=torch.float64).reshape(1, 3, 2, 2)
    stats = c._stats(x)
    assert stats["out_of_range"] == 3 / 12 and stats["shape"] == [3, 2, 2] and stats["dtype"] == "float64"


@pytest.mark.parametrize("peak, note", [(10.0, False), (10.5, True)])
def test_the_0_255_note_starts_above_ten(images, peak, note, one_thread):
    from locked import consistency as c

    def spike(x):
        y = x * 5
        y[0, 0, 0] = peak
        return y
    result = c.check_preprocessing(_lam(spike), images)
    assert result.ok is False and result.measured["train"]["max"] == peak
    assert f"lie outside [0, 1]{' (this looks like 0..255 pixel values)' if note else ''}: train range" \
        in result.message
    assert ("(this looks like 0..255 pixel values)" in result.message) == note
    assert ("Keep pixels in [0, 1] as validation does" in result.message) == note
    assert "None" not in result.message


def test_the_std_message_gives_both_bounds(images, one_thread):
    from locked import consistency as c
    message = c.check_preprocessing(_lam(lambda x: 0.01 * x + 0.5), images).message
    assert "times as large (allowed: 0.29x to 3.5x)." in message


def test_nan_output_is_refused_with_its_own_fix(images, one_thread):
    from locked import consistency as c
    result = c.check_preprocessing(_lam(lambda x: x * float("nan")), images)
    assert result.ok is False and result.measured["train"] is None and "val" in result.measured
    assert set(result.measured) == {"images", "draws", "val", "train", "thresholds"}
    assert result.message.startswith("train_transform produced NaN or infinite values.\n")
    assert result.message.endswith("\nFix: Check any Lambda or custom step for divisions by zero.")


def test_each_failure_kind_says_why_it_matters_its_own_way(images, one_thread):
    from locked import consistency as c
    T = _transforms()

    def boom(x):
        raise ZeroDivisionError("no")
    crash = c.check_preprocessing(T.Compose([T.ToTensor(), T.Lambda(boom)]), images)
    assert crash.ok is False and "train_transform raised ZeroDivisionError: no" in crash.message
    assert "Why it matters" not in crash.message and "val" in crash.measured
    pil = c.check_preprocessing(T.Resize((28, 40)), images)
    assert "train_transform returned a PIL image (40x28, mode RGB)" in pil.message and c.CRASH_WHY in pil.message
    array = c.check_preprocessing(T.Lambda(np.asarray), images)
    assert "train_transform returned a ndarray;" in array.message
    shape = c.check_preprocessing(T.Compose([T.Resize(32), T.ToTensor()]), images)
    assert "returned a float32 tensor of shape (3, 32, 32)" in shape.message and c.WHY in shape.message
    lines = shape.message.split("\n")
    assert lines[1].startswith("Found in train_transform: Resize(") and lines[-1].startswith("Fix: Remove the resize")
    pil = c.check_preprocessing(T.PILToTensor(), images)
    assert "Found in train_transform: PILToTensor()" in pil.message and "integer pixels 0..255" in pil.message
    two = c.check_preprocessing(_lam(lambda x: x * 255), images).message
    assert two.startswith("train_transform's output differs from validation:\n  ") and "\n  per-channel" in two
    both = c.check_preprocessing(T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3),
                                            T.Lambda(lambda x: x)]), images)
    assert both.ok is False and "Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]); Lambda()" in both.message


def test_suspects_are_found_in_modules_once_each_and_on_one_line():
    import torch
    from locked import consistency as c
    T = _transforms()
    norm = T.Normalize([0.5] * 3, [0.5] * 3)
    loop = T.Compose([norm, norm])
    loop.transforms.append(loop)  # a cycle: walked once
    assert c._suspects(loop, {"Normalize"}) == [repr(norm)]
    assert c._suspects(torch.nn.Sequential(T.RandomHorizontalFlip(), norm), {"Normalize"}) == [repr(norm)]
    apply = T.RandomApply([norm])
    assert c._suspects(apply, {"RandomApply"}) == [repr(apply).replace("\n", " ")]

    class Odd:
        transforms = 5  # not a list: no children
    odd = Odd()
    assert c._suspects(odd, {"Odd"}) == [repr(odd)]


def test_the_check_is_seeded_by_default_in_every_generator(images, one_thread):
    import random
    from locked import consistency as c
    T = _transforms()
    noisy = T.Compose([T.ToTensor(), T.Lambda(lambda x: x + 0.01 * random.random() + 0.01 * np.random.rand())])
    first = c.check_preprocessing(noisy, images).measured
    assert c.check_preprocessing(noisy, images).measured == first == c.check_preprocessing(noisy, images,
                                                                                            seed=0).measured
    assert c.check_preprocessing(noisy, images, seed=1).measured != first


def test_one_image_is_enough_and_a_wrong_array_is_a_programming_error(images, one_thread):
    from locked import consistency as c
    assert c.check_preprocessing(_transforms().ToTensor(), images[:1]).ok is True
    for bad in (images.astype(np.float64), images[:0], images[..., :1]):
        with pytest.raises(ValueError, match="images must be a non-empty uint8 array"):
            c.check_preprocessing(_transforms().ToTensor(), bad)

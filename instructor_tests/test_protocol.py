"""The child's contract (grader/protocol.py): the names the child writes are the ones the parent reads.

The report's stages and fields are defined once there; the parent's reader keeps only those, typed. Checked here by
running the real child on a tiny layout made by the grader's own _layout, and on the child's own error fields: no
source is grepped.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import grader.grade as grade_mod
from grader import child, protocol, rubric as rubric_mod
from locked import data, weights
from locked.history import HISTORY_KEYS
from locked.submission import SubmissionError

HONEST = Path(__file__).resolve().parent / "grader_submissions" / "honest"
STATUS_NAMES = protocol.Status.__required_keys__ | protocol.Status.__optional_keys__
REPORT_NAMES = protocol.Report.__required_keys__ | protocol.Report.__optional_keys__
PREPROCESSING_NAMES = protocol.Preprocessing.__required_keys__ | protocol.Preprocessing.__optional_keys__
TAMPERED = {"stage": protocol.STARTED, "error": {"check": "status", "message": protocol.TAMPERED}}


def _run_child(tmp_path, rows=48):
    """The report lines the real child sends when it grades the honest submission on `rows` images a split."""
    rng = np.random.default_rng(0)
    images = {s: rng.integers(0, 256, (rows, 28, 28, 3), dtype=np.uint8) for s in ("train", "val", "test")}
    labels = {s: np.arange(rows) % 7 for s in ("train", "val")}
    box = tmp_path / "box"
    for sub in ("submission", "work", "home", "out"):
        (box / sub).mkdir(parents=True)
    for name in ("model.py", "train_config.py"):
        (box / "submission" / name).write_text((HONEST / name).read_text())
    grade_mod._layout(box, data.Splits(images, labels),
                      grade_mod.child_request(rubric_mod.load(max_epochs=1, param_budget=10**6).limits))
    read, write = os.pipe()
    env = {**os.environ, protocol.REPORT_FD: str(write), "OMP_NUM_THREADS": "1", "HOME": str(box / "home")}
    proc = subprocess.Popen([sys.executable, "-I", str(box / "harness" / "child.py")], cwd=box / "work", env=env,
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read()
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    return report


def test_the_child_reports_every_stage_in_order_with_only_the_protocols_names(tmp_path):
    report = _run_child(tmp_path)
    lines = [json.loads(line) for line in report.splitlines()]
    assert [line.get("stage") for line in lines] == list(protocol.STAGES)
    assert set().union(*lines) <= REPORT_NAMES
    assert set(next(line["preprocessing"] for line in lines if "preprocessing" in line)) == PREPROCESSING_NAMES
    assert all(set(row) == set(HISTORY_KEYS) for line in lines for row in line.get("history", []))
    status = protocol.read_report(report, len(report))
    assert status["stage"] == protocol.DONE and "error" not in status
    assert set(status) == REPORT_NAMES - {"error"}  # every field the child sends arrives, typed, nothing dropped


@pytest.mark.parametrize("err", [SubmissionError("build", "no build_model"), weights.WeightsUnavailable("offline"),
                                 MemoryError(), SystemExit(3), ValueError("boom")], ids=lambda e: type(e).__name__)
def test_each_error_the_child_can_send_is_written_and_read_back(err):
    fields = {"stage": protocol.LOADED, "error": child.error(err)}
    assert set(fields["error"]) == protocol.Error.__required_keys__
    status = protocol.read_report(protocol.encode_report({"stage": protocol.STARTED}) +
                                  protocol.encode_report(fields), 0)
    assert status == fields


@pytest.mark.parametrize("change", [{"stage": 3}, {"epochs": "3"}, {"batch_size": 2.0}, {"model_name": ["Net"]},
                                    {"train_seconds": "1"}, {"history": [{"epoch": 1.5}]}, {"error": ["crash"]},
                                    {"preprocessing": {"ok": "yes", "message": "m"}}],
                         ids=lambda c: json.dumps(c)[:40])
def test_the_reader_refuses_a_field_of_the_wrong_type(change):
    good = {"stage": protocol.DONE, "epochs": 3, "batch_size": 32, "model_name": "Net", "train_seconds": 1.0}
    assert set(protocol.clean_status(good)) <= STATUS_NAMES
    assert protocol.clean_status({**good, **change}) == TAMPERED


def test_a_garbled_or_cut_report_keeps_what_came_before_with_the_tampering_error():
    started = protocol.encode_report({"stage": protocol.STARTED})
    built = started + protocol.encode_report({"stage": protocol.BUILT, "model_name": "Net"})
    assert protocol.read_report(b"", 0) == {}  # nothing arrived: no student code ran
    for raw, sent in ((built + b"junk\n", None), (built, len(built) + 1)):
        status = protocol.read_report(raw, len(raw) if sent is None else sent)
        assert status == {"stage": protocol.BUILT, "model_name": "Net", "error": TAMPERED["error"]}


def test_stages_reached_follow_the_protocols_order():
    for i, stage in enumerate(protocol.STAGES):
        assert [protocol.reached({"stage": stage}, s) for s in protocol.STAGES] == [j <= i for j in range(7)]

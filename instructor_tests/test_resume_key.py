"""Resume (instructor/suite.py grade_all): a grading is kept only while everything its grade depends on is unchanged.

Issue 28: the key left out the rubric's [test] data file and the limits, so after an instructor switched to a private
test file, a resumed run kept predictions made on the old test set while labels.npz was rewritten from the new one.
Here grade_all runs for real, with the worker (a sandboxed training) replaced by a stand-in that leaves what a
grading leaves (record, predictions) in a moment; each row changes one input and requires the next run to grade again.
"""
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from grader import integrity, rubric as rubric_mod
from grader.grade import prepare_data
from instructor import runs, suite, worker
from locked import metrics, synthetic
from locked.info import NUM_CLASSES

HERE = Path(__file__).resolve().parent
SCALE = "0.2"  # conftest.TEST_SCALE: what `synthetic_root` holds
HONEST = metrics.evaluate(np.arange(NUM_CLASSES), np.eye(NUM_CLASSES))  # a record's metrics, shaped as the grader's


@dataclass
class Setup:
    """One suite folder, its one submission, and what grade_all is called with."""
    tmp: Path
    data_dir: Path
    submission: Path
    rubric: Path
    synthetic: bool = False
    limits: dict = field(default_factory=dict)

    @property
    def exp_dir(self):
        return self.tmp / "out" / "sub"

    def grade_all(self, ids=("sub",)):
        """(graded ids, kept ids) of one run, the submission graded under each of `ids`."""
        entries = [{"id": eid, "submission": self.submission, "info": {"id": eid}} for eid in ids]
        summary = suite.grade_all(entries, self.tmp / "out", data_dir=self.data_dir, synthetic=self.synthetic,
                                  rubric=self.rubric, progress=False, log=lambda message: None, jobs=1, source=self.tmp,
                                  **self.limits)
        return summary["graded"], summary["resumed"]

    def write_rubric(self, extra=""):
        self.rubric.write_text((HERE / "grader_test_rubric.toml").read_text() + extra)


def stand_in_worker(request, log_path, cpu_set=None, deadline_s=None):
    """What instructor.worker leaves after a grading, made from the request as the grader would read it."""
    rules = rubric_mod.load(request["rubric"], threads=request["threads"], time_limit_s=request["time_limit"],
                            memory_limit_mb=request["memory_limit"])
    splits = prepare_data(rules, request["data_dir"], request["synthetic"])[0]
    out = Path(request["out_dir"])
    record = {"data": splits.provenance, "rubric": rules.as_dict(), "metrics": {"val": HONEST, "test": HONEST},
              "tests": [], "error": None, "grader_failure": None}
    (out / runs.RECORD).write_text(json.dumps(record))
    rows = {s: np.full((len(splits.labels[s]), NUM_CLASSES), 1 / NUM_CLASSES) for s in ("val", "test")}
    np.savez(out / runs.PREDICTIONS, **rows)
    return 0, 0.0, ""


def _private_test(path, data_file, shift):
    """A private test file: the data file's test images, labels rotated by `shift` (every class still present)."""
    with np.load(data_file) as npz:
        labels = (npz["test_labels"].reshape(-1) + shift) % NUM_CLASSES
        np.savez(path, test_images=npz["test_images"], test_labels=labels)
    return path


@pytest.fixture
def setup(tmp_path, synthetic_root, monkeypatch):
    monkeypatch.setattr(worker, "run", stand_in_worker)
    monkeypatch.setattr(suite, "preflight_check", lambda *args, **kwargs: None)  # the sandbox is not under test
    monkeypatch.setenv("DERMA_SYNTHETIC_SCALE", SCALE)
    source = Path(synthetic_root) / "synthetic" / f"scale-{SCALE}"
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir / "synthetic" / f"scale-{SCALE}")  # --synthetic finds it here
    shutil.copyfile(source / "dermamnist.npz", data_dir / "dermamnist.npz")  # without it, this is the data file
    shutil.copytree(HERE / "grader_submissions" / "honest", tmp_path / "submission")
    made = Setup(tmp_path, data_dir, tmp_path / "submission", tmp_path / "rubric.toml")
    made.write_rubric()
    return made


def change_files(s, monkeypatch):
    model = s.submission / "model.py"
    model.write_text(model.read_text() + "\n# resubmitted\n")


def change_data(s, monkeypatch):
    with np.load(s.data_dir / "dermamnist.npz") as npz:
        arrays = dict(npz)
    arrays["train_labels"][0] = (arrays["train_labels"][0] + 1) % NUM_CLASSES  # one training label
    np.savez(s.data_dir / "dermamnist.npz", **arrays)


def add_private_test_file(s, monkeypatch):
    path = _private_test(s.tmp / "private.npz", s.data_dir / "dermamnist.npz", shift=1)
    s.write_rubric(f'\n[test]\ndata = "{path}"\n')


def rewrite_private_test_file(s, monkeypatch):
    _private_test(s.tmp / "private.npz", s.data_dir / "dermamnist.npz", shift=2)  # same path, other labels


def change_checks(s, monkeypatch):
    s.write_rubric("\n[checks.builds]\npoints = 6\n")


def change_limits(s, monkeypatch):
    s.limits = {"time_limit": 170}


def change_grader_sources(s, monkeypatch):
    copy = s.tmp / "sources"
    for folder in suite.GRADER_SOURCES:
        shutil.copytree(folder, copy / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    scoring = copy / "grader" / "scoring.py"
    scoring.write_text(scoring.read_text() + "\n# an edit to the grader\n")
    monkeypatch.setattr(suite, "GRADER_SOURCES", (copy / "grader", copy / "locked"))


def change_grader_key(s, monkeypatch):
    monkeypatch.setattr(integrity, "grader_key", lambda *args: (b"\x01" * 32, "another grading box's key"))


def go_synthetic(s, monkeypatch):
    s.synthetic = True


def change_generator(s, monkeypatch):
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION + 1)


def lose_predictions(s, monkeypatch):
    (s.exp_dir / runs.PREDICTIONS).unlink()


ROWS = {  # what changes: (set-up before the first run or None, the change)
    "the submission's files": (None, change_files),
    "the data file": (None, change_data),
    "a private test file named in the rubric": (None, add_private_test_file),
    "the private test file's content, same path": (add_private_test_file, rewrite_private_test_file),
    "the rubric's checks": (None, change_checks),
    "the limits": (None, change_limits),
    "the grader's sources (grader version)": (None, change_grader_sources),
    "the grader key": (None, change_grader_key),
    "the synthetic generator's version": (go_synthetic, change_generator),
    "the predictions file, lost": (None, lose_predictions),
}


@pytest.mark.parametrize("row", list(ROWS))
def test_a_change_to_what_a_grade_depends_on_grades_again(setup, monkeypatch, row):
    """Kept while nothing changes; graded again once the row's input changes, then kept again."""
    before, change = ROWS[row]
    if before:
        before(setup, monkeypatch)
    assert setup.grade_all() == (["sub"], [])
    assert setup.grade_all() == ([], ["sub"]), "nothing changed: the grading is kept"
    change(setup, monkeypatch)
    assert setup.grade_all() == (["sub"], []), f"{row} changed, yet the old grading was kept"
    assert setup.grade_all() == ([], ["sub"]), "graded again, it is kept"


def test_a_refused_upload_that_changes_is_graded_again(setup):
    """Its grade is the refusal: a different broken upload gets its own message."""
    (setup.submission / "train_config.py").unlink()
    assert setup.grade_all() == (["sub"], [])
    assert setup.grade_all() == ([], ["sub"])
    (setup.submission / "model.py").rename(setup.submission / "model_v2.py")
    assert setup.grade_all() == (["sub"], [])


def test_grader_version_is_a_digest_of_the_grader_and_harness_sources(tmp_path, monkeypatch):
    for folder in suite.GRADER_SOURCES:
        shutil.copytree(folder, tmp_path / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(suite, "GRADER_SOURCES", (tmp_path / "grader", tmp_path / "locked"))
    before = suite.grader_version()
    (tmp_path / "locked" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "locked" / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"compiled")
    assert suite.grader_version() == before  # caches are not sources
    engine = tmp_path / "locked" / "engine.py"
    engine.write_text(engine.read_text() + "\n")
    assert suite.grader_version() != before


def test_a_grading_on_another_test_file_is_stale_beside_the_new_labels(setup, monkeypatch):
    """After a switch to a private test file, a run that regrades only "a" (say `suite --only`) rewrites labels.npz
    from the new test set; "b" was graded on the old one, and the report (runs.read) must list it as stale, not
    pair its predictions with the new labels."""
    assert setup.grade_all(("a", "b")) == (["a", "b"], [])
    add_private_test_file(setup, monkeypatch)
    assert setup.grade_all(("a",)) == (["a"], [])
    found = runs.read(setup.tmp / "out")
    assert found["stale"] == ["b"] and [row["id"] for row in found["rows"]] == ["a"] and list(found["probas"]) == ["a"]

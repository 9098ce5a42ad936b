"""Held-out integrity (issue 12): the points measure the model, not knowledge of the test labels.

A hostile student's lookup table (image hash -> label for the test images of the data file in use, looked up in
forward() in eval mode) is built here at test time. Graded where the labels are public it scores near 100% and is
flagged; graded on a private test file, or on the grader's own synthetic test draw, it scores like chance. The
honest submission is not flagged. Then, without training: visibility in every student-facing output for each of
Gradescope's four values, partial and extra credit, the rubric keys, the split, the perturbations.

Cost: four sandboxed gradings (1 epoch at synthetic scale 0.2), about a minute each on a loaded 2-core box.
"""
import hashlib
import itertools
import json
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

import grader.__main__ as grader_main
from grader import integrity, results, rubric as rubric_mod, sandbox, scoring
from grader.grade import grade
from locked import synthetic
from locked.info import IMAGE_SHAPE

HERE = Path(__file__).resolve().parent
SUBS = HERE / "grader_submissions"
RUBRIC_PATH = HERE / "grader_test_rubric.toml"
SCALE = "0.2"  # conftest.TEST_SCALE
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")

LOOKUP_MODEL = '''"""A hostile submission: the honest CNN, plus a table of test-image hash -> label (eval mode)."""
import hashlib

import torch
import torch.nn as nn

FALLBACK = {fallback!r}  # "model": the CNN answers what the table misses; "uniform": equal scores
TABLE = {table!r}


class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Linear(32, 7),
        )

    def forward(self, x):
        out = self.net(x)
        if self.training:
            return out
        out = out.detach().clone() if FALLBACK == "model" else torch.zeros_like(out)
        pixels = (x * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        for i, img in enumerate(pixels):
            label = TABLE.get(hashlib.sha1(img.tobytes()).hexdigest()[:12])
            if label is not None:
                out[i] = -20.0
                out[i, label] = 20.0
        return out


def build_model():
    return Lookup()
'''


def lookup_submission(folder, test_images, test_labels, fallback="model"):
    """Write the lookup-table submission for these (public) test images and labels; return its folder."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    table = {hashlib.sha1(img.tobytes()).hexdigest()[:12]: int(y)
             for img, y in zip(test_images, np.asarray(test_labels).reshape(-1))}
    (folder / "model.py").write_text(LOOKUP_MODEL.format(fallback=fallback, table=table))
    shutil.copyfile(SUBS / "honest" / "train_config.py", folder / "train_config.py")
    return folder


@pytest.fixture(autouse=True)
def _scale(monkeypatch):
    monkeypatch.setenv("DERMA_SYNTHETIC_SCALE", SCALE)


@pytest.fixture(scope="module")
def public_root(synthetic_root, tmp_path_factory):
    """A data folder whose dermamnist.npz is the synthetic file itself, graded as data (not --synthetic): the test
    split the grader scores is the one in the file, labels included, as with the real DermaMNIST."""
    root = tmp_path_factory.mktemp("public")
    shutil.copyfile(Path(synthetic_root) / "synthetic" / f"scale-{SCALE}" / "dermamnist.npz", root / "dermamnist.npz")
    return root


def _public_test(root):
    with np.load(Path(root) / "dermamnist.npz") as npz:
        return npz["test_images"], npz["test_labels"]


def _grade(submission, out, root, **kw):
    return grade(submission, out, rubric_path=RUBRIC_PATH, data_dir=root, log=lambda *a: None,
                 memory_limit_mb=1200, **kw)


def _student_text(out):
    """Everything a student can read of a grading: results.json (output, tests, leaderboard) and the report card."""
    return "\n".join((Path(out) / name).read_text() for name in ("results.json", "report.txt", "report.html"))


# --------------------------------------------------------------------------------------------------------------
# Sandboxed gradings


@pytest.fixture(scope="module")
def lookup_public(public_root, tmp_path_factory):
    sub = lookup_submission(tmp_path_factory.mktemp("lookup") / "sub", *_public_test(public_root))
    out = tmp_path_factory.mktemp("lookup-out")
    return _grade(sub, out, public_root), out  # as data, whatever the shell set: conftest.py clears DERMA_SYNTHETIC


def test_lookup_table_scores_high_where_labels_are_public_and_is_flagged(lookup_public):
    record, out = lookup_public
    review = record["integrity"]
    print(json.dumps({k: review[k] for k in ("plain_auc", "perturbed_auc", "by_kind", "val_gap", "source")}))
    assert record["metrics"]["test"]["auc"] > 0.99  # the attack works on public labels: why the flags exist
    assert {f["kind"] for f in review["flags"]} >= {"perturbation", "val_gap", "literal_data"}
    # well past the flag's limit, not at its edge: the copies fall to what the fallback CNN earns (0.81 on v3)
    assert review["drop"] > 1.5 * rubric_mod.load().integrity.max_perturbed_drop
    report = (Path(out) / "instructor_report.txt").read_text()  # the instructor's view carries the flags
    assert "FLAG perturbation" in report and "FLAG val_gap" in report
    student = _student_text(out)
    assert "FLAG" not in student and "perturbed" not in student and "Integrity" not in student


def test_honest_submission_is_not_flagged(public_root, tmp_path):
    record = _grade(SUBS / "honest", tmp_path / "out", public_root)
    review = record["integrity"]
    print(json.dumps({k: review[k] for k in ("plain_auc", "perturbed_auc", "by_kind", "val_gap")}))
    assert review["flags"] == [], review["flags"]
    assert abs(review["drop"]) < 0.05
    assert "no flags" in (tmp_path / "out" / "instructor_report.txt").read_text()


def test_honest_sources_have_no_large_literal_data():
    """Every honest grader submission and the course's 25 solutions pass the source tells (no training needed)."""
    limits = rubric_mod.load().integrity
    folders = [p for p in SUBS.iterdir() if (p / "model.py").exists()]
    folders += [p for p in (HERE.parent / "solutions").iterdir() if (p / "model.py").exists()]
    assert len(folders) > 40
    for folder in folders:
        src = integrity.scan_source(folder)
        assert src["largest_literal_compressed_bytes"] <= limits.max_literal_kb * 1024, (folder.name, src)
        assert src["source_compressed_bytes"] <= limits.max_source_kb * 1024, (folder.name, src)


def test_private_test_file_makes_the_lookup_table_chance(public_root, tmp_path):
    """The table is built from the public file; the grader scores on a file students do not have (a fresh draw,
    only test_images and test_labels), passed with --test-data through the command line."""
    images, labels = synthetic.generate_split("test", float(SCALE), seed=12345)
    private = tmp_path / "private_test.npz"
    np.savez(private, test_images=images, test_labels=labels.reshape(-1, 1))
    sub = lookup_submission(tmp_path / "sub", *_public_test(public_root), fallback="uniform")
    out = tmp_path / "out"
    code = grader_main.main(["grade", str(sub), "--out", str(out), "--data-dir", str(public_root), "--rubric",
                             str(RUBRIC_PATH), "--memory-limit", "1200", "--test-data", str(private)])
    assert code == 0
    record = json.loads((out / "grading_record.json").read_text())
    assert record["metrics"]["test"]["auc"] == pytest.approx(0.5, abs=0.02)  # 1.0 if the file's labels were used
    assert record["metrics"]["test"]["n"] == len(labels)
    md5 = hashlib.md5(private.read_bytes()).hexdigest()
    assert record["data"]["test"] == {"source": "private file", "file": "private_test.npz", "md5": md5,
                                      "bytes": private.stat().st_size, "n": len(labels)}
    assert md5 in (out / "report.txt").read_text() and md5 in _student_text(out)


def test_synthetic_test_labels_cannot_be_regenerated(synthetic_root, tmp_path):
    """A child can import locked.synthetic and rebuild the file's test split; the grader scores its own draw."""
    public = synthetic.generate(float(SCALE))
    sub = lookup_submission(tmp_path / "sub", public["test_images"], public["test_labels"], fallback="uniform")
    record = _grade(sub, tmp_path / "out", synthetic_root, synthetic=True)
    assert record["metrics"]["test"]["auc"] == pytest.approx(0.5, abs=0.02)
    assert "drawn from the grader's key" in record["data"]["test"]["source"]


# --------------------------------------------------------------------------------------------------------------
# The grader's own synthetic draw, the key, the private file's checks


def test_the_grader_key_and_its_synthetic_draw_stay_private_and_stable(tmp_path):
    key, note = integrity.grader_key(tmp_path)
    assert integrity.grader_key(tmp_path)[0] == key and "kept in" in note
    assert stat.S_IMODE((tmp_path / integrity.KEY_FILE).stat().st_mode) == 0o600
    images, labels = integrity.synthetic_test(tmp_path, 0.05, key)
    again, _ = integrity.synthetic_test(tmp_path, 0.05, key)
    assert np.array_equal(images, again)  # cached, and the same draw for every grading on this box
    assert stat.S_IMODE((tmp_path / "grader-test.npz").stat().st_mode) == 0o600
    public_images, public_labels = synthetic.generate_split("test", 0.05)
    assert images.shape == public_images.shape and not np.array_equal(images, public_images)
    (tmp_path / "other").mkdir()
    other, _ = integrity.synthetic_test(tmp_path / "other", 0.05, os.urandom(32))
    assert not np.array_equal(images, other)  # another key, another draw


@pytest.mark.parametrize("arrays, words", [
    ({"test_images": np.zeros((14, 28, 28, 3), np.uint8)}, "has no test_labels"),
    ({"test_images": np.zeros((14, 28, 28), np.uint8), "test_labels": np.arange(14) % 7},
     "test_images uint8 (14, 28, 28)"),
    ({"test_images": np.zeros((14, 28, 28, 3), np.uint8), "test_labels": np.zeros(14, int)}, "every class present"),
])
def test_a_bad_private_test_file_is_the_instructors_to_fix(tmp_path, arrays, words):
    path = tmp_path / "t.npz"
    np.savez(path, **arrays)
    with pytest.raises(integrity.DataUnavailable) as err:
        integrity.read_test_file(path)
    assert words in str(err.value) and str(path) in str(err.value)


# --------------------------------------------------------------------------------------------------------------
# Perturbations and the mix


def test_perturbed_copies_never_equal_their_originals_and_unmix_restores_the_order():
    images, _ = synthetic.generate_split("test", 0.05, seed=7)
    images[0] = 128  # a flat image: flipped, it is unchanged, so it must be nudged
    mix = integrity.Mix(images, seed=99)
    originals = {img.tobytes() for img in images}
    assert sum(img.tobytes() in originals for img in mix.images) == len(images)  # only the plain ones
    counts = np.bincount(mix.kinds, minlength=len(integrity.KINDS))
    assert counts.max() - counts.min() <= 1  # the four kinds in equal shares
    fake = np.stack([mix.images.reshape(len(mix.images), -1).mean(axis=1)] * 7, axis=1)  # row = f(image)
    plain, perturbed, problem = mix.unmix({"val": None, "test": fake})
    assert problem is None and np.allclose(plain["test"][:, 0], images.reshape(len(images), -1).mean(axis=1))
    assert perturbed.shape == (len(images), 7)
    assert integrity.Mix(images, seed=99).order.tolist() == mix.order.tolist()  # same seed, same mix
    _, _, problem = mix.unmix({"val": None, "test": fake[:len(images)]})
    assert f"for the {2 * len(images)} test images it was given" in problem


def test_public_private_split_is_fixed_stratified_and_disjoint():
    images, labels = synthetic.generate_split("test", 0.2, seed=3)
    labels = labels.astype(np.int64)
    public, private = integrity.public_private(images, labels, 0.5)
    again, _ = integrity.public_private(images.copy(), labels, 0.5)
    assert public.tolist() == again.tolist() and not set(public) & set(private)
    assert len(public) + len(private) == len(labels)
    for part in (public, private):
        assert set(labels[part].tolist()) == set(range(7))  # every class in each part: macro AUC is defined


# --------------------------------------------------------------------------------------------------------------
# What students see: visibility, partial credit, extra credit (records built from the scoring code, no training)


def _record(rubric):
    """A grading record as grade() builds it, from fake predictions that carry some signal."""
    rng = np.random.default_rng(0)
    labels = {s: np.repeat(np.arange(7), n) for s, n in (("val", 6), ("test", 12))}
    preds = {s: np.eye(7)[y] * 2 + rng.normal(0, 1, (len(y), 7)) for s, y in labels.items()}
    status = {"stage": "done", "params": 1234, "trainable_params": 1234, "model_name": "Net",
              "preprocessing": {"ok": True, "message": "ok"}, "history": [{}], "train_seconds": 3.0}
    outcome = sandbox.Outcome(returncode=0, seconds=5.0, isolation=["test"])
    from grader.grade import _score_parts

    images = rng.integers(0, 255, (len(labels["test"]), *IMAGE_SHAPE), dtype=np.uint8)
    tests, scored = _score_parts(status, preds, {**labels, "images": images}, outcome, rubric)
    return {"score": round(sum(t["score"] for t in tests), 4), "max_score": rubric.max_score, "tests": tests,
            "metrics": {k: v for k, v in scored.items() if k != "test_all"}, "params": 1234, "train_seconds": 5.0,
            "seconds": 6.0, "ignored_files": [], "data": {"kind": "synthetic", "label": "SYNTHETIC"},
            "sandbox": {"isolation": ["test"], "output": ""},
            "integrity": {"flags": [{"kind": "val_gap", "message": "SECRET-FLAG"}], "source": {}}}


def _rubric(tmp_path, text):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    return rubric_mod.load(path)


@pytest.mark.parametrize("auc_visibility, bonus_visibility", itertools.product(VISIBILITIES, repeat=2))
def test_a_check_that_is_not_visible_appears_nowhere_a_student_sees(tmp_path, auc_visibility, bonus_visibility):
    """Each test-set check set on its own: test-set numbers (table, leaderboard) reach a student only while both are
    visible, and a held check's name, result and points appear nowhere, the total included."""
    held = {name: visibility for name, visibility in (("SECRET-AUC-CHECK", auc_visibility),
                                                       ("SECRET-BONUS", bonus_visibility)) if visibility != "visible"}
    worth = {"SECRET-AUC-CHECK": 55, "SECRET-BONUS": 10}
    points = {name: 0 if held.get(name) == "hidden" else worth[name] for name in worth}  # hidden: no points
    rubric = _rubric(tmp_path, f'[checks.test_auc]\nname = "SECRET-AUC-CHECK"\npoints = {points["SECRET-AUC-CHECK"]}\n'
                               f'visibility = "{auc_visibility}"\n[checks.mel_recall_bonus]\nname = "SECRET-BONUS"\n'
                               f'points = {points["SECRET-BONUS"]}\nvisibility = "{bonus_visibility}"\n')
    record = _record(rubric)
    results.write(tmp_path / "out", record)
    r = json.loads((tmp_path / "out" / "results.json").read_text())
    shown = {t["name"]: t["visibility"] for t in r["tests"]}
    assert shown["SECRET-AUC-CHECK"] == auc_visibility and shown["SECRET-BONUS"] == bonus_visibility
    board = {entry["name"] for entry in r["leaderboard"]}
    printed = results.report_card(record, student=True)  # what `python -m grader grade` prints
    results_of = {"SECRET-AUC-CHECK": f"{record['metrics']['test']['auc']:.4f}", "SECRET-BONUS": "Test melanoma recall"}
    if held:
        assert board == {"Parameters", "Training time (s)"}
    else:
        assert {"Test AUC", "Melanoma recall", "Cancer sensitivity"} <= board
    read = r["output"] + "".join(f"\n{t['name']}: {t['output']}" for t in r["tests"] if t["visibility"] == "visible")
    for text in (read, printed, (tmp_path / "out" / "report.txt").read_text()):  # each check in its own entry
        assert ("Test split" in text) == (not held)  # the per-class table of the test set
        for name in worth:  # a shown check's own result is there: what the held one's absence is measured by
            assert (name in text and results_of[name] in text) == (name not in held), (name, text)
        total = text.splitlines()[0]  # its maximum counts the checks shown, a held check's points left out
        maximum = sum(t["max_score"] for t in record["tests"] if t["visibility"] == "visible" and not t["bonus"])
        assert re.search(r": \S+ / (\S+)", total).group(1) == f"{maximum:g}", total
        assert ("score on the checks shown so far" in total) == bool(held)
    assert "SECRET-FLAG" not in json.dumps(r)  # integrity flags never reach students
    report_txt = (tmp_path / "out" / "instructor_report.txt").read_text()
    assert "SECRET-FLAG" in report_txt
    for name, visibility in held.items():
        assert f"{name}: " in report_txt and f"[students see it: {visibility}]" in report_txt


def test_hidden_with_points_is_refused(tmp_path):
    with pytest.raises(rubric_mod.RubricError, match='visibility = "hidden" on a check worth 55 points'):
        _rubric(tmp_path, '[checks.test_auc]\nvisibility = "hidden"\n')


def test_public_private_split_gives_feedback_from_the_public_part_only(tmp_path):
    text = ('[test]\npublic_fraction = 0.5\n[checks.test_auc]\nvisibility = "after_published"\n'
            '[checks.mel_recall_bonus]\nvisibility = "after_published"\n')
    rubric = _rubric(tmp_path, text)
    record = _record(rubric)
    public, private = record["metrics"]["test_public"], record["metrics"]["test"]
    assert public["n"] + private["n"] == 84 and public["n"] == 42
    r = results.gradescope(record)
    board = {e["name"]: e["value"] for e in r["leaderboard"]}
    assert board["Test AUC (public part)"] == round(public["auc"], 4)
    assert "Public part of the test set (42 images)" in r["output"]
    assert "Private part" not in r["output"] and f"{private['auc']:.4f}" not in r["output"]
    assert "Private part of the test set (42 images): the points" in results.report_card(record)
    with pytest.raises(rubric_mod.RubricError, match=r"\[checks.test_auc\] is visible"):
        _rubric(tmp_path, "[test]\npublic_fraction = 0.5\n")


def test_partial_credit_and_extra_credit_read_truthfully(tmp_path):
    rubric = _rubric(tmp_path, "[checks.test_auc]\nfloor = 0.5\ntarget = 0.999\n"
                               "[checks.mel_recall_bonus]\nthreshold = 0.0\n")
    record = _record(rubric)
    auc_check = next(t for t in record["tests"] if t["key"] == "test_auc")
    assert auc_check["status"] == "partial" and 0 < auc_check["score"] < 55
    assert auc_check["output"].startswith(f"Partial credit: {auc_check['score']:g} of 55 points")
    r = results.gradescope(record)
    gs = {t["name"]: t for t in r["tests"]}
    assert gs["Test macro AUC"]["status"] == "passed"  # earned points: Gradescope shows the score beside it
    assert gs["Bonus: test melanoma recall"]["max_score"] == 10 and gs["Bonus: test melanoma recall"]["score"] == 10
    card = results.report_card(record)
    assert f"[PART] Test macro AUC: {auc_check['score']:g}/55" in card
    assert "[PASS] Bonus: test melanoma recall: 10/10 (extra credit)" in card
    required = round(record["score"] - 10, 4)
    assert f"score: {required:g} / 90 + 10 extra credit = {record['score']:g}" in card


@pytest.mark.parametrize("text, words", [
    ("[test]\npublic_fraction = 0.95\n", "public_fraction = 0.95: must be >= 0 and <= 0.9"),
    ("[test]\ndata = 3\n", "data = 3: give the private test file's path"),
    ("[integrity]\nmax_drop = 0.1\n", "[integrity]: unknown key 'max_drop'; the keys are max_perturbed_drop"),
    ("[integrity]\nmax_val_gap = 0\n", "max_val_gap = 0: must be > 0"),
    ("[tests]\n", "unknown key 'tests'"),
])
def test_new_rubric_keys_name_themselves_and_the_fix(tmp_path, text, words):
    with pytest.raises(rubric_mod.RubricError) as err:
        _rubric(tmp_path, text)
    assert words in str(err.value)


def test_test_data_is_relative_to_the_rubric_file(tmp_path):
    rubric = _rubric(tmp_path, '[test]\ndata = "private.npz"\n')
    assert rubric.test.data == str(tmp_path / "private.npz")
    assert rubric.with_test_data("/x/other.npz").test.data == "/x/other.npz"
    assert rubric.as_dict()["test"]["data"] == str(tmp_path / "private.npz")


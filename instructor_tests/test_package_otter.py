"""dist/otter_autograder.zip: built by `otter generate`, graded here with `otter run` (no Docker), offline.

`otter grade` (what instructors run) builds a Docker image from the same zip and runs the same run_autograder in
it: packaging/check_docker.sh does that for real (CI's docker stage); here `otter run`, which grades the same way
without containers, checks the grading itself on more cases.
Each student upload is a zip holding student/, as the starter kit's README says (and one holds the two files in a
folder of another name, which the one upload rule accepts too). The good one also carries a
poisoned locked/ that would give full AUC marks if it ever reached the grader: the points must not move. Each
run's GradingResults also go through otter's own final_grades.csv merge, the table `otter grade` writes.
"""
import ast
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from instructor import package
from grader import rubric as rubric_mod

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "instructor_tests" / "package_submissions"
TIME_LIMIT_S = 120
RUBRIC = rubric_mod.load()
QUESTIONS = {f"q{i}_{c.key}": c.key for i, c in enumerate(RUBRIC.checks, 1)}
POINTS = {q: RUBRIC.check(k).points for q, k in QUESTIONS.items()}
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # otter's traitlets, when it is imported here


@pytest.fixture(scope="module")
def otter_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    return package.build(out, only=("otter",), log=lambda *a: None)["otter"]


def student_zip(folder, dest, extra=None):
    """A zip holding student/ (and whatever `extra` adds: {arcname: bytes})."""
    with zipfile.ZipFile(dest, "w") as zf:
        for name in ("model.py", "train_config.py"):
            zf.write(folder / name, f"student/{name}")
        for arcname, data in (extra or {}).items():
            zf.writestr(arcname, data)
    return dest


def poisoned_locked():
    """The project's locked/, except that every metric comes out perfect: full marks if it is ever used."""
    files = {f"locked/{p.relative_to(REPO / 'locked').as_posix()}": p.read_bytes()
             for p in (REPO / "locked").rglob("*.py") if "__pycache__" not in p.parts}
    files["locked/metrics.py"] += (b"\n\n_real_evaluate = evaluate\n\n\ndef evaluate(*args, **kwargs):\n"
                                   b"    m = _real_evaluate(*args, **kwargs)\n"
                                   b"    m.update(auc=1.0, mel_recall=1.0)\n    return m\n")
    return files


def otter_run(otter_zip, submission, tmp_path, synthetic_root):
    out = tmp_path / "otter-out"
    out.mkdir()
    env = {**os.environ, "DERMA_SYNTHETIC": "1", "DERMA_SYNTHETIC_SCALE": "0.2",
           "DERMA_DATA_DIR": str(synthetic_root), "DERMA_TIME_LIMIT_S": str(TIME_LIMIT_S),
           "PYTHONPATH": str(otter_zip.parent)}  # dist/dermamnist_otter_plugin.py, as packaging/README.md says
    proc = subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(otter_zip), "-o", str(out),
                           "--no-logo", "--pickle-results", str(submission)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIME_LIMIT_S + 180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    scores = {t["name"]: t.get("score") for t in results["tests"] if t["name"] in QUESTIONS}
    assert set(scores) == set(QUESTIONS), results
    check_final_grades(tmp_path / "results.pkl", scores, tmp_path / "final_grades.csv")
    return scores, results


def check_final_grades(pickled, scores, csv_path):
    """final_grades.csv as `otter grade` writes it (otter's own merge of the same GradingResults): the layout
    packaging/README.md documents, with the bonus counted among the maxima."""
    import csv

    import dill
    from otter.grade.utils import merge_scores_to_df

    with open(pickled, "rb") as f:
        graded = dill.load(f)
    merge_scores_to_df([graded]).to_csv(csv_path, index=False)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", *QUESTIONS, "total_points_earned", "percent_correct", "grading_status"]
    maxima, row = rows
    assert maxima["file"] == "points-per-question"
    assert {q: float(maxima[q]) for q in QUESTIONS} == POINTS
    assert float(maxima["total_points_earned"]) == sum(POINTS.values()) == 100  # 90 + the 10-point bonus
    assert {q: float(row[q]) for q in QUESTIONS} == pytest.approx(scores)
    assert float(row["total_points_earned"]) == pytest.approx(sum(scores.values()))
    assert row["grading_status"] == "Completed"


# --- the zip ------------------------------------------------------------------------------------------------------------------
def test_zip_is_otters_layout_with_our_additions(otter_zip):
    with zipfile.ZipFile(otter_zip) as zf:
        names = set(zf.namelist())
        env = zf.read("environment.yml").decode()
        setup = zf.read("setup.sh").decode()
        config = json.loads(zf.read("otter_config.json"))
        tests = {n: zf.read(n).decode() for n in names if n.startswith("tests/")}
    for required in ("run_autograder", "run_otter.py", "setup.sh", "environment.yml", "otter_config.json",
                     "requirements.txt", f"files/{package.OTTER_DRIVER}",
                     f"files/{package.OTTER_SUPPORT}/grader/grade.py",
                     f"files/{package.OTTER_SUPPORT}/locked/engine.py",
                     f"files/{package.OTTER_SUPPORT}/packaging/run_grader.py"):
        assert required in names
    assert not [n for n in names if n.startswith("files/locked") or "__pycache__" in n]
    assert "conda" in env and "Not used" in env  # otter's Dockerfile ADDs it; nothing reads it
    assert config == {"show_all_public": True, "plugins": ["dermamnist_otter_plugin.CleanUpload"]}
    assert "dermamnist_otter_plugin.py" in names and "class CleanUpload" in setup
    # ours, not otter's: PyPI only (no Miniforge, no conda, no browser), fails loudly, runs otter from our venv
    commands = "\n".join(l for l in setup.lower().splitlines() if not l.lstrip().startswith("#"))
    for absent in ("miniforge", "mamba", "conda", "playwright", "chromium", "github.com"):
        assert absent not in commands, absent
    assert setup.index("set -euo pipefail") < setup.index('bash "$DERMA_TMP/install_python311.sh"')
    assert "install_deps.sh\" /autograder/source/requirements.txt" in setup and "bake_assets.py\"" in setup
    assert subprocess.run(["bash", "-n"], input=setup, text=True).returncode == 0
    with zipfile.ZipFile(otter_zip) as zf:
        run_autograder = zf.read("run_autograder").decode()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert f"exec {package.VENV_PYTHON} /autograder/source/run_otter.py" in run_autograder
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert sorted(tests) == [f"tests/{q}.py" for q in QUESTIONS]


def test_otter_tests_carry_the_rubric_points(otter_zip):
    """Each test file's points, summed over its cases, is the rubric's points for that check."""
    with zipfile.ZipFile(otter_zip) as zf:
        for question, key in QUESTIONS.items():
            source = zf.read(f"tests/{question}.py").decode()
            assert "OK_FORMAT = False" in source and "from otter.test_files import test_case" in source
            cases = [d for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)
                     for d in node.decorator_list if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "test_case"]
            points = sum(next(k.value.value for k in c.keywords if k.arg == "points") for c in cases)
            assert points == pytest.approx(POINTS[question]), question
            assert len(cases) == (package.OTTER_PARTIAL_STEPS if key == "test_auc" else 1)


def test_driver_manifest_matches_the_support_folder(otter_zip):
    prefix = f"files/{package.OTTER_SUPPORT}/"
    with zipfile.ZipFile(otter_zip) as zf:
        shipped = {n[len(prefix):]: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()
                   if n.startswith(prefix) and not n.endswith("/")}
        driver = zf.read(f"files/{package.OTTER_DRIVER}").decode()
    manifest = ast.literal_eval(driver.split("\nMANIFEST = ", 1)[1].split("\nBAKED = ", 1)[0].split("  #")[0])
    assert manifest == shipped and "grader/grade.py" in manifest
    baked = ast.literal_eval(driver.split("\nBAKED = ", 1)[1].split("  #")[0].split("\n\n")[0])
    assert baked == {"DERMA_DATA_DIR": package.image.ENV["DERMA_DATA_DIR"], "TORCH_HOME": package.image.ENV["TORCH_HOME"]}


# --- graded with otter run -------------------------------------------------------------------------------------------------------
def test_good_upload_with_a_poisoned_locked_folder(otter_zip, synthetic_root, tmp_path):
    sub = student_zip(SUBMISSIONS / "good", tmp_path / "good.zip", extra=poisoned_locked())
    scores, results = otter_run(otter_zip, sub, tmp_path, synthetic_root)
    for q in ("q1_builds", "q2_output_shape", "q3_param_budget", "q4_preprocessing", "q5_trains"):
        assert scores[q] == POINTS[q], (q, results)
    step = POINTS["q6_test_auc"] / package.OTTER_PARTIAL_STEPS
    assert scores["q6_test_auc"] < POINTS["q6_test_auc"], "the poisoned locked/ reached the grader"
    assert scores["q6_test_auc"] / step == pytest.approx(round(scores["q6_test_auc"] / step))  # whole steps
    assert results["tests"][0]["name"] == "Public Tests"


def test_an_upload_in_another_folder_is_graded_as_gradescope_grades_it(otter_zip, synthetic_root, tmp_path):
    """One upload rule everywhere (locked/upload.py): the two files in a zipped folder of another name, which
    Gradescope grades, were ignored under otter (only student/ was kept) and scored 0. (Flat at the zip's top they
    cannot be graded by otter at all: it refuses a submission with more than one top-level .py before any of ours
    runs; packaging/README.md says so.)"""
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as zf:
        for name in ("model.py", "train_config.py"):
            zf.write(SUBMISSIONS / "good" / name, f"hw3 final/{name}")
        zf.writestr("hw3 final/notes.txt", "not graded")
    scores, results = otter_run(otter_zip, nested, tmp_path, synthetic_root)
    for q in ("q1_builds", "q2_output_shape", "q3_param_budget", "q4_preprocessing", "q5_trains"):
        assert scores[q] == POINTS[q], (q, results)


def test_trapped_upload_loses_the_preprocessing_points(otter_zip, synthetic_root, tmp_path):
    scores, results = otter_run(otter_zip, student_zip(SUBMISSIONS / "trap", tmp_path / "trap.zip"), tmp_path,
                                synthetic_root)
    assert scores["q4_preprocessing"] == 0
    for q in ("q1_builds", "q2_output_shape", "q3_param_budget", "q5_trains"):
        assert scores[q] == POINTS[q], (q, results)
    q4 = next(t for t in results["tests"] if t["name"] == "q4_preprocessing")
    assert "Normalize" in q4["output"]


def test_broken_upload_only_builds_and_its_packages_never_run(otter_zip, synthetic_root, tmp_path):
    """The upload also carries an otter/ package: without dermamnist_otter_plugin, otter's kernel imports it."""
    proof = tmp_path / "student-code-ran-in-the-kernel"
    payload = f"open({str(proof)!r}, 'w').write('shadowed')\n".encode()
    sub = student_zip(SUBMISSIONS / "broken", tmp_path / "broken.zip",
                      extra={"otter/__init__.py": payload, "numpy/__init__.py": payload, "__init__.py": payload})
    scores, results = otter_run(otter_zip, sub, tmp_path, synthetic_root)
    assert not proof.exists(), "an uploaded package was imported by otter's grading kernel"
    assert scores == {q: POINTS[q] if q == "q1_builds" else 0 for q in QUESTIONS}  # it builds; its forward fails
    q2 = next(t for t in results["tests"] if t["name"] == "q2_output_shape")
    assert "mat1 and mat2 shapes cannot be multiplied" in q2["output"]


def test_forged_support_folder_is_refused(otter_zip, synthetic_root, tmp_path):
    """otter keeps an uploaded folder named like our support folder instead of ours: the driver must notice."""
    forged = {f"{package.OTTER_SUPPORT}/{k}": v for k, v in poisoned_locked().items()}
    sub = student_zip(SUBMISSIONS / "good", tmp_path / "forged.zip", extra=forged)
    scores, results = otter_run(otter_zip, sub, tmp_path, synthetic_root)
    assert all(s == 0 for s in scores.values()), scores
    q1 = next(t for t in results["tests"] if t["name"] == "q1_builds")
    assert "a name the autograder reserves" in q1["output"]


def test_test_data_joins_the_support_files_and_their_manifest(tmp_path):
    """--test-data in the otter build: the file and a rubric naming it in the support folder, both in the driver's
    manifest (the staging step; `otter generate` zips that folder as it is)."""
    import numpy as np
    test_file = tmp_path / "exam.npz"
    np.savez(test_file, test_images=np.zeros((7, 28, 28, 3), np.uint8), test_labels=np.arange(7))
    stage = tmp_path / "stage"
    stage.mkdir()
    package._stage_otter(stage, RUBRIC, None, test_file)
    support = stage / package.OTTER_SUPPORT
    assert (support / package.PRIVATE_TEST).read_bytes() == test_file.read_bytes()
    assert rubric_mod.load(support / "rubric.toml").test.data == str((support / package.PRIVATE_TEST).resolve())
    driver = (stage / package.OTTER_DRIVER).read_text()
    for name in (package.PRIVATE_TEST, "rubric.toml"):
        assert f'"{name}": "{hashlib.sha256((support / name).read_bytes()).hexdigest()}"' in driver

"""Simulated Gradescope: build dist/gradescope_autograder.zip, lay it out as Gradescope does, run run_autograder.

The tree is Gradescope's: <root>/source (the unzipped autograder), <root>/submission, <root>/results, and
run_autograder copied to <root>/run_autograder; AUTOGRADER_ROOT=<root> stands in for /autograder. What cannot run
here is setup.sh's network part (apt, the PyTorch CPU index, Zenodo); the grading step runs for real, with the
grader's sandbox, on the synthetic stand-in (scale 0.2) and a short time limit.

Uploads: the good, trapped and broken submissions of instructor_tests/package_submissions/ each go through the
whole pipeline once, in a different accepted form (flat files, a zip of student/, a folder), so every submission
and every form is graded end to end; the full 3 x 3 matrix of forms is checked by the discovery rule (locked/upload.py), which is where the
form matters, without training nine times. The broken upload's run drops CAP_SYS_ADMIN first, as a container does.
Every failure path (nothing gradable, a grader that crashes or hangs, no Python at all) must still leave a
results.json that passes the schema check of platform_facts.md.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import resultfile, rubric as rubric_mod
from instructor import package
from locked import upload as upload_rule

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "instructor_tests" / "package_submissions"
TIME_LIMIT_S = 120
# The CUDA build of torch installed here peaks near 900 MB in the sandbox; the CPU build Gradescope gets fits the
# 640 MB that gradescope.env sets (packaging/RESULTS.md). The limit itself is the grader's business, not this test's.
MEMORY_LIMIT_MB = 1536
FORMS = ("flat", "zip", "folder")


def load_run_grader(source=REPO):
    spec = importlib.util.spec_from_file_location("run_grader", Path(source) / "packaging" / "run_grader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_grader = load_run_grader()


def extract(zip_path, dest):
    """Unzip keeping the mode bits, as Gradescope keeps run_autograder executable."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(Path(dest) / info.filename, mode)


def upload(folder, form, dest):
    """Put submission `folder` into `dest` the way a student's upload arrives."""
    dest.mkdir(parents=True, exist_ok=True)
    if form == "flat":  # the two files dragged onto Gradescope
        for name in ("model.py", "train_config.py"):
            shutil.copyfile(folder / name, dest / name)
    elif form == "zip":  # a zip of the student/ folder, as the starter kit's README says
        with zipfile.ZipFile(dest / "submission.zip", "w") as zf:
            for name in ("model.py", "train_config.py"):
                zf.write(folder / name, f"student/{name}")
            zf.writestr("student/notes.ipynb", "{}")
    elif form == "folder":  # a folder upload (e.g. from GitHub): the repository's student/ folder and more
        shutil.copytree(folder, dest / "dermamnist-main" / "student")
        (dest / "dermamnist-main" / "README.md").write_text("my fork\n")
    else:
        raise ValueError(form)
    return dest


@pytest.fixture(scope="module")
def gradescope_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    return package.build(out, only=("gradescope",), log=lambda *a: None)["gradescope"]


def autograder_tree(zip_path, root):
    """<root> laid out as Gradescope's /autograder after setup.sh."""
    for sub in ("source", "submission", "results"):
        (root / sub).mkdir(parents=True)
    extract(zip_path, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission_metadata.json").write_text("{}")
    return root


CAN_DROP_CAP = os.geteuid() == 0 and shutil.which("capsh") is not None


def run_autograder(root, data_root, container=False, **env_overrides):
    """Run <root>/run_autograder. container=True drops CAP_SYS_ADMIN first, as a default `docker run` does (the
    Docker image, `otter grade`, probably Gradescope): the sandbox's namespaces are refused there."""
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "DERMA_PYTHON": sys.executable,
           "DERMA_SYNTHETIC": "1", "DERMA_SYNTHETIC_SCALE": "0.2", "DERMA_DATA_DIR": str(data_root),
           "DERMA_TIME_LIMIT_S": str(TIME_LIMIT_S), "DERMA_MEMORY_LIMIT_MB": str(MEMORY_LIMIT_MB),
           **env_overrides}
    cmd = [str(root / "run_autograder")]
    if container:
        cmd = ["capsh", "--drop=cap_sys_admin", "--", "-c", cmd[0]]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=TIME_LIMIT_S + 120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert resultfile.validate_results(results) == [], results
    return results, proc.stdout + proc.stderr


def by_name(results):
    return {t["name"]: t for t in results["tests"]}


CHECK_NAMES = {c.key: c.name for c in rubric_mod.load().checks}


# --- the zip ---------------------------------------------------------------------------------------------------------------
def test_zip_has_gradescopes_layout(gradescope_zip):
    with zipfile.ZipFile(gradescope_zip) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        env_file = zf.read("gradescope.env").decode()
    for required in ("setup.sh", "run_autograder", "gradescope.env", "requirements.txt", "grader/grade.py",
                     "grader/rubric.toml", "locked/engine.py", "packaging/run_grader.py",
                     "packaging/install_deps.sh", "packaging/bake_assets.sh", "packaging/bake_assets.py"):
        assert required in names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111, "setup.sh/run_autograder not executable"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("solutions/", "instructor_tests/", "tests/", "student/"))]
    for name, value in (("DERMA_MEMORY_LIMIT_MB", package.image.MEMORY_LIMIT_MB),  # Gradescope's 768 MB box
                        ("DERMA_DATA_DIR", package.image.ENV["DERMA_DATA_DIR"]),
                        ("TORCH_HOME", package.image.ENV["TORCH_HOME"])):
        assert f': "${{{name}:={value}}}"' in env_file


def test_scripts_parse_and_setup_fails_loudly(gradescope_zip, tmp_path):
    extract(gradescope_zip, tmp_path)
    for script in ("setup.sh", "run_autograder", "packaging/install_deps.sh", "packaging/bake_assets.sh"):
        proc = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"
    setup = (tmp_path / "setup.sh").read_text()
    assert "set -euo pipefail" in setup
    for step in ("packaging/install_deps.sh requirements.txt", "packaging/bake_assets.sh",
                 "packaging/bake_assets.sh --check"):
        assert step in setup


def test_zip_is_reproducible(gradescope_zip, tmp_path):
    again = package.build(tmp_path, only=("gradescope",), log=lambda *a: None)["gradescope"]
    assert again.read_bytes() == gradescope_zip.read_bytes()


def test_custom_rubric_ships_and_is_used(tmp_path):
    rubric = tmp_path / "my_rubric.toml"
    rubric.write_text("[checks.test_auc]\ntarget = 0.85\nfloor = 0.70\n")
    zip_path = package.build(tmp_path / "dist", rubric_path=rubric, only=("gradescope",),
                             log=lambda *a: None)["gradescope"]
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.read("rubric.toml") == rubric.read_bytes()
        assert ': "${DERMA_RUBRIC:=rubric.toml}"' in zf.read("gradescope.env").decode()


# --- where the student's files are found: every form, every submission -------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", ("good", "trap", "broken"))
def test_every_form_reaches_the_two_files(kind, form, tmp_path):
    sub = upload(SUBMISSIONS / kind, form, tmp_path / "submission")
    ignored = upload_rule.collect(sub, tmp_path / "kept").ignored
    for name in ("model.py", "train_config.py"):
        assert (tmp_path / "kept" / name).read_bytes() == (SUBMISSIONS / kind / name).read_bytes()
    if form == "zip":
        assert [f for f in ignored if f.endswith("notes.ipynb")]


# --- the whole pipeline, as Gradescope runs it -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, form, container", [("good", "flat", False), ("trap", "zip", False),
                                                    ("broken", "folder", CAN_DROP_CAP)])
def test_run_autograder_grades_each_upload(kind, form, container, gradescope_zip, synthetic_root, tmp_path):
    root = autograder_tree(gradescope_zip, tmp_path / "autograder")
    upload(SUBMISSIONS / kind, form, root / "submission")
    results, log = run_autograder(root, synthetic_root, container=container)
    tests = by_name(results)
    assert [t["name"] for t in results["tests"]] == list(CHECK_NAMES.values())
    assert "SYNTHETIC" in results["output"]
    status = {k: tests[name]["status"] for k, name in CHECK_NAMES.items()}
    if kind == "broken":
        assert results["score"] == rubric_mod.load().check("builds").points and "leaderboard" not in results
        assert "mat1 and mat2 shapes cannot be multiplied" in tests[CHECK_NAMES["trains"]]["output"]
    else:
        passed = {"builds", "output_shape", "param_budget", "trains"} | ({"preprocessing"} if kind == "good" else set())
        assert {k for k, s in status.items() if s == "passed"} >= passed
        assert status["preprocessing"] == ("passed" if kind == "good" else "failed")
        assert {e["name"] for e in results["leaderboard"]} >= {"Test AUC", "Melanoma recall"}
        assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=1e-3)
    if kind == "trap":
        assert "Normalize" in tests[CHECK_NAMES["preprocessing"]]["output"]
        assert "Ignored" in results["output"] and "notes.ipynb" in results["output"]
    instructor = (root / "results" / "instructor_report.txt").read_text()  # sandbox facts: the instructor's only
    assert "Sandbox:" not in json.dumps(results) and ("runs as uid " in instructor or os.geteuid() != 0)
    if container:  # grading still works; the instructor's report says the container's network must be off instead
        assert "network not isolated" in instructor
    elif kind == "broken":  # graded, but not as in a container: say so (a failure under CI, see conftest.py)
        pytest.skip("graded outside a container: dropping CAP_SYS_ADMIN needs root and capsh (apt-get install "
                    "libcap2-bin)")


# --- every other path still leaves a valid results.json ---------------------------------------------------------------------
def test_nothing_gradable_uploaded(gradescope_zip, synthetic_root, tmp_path):
    root = autograder_tree(gradescope_zip, tmp_path / "autograder")
    (root / "submission" / "analysis.ipynb").write_text("{}")
    results, _ = run_autograder(root, synthetic_root)
    assert results["score"] == 0
    assert "Could not find model.py and train_config.py" in results["tests"][0]["output"]


def test_grader_crash_leaves_a_fallback(gradescope_zip, synthetic_root, tmp_path):
    root = autograder_tree(gradescope_zip, tmp_path / "autograder")
    upload(SUBMISSIONS / "good", "flat", root / "submission")
    (root / "source" / "grader" / "scoring.py").write_text("this is not python\n")  # the grader cannot even import
    results, log = run_autograder(root, synthetic_root)
    assert results["score"] == 0 and "not a problem with your submission" in results["output"]
    assert "replacing results.json" in log


def test_hung_grader_is_killed_and_reported(gradescope_zip, synthetic_root, tmp_path):
    root = autograder_tree(gradescope_zip, tmp_path / "autograder")
    upload(SUBMISSIONS / "good", "flat", root / "submission")
    (root / "source" / "grader" / "__main__.py").write_text("import time\ntime.sleep(600)\n")  # a grader bug
    results, log = run_autograder(root, synthetic_root, DERMA_TIME_LIMIT_S="1", DERMA_WATCHDOG_MARGIN_S="2")
    assert results["score"] == 0 and "did not finish within 3 s" in results["output"]


def test_python_missing_still_leaves_results(gradescope_zip, synthetic_root, tmp_path):
    root = autograder_tree(gradescope_zip, tmp_path / "autograder")
    upload(SUBMISSIONS / "good", "flat", root / "submission")
    results, _ = run_autograder(root, synthetic_root, DERMA_PYTHON="/bin/false")
    assert results["score"] == 0 and results["tests"][0]["status"] == "failed"


def test_stale_results_are_never_reported(gradescope_zip, synthetic_root, tmp_path):
    root = autograder_tree(gradescope_zip, tmp_path / "autograder")
    (root / "results" / "results.json").write_text(json.dumps({"score": 90, "tests": []}))
    results, _ = run_autograder(root, synthetic_root)  # empty upload
    assert results["score"] == 0


# --- the schema check itself ------------------------------------------------------------------------------------------------
def test_schema_check_catches_what_gradescope_rejects():
    ok = {"score": 1.5, "tests": [{"name": "a", "score": 1, "max_score": 2, "status": "passed",
                                    "visibility": "after_due_date", "number": "1", "tags": ["x"]}],
          "leaderboard": [{"name": "AUC", "value": 0.9, "order": "desc"}, {"name": "Team", "value": "x"}],
          "stdout_visibility": "hidden", "output_format": "md"}
    assert resultfile.validate_results(ok) == []
    bad = [
        ({**ok, "score": float("nan")}, "score"),
        ({**ok, "visibility": "public"}, "visibility"),
        ({**ok, "scroe": 1}, "scroe"),
        ({**ok, "tests": [{"name": "a", "status": "ok", "score": 1}]}, "status"),
        ({**ok, "tests": [{"name": 3, "score": 1}]}, "name"),
        ({**ok, "leaderboard": [{"name": "AUC", "value": None}]}, "value"),
        ({**ok, "leaderboard": [{"name": "AUC", "value": 1, "order": "up"}]}, "order"),
        ({"tests": [{"name": "a"}]}, "needs a score"),
        ([], "object"),
    ]
    for results, word in bad:
        problems = resultfile.validate_results(results)
        assert problems and any(word in p for p in problems), (results, problems)


"""One upload rule everywhere (locked/upload.py): the same uploads, graded through all four entry points, must give
the same verdict: the same refusal, or the same files graded and ignored, with the same checks passed.

The entry points: `python -m grader grade`, `python -m instructor grade-class` (a folder of per-student folders and
zips), packaging/run_grader.py (what Gradescope's run_autograder runs) and otter's driver and plugin under `otter run`
on the zip `python -m instructor package` builds. Each grades every upload once (a module-scoped fixture), on the
0.2-scale synthetic data, with the tests' rubric (grader_test_rubric.toml) shipped to all four.

otter takes a file, so its uploads are zips of the same folders: the nested folder and its zip are then one upload.
otter reports each check's points, and its test_auc in whole steps (package.OTTER_PARTIAL_STEPS): the other paths'
points are compared at that granularity. The files graded are the upload's files less the ignored ones, which the
grader paths keep in grading_record.json and otter shows the student in its results' output.
"""
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import rubric as rubric_mod
from instructor import package
from locked import upload as upload_rule

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RUBRIC = HERE / "grader_test_rubric.toml"
HONEST = HERE / "grader_submissions" / "honest"  # one epoch of a tiny CNN: seconds per grading
TWO = {n: (HONEST / n).read_bytes() for n in ("model.py", "train_config.py")}
DRAFT = b"def build_model():\n    raise RuntimeError('an old draft: never graded')\n"
CHECKS = rubric_mod.load(RUBRIC).checks
QUESTIONS = {f"q{i}_{c.key}": c.key for i, c in enumerate(CHECKS, 1)}
IGNORED_LINE = "Ignored (only model.py and train_config.py are graded): "


def _in(prefix, extra=None):
    return {**{prefix + n: d for n, d in TWO.items()}, **(extra or {})}


# upload -> (its files {relative path: bytes}, whether it is handed over zipped). The nested one carries a lone
# model.py in another folder too: a rule that took the first model.py it met would grade that draft.
UPLOADS = {
    "flat folder": (_in("", {"notes.txt": b"my notes\n"}), False),
    "nested folder": (_in("hw/student/", {"hw/README.md": b"# hw\n", "hw/drafts/model.py": DRAFT}), False),
    "zip of the nested folder": (_in("hw/student/", {"hw/README.md": b"# hw\n", "hw/drafts/model.py": DRAFT}), True),
    "two copies": ({**_in("hw/"), **_in("hw/student/")}, False),
    "nothing gradable": ({"analysis.ipynb": b"{}"}, False),
}


def _folder(files, dest):
    for name, data in files.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)
    return dest


def _zip(files, dest):
    with zipfile.ZipFile(dest, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return dest


def _slug(name):
    return name.replace(" ", "_")


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    """{upload: its path} as the grader paths take it (a folder, or a zip), in one class folder for grade-class."""
    export = tmp_path_factory.mktemp("class")
    return {name: _zip(files, export / f"{_slug(name)}.zip") if zipped else _folder(files, export / _slug(name))
            for name, (files, zipped) in UPLOADS.items()}


@pytest.fixture(scope="module")
def env(synthetic_root):
    return {**os.environ, "DERMA_SYNTHETIC": "1", "DERMA_SYNTHETIC_SCALE": "0.2", "DERMA_DATA_DIR": str(synthetic_root),
            "DERMA_DATA_DIR": str(synthetic_root), "DERMA_RUBRIC": str(RUBRIC)}


# --- what each path shows, in one form ---------------------------------------------------------------------------------

def _refusal(builds_output):
    """The upload rule's refusal in the builds check's text, its label ("Your upload", "x.zip") left out: the part
    that names the files. None when the check's text is no refusal."""
    if upload_rule.HOW_TO not in builds_output:
        return None
    message = builds_output.split(upload_rule.HOW_TO)[0].strip().splitlines()[-1].strip()
    message = message.removeprefix("AssertionError: ")  # how otter shows a failed check
    return re.sub(r"Your upload|\S+\.zip", "<upload>", message)


def _on_otters_steps(key, points, max_points):
    """Points as otter pays them: the test_auc check in whole steps, rounded down; the others as they are."""
    if key == "test_auc":
        step = max_points / package.OTTER_PARTIAL_STEPS
        points = math.floor(points / step + 1e-9) * step
    return round(points, 4)


def _verdict(upload, refusal, ignored, points, statuses):
    """One path's verdict on `upload`: refusal, the files graded and ignored, each check's (status, points)."""
    files = UPLOADS[upload][0]
    graded = None if refusal or ignored is None else sorted(set(files) - set(ignored))
    return {"refusal": refusal, "graded": graded, "ignored": None if ignored is None else sorted(ignored),
            "checks": {k: (statuses.get(k), points.get(k)) for k in QUESTIONS.values()}}


def _from_record(upload, record_path):
    """The verdict in a grading_record.json (the grader, grade-class and run_grader all write one)."""
    record = json.loads(Path(record_path).read_text())
    tests = {t["key"]: t for t in record["tests"]}
    return _verdict(upload, _refusal(tests["builds"]["output"]), record["ignored_files"],
                    {k: _on_otters_steps(k, t["score"], t["max_score"]) for k, t in tests.items()},
                    {k: t["status"] for k, t in tests.items()})


def _run(cmd, env, cwd, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, proc.stdout[-3000:] + proc.stderr[-3000:]


# --- the four entry points, each grading every upload once -------------------------------------------------------------

@pytest.fixture(scope="module")
def grader_cli(uploads, env, synthetic_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("grader")
    verdicts = {}
    for name, path in uploads.items():
        proc, log = _run([sys.executable, "-m", "grader", "grade", str(path), "--out", str(out / _slug(name)),
                          "--synthetic", "--data-dir", str(synthetic_root), "--rubric", str(RUBRIC)], env, REPO)
        assert proc.returncode == 0, log
        verdicts[name] = _from_record(name, out / _slug(name) / "grading_record.json")
    return verdicts


@pytest.fixture(scope="module")
def grade_class(uploads, env, tmp_path_factory):
    export, out = next(iter(uploads.values())).parent, tmp_path_factory.mktemp("graded-class")
    proc, log = _run([sys.executable, "-m", "instructor", "grade-class", str(export), "--out", str(out), "-j", "2",
                      "--synthetic", "--rubric", str(RUBRIC), "--no-progress"], env, REPO)
    assert proc.returncode == 0, log
    return {name: _from_record(name, out / _slug(name) / "grading_record.json") for name in uploads}


@pytest.fixture(scope="module")
def gradescope_driver(uploads, env, tmp_path_factory):
    out = tmp_path_factory.mktemp("run_grader")
    verdicts = {}
    for name, path in uploads.items():
        results = out / _slug(name)
        proc, log = _run([sys.executable, str(REPO / "packaging" / "run_grader.py"), "--submission", str(path),
                          "--results", str(results)], env, out)
        assert proc.returncode == 0, log
        verdicts[name] = _from_record(name, results / "grading_record.json")
    return verdicts


def _from_otter(upload, results, log):
    """The verdict in otter's results.json: each question's score, the refusal in the builds question's text, the
    ignored files in the output the plugin sets. Without the questions (otter refused or failed before grading),
    otter's own message stands as the refusal."""
    tests = {t["name"]: t for t in (results or {}).get("tests", [])}
    if not set(QUESTIONS) <= set(tests):
        why = next((t["output"] for t in tests.values()), None) or log.strip().splitlines()[-1]
        return _verdict(upload, f"otter: {why.strip().splitlines()[-1]}", None, {}, {})
    points = {QUESTIONS[q]: round(tests[q]["score"], 4) for q in QUESTIONS}
    statuses = {QUESTIONS[q]: "passed" if t["score"] == t["max_score"] else "failed" if t["score"] == 0 else "partial"
                for q, t in tests.items() if q in QUESTIONS}
    output = results.get("output")
    ignored = None  # otter shows none: there is no telling which files it graded
    if output is not None:
        line = next((l for l in output.splitlines() if l.startswith(IGNORED_LINE)), IGNORED_LINE)
        ignored = [name for name in line[len(IGNORED_LINE):].split(", ") if name]
    return _verdict(upload, _refusal(tests["q1_builds"]["output"]), ignored, points, statuses)


@pytest.fixture(scope="module")
def otter_driver(env, tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    otter_zip = package.build(dist, rubric_path=RUBRIC, only=("otter",), log=lambda *a: None)["otter"]
    work = tmp_path_factory.mktemp("otter")
    otter_env = {**env, "PYTHONPATH": str(dist)}  # dist/dermamnist_otter_plugin.py, as packaging/README.md says
    verdicts = {}
    for name, (files, _) in UPLOADS.items():
        out = work / _slug(name)
        out.mkdir()
        _, log = _run([sys.executable, "-m", "otter", "run", "-a", str(otter_zip), "-o", str(out), "--no-logo",
                          str(_zip(files, work / f"{_slug(name)}.zip"))], otter_env, out)
        results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
        verdicts[name] = _from_otter(name, results, log)
    return verdicts


# --- the same verdict everywhere ---------------------------------------------------------------------------------------

EXPECTED = {  # the rule's own answer: the refusal's words, or the files it grades
    "flat folder": ["model.py", "train_config.py"],
    "nested folder": ["hw/student/model.py", "hw/student/train_config.py"],
    "zip of the nested folder": ["hw/student/model.py", "hw/student/train_config.py"],
    "two copies": "holds model.py and train_config.py in 2 places (hw/, hw/student/)",
    "nothing gradable": "Could not find model.py and train_config.py in <upload> (found: analysis.ipynb)",
}


@pytest.mark.parametrize("upload", UPLOADS)
def test_every_entry_point_gives_the_same_verdict(upload, grader_cli, grade_class, gradescope_driver, otter_driver):
    verdicts = {"python -m grader grade": grader_cli[upload], "python -m instructor grade-class": grade_class[upload],
                "packaging/run_grader.py (Gradescope)": gradescope_driver[upload],
                "otter run (driver and plugin)": otter_driver[upload]}
    reference = verdicts["python -m grader grade"]
    if upload == "flat folder":  # the one form otter 7.0.0 refuses itself, before any plugin (packaging/README.md)
        otter = verdicts.pop("otter run (driver and plugin)")
        assert "More than one Python file found in submission" in (otter["refusal"] or ""), otter
    expected = EXPECTED[upload]
    if isinstance(expected, str):
        assert reference["refusal"] and expected in reference["refusal"], reference
        assert all(status == "failed" for status, _ in reference["checks"].values()), reference
    else:
        assert reference["refusal"] is None and reference["graded"] == expected, reference
        assert reference["checks"]["builds"] == ("passed", 5.0), reference  # not the draft
    differ = {path: v for path, v in verdicts.items() if v != reference}
    assert not differ, f"{upload}: differs from the grader's {json.dumps(reference)}:\n" + "\n".join(
        f"  {path}: {json.dumps(v)}" for path, v in differ.items())

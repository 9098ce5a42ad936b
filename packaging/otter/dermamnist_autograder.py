"""DermaMNIST 'Beat the Baseline': the otter-grader driver. An INSTRUCTOR file: students neither edit nor submit it.

otter grades exactly one top-level .py. Students upload a zip of their two files (model.py, train_config.py) in a
folder such as student/, found by locked/upload.py's one rule as on Gradescope (a zip with the two files at its top
is refused by otter itself: more than one top-level .py); otter copies this driver next to it as a support file,
runs it as a one-cell notebook, then runs the tests in tests/ against the globals it leaves:

    dermamnist_checks   {check key: {"name", "score", "max_score", "status", "output"}}, one per rubric check
    dermamnist_score    the grader's total (bonus included); dermamnist_max_score: its maximum (bonus excluded)
    dermamnist_report   the report card (also printed)
    dermamnist_error    why there are no checks (None when grading ran)

How it grades: the isolated grader (grader/, locked/, packaging/run_grader.py) ships in the support folder
_dermamnist_autograder/, a name no student uses. Because otter copies a support FOLDER only when the upload has
none of that name, the driver checks every file of it against the sha256 manifest below (written into this file by
`python -m instructor package`) and refuses to grade on any difference. It hands a private copy of the upload to
the grader from a private copy of that support folder; the grader keeps only model.py and train_config.py (found
by locked/upload.py's rule) and lists the rest, a locked/ folder above all, as ignored. Before this runs,
dermamnist_otter_plugin.py (an otter plugin) has already moved the upload out of the folder, so that nothing
uploaded can be imported by otter's kernel, and said where (RECORD).
"""
import os as _os
import sys as _sys

_sys.path[:] = [p for p in _sys.path if p not in ("", ".", _os.getcwd())]  # nothing in the upload is importable

SUPPORT = "_dermamnist_autograder"
DRIVER = "dermamnist_autograder.py"
RECORD = ".dermamnist_upload.json"  # written by dermamnist_otter_plugin.py: where it moved the upload
MOVED_PREFIX = "dermamnist-upload-"  # the plugin's private folder for it, in the temporary folder
MANIFEST = {}  # relative path -> sha256 of every file in SUPPORT; filled in by `python -m instructor package`
BAKED = {}  # setting -> the image's folder otter's setup.sh baked it into; filled in by `python -m instructor package`


def _dermamnist_grade():
    import hashlib
    import json
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    here = Path.cwd()  # otter runs this in the submission folder

    def files_of(folder):
        return {str(p.relative_to(folder)): p for p in folder.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}

    def verify(folder):
        if not folder.is_dir() or folder.is_symlink():
            return [f"{folder.name}/ is missing"]
        found = files_of(folder)
        problems = [f"missing {k}" for k in sorted(set(MANIFEST) - set(found))]
        problems += [f"unexpected {k}" for k in sorted(set(found) - set(MANIFEST))]
        problems += [f"changed {k}" for k in sorted(set(MANIFEST) & set(found))
                     if hashlib.sha256(found[k].read_bytes()).hexdigest() != MANIFEST[k]]
        return problems

    def failed(message):
        return {"checks": {}, "score": 0.0, "max_score": 0.0, "report": message, "error": message, "ignored": []}

    if not MANIFEST:
        return failed("This driver was not built by `python -m instructor package` (its manifest is empty).")
    problems = verify(here / SUPPORT)
    if problems:
        return failed(f"Your upload contains a folder named {SUPPORT}/, a name the autograder reserves "
                      f"({'; '.join(problems[:3])}). Upload a zip holding only your student/ folder.")

    def moved_upload():
        """The folder dermamnist_otter_plugin moved the upload into, if it ran: a private folder of ours, so a
        RECORD planted in an upload graded without the plugin cannot point anywhere else."""
        try:
            folder = Path(json.loads((here / RECORD).read_text())["upload"])
            info = folder.lstat()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        private = info.st_uid == os.getuid() and (info.st_mode & 0o7777) == 0o700 and folder.is_dir()
        ok = private and folder.parent == Path(tempfile.gettempdir()) and folder.name.startswith(MOVED_PREFIX)
        return folder if ok else None

    ours = {SUPPORT, DRIVER, "tests", "__init__.py", "__pycache__", RECORD}  # otter's and ours, never uploaded
    uploaded = moved_upload() or here
    work = Path(tempfile.mkdtemp(prefix="dermamnist-otter-"))
    try:
        source, upload, results = work / "source", work / "upload", work / "results"
        shutil.copytree(here / SUPPORT, source, ignore=shutil.ignore_patterns("__pycache__"))
        problems = verify(source)  # the copy we run is the copy we checked
        if problems:
            return failed(f"The autograder's support folder changed while grading ({problems[0]}).")
        upload.mkdir()
        for entry in uploaded.iterdir():  # the upload as it came (the zip otter extracted it from stays out)
            if entry.name in ours or (entry.suffix.lower() == ".zip" and entry.is_file()):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, upload / entry.name, symlinks=True)
            elif not entry.is_symlink():
                shutil.copyfile(entry, upload / entry.name)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
        for key, path in BAKED.items():
            if key not in env and os.path.isdir(path):
                env[key] = path
        if (source / "rubric.toml").is_file():
            env["DERMA_RUBRIC"] = "rubric.toml"
        proc = subprocess.run([_sys.executable, "-I", str(source / "packaging" / "run_grader.py"),
                               "--source", str(source), "--submission", str(upload), "--results", str(results)],
                              cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        gradescope = json.loads((results / "results.json").read_text())  # run_grader.py always writes a valid one
        try:
            record = json.loads((results / "grading_record.json").read_text())
        except (OSError, ValueError):
            record = {}
        checks = {t["key"]: {k: t[k] for k in ("name", "score", "max_score", "status", "output")}
                  for t in record.get("tests", [])}
        report = gradescope.get("output", "")  # the report card lists what the grader ignored
        error = None if checks else (gradescope.get("output") or proc.stdout[-2000:])
        return {"checks": checks, "score": float(gradescope.get("score", 0.0)),
                "max_score": float(record.get("max_score", 0.0)), "report": report, "error": error}
    finally:
        shutil.rmtree(work, ignore_errors=True)


try:
    _dermamnist = _dermamnist_grade()
except Exception as _err:  # a driver bug: the tests then fail with this message instead of a NameError
    _dermamnist = {"checks": {}, "score": 0.0, "max_score": 0.0,
                   "report": f"The autograder's driver failed ({type(_err).__name__}: {_err}); tell your instructor.",
                   "error": f"The autograder's driver failed ({type(_err).__name__}: {_err}); tell your instructor."}
dermamnist_checks = _dermamnist["checks"]
dermamnist_score = _dermamnist["score"]
dermamnist_max_score = _dermamnist["max_score"]
dermamnist_report = _dermamnist["report"]
dermamnist_error = _dermamnist["error"]
print(dermamnist_report)

"""Grade one upload, whatever shape it came in, and ALWAYS leave a valid Gradescope results.json behind.

    python packaging/run_grader.py --submission PATH --results DIR [--source DIR]

Used by every artefact, so they all grade the same way:
    Gradescope   run_autograder -> this, on /autograder/submission -> /autograder/results
    Docker       the image's default command -> this, on /submission -> /results
    otter        the instructor driver -> this, on the student's student/ folder -> a private temp dir

What it does:
  1. finds the student's files in the upload: model.py + train_config.py dropped flat, inside student/ (or one
     other folder a few levels down), or a single .zip of any of these;
  2. runs the isolated grader, `python -m grader grade`, from --source (the folder holding grader/ and locked/),
     with a watchdog in case the grader itself hangs;
  3. checks the results.json it wrote against Gradescope's schema, and replaces a missing or invalid one with a
     score-0 "the grader failed, not your fault" result.

Settings come from the environment (run_autograder sources gradescope.env; the Docker image sets them):
    DERMA_RUBRIC            rubric TOML (relative paths are relative to --source); default grader/rubric.toml
    DERMA_TIME_LIMIT_S      override the rubric's time_limit_s
    DERMA_MEMORY_LIMIT_MB   override the rubric's memory_limit_mb (Gradescope and Docker: 640)
    DERMA_WATCHDOG_MARGIN_S seconds the grader may run beyond the sandbox time limit before it is killed (180)
    DERMAMNIST_ROOT, TORCH_HOME, DERMAMNIST_SYNTHETIC(_SCALE)   passed through to the grader

Standard library only, and never imports the grader: it must still write a results.json when nothing else works.
"""
import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

STUDENT_FILES = ("model.py", "train_config.py")
SEARCH_DEPTH = 3  # upload/, upload/student/, upload/<zip name>/student/, ...
WATCHDOG_MARGIN_S = 180  # on top of the sandbox time limit: data loading, scoring, writing
DEFAULT_TIME_LIMIT_S = 540  # used for the watchdog only when the rubric cannot be read here

VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
OUTPUT_FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "extra_data",
            "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "number", "output", "output_format", "tags", "visibility",
             "extra_data"}
LEADERBOARD_KEYS = {"name", "value", "order"}


# --- 1. where are the student's files? -----------------------------------------------------------------------------
def _skip(path):
    return path.name == "__MACOSX" or path.name.startswith(".") or path.is_symlink()


def locate(upload):
    """The path to hand the grader: the folder holding both student files, else a lone zip, else `upload` itself
    (the grader then explains what is missing). Shallowest folder first; at equal depth a folder named student."""
    upload = Path(upload)
    if not upload.is_dir():
        return upload  # a zip (or anything else) given directly: the grader's intake decides
    level = [upload]
    for _ in range(SEARCH_DEPTH + 1):
        hits = [d for d in level if all((d / f).is_file() for f in STUDENT_FILES)]
        if hits:
            return sorted(hits, key=lambda d: (d.name != "student", str(d)))[0]
        level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir() and not _skip(c)]
    zips = [p for p in sorted(upload.iterdir()) if p.is_file() and not _skip(p) and zipfile.is_zipfile(p)]
    if len(zips) == 1:
        return zips[0]
    return upload


# --- 3. is this a results.json Gradescope will accept? -------------------------------------------------------------
def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_results(results):
    """Problems with `results` (a parsed results.json) against Gradescope's schema; [] when it is valid."""
    if not isinstance(results, dict):
        return ["results.json must hold a JSON object"]
    problems = [f"unknown top-level key {k!r}" for k in sorted(set(results) - TOP_KEYS)]
    for key in ("score", "execution_time"):
        if key in results and not _number(results[key]):
            problems.append(f"{key} must be a finite number, got {results[key]!r}")
    for key in ("output",):
        if key in results and not isinstance(results[key], str):
            problems.append(f"{key} must be a string")
    for key in ("visibility", "stdout_visibility"):
        if key in results and results[key] not in VISIBILITY:
            problems.append(f"{key} must be one of {sorted(VISIBILITY)}, got {results[key]!r}")
    if "output_format" in results and results["output_format"] not in OUTPUT_FORMATS:
        problems.append(f"output_format must be one of {sorted(OUTPUT_FORMATS)}")
    tests = results.get("tests", [])
    if not isinstance(tests, list):
        problems.append("tests must be a list")
        tests = []
    if "score" not in results and not tests:
        problems.append("either a top-level score or a list of tests is required")
    for i, test in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(test, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += [f"{where}: unknown key {k!r}" for k in sorted(set(test) - TEST_KEYS)]
        for key in ("score", "max_score"):
            if key in test and not _number(test[key]):
                problems.append(f"{where}.{key} must be a finite number, got {test[key]!r}")
        if "score" not in results and "score" not in test:
            problems.append(f"{where} needs a score when there is no top-level score")
        if "status" in test and test["status"] not in ("passed", "failed"):
            problems.append(f"{where}.status must be passed or failed, got {test['status']!r}")
        for key in ("name", "number", "output"):
            if key in test and not isinstance(test[key], str):
                problems.append(f"{where}.{key} must be a string")
        if "visibility" in test and test["visibility"] not in VISIBILITY:
            problems.append(f"{where}.visibility must be one of {sorted(VISIBILITY)}")
        if "output_format" in test and test["output_format"] not in OUTPUT_FORMATS:
            problems.append(f"{where}.output_format must be one of {sorted(OUTPUT_FORMATS)}")
        if "tags" in test and not (isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])):
            problems.append(f"{where}.tags must be a list of strings")
    board = results.get("leaderboard", [])
    if not isinstance(board, list):
        problems.append("leaderboard must be a list")
        board = []
    for i, entry in enumerate(board):
        where = f"leaderboard[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += [f"{where}: unknown key {k!r}" for k in sorted(set(entry) - LEADERBOARD_KEYS)]
        if not isinstance(entry.get("name"), str):
            problems.append(f"{where}.name must be a string")
        if not (_number(entry.get("value")) or isinstance(entry.get("value"), str)):
            problems.append(f"{where}.value must be a finite number or a string")
        if entry.get("order", "desc") not in ("asc", "desc"):
            problems.append(f"{where}.order must be asc or desc")
    return problems


def read_results(path):
    """(parsed results.json or None, problems)."""
    try:
        results = json.loads(Path(path).read_text(), parse_constant=lambda c: math.nan)
    except FileNotFoundError:
        return None, ["results.json was not written"]
    except (OSError, ValueError) as err:
        return None, [f"results.json is not valid JSON ({err})"]
    return results, validate_results(results)


def fallback_results(reason, seconds=0.0):
    message = (f"The autograder itself failed ({reason}). This is not a problem with your submission: please tell "
               "your instructor. Your score is 0 until it is regraded.")
    return {"score": 0.0, "execution_time": int(seconds), "output": message, "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [{"name": "Grader ran", "score": 0.0, "max_score": 0.0, "status": "failed", "output": message,
                       "visibility": "visible", "number": "1"}]}


def write_json(path, data):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


# --- 2. run the grader ----------------------------------------------------------------------------------------------
def _time_limit(source, rubric, override):
    """The sandbox time limit the grader will use, read without importing the grader (for the watchdog)."""
    if override:
        return float(override)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        return DEFAULT_TIME_LIMIT_S
    limit = DEFAULT_TIME_LIMIT_S
    for path in (Path(source) / "grader" / "rubric.toml", rubric):
        try:
            limit = float(tomllib.loads(Path(path).read_text())["limits"]["time_limit_s"]) if path else limit
        except (OSError, KeyError, ValueError, TypeError):
            pass
    return limit


def grade(submission, results_dir, source, log=print):
    """Run the grader on `submission`; return the results.json it leaves (always valid)."""
    t0 = time.monotonic()
    source, results_dir = Path(source).resolve(), Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / "results.json"
    if out.exists():
        out.unlink()  # never report a previous run's grade
    rubric = os.environ.get("DERMA_RUBRIC", "").strip()
    rubric = str(source / rubric) if rubric and not os.path.isabs(rubric) else rubric
    time_limit = os.environ.get("DERMA_TIME_LIMIT_S", "").strip()
    memory_limit = os.environ.get("DERMA_MEMORY_LIMIT_MB", "").strip()
    target = locate(submission)
    cmd = [sys.executable, "-m", "grader", "grade", str(target), "--out", str(results_dir)]
    cmd += ["--rubric", rubric] if rubric else []
    cmd += ["--time-limit", time_limit] if time_limit else []
    cmd += ["--memory-limit", memory_limit] if memory_limit else []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    margin = float(os.environ.get("DERMA_WATCHDOG_MARGIN_S", "").strip() or WATCHDOG_MARGIN_S)
    watchdog = _time_limit(source, rubric, time_limit) + margin
    log(f"run_grader: grading {target} (found in {submission}); watchdog {watchdog:.0f} s")
    proc = subprocess.Popen(cmd, cwd=source, env=env, start_new_session=True)
    try:
        code = proc.wait(timeout=watchdog)
        reason = None if code == 0 else f"python -m grader grade exited with status {code}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reason = f"the grader did not finish within {watchdog:.0f} s"
    results, problems = read_results(out)
    if problems:
        why = "; ".join(problems[:5])
        log(f"run_grader: replacing results.json ({why})", file=sys.stderr)
        results = fallback_results(reason or why, time.monotonic() - t0)
        write_json(out, results)
    elif reason:
        log(f"run_grader: {reason}; keeping the valid results.json it wrote", file=sys.stderr)
    return results


def main(argv=None):
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(prog="run_grader.py", description=__doc__.splitlines()[0])
    ap.add_argument("--submission", required=True, help="the upload: a folder (any layout above) or a zip")
    ap.add_argument("--results", required=True, help="folder for results.json, grading_record.json, report.txt")
    ap.add_argument("--source", default=str(here.parent), help="folder holding grader/ and locked/")
    args = ap.parse_args(argv)
    try:
        results = grade(args.submission, args.results, args.source,
                        log=lambda *a, **k: print(*a, **k, flush=True))
    except BaseException as err:  # even a bug here leaves a results.json
        out = Path(args.results) / "results.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, fallback_results(f"{type(err).__name__}: {err}"))
        raise
    print(f"run_grader: score {results.get('score')}; results in {args.results}/results.json", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

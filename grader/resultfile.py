"""Gradescope's results.json: its schema, a checked reader, the fallback for when grading fails, and the one
atomic file writer. Standard library only: packaging/run_grader.py uses it even when nothing heavy can import.
"""
import json
import math
import os
import shutil
from pathlib import Path

VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
OUTPUT_FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "extra_data",
            "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "number", "output", "output_format", "tags", "visibility",
             "extra_data"}
LEADERBOARD_KEYS = {"name", "value", "order"}


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


def fallback(reason, seconds=0.0):
    """A valid results.json for when grading itself failed: score 0, and a message that it is not the student's
    fault. The only such writer in Python (run_autograder keeps a bash one for when Python cannot start)."""
    message = (f"The autograder itself failed ({reason}). This is not a problem with your submission: please tell "
               "your instructor. Your score is 0 until it is regraded.")
    return {"score": 0.0, "execution_time": int(seconds), "output": message, "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [{"name": "Grader ran", "score": 0.0, "max_score": 0.0, "status": "failed", "output": message,
                       "visibility": "visible", "number": "1"}]}


def write_atomic(path, text):
    """Write `path` as a new regular file, atomically: at every moment it is the old file or the new one, complete
    (a writer killed halfway leaves the old file, and a .tmp the next writer clears).

    A folder the sandbox user could write to may hold a planted symlink (we would write through it, as root), a
    directory, or a file it keeps open: the new file is created fresh beside it, never through a link, and renamed
    over it (a rename replaces a link, not its target); a directory, which a file cannot replace, is removed first.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp)
    else:
        tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:  # the locale's encoding may be ASCII (LC_ALL=C)
        f.write(text)
        f.flush()
        os.fsync(f.fileno())  # complete on disk before it takes the old file's place
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    os.replace(tmp, path)


def write_json(path, data):
    write_atomic(path, json.dumps(data, indent=1))

"""What packaging/check_docker.sh expects of each graded case: Gradescope's schema, then the checks and the score.

    python packaging/check_results.py RESULTS_DIR KIND        KIND: good, trap, broken, daemon, memory_bomb
    python packaging/check_results.py --otter final_grades.csv

Prints what it checked; exit status 1 with the reasons on any mismatch. Standard library only (runs on the host).
"""
import csv
import json
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from grader import resultfile  # noqa: E402  (standard library only)

CHECKS = tomllib.loads((REPO / "grader" / "rubric.toml").read_text())["checks"]
SANE = {"builds", "output_shape", "param_budget", "trains"}  # a model that builds and trains passes these
# kind: (checks that must pass, checks that must fail, [(check, words its output must hold)])
EXPECT = {
    "good": (SANE | {"preprocessing"}, set(), []),
    "daemon": (SANE | {"preprocessing"}, set(), []),  # the honest model plus processes that try to outlive it
    "trap": (SANE, {"preprocessing"}, [("preprocessing", "Normalize")]),
    # builds (build_model returns a module), then its forward fails on the first batch: only the builds points
    "broken": ({"builds"}, set(CHECKS) - {"builds"}, [("output_shape", "mat1 and mat2 shapes cannot be multiplied")]),
    "memory_bomb": ({"builds", "output_shape", "param_budget"}, {"trains"}, [("trains", "MB of memory")]),
}


def check_gradescope(results_dir, kind):
    results = json.loads((Path(results_dir) / "results.json").read_text())
    problems = [f"schema: {p}" for p in resultfile.validate_results(results)]
    tests = {t["name"]: t for t in results.get("tests", [])}
    status = {key: tests.get(spec["name"], {}).get("status") for key, spec in CHECKS.items()}
    must_pass, must_fail, words = EXPECT[kind]
    if kind == "daemon" and "MB of memory" in tests.get(CHECKS["trains"]["name"], {}).get("output", ""):
        # In a container root lacks CAP_SYS_PTRACE, so the sandbox cannot read the sandbox user's smaps_rollup and
        # counts each forked process's RSS in full: a forking submission is stopped for memory instead. No points
        # for what did not train, which is all this check can ask then.
        print("NOTE daemon: stopped for memory (forks counted at full RSS without CAP_SYS_PTRACE)")
        must_pass, must_fail, words = set(), {"trains", "test_auc"}, []
    problems += [f"{k} should pass, is {status[k]}" for k in sorted(must_pass) if status[k] != "passed"]
    problems += [f"{k} should fail, is {status[k]}" for k in sorted(must_fail) if status[k] != "failed"]
    for key, word in words:
        if word not in tests.get(CHECKS[key]["name"], {}).get("output", ""):
            problems.append(f"{key}: output lacks {word!r}")
    total = sum(t.get("score", 0) for t in results.get("tests", []))
    if abs(results.get("score", total) - total) > 1e-3:
        problems.append(f"score {results.get('score')} is not the sum of the tests, {total}")
    floor = sum(float(CHECKS[k]["points"]) for k in must_pass)
    if total < floor or (kind == "broken" and total != floor):
        problems.append(f"score {total} is below the {floor} points of the checks that passed")
    if "SYNTHETIC" not in results.get("output", ""):
        problems.append("the report does not say the data was synthetic")
    report(f"{kind}: score {total:g}, " + ", ".join(f"{k} {s}" for k, s in status.items()), problems)


def check_otter(csv_path):
    rows = {r["file"]: r for r in csv.DictReader(open(csv_path))}
    if "points-per-question" not in rows:  # otter writes it only when some submission was graded
        report(f"otter: nothing graded: {[r.get('grading_status') for r in rows.values()]}", ["no grades"])
    maxima = rows.pop("points-per-question")
    questions = [q for q in maxima if q.startswith("q")]
    qname = {q.split("_", 1)[1]: q for q in questions}
    problems = []
    for kind in ("good", "trap", "broken"):
        row = rows.get(f"{kind}.zip")
        if row is None:
            problems.append(f"{kind}.zip: not in {csv_path}")
            continue
        must_pass, must_fail, _ = EXPECT[kind]
        for key in sorted(must_pass):
            if float(row[qname[key]]) != float(maxima[qname[key]]):
                problems.append(f"{kind}: {qname[key]} {row[qname[key]]} of {maxima[qname[key]]}")
        for key in sorted(must_fail):
            if float(row[qname[key]]) != 0:
                problems.append(f"{kind}: {qname[key]} should be 0, is {row[qname[key]]}")
        print(f"otter {kind}: total {row['total_points_earned']}, status {row.get('grading_status', '?')!r}, "
              + ", ".join(f"{q} {row[q]}" for q in questions))
    report(f"otter: {len(rows)} rows", problems)


def report(summary, problems):
    print(("OK   " if not problems else "FAIL ") + summary)
    for p in problems:
        print(f"     - {p}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--otter"]:
        check_otter(sys.argv[2])
    else:
        check_gradescope(sys.argv[1], sys.argv[2])

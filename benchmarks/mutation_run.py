"""Mutation run over the rules that decide grades (issue 28, item 5): scoring, rubric, upload, consistency and the
gradebook's cell guard. A tool run by hand, not in CI: a mutant the tests do not notice is a rule nothing checks.

Tool: mutmut 3.8.1, a tool and not a dependency, so it is not in requirements.txt. Install it beside the project's
packages without touching them:
    python -m venv --system-site-packages /tmp/mutvenv && /tmp/mutvenv/bin/pip install "mutmut==3.8.1"
Run (35 min, then 4 min, on 2 shared cores; one test process at a time):
    /tmp/mutvenv/bin/python benchmarks/mutation_run.py --fresh            # all mutants, the fast tests
    cp /tmp/mut/mutants/summary.json /tmp/before.json
    /tmp/mutvenv/bin/python benchmarks/mutation_run.py --after /tmp/before.json  # survivors vs the new tests

mutmut 3 copies the project into mutants/ and reads [tool.mutmut] from pyproject.toml, so the run happens in a
detached git worktree (--worktree, made from HEAD when missing) whose pyproject.toml gets the settings below; the
checkout itself is never changed. --after re-runs a run's survivors against instructor_tests/test_rules_mutants.py
(copied from this checkout) alone. Results: mutants/summary.json in the worktree and, on stdout, a per-file table
and every survivor's diff. The last results and why each survivor is left: benchmarks/MUTATION.md.
"""
import argparse
import fnmatch
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# file -> mutant names it owns; classroom.py: only the cell guard (mutmut 3 mutates whole files, we run only these)
TARGETS = {"grader/scoring.py": "grader.scoring.*", "grader/protocol.py": "grader.protocol.*",
           "grader/rubric.py": "grader.rubric.*",
           "locked/upload.py": "locked.upload.*", "locked/consistency.py": "locked.consistency.*",
           "instructor/classroom.py": "instructor.classroom.x__cell__mutmut_*"}
# The fast unit tests of these modules. Left out, for time: the subprocess tests (the public checks' variants, the
# grader's and run_grader's command lines, each 2-10 s and a copy of what the unit tests check in-process), the
# compressed bomb (3 s; the "file over 1 MB" layout checks the same cap) and the Hypothesis fuzzers of
# test_fuzz_upload.py (30 s a surviving mutant; --fuzz adds them).
TESTS = ["instructor_tests/test_scoring.py", "instructor_tests/test_protocol.py", "instructor_tests/test_rubric.py",
         "instructor_tests/test_upload.py", "instructor_tests/test_public_checks.py",
         "instructor_tests/test_classroom.py::test_spreadsheet_formulas_in_names_stay_text"]
SLOW = ('not test_variant and not test_baseline_passes and not by_the_rule and not nested_zip_like_the_grader '
        'and not compressed_bomb')
NEW_TESTS = "instructor_tests/test_rules_mutants.py"
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 36: "timeout", 24: "timeout",
          -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}


def settings(tests):
    """The [tool.mutmut] table (TOML) for the worktree's pyproject.toml."""
    def toml_list(items):
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"
    return ("\n[tool.mutmut]\n"
            'source_paths = ["grader", "locked", "instructor"]\n'
            f"only_mutate = {toml_list(TARGETS)}\n"
            'also_copy = ["instructor_tests", "tests", "student", "packaging", "solutions", "conftest.py", ".ci"]\n'
            f"pytest_add_cli_args_test_selection = {toml_list(tests + ['-k', SLOW])}\n"
            "use_git_change_detection = false\n")


def prepare(worktree, tests):
    if not worktree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), "HEAD"], check=True)
    pyproject = worktree / "pyproject.toml"
    text = pyproject.read_text().split("\n[tool.mutmut]\n")[0].rstrip("\n") + "\n"
    pyproject.write_text(text + settings(tests))


def summarise(worktree, patterns):
    """Per-file counts and the survivors (with diffs) of the mutants matching `patterns`."""
    per_file, survivors = {}, []
    for path, owned in TARGETS.items():
        meta = worktree / "mutants" / (path + ".meta")
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        names = [n for n in codes if fnmatch.fnmatch(n, owned) and any(fnmatch.fnmatch(n, p) for p in patterns)]
        counts = Counter(STATUS.get(codes[n], "suspicious") for n in names)
        per_file[path] = dict(counts, total=len(names), statuses={n: STATUS.get(codes[n], "suspicious") for n in names})
        survivors += [{"file": path, "name": n, "status": STATUS[codes[n]]} for n in sorted(names)
                      if STATUS.get(codes[n]) in ("survived", "no tests")]
    # one process for every diff (`mutmut show` takes a second a mutant)
    code = ("import json, sys; from pathlib import Path; from mutmut.mutation.diff_apply import get_diff_for_mutant; "
            "print(json.dumps([get_diff_for_mutant(s['name'], path=Path(s['file'])) for s in json.load(sys.stdin)]))")
    diffs = subprocess.run([sys.executable, "-c", code], cwd=worktree, input=json.dumps(survivors), text=True,
                           capture_output=True, check=True).stdout
    for s, diff in zip(survivors, json.loads(diffs)):
        s["diff"] = diff.strip()
    return per_file, survivors


def table(per_file):
    """One line a file: score (killed and timed out over all; "no tests" counts as surviving) and the counts."""
    lines = []
    for path, counts in per_file.items():
        counts = {k: v for k, v in counts.items() if k != "statuses"}
        tested = counts["total"] - counts.get("not checked", 0)
        caught = counts.get("killed", 0) + counts.get("timeout", 0)
        score = f"{caught / tested:.1%}" if tested else "-"
        lines.append(f"{path:28} {score:>6}  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("patterns", nargs="*", help="mutant names or globs (default: the five targets)")
    parser.add_argument("--worktree", type=Path, default=Path("/tmp/mut"))
    parser.add_argument("--fuzz", action="store_true", help="add the Hypothesis fuzzers of test_fuzz_upload.py")
    parser.add_argument("--fresh", action="store_true", help="delete the worktree's mutants/ first")
    parser.add_argument("--summary-only", action="store_true", help="summarise the last run, run nothing")
    parser.add_argument("--after", type=Path, metavar="SUMMARY",
                        help=f"re-run the survivors of a saved summary.json against {NEW_TESTS} alone (a mutant "
                             "killed by any test is killed: the before run's kills stand)")
    args = parser.parse_args(argv)
    before = json.loads(args.after.read_text()) if args.after else None
    tests = [NEW_TESTS] if before else TESTS + (["instructor_tests/test_fuzz_upload.py"] if args.fuzz else [])
    patterns = [s["name"] for s in before["survivors"]] if before else args.patterns or list(TARGETS.values())
    if not args.summary_only:
        prepare(args.worktree, tests)
        if before:
            shutil.copy2(ROOT / NEW_TESTS, args.worktree / NEW_TESTS)
            # mutmut maps tests to functions once per test name: a test edited since would keep a stale map
            (args.worktree / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
        if args.fresh:
            shutil.rmtree(args.worktree / "mutants", ignore_errors=True)
        mutmut = str(Path(sys.executable).with_name("mutmut"))
        # one child at a time: the machine is shared
        returncode = subprocess.run([mutmut, "run", "--max-children", "1", *patterns], cwd=args.worktree).returncode
        if returncode:
            sys.exit(f"mutmut run failed (exit status {returncode}); no summary written")
    per_file, survivors = summarise(args.worktree, patterns)
    if before:  # the before run's counts, plus the survivors the new tests kill
        after = {n: st for c in per_file.values() for n, st in c["statuses"].items()}
        killed = Counter(s["file"] for s in before["survivors"] if after.get(s["name"]) in ("killed", "timeout"))
        per_file = {path: {"total": c["total"], "killed": c.get("killed", 0) + killed[path],
                           "timeout": c.get("timeout", 0),
                           "survived": c.get("survived", 0) + c.get("no tests", 0) - killed[path]}
                    for path, c in before["per_file"].items()}
        print("before:\n" + table(before["per_file"]) + "\nafter (with the new tests):")
    (args.worktree / "mutants" / "summary.json").write_text(json.dumps({"per_file": per_file,
                                                                        "survivors": survivors}, indent=1))
    print(table(per_file))
    for s in survivors:
        print(f"\n### {s['name']} ({s['status']})\n{s['diff']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Grade one upload, whatever shape it came in, and ALWAYS leave a valid Gradescope results.json behind.

    python packaging/run_grader.py --submission PATH --results DIR [--source DIR]

Used by every artefact, so they all grade the same way:
    Gradescope   run_autograder -> this, on /autograder/submission -> /autograder/results
    Docker       the image's default command -> this, on /submission -> /results
    otter        the instructor driver -> this, on the student's student/ folder -> a private temp dir

What it does:
  1. runs the isolated grader, `python -m grader grade`, from --source (the folder holding grader/ and locked/) on
     the upload as it came: the grader finds the student's files by the one rule in locked/upload.py;
  2. keeps a watchdog in case the grader itself hangs (the rubric's time limit plus a margin);
  3. checks the results.json it wrote against Gradescope's schema (grader/resultfile.py), and replaces a missing
     or invalid one with a score-0 "the grader failed, not your fault" result.

Settings come from the environment, read by locked/settings.py (run_autograder sources gradescope.env; the Docker
image sets them): DERMA_RUBRIC, DERMA_TIME_LIMIT_S, DERMA_MEMORY_LIMIT_MB, DERMA_WATCHDOG_MARGIN_S, and what the
grader itself reads (DERMA_DATA_DIR, DERMA_SYNTHETIC, TORCH_HOME, ...).

Imports only the standard library and two stdlib-only modules of --source, never the grader itself.
"""
import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

def _source_modules(source):
    """grader.resultfile and locked.settings from --source (standard library only, so they import anywhere)."""
    sys.path.insert(0, str(source))
    from grader import resultfile
    from locked import settings
    return resultfile, settings


def _time_limit(source, rubric, override, default):
    """The sandbox time limit the grader will use, for the watchdog: the override, else the rubric's (checked by
    grader/rubric.py in a separate process, so a broken rubric only costs the default watchdog here)."""
    if override:
        return float(override)
    code = ("import sys; from grader import rubric; "
            "print(rubric.load(sys.argv[1] or None).limits.time_limit_s)")
    proc = subprocess.run([sys.executable, "-c", code, rubric or ""], cwd=source, capture_output=True, text=True)
    try:
        return float(proc.stdout.strip())
    except ValueError:
        return default  # the grader will refuse the rubric and write its own results.json, long before this


def grade(submission, results_dir, source, log=print):
    """Run the grader on `submission`; return the results.json it leaves (always valid)."""
    t0 = time.monotonic()
    source, results_dir = Path(source).resolve(), Path(results_dir)
    resultfile, settings = _source_modules(source)
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / "results.json"
    if out.exists():
        out.unlink()  # never report a previous run's grade
    rubric = settings.text("DERMA_RUBRIC") or ""
    rubric = str(source / rubric) if rubric and not os.path.isabs(rubric) else rubric
    time_limit = settings.number("DERMA_TIME_LIMIT_S", minimum=1)
    memory_limit = settings.number("DERMA_MEMORY_LIMIT_MB", minimum=1)
    margin = settings.number("DERMA_WATCHDOG_MARGIN_S", settings.WATCHDOG_MARGIN_S, minimum=0)
    cmd = [sys.executable, "-m", "grader", "grade", str(submission), "--out", str(results_dir)]
    cmd += ["--rubric", rubric] if rubric else []
    cmd += ["--time-limit", f"{time_limit:g}"] if time_limit else []
    cmd += ["--memory-limit", f"{memory_limit:g}"] if memory_limit else []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    watchdog = _time_limit(source, rubric, time_limit, settings.TIME_LIMIT_S) + margin
    log(f"run_grader: grading {submission}; watchdog {watchdog:.0f} s")
    proc = subprocess.Popen(cmd, cwd=source, env=env, start_new_session=True)
    try:
        code = proc.wait(timeout=watchdog)
        reason = None if code == 0 else f"python -m grader grade exited with status {code}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reason = f"the grader did not finish within {watchdog:.0f} s"
    results, problems = resultfile.read_results(out)
    if problems:
        why = "; ".join(problems[:5])
        log(f"run_grader: replacing results.json ({why})", file=sys.stderr)
        results = resultfile.fallback(reason or why, time.monotonic() - t0)
        resultfile.write_json(out, results)
    elif reason:
        log(f"run_grader: {reason}; keeping the valid results.json it wrote", file=sys.stderr)
    return results


def main(argv=None):
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(prog="run_grader.py", description=__doc__.splitlines()[0])
    ap.add_argument("--submission", required=True, help="the upload: a folder or a zip (see locked/upload.py)")
    ap.add_argument("--results", required=True, help="folder for results.json, the student's report.txt and report.html, grading_record.json and "
                    "instructor_report.txt")
    ap.add_argument("--source", default=str(here.parent), help="folder holding grader/ and locked/")
    args = ap.parse_args(argv)
    try:
        results = grade(args.submission, args.results, args.source,
                        log=lambda *a, **k: print(*a, **k, flush=True))
    except BaseException as err:  # even a bug here leaves a results.json, if the schema module can be imported
        resultfile, _ = _source_modules(Path(args.source).resolve())
        out = Path(args.results) / "results.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        resultfile.write_json(out, resultfile.fallback(f"{type(err).__name__}: {err}"))
        raise
    print(f"run_grader: score {results.get('score')}; results in {Path(args.results) / 'results.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

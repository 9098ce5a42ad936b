"""One grading per process, N at a time: the unit of work of `python -m instructor suite` and `grade-class`.

Why a process per grading and not a thread: grader/sandbox.py makes its process a child subreaper and, after each
run, kills every process re-parented to it and reaps any child. Two sandboxes in one process would kill and reap
each other's children. In its own process, a grading that crashes, hangs or is killed takes nothing else with it.

    python -m instructor.worker REQUEST_JSON    grade one submission (grader.grade.grade), exit 0 or 1

The runner side (`run`) starts a worker, pins it to its own CPUs (inherited by the sandbox, so a submission that
starts many threads competes with itself; a student's code can widen its own affinity, so this is a courtesy,
not a limit: cgroups are), and kills the worker's whole process tree if it outlives the sandbox time limit plus a
margin (a grader bug; the sandbox enforces the student's limit itself).
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "instructor.worker"]  # a list, so a test can put a misbehaving worker here
_running, _lock = set(), threading.Lock()


def cpus():
    """The CPUs this process may use."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count()))


def default_jobs(threads=1):
    """One sandbox per `threads` cores: every grading gets its cores to itself."""
    return max(1, len(cpus()) // max(1, threads))


def pinning(jobs, threads):
    """CPU set of each slot, or None for every slot when the slots do not fit on the cores one by one."""
    cores = cpus()
    if jobs * threads > len(cores):
        return [None] * jobs
    return [cores[k * threads:(k + 1) * threads] for k in range(jobs)]


def memory_warning(jobs, memory_limit_mb):
    """A sentence if `jobs` sandboxes at their memory limit (plus ~250 MB of grader each) would not fit in RAM."""
    try:
        meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        available_mb = int(meminfo["MemAvailable"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return ""
    need = jobs * (memory_limit_mb + 250)
    if need <= available_mb:
        return ""
    return (f"{jobs} sandboxes of up to {memory_limit_mb:g} MB each need about {need:,.0f} MB; "
            f"{available_mb:,.0f} MB is available. Lower -j or the rubric's memory_limit_mb.")


def _tree(pid):
    """pid and all its descendants, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, changed = {pid}, True
    while changed:
        new = {p for p, pp in parents.items() if pp in found} - found
        found |= new
        changed = bool(new)
    return found


def _kill_tree(pid):
    for p in _tree(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_running():
    """Kill every worker still running and all it started (Ctrl-C in the runner: leave nothing behind)."""
    with _lock:
        pids = list(_running)
    for pid in pids:
        _kill_tree(pid)


def run(request, log_path, cpu_set=None, deadline_s=None):
    """Grade request["submission"] into request["out_dir"] in a worker process; its output goes to log_path.

    Returns (returncode, seconds, note): note is "" when the worker finished, else what happened to it.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    req = {**request, "cpus": cpu_set}
    t0 = time.monotonic()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([*COMMAND, json.dumps(req)], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        with _lock:
            _running.add(proc.pid)
        try:
            code = proc.wait(timeout=deadline_s)
            note = "" if code == 0 else f"the grader exited with code {code} (see {log_path})"
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            code = proc.wait()
            note = f"the grader was still running after {deadline_s:.0f} s and was killed (see {log_path})"
        finally:
            with _lock:
                _running.discard(proc.pid)
    return code, time.monotonic() - t0, note


def main(argv=None):
    """The worker: one grading, as `python -m grader grade` would do it, keeping the predictions."""
    request = json.loads((argv or sys.argv[1:])[0])
    if request.get("cpus"):
        os.sched_setaffinity(0, request["cpus"])
    from grader import results
    from grader.grade import grade

    t0 = time.monotonic()
    try:
        grade(request["submission"], request["out_dir"], request.get("rubric"), request.get("data_dir"),
              request.get("synthetic", False), log=lambda msg: print(msg, flush=True), keep_predictions=True,
              threads=request.get("threads"), time_limit_s=request.get("time_limit"),
              memory_limit_mb=request.get("memory_limit"), device=request.get("device"),
              test_data=request.get("test_data"))
    except BaseException as err:  # a grader bug: a valid results.json, the traceback in the log, exit 1
        print(results.write_crash(request["out_dir"], err, time.monotonic() - t0), flush=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())

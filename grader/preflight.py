"""Before anything is graded: a trivial child through the real sandbox, so that a broken grading environment is
the environment's verdict, said once with its fix, and never a student's score.

The probe runs as a grading's child would (the same interpreter, flags, view, uid, cgroup and report pipe) but
imports nothing heavy: it finds the packages the harness needs without importing them, reads a file the parent
wrote into the sandbox, and reports over the pipe. About a third of a second; no student code is involved, so any
failure here is the grader's or its host's. A host that grades, but with less isolation than a root grader's (no
root: bubblewrap in a user namespace; no bubblewrap at all), is not refused: check() returns what is missing, for
the instructor's log.
"""
import dataclasses
import json
import os
import sys

from grader import protocol, sandbox

NEEDED = ("numpy", "torch", "torchvision")  # what grader/child.py and locked/ import in the sandbox
TIME_LIMIT_S = 60  # the probe takes well under a second; a hang here is not worth a grading's whole limit
PROBE_FILE = "probe.bin"
PROBE_BYTES = b"dermamnist probe\n" * 64
_PROBE = ("import importlib.util, json, os, sys\n"
          "with open(sys.argv[1], 'rb') as f:\n"
          "    data = f.read()\n"
          "missing = [m for m in sys.argv[2:] if importlib.util.find_spec(m) is None]\n"
          "shut = [p for p in os.environ.get('PROBE_NODES', '').split() if not os.access(p, os.R_OK | os.W_OK)]\n"
          f"report = json.dumps({{'uid': os.getuid(), 'read': len(data), 'missing': missing, 'shut': shut}}).encode()"
          " + b'\\n'\n"
          f"os.write(int(os.environ['{protocol.REPORT_FD}']), report)\n")


class EnvironmentUnusable(RuntimeError):
    """The sandbox cannot run a grading here; the message names the cause and the fix."""


def _hidden_prefixes():
    """Interpreter folders inside a folder the sandbox replaces with a private one (a venv under /tmp)."""
    prefixes = {sys.prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))}
    return sorted(p for p in prefixes for m in sandbox.PRIVATE_DIRS if p == m or p.startswith(m + "/"))


def _diagnose(outcome, sb):
    """Why the probe failed, with the instructor's fix (None when it worked)."""
    last = (outcome.output.strip().splitlines() or [""])[-1]
    try:
        got = json.loads(outcome.report.split(b"\n")[0])
    except ValueError:
        got = None
    if got is None or outcome.returncode != 0:
        hidden = _hidden_prefixes() if sb.bwrap else []
        if hidden:
            return (f"the sandbox cannot start this Python ({sys.executable}): it lives under "
                    f"{', '.join(hidden)}, which the sandbox replaces with a private empty folder. Fix: make the "
                    "virtual environment (or install Python) outside /tmp, /var/tmp and /dev/shm, e.g. in "
                    "~/venvs/dermamnist, and run the grader with that interpreter.")
        rootless = " ".join(sandbox.rootless_flags(sb.bwrap)) + " " if sb.bwrap else ""
        return (f"a trivial child did not run in the sandbox (exit status {outcome.returncode}"
                + (", timed out" if outcome.timed_out else "") + (", memory limit" if outcome.memory_exceeded else "")
                + (f": {last}" if last else "") + "). Fix: check that the interpreter and its packages are readable "
                + ("by other users (the sandbox runs as a uid of its own)" if sb.ids else "by you")
                + f" and that bubblewrap works here (bwrap {rootless}--ro-bind / / /bin/true).")
    if not isinstance(got, dict):
        return f"the sandbox's probe reported {str(got)[:200]!r}, not what it writes. Fix: regrade; report a bug."
    if got.get("missing"):
        return (f"{', '.join(map(str, got['missing']))} cannot be found by {sys.executable} inside the sandbox. Fix: "
                "install the requirements (pip install -r requirements.txt) into this interpreter, readable by "
                "other users (not a user site-packages folder: the child runs with python -I).")
    if got.get("shut"):
        return (f"the sandbox's child cannot open the GPU's device nodes ({', '.join(map(str, got['shut']))}) for "
                "--device cuda. Fix: make them readable and writable by other users (mode 0666, the NVIDIA driver's "
                "default), or grade with --device cpu.")
    if got.get("read") != len(PROBE_BYTES):
        return "the sandbox's child could not read its own folder. Fix: check the folder permissions of $TMPDIR."
    if sb.ids and got.get("uid") != sb.ids.uid:
        return (f"the sandbox's child ran as uid {got.get('uid')}, not the grading's own uid {sb.ids.uid}. Fix: "
                "report a bug with the output of `bwrap --version` and the host's kernel.")
    return None


def _missing(sb):
    """What this host's sandbox lacks against a root grader's with bubblewrap, for the instructor (None: nothing)."""
    if sb.ids and sb.bwrap:
        return None
    if sb.bwrap:
        limits = ("a cgroup delegated to you holds the memory, processes and CPU" if sb.cgroup else
                  "memory is polled without a cgroup, there is no CPU quota")
        return ("grading without root, in bubblewrap's user namespace: the same view and namespaces, but student "
                f"code runs as your own uid (no uid per grading), {limits} and out/ is not size-capped. Grade as root "
                "(Docker, Gradescope) for those.")
    return (f"student code sees the host's filesystem ({sb.no_bwrap_reason})"
            + ("" if sb.ids else ", runs as your own user with your files in reach, and keeps the network")
            + ". Fix that before grading students' code.")


def check(limits, extra_read=()):
    """Run the probe under `limits` (the rubric's); raise EnvironmentUnusable with cause and fix if it fails.
    Returns the warning for a sandbox that works with less isolation than a root grader's, else None."""
    limits = dataclasses.replace(limits, time_limit_s=min(limits.time_limit_s, TIME_LIMIT_S))
    nodes = sandbox.gpu_nodes() if limits.device == "cuda" else []
    if limits.device == "cuda" and not nodes:
        raise EnvironmentUnusable("Grading environment check failed: --device cuda, but this machine has no NVIDIA "
                                  "device nodes (/dev/nvidia*). Fix: grade with --device cpu, or on a machine with an "
                                  "NVIDIA GPU and its driver loaded.")
    try:
        with sandbox.Sandbox(limits, extra_read=extra_read) as sb:
            (sb.path / PROBE_FILE).write_bytes(PROBE_BYTES)
            sb.seal()
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": sb.inside("home"), "LANG": "C.UTF-8",
                   "PROBE_NODES": " ".join(n for n in nodes if not os.path.isdir(n))}
            outcome = sb.run([sys.executable, "-I", "-c", _PROBE, sb.inside(PROBE_FILE), *NEEDED], env=env,
                             report=(protocol.REPORT_FD, 4096))
            problem, missing = _diagnose(outcome, sb), _missing(sb)
    except (OSError, RuntimeError) as err:  # no uid free, no temporary folder, cannot fork
        problem = f"the sandbox could not be set up ({type(err).__name__}: {err})."
    if problem:
        raise EnvironmentUnusable(f"Grading environment check failed: {problem}")
    return missing

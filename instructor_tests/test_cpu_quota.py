"""The CPU quota per grading (issue 21, item 5): the cgroup's cpu controller holds the child to the rubric's
`threads` cores. Without it, a submission that ran 4 busy processes beside its training doubled its own sandbox
time and, in a class run, took cores from the gradings beside it for its whole time limit.

Small `python -c` children (no torch), a few seconds each; they need root (cgroups) and a cpu controller.
"""
import dataclasses
import os
import sys
from pathlib import Path

import pytest

from grader import rubric, sandbox

BUSY_S = 3

# Eight processes spin for BUSY_S of wall time (more than the 4, so that without a quota they outweigh other
# load on a shared box); the parent waits for them and reports the CPU time they used.
BUSY = """
import os, sys, time
start = time.monotonic()
for _ in range(8):
    if os.fork() == 0:
        while time.monotonic() - start < float(sys.argv[1]):
            pass
        os._exit(0)
for _ in range(8):
    os.wait()
t = os.times()
print(f"cpu {t.children_user + t.children_system:.2f} wall {time.monotonic() - start:.2f}", flush=True)
"""


def _has_cpu_controller():
    """Whether this host gives the grader's cgroup a cpu controller: a v1 hierarchy, or enabled in v2."""
    with open("/proc/self/cgroup") as f:
        if any("cpu" in line.split(":")[1].split(",") for line in f):
            return True
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    return v2.exists() and "cpu" in v2.read_text().split()


pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root"),
              pytest.mark.skipif(os.geteuid() == 0 and not _has_cpu_controller(),
                                 reason="this host has no cpu cgroup controller")]


def _run(code, *args, monkeypatch):
    """Run `code` in a sandbox with threads = 1; return the Outcome and the cgroup folders it made."""
    made = []
    real = sandbox.Cgroup
    monkeypatch.setattr(sandbox, "Cgroup", lambda *a: made.append(real(*a)) or made[-1])
    limits = dataclasses.replace(rubric.load().limits, threads=1, time_limit_s=30, memory_limit_mb=400)
    with sandbox.Sandbox(limits) as sb:
        sb.seal()
        outcome = sb.run([sys.executable, "-I", "-c", code, *args], env={"PATH": "/usr/bin:/bin"})
    assert len(made) == 1
    return outcome, made[0].dirs


def test_busy_processes_get_only_the_rubrics_cores(monkeypatch):
    """8 busy processes for 3 s used ~6 CPU s of a 2-core box (5.8-6.0 measured); with the quota, 1 core's worth."""
    outcome, dirs = _run(BUSY, str(BUSY_S), monkeypatch=monkeypatch)
    assert outcome.returncode == 0, outcome.output
    cpu, wall = (float(v) for v in outcome.output.split()[1::2])
    print(f"8 busy processes under a 1-core quota: {cpu:.2f} CPU s in {wall:.2f} s")
    assert "CPU quota of 1 core(s)" in outcome.isolation, outcome.isolation
    assert cpu <= 1.3 * wall  # threads = 1: one core, with the scheduler's slack
    assert cpu >= 0.25 * wall  # they did spin (less on a loaded box), so the bound above says something
    assert dirs and not any(os.path.exists(d) for d in dirs)  # memory, pids and cpu cgroups all removed


def test_without_a_quota_grading_runs_and_says_why(monkeypatch):
    """Where the kernel refuses the quota (say, a parent's smaller one), the memory cgroup stays and the record
    says exactly which held."""
    def refuse_cpu(path, settings):
        if any(key.startswith("cpu.") for key, _ in settings):
            raise OSError(22, "Invalid argument")
        set_(path, settings)

    set_ = sandbox.Cgroup._set
    monkeypatch.setattr(sandbox.Cgroup, "_set", staticmethod(refuse_cpu))
    outcome, dirs = _run("print('graded')", monkeypatch=monkeypatch)
    assert outcome.output == "graded\n"
    assert "no CPU quota (Invalid argument)" in outcome.isolation, outcome.isolation
    assert any(note.startswith("memory cgroup of 400 MB") for note in outcome.isolation)
    assert dirs and not any(os.path.exists(d) for d in dirs)

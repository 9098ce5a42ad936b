"""cgroup v2 (issue 24, item 1), tested on any host: a fake cgroup2 tree in a tmp folder behaves as the kernel does
for what the grader touches. A controller's files exist in a cgroup only when its parent enables the controller in
cgroup.subtree_control, and a non-root cgroup that holds processes may not enable any (EBUSY: the "no internal
processes" rule). The grader runs in its own cgroup, which holds it, so before the fix a grading's cgroup had no
memory.max and grading fell back to polling memory every 0.1 s, which a fast allocation outruns.

packaging/check_vm.sh proves the same on a real cgroup v2 kernel, in a VM.
"""
import dataclasses
import errno
import os
import sys
import threading
from pathlib import Path

import pytest

from grader import rubric, sandbox

OWN = "/system.slice/grader.service"
LEAF = f"{OWN}/{sandbox.GRADER_LEAF}"
OTHER_PID = "4242"  # a process that shares the grader's cgroup (the shell that started it, say)


class FakeCgroup2:
    """A cgroup2 tree under `root`: the grader's own cgroup holds it and OTHER_PID, with `offered` controllers
    available and none enabled for its children (a systemd service or scope)."""

    def __init__(self, root, offered=("cpu", "memory", "pids"), oom_kills=0, refuse=None):
        self.root, self.oom_kills, self.refuse = root, oom_kills, refuse
        self.lock = threading.RLock()
        self._files(root, ("cpu", "memory", "pids"))
        (root / "cgroup.subtree_control").write_text("cpu memory pids\n")
        parent = root / "system.slice"
        self._files(parent, ("cpu", "memory", "pids"))
        (parent / "cgroup.subtree_control").write_text(" ".join(offered) + "\n")
        self._files(root / OWN.lstrip("/"), offered)
        (root / OWN.lstrip("/") / "cgroup.procs").write_text(f"{os.getpid()}\n{OTHER_PID}\n")

    def _files(self, folder, controllers):
        if not folder.exists():
            real_mkdir(folder)
        files = {"cgroup.controllers": " ".join(controllers), "cgroup.subtree_control": "", "cgroup.procs": ""}
        if "memory" in controllers:
            files.update({"memory.max": "max", "memory.swap.max": "max", "memory.stat": "anon 0\nshmem 0\n",
                          "memory.events": f"oom 0\noom_kill {self.oom_kills}\n"})
        if "pids" in controllers:
            files["pids.max"] = "max"
        if "cpu" in controllers:
            files["cpu.max"] = "max 100000"
        for name, text in files.items():
            (folder / name).write_text(text + "\n" if text else "")

    def own_cgroups(self):
        """/proc/self/cgroup: wherever the fake tree holds this process."""
        with self.lock:
            for procs in self.root.rglob("cgroup.procs"):
                if str(os.getpid()) in procs.read_text().split():
                    return [f"0::/{procs.parent.relative_to(self.root)}".replace("/.", "/")]
        return ["0::/"]

    def write(self, path, text):
        """What the kernel does with the writes the grader makes; any other file is written as it is."""
        path = Path(path)
        folder, name = path.parent, path.name
        with self.lock:
            if not path.exists():
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
            if self.refuse and name == "cgroup.subtree_control":
                raise OSError(self.refuse, os.strerror(self.refuse))
            if name == "cgroup.subtree_control":
                if folder != self.root and (folder / "cgroup.procs").read_text().split():
                    raise OSError(errno.EBUSY, "Device or resource busy")
                enabled = set(path.read_text().split())
                for token in text.split():
                    if token[1:] not in (folder / "cgroup.controllers").read_text().split():
                        raise OSError(errno.ENOENT, "No such file or directory")
                    (enabled.add if token[0] == "+" else enabled.discard)(token[1:])
                path.write_text(" ".join(sorted(enabled)) + "\n")
            elif name == "cgroup.procs":
                if (folder / "cgroup.subtree_control").read_text().split():
                    raise OSError(errno.EBUSY, "Device or resource busy")
                pid = str(os.getpid()) if text.strip() == "0" else text.strip()
                for procs in self.root.rglob("cgroup.procs"):
                    procs.write_text("".join(f"{p}\n" for p in procs.read_text().split() if p != pid))
                path.write_text(path.read_text() + pid + "\n")
            else:
                path.write_text(text)

    def mkdir(self, path, mode=0o777):
        path = Path(path)
        if self.root not in path.parents:
            return real_mkdir(path, mode)
        with self.lock:
            real_mkdir(path, mode)
            self._files(path, (path.parent / "cgroup.subtree_control").read_text().split())

    def rmdir(self, path):
        path = Path(path)
        if self.root not in path.parents:
            return real_rmdir(path)
        for f in path.iterdir():
            f.unlink()
        real_rmdir(path)


real_mkdir, real_rmdir = os.mkdir, os.rmdir


def fake(tmp_path, monkeypatch, **kw):
    tree = FakeCgroup2(tmp_path / "cgroup", **kw)
    monkeypatch.setattr(sandbox, "CGROUP_ROOT", str(tree.root))
    monkeypatch.setattr(sandbox, "_own_cgroups", tree.own_cgroups)
    monkeypatch.setattr(sandbox, "_write", tree.write)
    monkeypatch.setattr(sandbox.os, "mkdir", tree.mkdir)
    monkeypatch.setattr(sandbox.os, "rmdir", tree.rmdir)
    return tree


def test_controllers_are_enabled_by_moving_the_grader_into_a_leaf(tmp_path, monkeypatch):
    """The issue's host: the grader's cgroup holds processes and enables nothing. The grading's cgroup gets its
    limits beside a leaf that now holds every process of the grader's cgroup."""
    tree = fake(tmp_path, monkeypatch)
    cg = sandbox.Cgroup("dermagrade-60001", 300, 64, 2)
    own = tree.root / OWN.lstrip("/")
    grading = own / "dermagrade-60001"
    assert cg.v2 and cg.memory == str(grading)
    assert (grading / "memory.max").read_text() == str(300 * 2**20)
    assert (grading / "memory.swap.max").read_text() == "0"
    assert (grading / "pids.max").read_text() == "64"
    assert (grading / "cpu.max").read_text() == "200000 100000" and cg.cpu == "CPU quota of 2 core(s)"
    assert (own / "cgroup.subtree_control").read_text().split() == ["cpu", "memory", "pids"]
    assert (own / "cgroup.procs").read_text() == ""
    assert sorted((own / sandbox.GRADER_LEAF / "cgroup.procs").read_text().split()) == sorted(
        [str(os.getpid()), OTHER_PID])
    assert "moving the grader into the leaf" in cg.how
    cg.remove()
    assert not grading.exists() and (own / sandbox.GRADER_LEAF).exists()


def test_a_second_grading_uses_the_same_parent(tmp_path, monkeypatch):
    """Once in the leaf, the grader makes its next grading's cgroup beside it, not in a leaf of the leaf."""
    tree = fake(tmp_path, monkeypatch)
    first = sandbox.Cgroup("dermagrade-60001", 300, 64, 1)
    assert sandbox._own_cgroups() == [f"0::{LEAF}"]
    second = sandbox.Cgroup("dermagrade-60002", 300, 64, 1)
    assert Path(first.memory).parent == Path(second.memory).parent == tree.root / OWN.lstrip("/")
    assert (Path(second.memory) / "memory.max").read_text() == str(300 * 2**20)
    assert "moving the grader into the leaf" in second.how
    assert not (tree.root / LEAF.lstrip("/") / sandbox.GRADER_LEAF).exists()


def test_gradings_on_threads_all_get_their_limits(tmp_path, monkeypatch):
    tree = fake(tmp_path, monkeypatch)
    made, errors = [], []

    def grade(i):
        try:
            made.append(sandbox.Cgroup(f"dermagrade-{60000 + i}", 300, 64, 1))
        except OSError as err:
            errors.append(err)

    threads = [threading.Thread(target=grade, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(made) == 8
    for cg in made:
        assert (Path(cg.memory) / "memory.max").read_text() == str(300 * 2**20)
        assert Path(cg.memory).parent == tree.root / OWN.lstrip("/")


@pytest.mark.parametrize("refuse", [errno.EACCES, errno.EOPNOTSUPP])
def test_a_refusal_says_why_and_leaves_nothing(tmp_path, monkeypatch, refuse):
    """Not allowed to enable controllers: no cgroup (the caller counts memory itself) and a reason that names
    the fix."""
    tree = fake(tmp_path, monkeypatch, refuse=refuse)
    with pytest.raises(OSError) as caught:
        sandbox.Cgroup("dermagrade-60001", 300, 64, 1)
    assert caught.value.errno == refuse
    assert os.strerror(refuse) in caught.value.strerror and "Delegate=yes" in caught.value.strerror
    assert not (tree.root / OWN.lstrip("/") / "dermagrade-60001").exists()


def test_no_memory_controller_offered(tmp_path, monkeypatch):
    fake(tmp_path, monkeypatch, offered=("cpu",))
    with pytest.raises(OSError, match="no memory and pids controllers"):
        sandbox.Cgroup("dermagrade-60001", 300, 64, 1)


def test_without_cpu_the_memory_limit_holds(tmp_path, monkeypatch):
    fake(tmp_path, monkeypatch, offered=("memory", "pids"))
    cg = sandbox.Cgroup("dermagrade-60001", 300, 64, 1)
    assert (Path(cg.memory) / "memory.max").read_text() == str(300 * 2**20)
    assert cg.cpu.startswith("no CPU quota")


@pytest.mark.parametrize("oom_kills", [0, 1])
def test_the_report_says_which_cgroup_held_and_the_kernel_decides_the_blame(tmp_path, monkeypatch, oom_kills):
    """A real grading against the fake tree: the Sandbox line names the mechanism, and memory.events' oom_kill
    (the kernel stopped the child at memory.max) makes it the student's memory_exceeded."""
    fake(tmp_path, monkeypatch, oom_kills=oom_kills)
    limits = dataclasses.replace(rubric.load().limits, time_limit_s=30, memory_limit_mb=300)
    with sandbox.Sandbox(limits) as sb:
        sb.seal()
        outcome = sb.run([sys.executable, "-I", "-c", "print('graded')"], env={"PATH": "/usr/bin:/bin"})
    assert outcome.output == "graded\n"
    notes = "; ".join(outcome.isolation)
    assert ("memory cgroup of 300 MB (cgroup v2, controllers enabled by moving the grader into the leaf "
            "dermagrade-grader; tmpfs, /dev/shm and memfd count)") in notes, notes
    assert outcome.memory_exceeded == bool(oom_kills)
    if oom_kills:
        assert outcome.peak_rss_mb == 300


def test_an_unprivileged_grader_uses_a_delegated_cgroup(tmp_path, monkeypatch):
    """Not root, but on cgroup v2 in a subtree delegated to its user: the grading still gets the cgroup's limits
    (the check VM runs this for real as an unprivileged user, packaging/check_vm.sh)."""
    fake(tmp_path, monkeypatch)
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    # the cgroup alone: bubblewrap's user namespace (test_rootless.py) is not what this test is about
    monkeypatch.setattr(sandbox, "_bwrap_state", {"result": (None, "bubblewrap left out by the test")})
    limits = dataclasses.replace(rubric.load().limits, time_limit_s=30, memory_limit_mb=300)
    with sandbox.Sandbox(limits) as sb:
        assert sb.ids is None and sb.bwrap is None
        sb.seal()
        outcome = sb.run([sys.executable, "-I", "-c", "print('graded')"], env={"PATH": "/usr/bin:/bin"})
    assert outcome.output == "graded\n"
    notes = "; ".join(outcome.isolation)
    assert "memory cgroup of 300 MB (cgroup v2" in notes and "CPU quota of" in notes, notes


def test_unprivileged_gradings_at_once_get_a_cgroup_each(tmp_path, monkeypatch):
    """Without a uid of their own, two gradings on threads of one grader named their cgroups after the grader's
    pid: the second found the first's (EEXIST) and fell back to polling (seen in the check VM)."""
    fake(tmp_path, monkeypatch)
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sandbox, "_bwrap_state", {})
    limits = dataclasses.replace(rubric.load().limits, time_limit_s=30, memory_limit_mb=300)
    notes = []

    def grade():
        with sandbox.Sandbox(limits) as sb:
            sb.seal()
            notes.append("; ".join(sb.run([sys.executable, "-I", "-c", "import time; time.sleep(1.5)"],
                                          env={"PATH": "/usr/bin:/bin"}).isolation))

    threads = [threading.Thread(target=grade) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(notes) == 2 and all("memory cgroup of 300 MB (cgroup v2" in n for n in notes), notes

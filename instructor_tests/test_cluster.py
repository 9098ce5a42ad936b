"""Grading on a real Dask cluster (`--cluster`): a scheduler and two one-thread workers, each its own process on this
machine, grade a small class, and the gradebook must equal the one `-j 2` makes here.

The class: an honest submission, the `neighbour` attack (it hunts for other gradings' folders and output files for
30 s, then trains), the honest files again with an extra file beside them, and an empty folder the upload rule
refuses. The honest one and the attack grade at the same time, one per worker; the worker that starts the third
grading is killed (with everything it started) while it grades, and that submission must still come back graded.

Where slurm-wlm is installed (and as root), a single-node Slurm cluster of the test's own grades through
dask-jobqueue's SLURMCluster (`--cluster slurm.yaml`): the worker is a batch job, the grading the same.
"""
import csv
import functools
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from instructor import classroom, cluster, worker

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUBS = HERE / "grader_submissions"
RUBRIC = HERE / "grader_test_rubric.toml"
GRADED = ("ann", "ben", "cat")  # graded on the workers; "dan" (refused) is recorded here
TIMING = ("train_seconds",)  # gradebook columns that measure time, not the grade


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _export(root):
    export = root / "class"
    for name, sub in (("ann", "honest"), ("ben", "neighbour"), ("cat", "honest")):
        shutil.copytree(SUBS / sub, export / name, ignore=shutil.ignore_patterns("__pycache__"))
    (export / "cat" / "notes.txt").write_text("my notes\n")  # ignored by the grader, and the gradebook says so
    (export / "dan").mkdir()
    return export


def _cli(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "instructor", "grade-class", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    return out, err


def _book(out):
    with open(out / classroom.GRADEBOOK, newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def _gradings(pid):
    """Grading processes (instructor.worker) started under the process `pid`."""
    found = set()
    for p in worker._tree(pid) - {pid}:
        try:
            if b"instructor.worker" in Path(f"/proc/{p}/cmdline").read_bytes():
                found.add(p)
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A scheduler and two workers (separate processes, one thread each) on 127.0.0.1, and the class's env."""
    tmp = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "DERMA_DATA_DIR": str(tmp / "data"), "DERMA_SYNTHETIC_SCALE": "0.2",
           "PYTHONPATH": str(REPO), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
           "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
                                       address.rsplit(":", 1)[1], "--no-dashboard"], env=env, cwd=tmp,
                                      stdout=subprocess.DEVNULL, stderr=open(tmp / "scheduler.log", "wb")))
        for name in ("w1", "w2"):
            procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                                           "--nworkers", "1", "--name", name, "--no-dashboard", "--local-directory",
                                           str(tmp / name)], env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                                          stderr=open(tmp / f"{name}.log", "wb")))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield {"tmp": tmp, "env": env, "address": address, "workers": procs[1:], "export": _export(tmp)}
    finally:
        for proc in procs:
            worker._kill_tree(proc.pid)
            proc.wait()


@pytest.fixture(scope="module")
def graded(setup):
    """The class graded with -j 2 here, then on the cluster with one worker killed mid-grading (one after the
    other, so that each run has the two cores)."""
    tmp, env = setup["tmp"], setup["env"]
    common = ["--synthetic", "--rubric", str(RUBRIC), "--no-progress"]
    t0 = time.monotonic()
    _finish(_cli([str(setup["export"]), "--out", str(tmp / "local"), "-j", "2", *common], env))
    local_s = time.monotonic() - t0
    t0 = time.monotonic()
    proc = _cli([str(setup["export"]), "--out", str(tmp / "remote"), "--cluster", setup["address"], *common], env)
    started, killed = {}, None
    while proc.poll() is None and killed is None:  # kill the worker that starts the third grading, mid-grading
        for w in setup["workers"]:
            if w.poll() is None:
                started.setdefault(w.pid, set()).update(_gradings(w.pid))
        if sum(map(len, started.values())) >= 3:
            killed = next(w for w in setup["workers"] if len(started.get(w.pid, ())) == max(map(len,
                          started.values())) and w.poll() is None)
            worker._kill_tree(killed.pid)
        time.sleep(0.2)
    out, err = _finish(proc)
    return {"local": tmp / "local", "remote": tmp / "remote", "stdout": out, "stderr": err, "killed": killed,
            "local_s": local_s, "remote_s": time.monotonic() - t0, "common": common}


def test_cluster_gradebook_equals_local_with_a_worker_killed_mid_grading(graded):
    assert graded["killed"] is not None and graded["killed"].poll() is not None  # a worker died mid-grading
    print(f"local -j 2: {graded['local_s']:.0f} s; cluster with a worker killed: {graded['remote_s']:.0f} s")
    local, remote = _book(graded["local"]), _book(graded["remote"])
    assert remote == local  # every student, every check, every metric, flag and error
    by_name = {r["student"]: r for r in remote}
    assert [by_name[s]["status"] for s in GRADED] == ["ok", "ok", "ok"], remote
    assert "1 extra file(s) ignored" in by_name["cat"]["flags"] and "same files as ann" in by_name["cat"]["flags"]
    assert by_name["dan"]["status"] == "failed" and "Could not find model.py" in by_name["dan"]["errors"]
    for name in GRADED:  # bit-identical predictions: the same grading, wherever it ran
        with np.load(graded["local"] / name / "predictions.npz") as a, \
                np.load(graded["remote"] / name / "predictions.npz") as b:
            assert np.array_equal(a["val"], b["val"]) and np.array_equal(a["test"], b["test"]), name
        assert "[graded on worker" in (graded["remote"] / name / "grader.log").read_text()
    assert "0 grader failures" in graded["stdout"] and "on the cluster" in graded["stdout"]


def test_the_attack_on_one_worker_reached_nothing(graded):
    record = (graded["remote"] / "ben" / "grading_record.json").read_text()
    assert "read 0 other submissions, overwrote 0 output files" in record
    assert "FORGED" not in (graded["remote"] / "ann" / "grading_record.json").read_text()


def test_a_cluster_run_resumes_like_a_local_one(setup, graded):
    out, _ = _finish(_cli([str(setup["export"]), "--out", str(graded["remote"]), "--cluster", setup["address"],
                           *graded["common"]], setup["env"]))
    assert "0 graded, 4 kept from earlier runs" in out


def test_a_worker_that_would_grade_differently_refuses(synthetic_root, monkeypatch):
    monkeypatch.setenv("DERMA_DATA_DIR", str(synthetic_root))
    monkeypatch.setenv("DERMA_SYNTHETIC_SCALE", "0.2")
    request = {"rubric": str(RUBRIC), "synthetic": True, "data_dir": None, "threads": 1}
    expected = cluster.identity(request)
    other = {**expected, "data": {**expected["data"], "scale": 0.3}}
    answer = cluster.grade_task({}, request, other, 60, RUBRIC.read_text())
    assert answer["files"] == {} and answer["code"] is None
    assert "refused to grade" in answer["note"] and "data.scale: 0.2 here, 0.3 on the instructor's machine" in \
        answer["note"]


def test_an_unreachable_scheduler_is_one_line_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "2s")
    with pytest.raises(cluster.ClusterUnavailable, match="start the scheduler"):
        cluster.start(f"tcp://127.0.0.1:{_free_port()}")
    (tmp_path / "c.yaml").write_text("kind: nowhere\n")
    with pytest.raises(cluster.ClusterUnavailable, match="give `kind:` one of"):
        cluster.start(str(tmp_path / "c.yaml"))


# --- through a batch system: a single-node Slurm cluster of its own, and dask-jobqueue's SLURMCluster ---------------

SLURM_CONF = """\
ClusterName=dermatest
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={tmp}/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation={tmp}/ctld
SlurmdSpoolDir={tmp}/d
SlurmctldPidFile={tmp}/ctld.pid
SlurmdPidFile={tmp}/d.pid
SlurmctldLogFile={tmp}/ctld.log
SlurmdLogFile={tmp}/d.log
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=grading Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Munge, slurmctld and slurmd on this machine, with a configuration, ports and state of their own."""
    if not all(shutil.which(c) for c in ("munged", "slurmctld", "slurmd", "sbatch")) or os.geteuid() != 0:
        pytest.skip("Slurm (slurm-wlm) is not installed, or not root: the SLURMCluster path is untested here")
    run = tmp_path_factory.mktemp("slurm")
    run.chmod(0o700)
    (run / "munge.key").write_bytes(os.urandom(1024))
    (run / "munge.key").chmod(0o400)
    conf = run / "slurm.conf"
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 * 9 // 10
    conf.write_text(SLURM_CONF.format(host=socket.gethostname(), ctld_port=_free_port(), d_port=_free_port(), tmp=run,
                                      cpus=len(worker.cpus()), memory_mb=memory_mb))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs = [subprocess.Popen(["munged", "-F", "--force", f"--key-file={run / 'munge.key'}",
                               f"--socket={run / 'munge.socket'}", f"--pid-file={run / 'munged.pid'}",
                               f"--log-file={run / 'munged.log'}", f"--seed-file={run / 'munged.seed'}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(50):
            if (run / "munge.socket").exists():
                break
            time.sleep(0.1)
        procs += [subprocess.Popen([daemon, "-D", "-f", str(conf)], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) for daemon in ("slurmctld", "slurmd")]
        for _ in range(60):
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            if state.strip() == "idle":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the Slurm node never came up (sinfo: {state!r}); see {run}/ctld.log and {run}/d.log")
        yield {"SLURM_CONF": str(conf)}
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        for proc in reversed(procs):
            worker._kill_tree(proc.pid)
            proc.wait()


def test_a_class_graded_through_slurm_equals_the_local_grading(setup, graded, slurm, tmp_path):
    """dask-jobqueue submits the worker as a Slurm job (sbatch); the grading it returns is the local one."""
    export = tmp_path / "class"
    shutil.copytree(setup["export"] / "ann", export / "ann")
    spec = tmp_path / "slurm.yaml"
    spec.write_text(f"kind: slurm\nworkers: 1\ncores: 1\nprocesses: 1\nmemory: 2GB\nwalltime: '00:20:00'\n"
                    f"python: {sys.executable}\nlocal_directory: {tmp_path / 'dask'}\n"
                    f"log_directory: {tmp_path / 'logs'}\nscheduler_options: {{dashboard_address: ':0'}}\n")
    out = tmp_path / "out"
    stdout, _ = _finish(_cli([str(export), "--out", str(out), "--cluster", str(spec), *graded["common"]],
                             {**setup["env"], **slurm}), timeout=300)
    assert "1 graded" in stdout and "0 grader failures" in stdout
    local = next(r for r in _book(graded["local"]) if r["student"] == "ann")
    row = _book(out)[0]
    assert {k: row[k] for k in ("score", "test_auc", "val_auc", "params")} == \
        {k: local[k] for k in ("score", "test_auc", "val_auc", "params")}
    with np.load(graded["local"] / "ann" / "predictions.npz") as a, np.load(out / "ann" / "predictions.npz") as b:
        assert np.array_equal(a["test"], b["test"])
    assert any("dask" in p.name for p in (tmp_path / "logs").iterdir())  # the worker ran as a Slurm job


def test_a_job_the_batch_system_refuses_stops_the_run_with_the_fix(slurm, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    monkeypatch.setattr(cluster, "_submitted", functools.partial(cluster._submitted, wait_s=5))
    spec = tmp_path / "slurm.yaml"
    spec.write_text("kind: slurm\nworkers: 1\ncores: 1\nprocesses: 1\nmemory: 100000GB\n"  # more than the node has
                    "scheduler_options: {dashboard_address: ':0'}\n")
    with pytest.raises(cluster.ClusterUnavailable, match="did not accept the worker jobs"):
        cluster.start(str(spec))

"""`--cluster`: grade a class or the suite on a Dask cluster, one task per submission (instead of `-j N` here).

    --cluster tcp://HOST:8786     a running scheduler (`dask scheduler`, workers from `dask worker` anywhere)
    --cluster cluster.yaml        a cluster started for this run: `kind: slurm` (or pbs, sge, lsf, htcondor: through
                                  dask-jobqueue), `kind: kubernetes` (dask-kubernetes), `kind: local`; `workers: N`;
                                  every other key goes to the cluster's constructor (docs/GRADING_A_CLASS.md)

The upload is read here (locked/upload.py, the one rule) and only its two files travel. On the worker the task
writes them into a temporary folder and grades them exactly as `-j N` does: one grading process per submission
(instructor/worker.py, so the sandbox's subreaper stays per grading) with the request's rubric and limits. The
result folder's files come back as bytes and are written into OUT/<id>/ here, where the local path writes them, so
resuming works unchanged and no shared filesystem is needed. Submissions the upload rule refuses run no student
code and are recorded here, through the local path.

Comparable or nothing: each task carries what this machine would grade on (data, the test split, the grader's
key, rubric, grader sources, library versions; `identity`), and a worker that differs refuses the task, naming the
difference, rather than grade on other data. A task that raises is retried once; a task whose worker dies is
rescheduled by the scheduler (`allowed-failures`: set it to 1 so that a submission that takes two workers down is
reported rather than tried again); either way a submission that still has no result is a reported grader failure.
"""
import concurrent.futures
import contextlib
import importlib
import shutil
import socket
import tempfile
import threading
import time
import uuid
from importlib import metadata
from pathlib import Path

from grader import results, rubric as rubric_mod
from grader.preflight import EnvironmentUnusable
from instructor import runs, suite, worker
from locked import upload
from locked.submission import SubmissionError

KINDS = {"slurm": "dask_jobqueue.SLURMCluster", "pbs": "dask_jobqueue.PBSCluster", "sge": "dask_jobqueue.SGECluster",
         "lsf": "dask_jobqueue.LSFCluster", "htcondor": "dask_jobqueue.HTCondorCluster",
         "kubernetes": "dask_kubernetes.operator.KubeCluster", "local": "distributed.LocalCluster"}
# Gradings are long tasks: one task per worker thread at a time (no task queued behind a running one while another
# worker idles), and a task whose worker died twice is reported, not tried a third time.
SCHEDULER_CONFIG = {"distributed.scheduler.worker-saturation": 1.0, "distributed.scheduler.allowed-failures": 1}
VERSIONS = ("torch", "torchvision", "numpy", "scikit-learn")
CONNECT_TIMEOUT = "30s"
OUT_DIR = "<result folder>"  # the worker's result folder in a note, for the instructor's OUT/<id>/
_identity_lock = threading.Lock()


class ClusterUnavailable(EnvironmentUnusable):
    """The cluster cannot be reached or started; nothing was graded. The message names the cause and the fix."""


# --- what a grading depends on -----------------------------------------------------------------------------------

def versions():
    """The libraries whose versions move a grade's numbers."""
    found = {}
    for name in VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def identity(request):
    """What a grading with `request` depends on on this machine besides the two files: the run's resume key
    (suite.resume_key: data, test set, grader key, rubric, grader sources) and the library versions."""
    from grader.grade import prepare_data

    rules = rubric_mod.load(request.get("rubric"), threads=request.get("threads"),
                            time_limit_s=request.get("time_limit"),
                            memory_limit_mb=request.get("memory_limit"),
                            device=request.get("device")).with_test_data(request.get("test_data"))
    with _identity_lock:  # the synthetic test draw is cached under a name made from the pid
        splits, key, _ = prepare_data(rules, request.get("data_dir"), request.get("synthetic", False))
    return {**suite.resume_key(splits, key, rules), "versions": versions()}


def difference(expected, found):
    """'' when the two identities agree, else what differs, part by part (this worker's value first)."""
    out = []
    for key, want in expected.items():
        have = found.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            out += [f"{key}.{k}: {have.get(k)!r} here, {want.get(k)!r} on the instructor's machine"
                    for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k)]
        elif want != have:
            out.append(f"{key}: {have!r} here, {want!r} on the instructor's machine")
    return "; ".join(out)


# --- on the worker -----------------------------------------------------------------------------------------------

def grade_task(files, request, expected, deadline_s, rubric_text=None):
    """One submission, on a Dask worker: check that this worker grades as the instructor's machine would, grade the
    two files in a grading process of their own, return the result folder's files as bytes."""
    host = socket.gethostname()
    with tempfile.TemporaryDirectory(prefix="dermacluster-") as tmp:
        tmp = Path(tmp)
        req = dict(request)
        if rubric_text is not None:
            (tmp / "rubric.toml").write_text(rubric_text)
            req["rubric"] = str(tmp / "rubric.toml")
        if req.get("data_dir") and not Path(req["data_dir"]).is_dir():
            req["data_dir"] = None  # not at the instructor's path here: this worker's own (DERMA_DATA_DIR)
        found = identity(req)
        refused = difference(expected, found)
        if refused:
            return {"code": None, "seconds": 0.0, "host": host, "files": {},
                    "note": f"worker {host} refused to grade: it would grade differently ({refused})"}
        submission, out = tmp / "submission", tmp / "out"
        submission.mkdir()
        out.mkdir()
        for name, data in files.items():
            (submission / name).write_bytes(data)
        code, seconds, note = worker.run({**req, "submission": str(submission), "out_dir": str(out)},
                                         out / runs.LOG, None, deadline_s)
        kept = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.is_symlink()}
        return {"code": code, "seconds": seconds, "note": note.replace(str(out), OUT_DIR), "host": host,
                "files": kept}


# --- on the instructor's machine ---------------------------------------------------------------------------------

def _load(kind):
    module, _, name = KINDS[kind].rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as err:
        raise ClusterUnavailable(f"--cluster kind {kind!r} needs {module.split('.')[0]} ({err}). Fix: pip install "
                                 f"{module.split('.')[0].replace('_', '-')} on this machine.") from None


def start(target):
    """(client, cluster or None) for `target`: a scheduler address, or a YAML file describing a cluster to start."""
    import dask
    import yaml
    from distributed import Client

    path = Path(target)
    try:
        if not path.is_file():
            return Client(target, timeout=CONNECT_TIMEOUT), None
        spec = yaml.safe_load(path.read_text()) or {}
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise ClusterUnavailable(f"{target}: give `kind:` one of {', '.join(KINDS)} (found {spec!r:.200}).")
        options = {k: v for k, v in spec.items() if k not in ("kind", "workers")}
        with dask.config.set(SCHEDULER_CONFIG):  # the scheduler is started here, in this process
            cluster = _load(spec["kind"])(**options)
        cluster.scale(int(spec.get("workers", 1)))
        if KINDS[spec["kind"]].startswith("dask_jobqueue."):
            _submitted(cluster, target)
        return Client(cluster), cluster
    except (OSError, TimeoutError, ValueError, TypeError, yaml.YAMLError) as err:
        raise ClusterUnavailable(f"--cluster {target}: {type(err).__name__}: {err}. Fix: start the scheduler "
                                 "(`dask scheduler`) and pass its address (tcp://HOST:8786), or a cluster YAML "
                                 "file (docs/GRADING_A_CLASS.md).") from None


def _submitted(cluster, target, wait_s=30):
    """A batch system that refuses the worker jobs (sbatch: wrong memory, partition or account) stops the run here,
    instead of leaving the gradings waiting for workers that will never come. Queued jobs are fine."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        jobs = list(cluster.workers.values())
        if jobs and all(job.job_id is not None for job in jobs):
            return
        time.sleep(0.5)
    with contextlib.suppress(AssertionError):  # distributed cannot close a job that never started: nothing to stop
        cluster.close()
    raise ClusterUnavailable(f"--cluster {target}: the batch system did not accept the worker jobs (its error is "
                             "printed above). Fix the job settings in the file (memory, cores, queue, account).")


class Pool:
    """Grades entries on the cluster; `submit(entry)` returns a concurrent.futures.Future of worker.run's
    (returncode, seconds, note), resolved once the result files are in OUT/<id>/, so suite.grade_all handles a
    remote grading like a local one. `local(entry)` grades an upload the rule refuses, here."""

    def __init__(self, target, out, request, run_key, deadline_s, local, log=print):
        self.out, self.deadline_s, self.local = Path(out), deadline_s, local
        self.expected = {**run_key, "versions": versions()}  # identity(request), as grade_all already knows it
        self.rubric_source = rubric_mod.load(request.get("rubric")).as_dict()["source"]
        # a private test file named in the rubric goes by its path here (the rubric's copy on the worker is elsewhere)
        self.request = {**request, "test_data": run_key["rubric"]["test"]["data"]}
        rubric = request.get("rubric")
        self.rubric_text = Path(rubric).read_text() if rubric else None
        self.client, self.cluster = start(target)
        self.here = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # refused uploads: no student code runs
        self.tasks = set()  # kept until their results are here, so that Ctrl-C can cancel them
        workers = self.client.scheduler_info().get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        log(f"cluster {self.client.scheduler.address}: {len(workers)} worker(s), {threads} thread(s)"
            + ("" if workers else "; the gradings wait for workers to join"))

    def submit(self, entry):
        try:
            found = upload.read(entry["submission"])
        except SubmissionError:
            return self.here.submit(self.local, entry)
        task = self.client.submit(grade_task, found.files, self.request, self.expected, self.deadline_s,
                                  self.rubric_text, key=f"grade-{entry['id']}-{uuid.uuid4().hex[:8]}", retries=1,
                                  pure=False)
        self.tasks.add(task)
        done = concurrent.futures.Future()
        task.add_done_callback(lambda t: self._receive(t, done, entry, self.out / entry["id"], found))
        return done

    def _receive(self, task, done, entry, exp_dir, found):
        """Write the task's result files into exp_dir, as the local path would have, then resolve `done`."""
        if not done.set_running_or_notify_cancel():
            return
        try:
            try:
                answer = task.result()
            except (Exception, concurrent.futures.CancelledError) as err:  # noqa: BLE001  lost twice, raised twice
                answer = {"code": None, "seconds": 0.0, "host": "?", "files": {},
                          "note": f"no result from the cluster after a retry ({type(err).__name__}: {err})"}
            if exp_dir.exists():
                shutil.rmtree(exp_dir)
            exp_dir.mkdir(parents=True)
            for name, data in answer["files"].items():
                if Path(name).name == name and name not in (".", ".."):
                    (exp_dir / name).write_bytes(data)
            with open(exp_dir / runs.LOG, "ab") as log:
                log.write(f"[graded on worker {answer['host']} of the cluster]\n".encode())
            record = runs.read_json(exp_dir / runs.RECORD)
            if record is not None:  # the grader read a copy of the two files and of the rubric: name the originals
                record.update(submission=str(Path(entry["submission"]).resolve()),
                              ignored_files=found.ignored_summary())
                record["rubric"]["source"] = self.rubric_source
                results.write(exp_dir, record)
            done.set_result((answer["code"], answer["seconds"], answer["note"].replace(OUT_DIR, str(exp_dir))))
        except Exception as err:  # noqa: BLE001  writing here failed: reported like a runner failure
            done.set_exception(err)
        finally:
            self.tasks.discard(task)  # the cluster may forget the result now

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """Stop what is still queued (Ctrl-C) and let go of the cluster."""
        self.client.cancel([t for t in list(self.tasks) if not t.done()])
        self.here.shutdown(wait=True, cancel_futures=True)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False

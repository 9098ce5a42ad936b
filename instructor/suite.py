"""`python -m instructor suite solutions/`: grade every experiment folder through the isolated grader, resumably.

Each experiment is graded by grader.grade.grade (sandboxed child, parent-side scoring), exactly as a student's
submission would be, N at a time (-j, default one per core), each in its own worker process (instructor/worker.py),
into OUT/<experiment>/ (results.json, grading_record.json, the reports, predictions.npz with the val and test
probabilities, experiment.json with what the experiment is and where it was graded, grader.log). The same runner
(grade_all) grades a class export (instructor/classroom.py): a class folder is a suite folder of submissions.
OUT/labels.npz holds the val and test labels for the ensembles of `python -m instructor report`; OUT/suite.json logs
every run. instructor/runs.py reads and writes these files.

Resumable: an experiment is not graded again (unless --rerun) while everything its grade depends on is unchanged
(its resume key, kept in experiment.json): its two files, the data and the test set it is scored on (digests of the
arrays, so a new private test file counts), the grader key, the rubric (checks, limits, test and integrity settings)
and the grader's own sources (`grader_version`). An experiment skipped because its pretrained weights were missing
is retried once they are in the cache. Experiments that need weights that cannot be loaded are reported as skipped,
with the fix; the child raises WeightsUnavailable instead of training from random initialisation, so nothing is
trained silently.

The parent never imports torch (see grader/grade.py): this module only reads records and numpy arrays.
"""
import ast
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from grader.preflight import EnvironmentUnusable, check as preflight_check
from grader.rubric import DEVICES
from instructor import runs, worker
from locked import data, settings, upload
from locked.submission import SubmissionError

DEFAULT_OUT = "runs/suite"
GRADER_SOURCES = tuple(Path(__file__).resolve().parent.parent / name for name in ("grader", "locked"))  # grader_version
_TITLE = re.compile(r"Experiment\s+(\d+)\s+-\s+(.+?)\s+\((Ch\d+[^)]*)\)\.?\s*$")
_SECTIONS = ("Builds on", "Changed:", "Lesson:")


# --- what an experiment is ---------------------------------------------------------------------------------------

def experiment_folders(solutions, only=None):
    """Experiment folders (holding model.py and train_config.py) under `solutions`, by number; `only` filters."""
    root = Path(solutions)
    if (root / "model.py").exists():  # a single submission folder
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / "model.py").exists()
                         and (p / "train_config.py").exists())
    if only:
        wanted = set(only)
        folders = [f for f in folders if experiment_number(f) in wanted]
        found = {experiment_number(f) for f in folders}
        missing = sorted(wanted - found)
        if missing:
            raise SystemExit(f"--only: no experiment folder numbered {missing} under {root}.")
    return folders


def experiment_number(folder):
    m = re.match(r"exp_(\d+)", Path(folder).name)
    return int(m.group(1)) if m else None


def parse_only(text):
    """'1,8,20' or '1-5,20' -> [1, 2, 3, 4, 5, 20]."""
    nums = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if "-" in part:
            lo, hi = part.split("-", 1)
            nums.extend(range(int(lo), int(hi) + 1))
        else:
            nums.append(int(part))
    return nums


def _docstring(path):
    try:
        return ast.get_docstring(ast.parse(Path(path).read_text())) or ""
    except (OSError, SyntaxError):
        return ""


def _sections(doc):
    """Split an experiment docstring into title line and its 'Builds on', 'Changed:', 'Lesson:' paragraphs."""
    lines = doc.splitlines()
    out, key = {"title": lines[0].strip() if lines else ""}, None
    for line in lines[1:]:
        starts = [s for s in _SECTIONS if line.startswith(s)]
        if starts:
            key = starts[0]
            text = line[len(key):].strip()
            out[key] = text
        elif key and line.strip():
            out[key] += " " + line.strip()
        elif not line.strip():
            key = None
    return out


def describe(folder):
    """What the experiment is, from its own docstrings (train_config.py, and model.py for model changes)."""
    folder = Path(folder)
    cfg, mdl = _sections(_docstring(folder / "train_config.py")), _sections(_docstring(folder / "model.py"))
    m = _TITLE.match(cfg.get("title", ""))
    info = {"id": folder.name, "num": experiment_number(folder), "name": folder.name, "chapter": "",
            "folder": str(folder.resolve())}
    if m:
        info.update(name=m.group(2), chapter=m.group(3))
    model_change, train_change = mdl.get("Changed:", ""), cfg.get("Changed:", "")
    info["builds_on"] = cfg.get("Builds on", "")
    info["model_change"] = "" if model_change.lower().startswith("model unchanged") else model_change
    info["training_change"] = "" if train_change.lower().startswith("same as") else train_change
    info["lesson"] = cfg.get("Lesson:") or mdl.get("Lesson:", "")
    return info


# --- where and on what it ran ------------------------------------------------------------------------------------

def hardware(device="cpu"):
    """This machine, in the words a report needs (no torch import); `device`: what the gradings train on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch_version, "device": device}


# --- what its grade depends on (the resume key) ------------------------------------------------------------------

def fingerprint(submission):
    """sha256 of the two files the grader would take from `submission` (None if it has no valid pair): a
    submission whose files changed since it was graded is graded again."""
    try:
        return _digest(upload.read(submission))
    except SubmissionError:
        return None


def _digest(found):
    digest = hashlib.sha256()
    for name in sorted(found.files):
        digest.update(name.encode() + b"\0" + found.files[name] + b"\0")
    return digest.hexdigest()


def grader_version():
    """sha256 of every source file in grader/ and locked/ (the grader, and the harness it runs beside the student's
    code): any edit there may change a grade. A digest rather than a number, so no edit can forget to bump it."""
    digest = hashlib.sha256()
    for folder in GRADER_SOURCES:
        for path in sorted(Path(folder).rglob("*.py")):
            digest.update(path.relative_to(folder.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def submission_key(submission):
    """The submission's part of the resume key: its files' fingerprint, or the refusal it gets, so that a changed
    upload that is still refused is graded again for its own message."""
    try:
        return _digest(upload.read(submission))
    except SubmissionError as err:
        return f"refused: {err}"


def resume_key(splits, grader_key, rules):
    """What every grading of one run depends on besides the submission: the data and the test set as scored (their
    arrays' digest covers a private test file and the grader's synthetic draw), the grader key (it picks the
    perturbations), the rubric as loaded (checks, limits, test and integrity settings; not its path), the grader's
    sources. JSON-shaped, as experiment.json keeps it."""
    from grader import integrity

    arrays = hashlib.sha256()
    for split in ("train", "val", "test"):
        arrays.update(np.ascontiguousarray(splits.images[split]).tobytes())
        arrays.update(np.ascontiguousarray(splits.labels[split]).tobytes())
    rubric = {k: v for k, v in rules.as_dict().items() if k != "source"}
    return json.loads(json.dumps({"data": runs.provenance_key(splits.provenance), "arrays": arrays.hexdigest(),
                                  "grader_key": integrity.derive(grader_key, "resume key"), "rubric": rubric,
                                  "grader": grader_version()}))

# --- the run -----------------------------------------------------------------------------------------------------

def run(solutions, out=DEFAULT_OUT, data_dir=None, synthetic=False, only=None, rerun=False, rubric=None,
        threads=None, time_limit=None, memory_limit=None, device=None, progress=True, log=None, jobs=None,
        cluster=None):
    """Grade the experiments, `jobs` at a time; return the suite summary dict (also written to OUT/suite.json)."""
    entries = [{"id": f.name, "submission": f, "info": describe(f)} for f in experiment_folders(solutions, only)]
    return grade_all(entries, out, data_dir=data_dir, synthetic=synthetic, rerun=rerun, rubric=rubric,
                     threads=threads, time_limit=time_limit, memory_limit=memory_limit, device=device,
                     progress=progress, log=log, jobs=jobs, desc="suite", source=solutions,
                     command="suite" if sys.argv[1:2] == ["suite"] else None, cluster=cluster)


def grade_all(entries, out, *, data_dir=None, synthetic=False, rerun=False, rubric=None, threads=None,
              time_limit=None, memory_limit=None, device=None, progress=True, log=None, jobs=None, desc="suite",
              source=None,
              command=None, cluster=None):
    """Grade every entry ({"id", "submission", "info"}) into OUT/<id>/ with `jobs` sandboxes at once (default: one
    per core), each grading in its own worker process (instructor/worker.py), resumably; write OUT/suite.json
    after each one. One grading that crashes, hangs or is killed is reported as failed; the others go on.
    `cluster` (a Dask scheduler's address or a cluster file): one task per submission there (instructor/cluster.py)."""
    from concurrent.futures import as_completed

    from tqdm import tqdm

    out = Path(out).resolve()
    rules, splits, grader_key, jobs = _prepare(out, rubric, data_dir, synthetic, jobs, threads=threads,
                                               time_limit_s=time_limit, memory_limit_mb=memory_limit, device=device)
    provenance, key, threads = splits.provenance, runs.provenance_key(splits.provenance), rules.limits.threads
    run_key = resume_key(splits, grader_key, rules)
    hw = hardware(rules.limits.device)
    write = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    warning = worker.memory_warning(jobs, rules.limits.memory_limit_mb)
    if warning and not cluster:
        write("Warning: " + warning)
    previous = runs.read_json(out / runs.SUITE) or {}
    previous_runs = previous.get("runs", []) if previous.get("key") == key else []
    t0, started = time.monotonic(), _now()
    todo, resumed = _to_grade(entries, out, run_key, rerun)
    if resumed:
        write(f"{len(resumed)} already graded with the same files, data, test set, rubric and grader, kept "
              "(use --rerun to grade again)")
    graded, failed = [], {}
    invocation = {"started": started, "wall_seconds": 0.0, "finished": False, "graded": graded, "resumed": resumed,
                  "failed": failed, "hardware": hw, "threads": threads, "jobs": jobs, "cluster": cluster,
                  "command": " ".join(["python -m instructor", *sys.argv[1:]]) if command else ""}
    request = {"rubric": str(Path(rubric).resolve()) if rubric else None, "synthetic": synthetic,
               "data_dir": str(Path(data_dir).resolve()) if data_dir else None, "threads": threads,
               "time_limit": time_limit, "memory_limit": memory_limit, "device": device}
    deadline = rules.limits.time_limit_s + settings.number("DERMA_WATCHDOG_MARGIN_S", settings.WATCHDOG_MARGIN_S, minimum=0)
    grade_one = _grade_here(out, request, deadline, worker.pinning(jobs, threads))
    bar = tqdm(total=len(entries), initial=len(resumed), desc=desc, unit="grading", disable=not progress,
               file=sys.stderr, smoothing=0)
    pool, submit = _pool(cluster if todo else None, jobs, grade_one, out, request, run_key, deadline, write)
    order = {e["id"]: i for i, e in enumerate(entries)}
    with pool:
        futures = {submit(entry): entry for entry in todo}
        try:
            for future in as_completed(futures):
                eid, info = futures[future]["id"], futures[future]["info"]
                record, failure = _collect(future, out / eid, info, graded_on=hw, threads=threads, jobs=jobs)
                bar.update(1)
                if failure:
                    failed[eid] = failure
                    write(f"{eid}: the grader failed: {failure}")
                    continue
                graded.append(eid)
                graded.sort(key=order.get)
                row = runs.summary_row(record, info)
                status = row["status"] if row["status"] != "ok" else (
                    f"val AUC {row['val_auc']:.4f}, mel recall {row['val_mel_recall']:.2f}")
                write(f"{eid}: {status}")
                invocation["wall_seconds"] = round(time.monotonic() - t0, 1)
                runs.write_suite(out, provenance, key, hw, threads, source, previous_runs + [invocation])
        except BaseException:  # Ctrl-C: start nothing new, stop what runs (resumable: graded ones are kept)
            for future in futures:
                future.cancel()
            worker.kill_running()
            raise
    bar.close()
    wall = time.monotonic() - t0
    invocation.update(wall_seconds=round(wall, 1), finished=True)
    runs.write_suite(out, provenance, key, hw, threads, source, previous_runs + [invocation])
    rows = [runs.summary_row(r, i) for r, i in runs.graded(out) if i.get("id") in order]
    return {"rows": rows, "wall_seconds": wall, "graded": graded, "resumed": resumed, "failed": failed,
            "data": provenance, "hardware": hw, "threads": threads, "jobs": jobs, "out": str(out)}


def _prepare(out, rubric, data_dir, synthetic, jobs, **limits):
    """(rules, splits, grader key, jobs): the rubric with `limits` (threads, time_limit_s, memory_limit_mb, device) over
    it, the data and the test labels the grader scores on (a private file, or its own synthetic draw) as it reads
    them, and the sandboxes at once; then OUT with its labels. Raises before anything is graded: DataUnavailable,
    SystemExit for a `jobs` below 1, EnvironmentUnusable."""
    from grader import rubric as rubric_mod
    from grader.grade import prepare_data

    rules = rubric_mod.load(rubric, **limits)
    splits, grader_key, _ = prepare_data(rules, data_dir, synthetic)
    jobs = jobs or worker.default_jobs(rules.limits.threads)
    if jobs < 1:
        raise SystemExit(f"-j {jobs}: give the number of sandboxes to run at once, 1 or more.")
    if missing := preflight_check(rules.limits, extra_read=[settings.weights_cache()]):
        print(f"Warning: {missing}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    runs.save_labels(out, splits, splits.provenance)
    return rules, splits, grader_key, jobs


def _to_grade(entries, out, run_key, rerun):
    """(entries to grade, ids kept): an entry is kept unless `rerun` while OUT/<id>/ is up to date with its resume
    key (run_key plus its submission's). Each entry's info gets its fingerprint and resume key either way."""
    todo, resumed = [], []
    for entry in entries:
        info = entry["info"]
        info["fingerprint"] = fingerprint(entry["submission"])
        info["resume_key"] = {**run_key, "submission": submission_key(entry["submission"])}
        if rerun or runs.up_to_date(out / entry["id"], info["resume_key"]) is None:
            todo.append(entry)
        else:
            resumed.append(entry["id"])
    return todo, resumed


def _grade_here(out, request, deadline, cpu_sets):
    """grade_one(entry): one grading in a worker process on this machine, into a fresh OUT/<id>/, pinned to one of
    `cpu_sets` (worker.pinning) while it runs; returns worker.run's (returncode, seconds, note)."""
    from queue import SimpleQueue

    slots = SimpleQueue()
    for cpu_set in cpu_sets:
        slots.put(cpu_set)

    def grade_one(entry):
        exp_dir = out / entry["id"]
        if exp_dir.exists():
            shutil.rmtree(exp_dir)
        exp_dir.mkdir(parents=True)
        cpu_set = slots.get()
        try:
            req = {**request, "submission": str(Path(entry["submission"]).resolve()), "out_dir": str(exp_dir)}
            return worker.run(req, exp_dir / runs.LOG, cpu_set, deadline)
        finally:
            slots.put(cpu_set)

    return grade_one


def _pool(cluster, jobs, grade_one, out, request, run_key, deadline, write):
    """(pool, submit): with a `cluster`, the same gradings as Dask tasks whose result files come back into OUT/<id>/
    (grade_one still grades here an upload the rule refuses); else `jobs` threads here, each running grade_one."""
    if cluster:
        from instructor import cluster as remote
        pool = remote.Pool(cluster, out, request, run_key, deadline, grade_one, write)
        return pool, pool.submit
    from concurrent.futures import ThreadPoolExecutor
    from functools import partial

    pool = ThreadPoolExecutor(max_workers=jobs)
    return pool, partial(pool.submit, grade_one)


def _collect(future, exp_dir, info, **where):
    """(record, None) for a grading the grader finished, else (None, why it failed); either way OUT/<id>/
    experiment.json is written: `info`, `where` (graded_on, threads, jobs), when, and the worker's seconds."""
    try:
        _, seconds, note = future.result()
    except Exception as err:  # the runner could not start or watch this one: the others go on
        seconds, note = 0.0, f"{type(err).__name__}: {err}"
        exp_dir.mkdir(parents=True, exist_ok=True)
    record = runs.read_json(exp_dir / runs.RECORD)
    info.update(**where, graded_at=_now(), worker_seconds=seconds)
    (exp_dir / runs.EXPERIMENT).write_text(json.dumps(info, indent=1))
    if record is None or record.get("grader_failure"):  # the grader or its environment failed
        return None, (record or {}).get("grader_failure") or note or (
            f"the grader wrote no record (see {exp_dir / runs.LOG})")
    return record, None


def _now(ts=None):
    return datetime.fromtimestamp(ts or time.time(), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def main(args):
    """The `suite` subcommand."""
    try:
        summary = run(args.solutions, args.out, args.data_dir, args.synthetic, parse_only(args.only), args.rerun,
                      args.rubric, args.threads, args.time_limit, args.memory_limit, args.device,
                      progress=not args.no_progress,
                      jobs=args.jobs, cluster=args.cluster)
    except (data.DataUnavailable, EnvironmentUnusable) as err:  # nothing was graded: one line, the cause, the fix
        print(err, file=sys.stderr)
        return 2
    print(f"\nData: {summary['data']['label']}")
    print(f"Hardware: {runs.hardware_label(summary['hardware'], summary['threads'])}")
    print(runs.format_table(summary["rows"]))
    for eid, note in summary["failed"].items():
        print(f"{eid}: the grader failed: {note}")
    print(f"\n{len(summary['graded'])} graded, {len(summary['resumed'])} kept from earlier runs, in "
          f"{summary['wall_seconds']:.0f} s wall "
          + (f"on the cluster {args.cluster}. " if args.cluster else f"with {summary['jobs']} sandbox(es) at once. ")
          + f"Results in {summary['out']}/ ; report: python -m instructor report {summary['out']}")
    return 0


def add_parallel_arguments(parser):
    """-j, --cluster and --threads, shared by `suite` and `grade-class`."""
    parser.add_argument("-j", "--jobs", type=int, help="sandboxes at once (default: cores / threads, "
                        f"{worker.default_jobs()} here)")
    parser.add_argument("--cluster", metavar="ADDRESS|FILE", help="grade on a Dask cluster instead, one task per "
                        "submission: a scheduler's address (tcp://HOST:8786) or a cluster YAML file (Slurm, PBS, "
                        "SGE, LSF, Kubernetes); see docs/GRADING_A_CLASS.md")
    parser.add_argument("--threads", type=int, help="torch threads per run (default: the rubric's, 1)")
    parser.add_argument("--device", choices=DEVICES, help="train on the CPU or an NVIDIA GPU, which every "
                        "sandbox then shares (default: the rubric's device, cpu)")


def add_parser(cmds):
    """Register `suite` on the instructor's subcommand parser."""
    s = cmds.add_parser("suite", help="grade every experiment folder (e.g. solutions/), resumably, and summarise")
    s.add_argument("solutions", help="folder of experiment folders, each with model.py and train_config.py")
    s.add_argument("--only", help="experiment numbers, e.g. 1,8,20 or 1-5")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--data-dir", help="folder holding dermamnist.npz")
    src.add_argument("--synthetic", action="store_true", help="grade on the synthetic stand-in (offline)")
    s.add_argument("--out", default=DEFAULT_OUT, help=f"one result folder per experiment here (default {DEFAULT_OUT}/)")
    s.add_argument("--rerun", action="store_true", help="grade again even if a result on the same data exists")
    s.add_argument("--rubric", help="rubric TOML overriding grader/rubric.toml")
    add_parallel_arguments(s)
    s.add_argument("--time-limit", type=float, help="override the rubric's time_limit_s per experiment")
    s.add_argument("--memory-limit", type=float, help="override the rubric's memory_limit_mb")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(run=main)
    return s

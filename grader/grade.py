"""`python -m grader grade SUBMISSION`: intake, sandboxed training, scoring, results. In that order, always.

The parent (this process) holds the test labels and never imports student code or torch. The sandbox gets a
fresh copy of locked/, grader/child.py and grader/protocol.py, the two student files, train/val data with labels,
and the test images without labels, mixed with perturbed copies of them in an order only the parent knows
(grader/integrity.py); it hands back a report over a pipe, the parameter shapes and raw predictions, all checked
here (grader/protocol.py). Before any of it, a trivial child checks the sandbox itself (grader/preflight.py).
"""
import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path

import numpy as np

from grader import integrity, preflight, protocol, results, rubric as rubric_mod, sandbox, scoring
from locked import data, metrics, settings, upload
from locked.submission import SubmissionError

LOCKED_DIR = Path(__file__).resolve().parent.parent / "locked"
CHILD = Path(__file__).resolve().parent / "child.py"
PROTOCOL = Path(__file__).resolve().parent / "protocol.py"
FORGED = ("The grader's {what} (out/{name}) was missing or not what the grader writes ({why}), so it cannot be "
          "trusted. Do not write into the grader's folders or change its variables.")


def _protect(path):
    """When root, make the dataset file unreadable to other users: it holds the test labels. Already private (or a
    read-only mount, as in the Docker image): nothing to change, and no chmod that would fail."""
    shared = stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH
    mode = os.stat(path).st_mode
    if os.geteuid() == 0 and mode & shared:
        os.chmod(path, mode & ~shared)


def _layout(box, splits, request):
    """Write what the child gets into the sandbox folder: the harness (locked/, child.py, protocol.py), the
    data without test labels, the request. Returns the rows the child must predict for each split, taken from
    the arrays it is given; the sandbox seals the folder for this grading's uid alone."""
    shutil.copytree(LOCKED_DIR, box / "harness" / "locked", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(CHILD, box / "harness" / "child.py")
    shutil.copyfile(PROTOCOL, box / "harness" / "protocol.py")
    np.savez(box / "data.npz", train_images=splits.images["train"], train_labels=splits.labels["train"],
             val_images=splits.images["val"], val_labels=splits.labels["val"], test_images=splits.images["test"])
    (box / "request.json").write_text(json.dumps(request))
    return {s: len(splits.images[s]) for s in ("val", "test")}


def child_request(limits):
    """What the child reads from request.json: its thread count, the epoch cap, the parameter budget, the memory limit
    (near which it gives freed memory back, grader/child.py) and the deadline its training must leave room before
    (locked/engine.py fit), on the clock parent and child share. Set before the sandbox's own clock starts, it falls
    a little before the limit's kill."""
    return {"threads": limits.threads, "max_epochs": limits.max_epochs, "param_budget": limits.param_budget,
            "deadline": time.time() + limits.time_limit_s, "device": limits.device,
            "memory_limit_mb": limits.memory_limit_mb}


def _forged(what, name, why, status=None):
    """The status with an error for a file in out/ the grader did not write (from `status`'s stage on)."""
    error = protocol.Error(check="status", message=FORGED.format(what=what, name=name, why=why))
    return {**(status or protocol.Status(stage=protocol.STARTED)), "error": error}


def _read_outputs(sb, outcome, rows):
    """(status, predictions) from the child's report and out/, trusting no byte: the report typed and bounded ({}
    when nothing arrived: no student code ran), the parameter count computed here from the tensor shapes,
    predictions of exactly the rows the child was given."""
    status = protocol.read_report(outcome.report, outcome.report_bytes)
    if protocol.reached(status, protocol.BUILT):  # the child writes the shapes before it says it built the model
        try:
            raw = sb.read_output(protocol.SHAPES, protocol.SHAPES_MAX_BYTES)
            if raw is None:
                raise ValueError("it is missing")
            status["params"], status["trainable_params"] = protocol.decode_shapes(raw)
        except ValueError as err:
            return _forged("list of parameter shapes", protocol.SHAPES, err), None
    if status.get("stage") != protocol.DONE:
        return status, None
    total = rows["val"] + rows["test"]
    try:
        raw = sb.read_output(protocol.PREDICTIONS, protocol.predictions_bytes(total))
        if raw is None:
            raise ValueError("it is missing")
        logits = protocol.decode_predictions(raw, total)
    except ValueError as err:
        return _forged("predictions file", protocol.PREDICTIONS, err, status), None
    return status, {"val": logits[:rows["val"]], "test": logits[rows["val"]:]}


def _cut(status, limits, scored):
    """For the instructor: the epochs trained and planned when training stopped at the time limit, and what the
    rubric made of it (None when every epoch ran, or when the rubric scores a cut model and its predictions were
    refused: then no model was scored, and the record's checks say why)."""
    if limits.on_time_limit == "score" and scored.get("test") is None:
        return None
    cut = scoring.cut_by_time_limit(status)
    return None if cut is None else {"epochs_trained": cut[0], "epochs_planned": cut[1],
                                     "on_time_limit": limits.on_time_limit}


def prepare_data(rubric, data_dir=None, synthetic=False):
    """(splits the grader scores, key, key note). Train and val come from the data file; the test split from the
    rubric's private test file, else (synthetic) the grader's own draw from its key, else the data file's.
    provenance["test"] says which, with the private file's md5 and size."""
    path, provenance = data.locate(data_dir, synthetic)
    _protect(path)
    splits = data.read(path, provenance)
    key, key_note = integrity.grader_key()
    if rubric.test.data:
        images, labels, provenance["test"] = integrity.read_test_file(rubric.test.data)
    elif provenance["kind"] == "synthetic":
        images, labels = integrity.synthetic_test(path.parent, provenance["scale"], key)
        provenance["test"] = {"source": "synthetic, drawn from the grader's key (not the file's test split)",
                              "n": len(labels)}
    else:
        images, labels = splits.images["test"], splits.labels["test"]
        provenance["test"] = {"source": "the data file's test split (public: students have its labels)",
                              "n": len(labels)}
    splits.images["test"], splits.labels["test"] = images, labels
    return splits, key, key_note


def _score_parts(status, predictions, labels, outcome, rubric):
    """Score the points part of the test set (all of it, or the private part of a split); return (tests, scored),
    scored also holding "test_all" (the whole test set) and, with a split, "test_public" (the feedback part)."""
    fraction, test = rubric.test.public_fraction, labels["test"]
    public, private = integrity.public_private(labels["images"], test, fraction) if fraction else (None, None)
    rows = private if fraction else slice(None)
    part = None if predictions is None else {**predictions, "test": np.asarray(predictions["test"])[rows]}
    tests, scored = scoring.score(status, part, {"val": labels["val"], "test": test[rows]}, outcome, rubric)
    scored["test_all"] = scored["test"]
    if fraction and scored["test"] is not None:
        proba = protocol.as_probabilities(predictions["test"], "test", len(test))
        scored["test_all"] = metrics.evaluate(test, proba)
        scored["test_public"] = metrics.evaluate(test[public], proba[public])
    return tests, scored


def grade(submission, out_dir, rubric_path=None, data_dir=None, synthetic=False, log=print, keep_predictions=False,
          test_data=None, **limits):
    """Grade one submission; write results into out_dir; return the full record.

    test_data: a private test file, overriding the rubric's [test] data.
    Results are written before the sandbox is cleaned up, and cleanup cannot raise.
    keep_predictions: also write out_dir/predictions.npz (val and test class probabilities, as scored), for
    instructor tools such as `python -m instructor suite` (ensembles); off for student grading.
    """
    t0 = time.monotonic()
    rubric = rubric_mod.load(rubric_path, **limits).with_test_data(test_data)
    lim = rubric.limits
    splits, key, key_note = prepare_data(rubric, data_dir, synthetic)
    provenance = splits.provenance
    record = {"submission": str(submission), "data": provenance, "ignored_files": [], "params": None,
              "train_seconds": None, "history": [], "metrics": {}}
    mix, perturbed, source = None, None, None
    weights_cache = settings.weights_cache()
    if missing := preflight.check(lim, extra_read=[weights_cache]):
        log(f"Warning: {missing}")
    with sandbox.Sandbox(lim, extra_read=[weights_cache]) as sb:
        try:
            record["ignored_files"] = upload.collect(submission, sb.path / "submission").ignored_summary()
        except SubmissionError as err:
            status, predictions = protocol.Status(error=protocol.Error(check=err.check, message=str(err))), None
            outcome = sandbox.Outcome(returncode=None, seconds=0.0, isolation=["not started"])
        else:
            source = integrity.scan_source(sb.path / "submission")
            seed = integrity.derive(key, "perturb", integrity.submission_digest(sb.path / "submission"))
            mix = integrity.Mix(splits.images["test"], seed)
            shown = data.Splits({**splits.images, "test": mix.images}, splits.labels)
            rows = _layout(sb.path, shown, child_request(lim))
            sb.seal()
            # The child reads its thread count from request.json; OpenMP and MKL read theirs at import time.
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": sb.inside("home"), "TMPDIR": "/tmp",
                   "LANG": "C.UTF-8", "USER": "student", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                   "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(lim.threads), "MKL_NUM_THREADS": str(lim.threads),
                   "TORCH_HOME": settings.torch_home(), "MPLBACKEND": "Agg",
                   **({} if lim.device == "cuda" else {"CUDA_VISIBLE_DEVICES": ""})}  # on the CPU, no CUDA at all
            log(f"Grading {submission} ({provenance['label']}) in a sandbox: limit {lim.time_limit_s:g} s, "
                f"{lim.memory_limit_mb:g} MB, {lim.threads} thread(s), on the {lim.device}")
            outcome = sb.run([sys.executable, "-I", sb.inside("harness/child.py")], env=env,
                             report=(protocol.REPORT_FD, protocol.REPORT_MAX_BYTES))
            status, predictions = _read_outputs(sb, outcome, rows)
            predictions, perturbed, problem = mix.unmix(predictions)
            if problem and "error" not in status:
                status = {**status, "error": protocol.Error(check="predictions", message=problem)}
        labels = {"val": splits.labels["val"], "test": splits.labels["test"], "images": splits.images["test"]}
        tests, scored = _score_parts(status, predictions, labels, outcome, rubric)
        train_seconds = None
        if predictions is not None:  # the child times engine.fit alone (as `locked.train` does); bounded by the run
            train_seconds = min(max(float(status.get("train_seconds", 0.0)), 0.0), outcome.seconds)
        record.update(
            score=round(sum(t["score"] for t in tests), 4), max_score=rubric.max_score, tests=tests,
            metrics={k: v for k, v in scored.items() if k != "test_all"},
            params=status.get("params"), trainable_params=status.get("trainable_params"),
            history=status.get("history", []), train_seconds=train_seconds,
            rubric=rubric.as_dict(), seconds=time.monotonic() - t0, error=status.get("error"),
            grader_failure=scoring.grader_failure(status, outcome, lim), time_limit_cut=_cut(status, lim, scored),
            sandbox={"isolation": outcome.isolation, "seconds": outcome.seconds, "peak_rss_mb": outcome.peak_rss_mb,
                     "returncode": outcome.returncode, "timed_out": outcome.timed_out,
                     "memory_exceeded": outcome.memory_exceeded, "output_bytes": outcome.output_bytes,
                     "output": outcome.output})
        if mix is not None:
            record["integrity"] = {"key": key_note, **integrity.review(
                mix, perturbed, splits.labels["test"], scored["test_all"], scored["test"], scored["val"], source,
                rubric.integrity)}
        results.write(out_dir, record)
        if keep_predictions and scored.get("val") is not None:
            proba = {s: protocol.as_probabilities(predictions[s], s, len(splits.labels[s])) for s in ("val", "test")}
            np.savez(Path(out_dir) / "predictions.npz", **proba)
    return record

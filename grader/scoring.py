"""Turn what the sandbox reported into checks and points. Everything here is computed by the grader itself.

Each check's output says what was measured, what was expected, and what to change.
"""
import numpy as np

from locked import metrics
from locked.info import NUM_CLASSES
from locked.submission import SubmissionError

def as_probabilities(array, split, n):
    """Validate the child's predictions for one split (logits or probabilities) and return probabilities."""
    try:
        a = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):  # the file is written beside student code: it may hold anything
        a = np.full((0,), np.nan)
    if a.shape != (n, NUM_CLASSES):
        raise SubmissionError("predictions", f"The {split} predictions have shape {a.shape}; expected ({n}, "
                              f"{NUM_CLASSES}), one row per image and one column per class.")
    bad = int((~np.isfinite(a)).any(axis=1).sum())
    if bad:
        raise SubmissionError("predictions", f"After training, your model output NaN or infinite values for {bad} "
                              f"of the {n} {split} images. The weights blew up: lower the learning rate, or "
                              "check forward() for log(0) or division by zero.")
    is_proba = (a >= 0).all() and (a <= 1).all() and np.allclose(a.sum(axis=1), 1, atol=1e-4)
    return a if is_proba else metrics.softmax(a)


STAGES = ("started", "loaded", "built", "checked", "trained", "done")
TAMPERED = ("The grader's status report (out/status.json) was overwritten or corrupted by your code, so nothing "
            "it says can be trusted. Do not write into the grader's folders or change its variables.")


def _valid_status(status):
    if not isinstance(status, dict) or status.get("stage", "started") not in STAGES:
        return False
    error = status.get("error", {"check": "", "message": ""})
    if not (isinstance(error, dict) and isinstance(error.get("check"), str) and isinstance(error.get("message"), str)):
        return False
    for key in ("params", "trainable_params", "epochs", "batch_size"):
        if key in status and (isinstance(status[key], bool) or not isinstance(status[key], int)):
            return False
    if status.get("stage", "started") in STAGES[2:] and "params" not in status:
        return False
    if not isinstance(status.get("model_name", ""), str):
        return False
    pre = status.get("preprocessing", {"ok": True, "message": ""})
    if not (isinstance(pre, dict) and isinstance(pre.get("ok"), bool) and isinstance(pre.get("message"), str)):
        return False
    history = status.get("history", [])
    if not (isinstance(history, list) and all(isinstance(row, dict) for row in history)):
        return False
    seconds = status.get("train_seconds", 0.0)
    return isinstance(seconds, (int, float)) and not isinstance(seconds, bool)


def clean_status(status):
    """The child's status.json as the parent may use it. It is written from the same process as student code,
    so a malformed one means tampering: it becomes an error (score 0) instead of crashing the grader."""
    if _valid_status(status):
        return status
    return {"stage": "started", "error": {"check": "status", "message": TAMPERED}}


def _check(key, rubric, passed, output, score=None):
    spec = rubric["checks"][key]
    points = float(spec["points"])
    bonus = key == "mel_recall_bonus"
    earned = points if passed else 0.0
    return {"key": key, "name": spec["name"], "score": round(earned if score is None else score, 4),
            "max_score": 0.0 if bonus else points, "status": "passed" if passed else "failed",
            "output": output, "visibility": spec.get("visibility", "visible")}


def _not_run(key, rubric, reason):
    return _check(key, rubric, False, f"Not run: {reason}")


# What the child was doing after each stage it reported (grader/child.py), in a student's words.
_STAGE_WORDS = {"started": "loading your files", "loaded": "building your model",
                "built": "checking train_transform", "checked": "training", "trained": "predicting",
                "done": "finishing"}


def _environment_failure(outcome, limits):
    """The child was stopped before it wrote its first status.json, i.e. before any student code ran (importing
    torch, loading the data): the grading environment's failure, said so, with the instructor's fix."""
    if outcome.memory_exceeded:
        what = (f"it needed more than the {limits['memory_limit_mb']} MB memory limit (peak seen "
                f"{outcome.peak_rss_mb:.0f} MB) just to import torch and load the data")
        fix = ("install the CPU build of torch (packaging/install_deps.sh; the default CUDA build needs about 300 MB "
               "more) or raise the sandbox memory limit (DERMA_MEMORY_LIMIT_MB)")
    elif outcome.timed_out:
        what = f"it did not even reach your files within the {limits['time_limit_s']} s limit"
        fix = "the grading machine is overloaded or too slow: regrade, or raise the time limit (DERMA_TIME_LIMIT_S)"
    else:
        what = f"its process ended (exit status {outcome.returncode}) while importing torch and loading the data"
        fix = "read the grader's log (grading_record.json) and the image build log"
    return (f"The grader was stopped before your code ran: {what}. This is a problem with the grading environment, "
            f"not with your submission: please tell your instructor and resubmit once it is fixed. "
            f"(For the instructor: {fix}.)")


def _failure_reason(status, outcome, limits):
    """Why the child did not finish, in words a student can act on (None if it finished)."""
    if not status and (outcome.memory_exceeded or outcome.timed_out or outcome.returncode):
        return _environment_failure(outcome, limits)
    if outcome.memory_exceeded:
        return (f"Your run used more than {limits['memory_limit_mb']} MB of memory (peak seen "
                f"{outcome.peak_rss_mb:.0f} MB) and was stopped. Use a smaller model or batch size, and do not "
                "keep tensors (e.g. every batch's outputs) in Python lists.")
    if outcome.timed_out:
        return (f"Your run did not finish within the {limits['time_limit_s']} s limit and was stopped "
                f"(while {_STAGE_WORDS.get(status.get('stage'), 'starting')}). Train for fewer epochs, use a "
                "smaller model, or look for an infinite loop or a sleep in your files.")
    if "error" in status:
        return status["error"]["message"]
    if status.get("stage") == "checked" and (status.get("params") or 0) > limits["param_budget"]:
        return (f"Not trained: your model has {status['params']:,} parameters, over the budget of "
                f"{limits['param_budget']:,} (see the parameter budget check). Make it smaller and resubmit.")
    if status.get("stage") != "done":
        return (f"Your code ended the grader's process early (exit status {outcome.returncode}, while "
                f"{_STAGE_WORDS.get(status.get('stage'), 'starting')}), before predictions were made. Remove any "
                "sys.exit(), os._exit(), os.kill() or quit() from your files.")
    return None


def score(status, predictions, labels, outcome, rubric):
    """Return (tests, metrics) where metrics holds the grader-computed val and test metrics (or None)."""
    limits = rubric["limits"]
    error = status.get("error", {})
    reason = _failure_reason(status, outcome, limits)
    stage = status.get("stage", "start")
    tests, scored = [], {"val": None, "test": None}

    built = stage in ("built", "checked", "trained", "done")
    if built:
        tests.append(_check("builds", rubric, True, f"build_model() returned {status.get('model_name')}."))
    elif error.get("check") == "output":
        tests.append(_check("builds", rubric, True, "build_model() returned an nn.Module."))
    else:
        tests.append(_check("builds", rubric, False, reason or "The submission did not load."))

    if built:
        tests.append(_check("output_shape", rubric, True, f"A batch of 2 images gives logits of shape (2, {NUM_CLASSES})."))
    elif error.get("check") == "output":
        tests.append(_check("output_shape", rubric, False, error["message"]))
    else:
        tests.append(_not_run("output_shape", rubric, "the model did not build."))

    if built:
        params, budget = status["params"], limits["param_budget"]
        ok = params <= budget
        tests.append(_check("param_budget", rubric, ok, f"{params:,} parameters (all, frozen included); budget "
                            f"{budget:,}." + ("" if ok else " Your model was not trained: make it smaller "
                                              "(fewer channels, a smaller head, or a smaller backbone).")))
    else:
        tests.append(_not_run("param_budget", rubric, "the model did not build."))

    if "preprocessing" in status:
        pre = status["preprocessing"]
        tests.append(_check("preprocessing", rubric, pre["ok"], pre["message"]))
    else:
        tests.append(_not_run("preprocessing", rubric, "the model did not build."))

    trained = reason is None and predictions is not None
    if trained:
        try:
            proba = {s: as_probabilities(predictions[s], s, len(labels[s])) for s in ("val", "test")}
            scored = {s: metrics.evaluate(labels[s], proba[s]) for s in ("val", "test")}
        except SubmissionError as err:
            trained, reason = False, str(err)
    if trained:
        epochs = len(status.get("history", []))
        tests.append(_check("trains", rubric, True, f"Trained {epochs} epochs in {outcome.seconds:.0f} s "
                            f"(limit {limits['time_limit_s']} s), peak memory {outcome.peak_rss_mb:.0f} MB "
                            f"(limit {limits['memory_limit_mb']} MB)."))
    else:
        tests.append(_check("trains", rubric, False, reason or "Training did not run."))

    if trained:
        tests.append(_auc_check(scored["test"]["auc"], rubric))
        mel, spec = scored["test"]["mel_recall"], rubric["checks"]["mel_recall_bonus"]
        ok = mel >= spec["threshold"]
        tests.append(_check("mel_recall_bonus", rubric, ok, f"Test melanoma recall {mel:.3f} (bonus at >= "
                            f"{spec['threshold']:.2f})." + ("" if ok else " Missing melanomas is the costly error: "
                            "class weights in make_loss() trade a little accuracy for many more melanomas caught.")))
    else:
        for key in ("test_auc", "mel_recall_bonus"):
            tests.append(_not_run(key, rubric, "training did not finish, so there are no predictions to score."))
    return tests, scored


def _auc_check(auc, rubric):
    spec = rubric["checks"]["test_auc"]
    target, floor, points = spec["target"], spec["floor"], float(spec["points"])
    fraction = min(1.0, max(0.0, (auc - floor) / (target - floor)))
    passed = auc >= target
    msg = f"Test macro AUC {auc:.4f}: target {target:.2f} for full points, partial credit above {floor:.2f}."
    if not passed:
        msg += (f" You earned {fraction:.0%} of the points. Ideas from the course: Adam, BatchNorm, augmentation "
                "(flips, small rotations), more epochs with a cosine schedule.")
    return _check("test_auc", rubric, passed, msg, score=points * fraction)

"""Turn what the sandbox reported into checks and points. Everything here is computed by the grader itself.

Each check's output says what was measured, what was expected, and what to change.
"""
import signal

from grader.protocol import (BUILT, CHANNEL_LOST, CHECKED, DONE, LOADED, REPORT_FD, SHAPED, STARTED, TRAINED,
                             as_probabilities, reached)
from locked import metrics, report
from locked.info import NUM_CLASSES
from locked.submission import SubmissionError


def _check(key, rubric, passed, output, score=None, ran=True):
    """One check's entry. status: "passed" (all its points), "partial" (some) or "failed" (none); a bonus keeps
    its points as max_score and says it is extra credit, outside the maximum. ran: False when the check could not
    run (its output then says why, after "Not run: "), so readers of the record need not parse the text."""
    spec = rubric.check(key)
    earned = round(spec.points if score is None and passed else 0.0 if score is None else score, 4)
    status = "passed" if passed else "partial" if earned > 0 else "failed"
    if status == "partial":
        output = f"Partial credit: {earned:g} of {spec.points:g} points ({earned / spec.points:.0%}). " + output
    if spec.bonus:
        output += " (Extra credit: counted in your score, not in the maximum.)"
    return {"key": key, "name": spec.name, "score": earned, "max_score": spec.points, "status": status,
            "output": output, "visibility": spec.visibility, "bonus": spec.bonus, "ran": ran}


def _not_run(key, rubric, reason):
    return _check(key, rubric, False, f"Not run: {reason}", ran=False)


# What the child was doing after each stage it reported (grader/child.py), in a student's words.
_STAGE_WORDS = {STARTED: "loading your files", LOADED: "building your model", BUILT: "checking your model's output",
                SHAPED: "checking train_transform", CHECKED: "training", TRAINED: "predicting", DONE: "finishing"}


def _environment_failure(outcome, limits):
    """The child ended before its first report, i.e. before any student code ran (importing torch, loading the
    data): the grading environment's failure, said so, with the instructor's fix."""
    if outcome.memory_exceeded:
        what = (f"it needed more than the {limits.memory_limit_mb:g} MB memory limit (peak seen "
                f"{outcome.peak_rss_mb:.0f} MB) just to import torch and load the data")
        fix = ("install the CPU build of torch (packaging/install_deps.sh; the default CUDA build needs about 300 MB "
               "more) or raise the sandbox memory limit (DERMA_MEMORY_LIMIT_MB)")
    elif outcome.timed_out:
        what = f"it did not even reach your files within the {limits.time_limit_s:g} s limit"
        fix = "the grading machine is overloaded or too slow: regrade, or raise the time limit (DERMA_TIME_LIMIT_S)"
    else:
        what = f"its process ended (exit status {outcome.returncode}) while importing torch and loading the data"
        fix = "read the child's printed output in grading_record.json (sandbox.output) and the image build log"
    return (f"The grader was stopped before your code ran: {what}. This is a problem with the grading environment, "
            f"not with your submission: please tell your instructor and resubmit once it is fixed. "
            f"(For the instructor: {fix}.)")


def grader_failure(status, outcome, limits):
    """The environment's failure, said for the student and the instructor, when the child reported nothing, not
    even STARTED (no student code ran); None when the student's code ran. The record keeps it: class summaries
    count it as a grader failure, and resume grades it again."""
    return None if status else _environment_failure(outcome, limits)


def _failure_reason(status, outcome, limits):
    """Why the child did not finish, in words a student can act on (None if it finished)."""
    if not status:  # nothing reported, not even STARTED: no student code ran
        return grader_failure(status, outcome, limits)
    if outcome.memory_exceeded:
        return (f"Your run used more than {limits.memory_limit_mb:g} MB of memory (peak seen "
                f"{outcome.peak_rss_mb:.0f} MB) and was stopped. Use a smaller model or batch size, and do not "
                "keep tensors (e.g. every batch's outputs) in Python lists.")
    if outcome.timed_out:
        return (f"Your run did not finish within the {limits.time_limit_s:g} s limit and was stopped "
                f"(while {_STAGE_WORDS.get(status.get('stage'), 'starting')}). Train for fewer epochs, use a "
                "smaller model, or look for an infinite loop or a sleep in your files.")
    if "error" in status:
        return status["error"]["message"]
    if status.get("stage") == CHECKED and (status.get("params") or 0) > limits.param_budget:
        return (f"Not trained: your model has {status['params']:,} parameters, over the budget of "
                f"{limits.param_budget:,} (see the parameter budget check). Make it smaller and resubmit.")
    if status.get("stage") != DONE and outcome.returncode == CHANNEL_LOST:
        return (f"Your code closed or replaced the grader's report pipe (the file descriptor in ${REPORT_FD}) while "
                f"{_STAGE_WORDS.get(status.get('stage'), 'starting')}, so the grader could not hear how your run "
                "ended. Do not close file descriptors your code did not open (os.close, os.closerange, os.dup2).")
    if status.get("stage") != DONE and outcome.returncode == -signal.SIGKILL:
        # Not the grader's kill (that sets memory_exceeded or timed_out). Where no cgroup could be made (a Docker or
        # Gradescope container), the kernel's out-of-memory killer stops a fast-growing run between two of the
        # grader's memory checks (0.1 s apart), at the container's limit: nearly always memory, rarely os.kill.
        doing = _STAGE_WORDS.get(status.get("stage"), "starting")
        return (f"Your run was killed by the system (SIGKILL) while {doing}: almost always because the grading "
                f"machine ran out of memory (the grader last saw {outcome.peak_rss_mb:.0f} MB of memory in use; the "
                f"limit is {limits.memory_limit_mb:g} MB), between two of the grader's checks. Use a smaller model or "
                "batch size, and do not keep tensors (e.g. every batch's outputs) in Python lists. (If your files call "
                "os.kill(), remove it.)")
    if status.get("stage") != DONE:
        return (f"Your code ended the grader's process early (exit status {outcome.returncode}, while "
                f"{_STAGE_WORDS.get(status.get('stage'), 'starting')}), before predictions were made. Remove any "
                "sys.exit(), os._exit(), os.kill() or quit() from your files, and do not close file descriptors "
                "your code did not open.")
    return None


def cut_by_time_limit(status):
    """(epochs trained, epochs planned) when the locked loop stopped training before an epoch that would not have
    finished within the time limit (locked/engine.py fit's deadline), else None."""
    planned, done = status.get("epochs"), len(status.get("history", []))
    return (done, planned) if reached(status, TRAINED) and planned and done < planned else None


def _cut_words(status, limits):
    done, planned = cut_by_time_limit(status)
    epoch = max((row["seconds"] for row in status.get("history", [])), default=0.0)  # as the child reported it
    return (f"Trained {done} of {planned} epochs within the {limits.time_limit_s:g} s limit: another epoch (up to "
            f"{epoch:.0f} s each here) and the predictions would not have finished in time, so training stopped "
            f"after epoch {done}")


def score(status, predictions, labels, outcome, rubric):
    """Return (tests, metrics) where metrics holds the grader-computed val and test metrics (or None)."""
    limits = rubric.limits
    reason = _failure_reason(status, outcome, limits)
    tests, scored = [], {"val": None, "test": None}

    # A check is credited only when the child reported the stage that passes it (grader/protocol.py).
    built, shaped = reached(status, BUILT), reached(status, SHAPED)
    if built:
        tests.append(_check("builds", rubric, True, f"build_model() returned {status.get('model_name')}."))
    else:
        tests.append(_check("builds", rubric, False, reason or "The submission did not load."))

    if shaped:
        tests.append(_check("output_shape", rubric, True, f"A batch of 2 images gives logits of shape (2, {NUM_CLASSES})."))
    elif built:
        tests.append(_check("output_shape", rubric, False, reason or "The output check did not finish."))
    else:
        tests.append(_not_run("output_shape", rubric, "the model did not build."))

    not_built = "the model did not build." if not built else "the model's output did not pass its check."
    if shaped and status.get("params") is not None:
        params, budget = status["params"], limits.param_budget
        ok = params <= budget
        tests.append(_check("param_budget", rubric, ok, f"{params:,} parameters (all, frozen included); budget "
                            f"{budget:,}." + ("" if ok else " Your model was not trained: make it smaller "
                                              "(fewer channels, a smaller head, or a smaller backbone).")))
    else:
        tests.append(_not_run("param_budget", rubric, not_built))

    if "preprocessing" in status:
        pre = status["preprocessing"]
        tests.append(_check("preprocessing", rubric, pre["ok"], pre["message"]))
    else:
        tests.append(_not_run("preprocessing", rubric, not_built))

    trained = reason is None and predictions is not None
    if trained:
        try:
            proba = {s: as_probabilities(predictions[s], s, len(labels[s])) for s in ("val", "test")}
            scored = {s: metrics.evaluate(labels[s], proba[s]) for s in ("val", "test")}
        except SubmissionError as err:
            trained, reason = False, str(err)
    cut = cut_by_time_limit(status) if trained else None
    if cut and limits.on_time_limit == "zero":
        trained, scored = False, {"val": None, "test": None}
        reason = (f"{_cut_words(status, limits)}. This course scores a run that does not finish its epochs within "
                  f"the limit as a timeout: no points for training or the test. Set EPOCHS to at most {cut[0]} in "
                  "train_config.py, or use a smaller model.")
    if trained and cut:
        tests.append(_check("trains", rubric, False, (
            f"{_cut_words(status, limits)} and that model was scored. For all points, set EPOCHS to at most {cut[0]} "
            "in train_config.py, or use a smaller model."), score=rubric.check("trains").points * cut[0] / cut[1]))
    elif trained:
        epochs = len(status.get("history", []))
        tests.append(_check("trains", rubric, True, f"Trained {epochs} epochs in {outcome.seconds:.0f} s "
                            f"(limit {limits.time_limit_s:g} s), peak memory {outcome.peak_rss_mb:.0f} MB "
                            f"(limit {limits.memory_limit_mb:g} MB)."))
    else:
        tests.append(_check("trains", rubric, False, reason or "Training did not run."))

    if trained:
        tests.append(_auc_check(scored["test"]["auc"], rubric))
        tests.append(_mel_bonus_check(scored["test"], rubric))
    else:
        for key in ("test_auc", "mel_recall_bonus"):
            tests.append(_not_run(key, rubric, "training did not finish, so there are no predictions to score."))
    return tests, scored


def _mel_bonus_check(test, rubric):
    """Melanoma recall at the threshold AND false alarms within the limit (locked.report.mel_bonus_met): recall alone
    paid an evaluation output that calls every lesion melanoma (issue 22)."""
    spec = rubric.check("mel_recall_bonus")
    ok = report.mel_bonus_met(test, spec.threshold, spec.max_false_alarm)
    msg = (f"Test melanoma recall {test['mel_recall']:.3f}: {report.mel_operating_point(test)}. The bonus needs "
           f"recall >= {spec.threshold:.2f} with at most {report.share(spec.max_false_alarm)} of other lesions sent to "
           "biopsy.")
    if test["mel_recall"] < spec.threshold:
        msg += (" Missing melanomas is the costly error: class weights in make_loss() trade a little accuracy for many "
                "more melanomas caught.")
    elif not ok:
        msg += (" Calling lesions melanoma is not catching them: a screening aid must keep false alarms manageable. "
                "Weaker class weights in make_loss() (e.g. the square root of N / (7 * n_c)) call fewer lesions "
                "melanoma.")
    return _check("mel_recall_bonus", rubric, ok, msg)


def _auc_check(auc, rubric):
    spec = rubric.check("test_auc")
    target, floor, points = spec.target, spec.floor, spec.points
    fraction = min(1.0, max(0.0, (auc - floor) / (target - floor)))
    passed = auc >= target
    msg = f"Test macro AUC {auc:.4f}: target {target:.2f} for full points, partial credit above {floor:.2f}."
    if not passed:
        msg += (" Ideas from the course: Adam, BatchNorm, augmentation (flips, small rotations), more epochs with a "
                "cosine schedule.")
    return _check("test_auc", rubric, passed, msg, score=points * fraction)

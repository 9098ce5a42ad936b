"""What a run's own numbers say: the course's symptom -> cause cheat sheet, applied to one run.

Why: the strategy guide lists symptoms and causes ("loss stuck -> learning rate", "accuracy = the nevus share and
nothing else predicted -> class weights", "AUC collapsed -> train/validation mismatch"); students who only run
`python -m locked.train` never see them matched to their numbers. Each rule here reads the per-epoch history, the
per-class metrics and (when known) the preprocessing measurement and config, and names the symptom with its
numbers, the course experiment that teaches it and the change to try.

Also the grading-time forecast: the submission's own measured speed, scaled to the grading box's CPU share and
compared with the rubric's time limit.

Pure functions over plain dicts (stdlib only), so the grader's parent can call them without torch or sklearn.
Which rules fire on each of the course's solutions, and why none misleads there: docs/DIAGNOSIS.md.
"""
import math

from locked.history import HISTORY_KEYS
from locked.info import CLASS_NAMES
from locked.report import mel_operating_point, share
from locked.settings import TIME_LIMIT_POLICIES
from locked.terms import TERMS

#: Below this validation AUC a model "learned nothing useful" (chance is 0.5; the course's weakest real model, the
#: baseline, scores 0.82; the stuck low-lr runs 0.65-0.66, the Normalize trap 0.54).
STUCK_AUC = 0.75
#: A final training loss at or above this fraction of the class-share loss means the model learned only the class
#: shares: predicting each class's frequency for every image already scores that loss.
FLAT_LOSS_FRACTION = 0.90
#: Majority collapse: nevus recall at least this, melanoma recall 0 and at least MIN_ZERO_CLASSES of the six other
#: classes never predicted correctly.
COLLAPSE_NV_RECALL = 0.95
MIN_ZERO_CLASSES = 4
#: Validation collapsed while training is fine: validation accuracy this far below the final training accuracy.
COLLAPSE_ACC_GAP = 0.25
#: Overfitting: the final validation loss at least this factor above its best, which came >= 3 epochs earlier, while
#: the training loss kept falling. Validation loss is noisy: synthetic runs of exps 11, 12 and 15 swing by 10-35%
#: from epoch to epoch (one spike of 1.7x) without a trend, and a looser rule called that overfitting.
OVERFIT_RISE = 1.20
OVERFIT_MIN_EPOCHS_AFTER_BEST = 3
#: Good ranking: an AUC from which the melanoma-recall lesson (not a training problem) is the point.
GOOD_AUC = 0.85
#: Diverging: a training loss above this (cross-entropy starts at ln 7 = 1.95) or rising over the run.
DIVERGED_TRAIN_LOSS = 3 * math.log(7)
RISING_LOSS_FACTOR = 1.2

#: The grading box's CPU share of one core (its time limit is the terms', locked/terms.py). Gradescope's default
#: autograder box gives about half a core: experiment 23 measured 114 ms per step on one full core, ~250 s for 10
#: epochs, ~500 s there (issue 14).
GRADING_CPU_SHARE = 0.5
#: Start-up the grader's child spends before and after training (Python + torch import, data, model build, the
#: preprocessing check), seconds on one full core; measured in docs/DIAGNOSIS.md.
CHILD_OVERHEAD_S = 8.0
#: Warn when the forecast uses more than this fraction of the limit: grading boxes vary and a timeout costs most
#: of the points.
FORECAST_MARGIN = 0.8

NEVUS = CLASS_NAMES.index("nv")


def _finding(rule, title, evidence, lesson, change):
    return {"rule": rule, "title": title, "evidence": evidence, "lesson": lesson, "try": change}


def _losses(history, key):
    return [row.get(key) for row in history]


def class_share_loss(metrics):
    """Cross-entropy of a model that predicts every class's share for every image (the entropy of the shares)."""
    support = [metrics["per_class"][c]["support"] for c in CLASS_NAMES]
    n = sum(support)
    return -sum(s / n * math.log(s / n) for s in support if s)


def _nevus_share(metrics):
    support = [metrics["per_class"][c]["support"] for c in CLASS_NAMES]
    return support[NEVUS] / sum(support)


def _lr_text(history, config):
    """The learning rate train_config.py configured: the run's config (locked.train.configured_lr), else the history's
    when no scheduler moved it over two epochs or more. Never a scheduler's momentary rate: OneCycleLR's first is
    max_lr / 25, and "lr=0.004" beside "try lr=0.1" misled a student who had written 0.1 (issue 22)."""
    config = config or {}
    lr, rates = config.get("lr"), {row.get("lr") for row in history}
    if lr is None and len(history) > 1 and len(rates) == 1:
        lr = rates.pop()
    if lr is None:
        return "your learning rate"
    opt, scheduler = config.get("optimizer"), config.get("scheduler")
    return f"{opt + ' ' if opt else ''}lr={lr:g}{' under ' + scheduler if scheduler else ''}"


def rule_diverged(history, metrics, config=None, preprocessing=None, error=None):
    """The loss exploded or climbed: the learning rate is too high."""
    if error and "diverged" in str(error.get("message", "")).lower():
        return _finding("diverged", "The run stopped", error["message"].split(". ")[0] + ".",
                        "exp 01-05 (Ch2: optimizers): the learning rate must suit the optimizer",
                        "a 10x smaller learning rate, e.g. Adam(lr=1e-3) or SGD(lr=0.01, momentum=0.9).")
    train = [v for v in _losses(history, "train_loss") if v is not None]
    if len(train) < 2:
        return None
    bad = [int(row["epoch"]) for row in history if row["train_loss"] is None or not math.isfinite(row["train_loss"])
           or row["train_loss"] > DIVERGED_TRAIN_LOSS or row["val_loss"] is None]
    rising = train[-1] > train[0] * RISING_LOSS_FACTOR
    if not bad and not rising:
        return None
    if bad:
        row = history[bad[0] - 1]
        num = lambda v: "not finite" if v is None else f"{v:.3g}"  # noqa: E731
        what = (f"at epoch {bad[0]} the training loss was {num(row['train_loss'])} and the validation loss "
                f"{num(row['val_loss'])} (a model that guesses scores {math.log(7):.2f})")
    else:
        what = f"the training loss rose from {train[0]:.3f} (epoch 1) to {train[-1]:.3f} (epoch {len(train)})"
    return _finding("diverged", "Training is diverging", f"{what}, with {_lr_text(history, config)}.",
                    "exp 01-05 (Ch2: optimizers): the learning rate must suit the optimizer",
                    "a 10x smaller learning rate (Adam's usual lr=1e-3; SGD lr=0.01 with momentum=0.9).")


def rule_preprocessing(history, metrics, config=None, preprocessing=None, error=None):
    """Training is fine but validation collapsed: train and validation inputs differ (the Normalize trap)."""
    if not history or metrics is None:
        return None
    last = history[-1]
    train_acc = last["train_acc"] if last["train_acc"] is not None else 0.0
    train_fine = train_acc >= _nevus_share(metrics) + 0.05
    collapsed = metrics["auc"] < STUCK_AUC or metrics["accuracy"] < train_acc - COLLAPSE_ACC_GAP
    if not (train_fine and collapsed):
        return None
    numbers = (f"training accuracy {train_acc:.3f}, but validation accuracy {metrics['accuracy']:.3f} and "
               f"AUC {metrics['auc']:.3f}")
    if preprocessing is None:
        return _finding("preprocessing", "Validation collapsed while training went well",
                        f"{numbers}. The usual cause is a train_transform that changes the inputs (exp 14).",
                        "exp 14 (the Normalize trap): train and validation must see the same kind of input",
                        "run `pytest tests/`: its preprocessing check compares your train_transform with validation's.")
    if preprocessing.get("ok", True):
        return None
    measured = preprocessing.get("measured") or {}
    stats = ""
    if measured.get("train") and measured.get("val"):
        fmt = lambda v: "(" + ", ".join(f"{x:.2f}" for x in v) + ")"  # noqa: E731
        t, v = measured["train"], measured["val"]
        stats = (f" Per-channel mean of your training inputs {fmt(t['mean'])} vs validation {fmt(v['mean'])}; "
                 f"std {fmt(t['std'])} vs {fmt(v['std'])}.")
    found = [line for line in str(preprocessing.get("message", "")).splitlines()
             if line.startswith("Found in train_transform:")]
    culprit = found[0].replace("Found in train_transform: ", "") if found else "a step in train_transform"
    if not stats:  # no numbers passed: quote the check's own measured lines, channel means first
        lines = [line.strip() for line in str(preprocessing.get("message", "")).splitlines()]
        stats = " " + next((line for key in ("per-channel mean", "per-channel std", "outside [0, 1]")
                            for line in lines if key in line), "")
    return _finding("preprocessing", "Train/validation preprocessing mismatch",
                    f"{numbers}. Your train_transform changes the inputs: {culprit}.{stats.rstrip()}",
                    "exp 14 (the Normalize trap): validation and test images are ToTensor() only",
                    "remove it from train_transform; to normalise, do it inside forward() so both splits see it.")


def rule_loss_flat(history, metrics, config=None, preprocessing=None, error=None):
    """The loss barely moved from the class-share level: the learning rate is too low for the optimizer."""
    if not history or metrics is None or metrics["auc"] >= STUCK_AUC:
        return None
    last = history[-1].get("train_loss")
    floor = class_share_loss(metrics)
    if last is None or last < FLAT_LOSS_FRACTION * floor:
        return None
    config = config or {}
    change = "a larger learning rate: Adam(lr=1e-3), or SGD(lr=0.1) / SGD(lr=0.01, momentum=0.9)."
    if config.get("optimizer") == "SGD" and (config.get("lr") or 0) >= 0.1:
        # the baseline itself on a small stand-in: never suggest the rate the student already has
        change = (f"momentum or an adaptive optimizer rather than a larger rate (yours is already lr="
                  f"{config['lr']:g}): SGD(lr=0.01, momentum=0.9) or Adam(lr=1e-3); or more epochs.")
    if config.get("scheduler") == "OneCycleLR":
        change = ("OneCycleLR also gives SGD momentum 0.85-0.95, steps 7-20x larger than its max_lr, which can kill "
                  "a network as surely as too small a rate stalls it: with the baseline's SGD, OneCycleLR(..., "
                  "max_lr=0.1, cycle_momentum=False) or max_lr=0.01 (student/train_config.py).")
    return _finding("loss_flat", "The loss barely moved",
                    f"final training loss {last:.3f} vs {floor:.3f} for predicting the class shares alone; "
                    f"validation AUC {metrics['auc']:.3f}, with {_lr_text(history, config)}.",
                    "exp 03-04 (Ch2: optimizers): too small a learning rate leaves the model stuck near chance",
                    change)


def rule_majority(history, metrics, config=None, preprocessing=None, error=None):
    """Accuracy is the nevus share and the rare classes are never found: class weights."""
    if metrics is None:
        return None
    recall = {c: metrics["per_class"][c]["recall"] for c in CLASS_NAMES}
    zero = [c for c in CLASS_NAMES if c != "nv" and recall[c] == 0]
    if recall["nv"] < COLLAPSE_NV_RECALL or recall["mel"] > 0 or len(zero) < MIN_ZERO_CLASSES:
        return None
    return _finding("majority", "The model predicts nevus for (nearly) everything",
                    f"accuracy {metrics['accuracy']:.3f} vs nevus share {_nevus_share(metrics):.3f}; nevus recall "
                    f"{recall['nv']:.2f}, recall 0 for {', '.join(zero)}.",
                    "exp 15 (class weights): the loss must count rare classes more",
                    "make_loss: nn.CrossEntropyLoss(weight=class_counts.sum() / (7 * class_counts)).")


def rule_overfitting(history, metrics, config=None, preprocessing=None, error=None):
    """Validation loss rising while training loss falls."""
    val = _losses(history, "val_loss")
    if len(history) < 3 or any(v is None for v in val):
        return None
    best = min(range(len(val)), key=val.__getitem__)
    train = _losses(history, "train_loss")
    if any(v is None for v in train):
        return None
    if (len(val) - 1 - best < OVERFIT_MIN_EPOCHS_AFTER_BEST or val[-1] < OVERFIT_RISE * val[best]
            or train[-1] >= train[best]):
        return None
    return _finding("overfitting", "Overfitting: validation loss rising while training loss falls",
                    f"validation loss best {val[best]:.3f} at epoch {best + 1}, {val[-1]:.3f} at epoch {len(val)}; "
                    f"training loss {train[best]:.3f} -> {train[-1]:.3f} over the same epochs.",
                    "exp 09, 11-13 (dropout, augmentation), exp 19-20 (epochs, cosine schedule)",
                    f"augmentation (RandomHorizontalFlip, small RandomRotation), dropout, or about {best + 1} epochs.")


def _bonus(config):
    """The bonus's rule (locked.report.mel_bonus_met): the rubric's values where the grader passes them as
    config["bonus"], else the terms this installation shows (locked/terms.py)."""
    rule = (config or {}).get("bonus") or {}
    return rule.get("threshold", TERMS.mel_threshold), rule.get("max_false_alarm", TERMS.max_false_alarm)


def rule_melanoma(history, metrics, config=None, preprocessing=None, error=None):
    """The deployment lesson, both ways: a good AUC that misses most melanomas, or melanomas caught by calling too
    many other lesions melanoma (a screening aid keeps false alarms manageable)."""
    if metrics is None:
        return None
    threshold, max_false_alarm = _bonus(config)
    point = mel_operating_point(metrics)
    weighted = (config or {}).get("class_weights")
    if metrics["mel_recall"] >= threshold:
        if point is None or metrics["mel_false_alarm"] <= max_false_alarm:
            return None
        return _finding("melanoma", "Melanomas caught by calling too many lesions melanoma",
                        f"AUC {metrics['auc']:.3f}; it {point}, over the {share(max_false_alarm)} the bonus allows.",
                        "exp 15 and the deployment question: a screening aid catches melanomas while keeping false "
                        "positives manageable",
                        ("weaker class weights in make_loss (the square root of N / (7 * n_c))" if weighted else
                         "fewer lesions called melanoma: find what raises P(melanoma) for every image (a loss or "
                         "an output that favours it)") + ".")
    if metrics["auc"] < GOOD_AUC:
        return None
    support = metrics["per_class"]["mel"]["support"]
    missed = round((1 - metrics["mel_recall"]) * support)
    change = ("a decision threshold on P(melanoma) below argmax's (python -m instructor report shows the trade-off)"
              if weighted else "class weights in make_loss (exp 15), or a lower decision threshold on P(melanoma)")
    return _finding("melanoma", "Good AUC, but most melanomas are missed",
                    f"AUC {metrics['auc']:.3f}, melanoma recall {metrics['mel_recall']:.2f} ({missed} of {support} "
                    f"melanomas missed; the bonus needs {threshold:.2f})" + (f"; it {point}." if point else "."),
                    "exp 15 and the deployment question: the model that wins on AUC is not the one you deploy",
                    change + ".")


#: In order of precedence. A cause earlier in the list explains (and suppresses) the symptoms listed with it:
#: a diverged or stuck run, or a preprocessing mismatch, is not a class-weight or overfitting problem.
RULES = (rule_diverged, rule_preprocessing, rule_loss_flat, rule_majority, rule_overfitting, rule_melanoma)
SUPPRESSES = {"diverged": {"preprocessing", "loss_flat", "majority", "overfitting", "melanoma"},
              "preprocessing": {"loss_flat", "majority", "overfitting", "melanoma"},
              "loss_flat": {"majority", "overfitting"}, "majority": {"melanoma"}}


def clean_history(history):
    """History rows with only finite-or-infinite numbers (else None) under the known keys.

    In the grader the history comes from the child's report, which student code can forge: a row with a
    string or a list where a number belongs must not crash the report card.
    """
    rows = []
    for i, row in enumerate(history if isinstance(history, list) else []):
        if not isinstance(row, dict):
            continue
        clean = {k: float(row[k]) if isinstance(row.get(k), (int, float)) and not isinstance(row.get(k), bool)
                 else None for k in HISTORY_KEYS}
        clean["epoch"] = i + 1
        rows.append(clean)
    return rows


def diagnose(history, metrics, config=None, preprocessing=None, error=None):
    """The findings for one run, most fundamental first.

    history: locked.engine.fit rows; metrics: locked.metrics.evaluate of the validation (or test) split, or None if
    the run did not finish; config: optional {"optimizer", "lr", "class_weights", ...}; preprocessing: optional
    locked.consistency result as {"ok", "message", "measured"}; error: optional {"check", "message"}.
    """
    history = clean_history(history)
    found, silenced = [], set()
    for rule in RULES:
        f = rule(history, metrics, config, preprocessing, error)
        if f and f["rule"] not in silenced:
            found.append(f)
            silenced |= SUPPRESSES.get(f["rule"], set())
    return found


def format_findings(findings):
    """The "what your numbers say" block as text."""
    lines = ["What your numbers say:"]
    if not findings:
        return "\n".join(lines + ["  Nothing in the history or per-class table matches a known problem."])
    for f in findings:
        lines += [f"  * {f['title']}: {f['evidence']}", f"    Lesson: {f['lesson']}.", f"    Try: {f['try']}"]
    return "\n".join(lines)


def grading_record_findings(record):
    """The findings for a grading record (validation metrics, history, the preprocessing check, the error)."""
    tests = {t.get("key"): t for t in record.get("tests", [])}
    pre = tests.get("preprocessing")
    preprocessing = None
    if pre and pre.get("ran"):  # grader/scoring.py marks a check that could not run
        preprocessing = {"ok": pre["status"] == "passed", "message": pre["output"]}
    metrics = (record.get("metrics") or {}).get("val")
    rule = ((record.get("rubric") or {}).get("checks") or {}).get("mel_recall_bonus")
    return diagnose(record.get("history"), metrics, {"bonus": rule} if rule else None, preprocessing,
                    record.get("error"))


def from_grading_record(record):
    """The diagnosis block for the grader's report card."""
    return format_findings(grading_record_findings(record))


def forecast(step_seconds, steps_per_epoch, epochs, eval_seconds, predict_seconds, time_limit_s=TERMS.time_limit_s,
             cpu_share=GRADING_CPU_SHARE, overhead_s=CHILD_OVERHEAD_S, on_time_limit=TERMS.on_time_limit):
    """Forecast the graded run's wall-clock time from one-thread measurements on this machine.

    step_seconds: one training step (transform, forward, backward, update) with one thread; eval_seconds: one pass
    over the validation split (done after every epoch); predict_seconds: the final val + test prediction.
    on_time_limit: what the grader does with epochs that would not finish in time (locked/settings.py).
    Returns {"seconds", "full_core_seconds", "limit", "cpu_share", "fits", "tight", "on_time_limit", ...}.
    """
    core = overhead_s + epochs * (steps_per_epoch * step_seconds + eval_seconds) + predict_seconds
    seconds = core / cpu_share
    return {"seconds": seconds, "full_core_seconds": core, "limit": time_limit_s, "cpu_share": cpu_share,
            "epochs": epochs, "epoch_seconds": (steps_per_epoch * step_seconds + eval_seconds) / cpu_share,
            "fits": seconds <= time_limit_s, "tight": seconds > FORECAST_MARGIN * time_limit_s,
            "on_time_limit": on_time_limit}


def format_forecast(f, batch_size=None):
    """The forecast against the limit, the method in one line, and what to change when it does not fit."""
    line = (f"Grading-time forecast: about {f['seconds']:.0f} s of the {f['limit']:.0f} s limit on the grading box.\n"
            f"  (Measured here: {f['full_core_seconds']:.0f} s of work on one core; the box gives {f['cpu_share']:g} "
            f"of a core. Load on either machine moves this, so it warns above {FORECAST_MARGIN:.0%} of the limit.)")
    if not f["tight"]:
        return line
    fixed = f["seconds"] - f["epochs"] * f["epoch_seconds"]
    max_epochs = max(0, int((FORECAST_MARGIN * f["limit"] - fixed) // f["epoch_seconds"]))
    verdict = "too close to the limit."
    if not f["fits"]:
        verdict = f"WILL NOT FINISH: {TIME_LIMIT_POLICIES[f['on_time_limit']]}."
    return (f"{line}\n  WARNING: {verdict} Fit it in: EPOCHS = {max_epochs} (from {f['epochs']}), a narrower or "
            f"smaller model (fewer channels, no 224-pixel upsampling), or a larger BATCH_SIZE"
            f"{f' than {batch_size}' if batch_size else ''} (fewer, cheaper steps per epoch).")

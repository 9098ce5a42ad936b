"""The text the course prints: class distribution, per-class report, headline metrics, verdict.

Targets default to the terms this installation shows (locked/terms.py); the grader passes its rubric's."""
from locked.info import CLASS_NAMES, LONG_NAMES
from locked.terms import TERMS


def data_banner(provenance):
    """One line that says which data a run used. Synthetic and unofficial data are shouted."""
    label = provenance["label"]
    if provenance["kind"] == "official":
        return f"Data: {label}"
    return f"*** Data: {label}. Numbers are NOT comparable to the course's published results. ***"


def class_distribution(splits):
    lines = ["Class distribution:", f"  {'class':<6} {'train':>12} {'val':>12}   meaning"]
    train, val = splits.class_counts("train"), splits.class_counts("val")
    nt, nv = sum(train), sum(val)
    for i, name in enumerate(CLASS_NAMES):
        lines.append(f"  {name:<6} {train[i]:>5} {train[i] / nt:>6.1%} {val[i]:>5} {val[i] / nv:>6.1%}   {LONG_NAMES[i]}")
    lines.append(f"  {'total':<6} {nt:>5} {'':>6} {nv:>5}")
    return "\n".join(lines)


def per_class_table(metrics):
    lines = [f"  {'class':<6} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}"]
    for name in CLASS_NAMES:
        m = metrics["per_class"][name]
        flag = "  <- melanoma" if name == "mel" else ""
        lines.append(f"  {name:<6} {m['precision']:>9.2f} {m['recall']:>7.2f} {m['f1']:>6.2f} {m['support']:>8}{flag}")
    return "\n".join(lines)


def share(fraction):
    """A fraction as a percentage with no more digits than it needs: 25%, 14.2%, 25.1% (just over 25%)."""
    return f"{fraction * 100:.3g}%"


def mel_bonus_met(metrics, threshold=TERMS.mel_threshold, max_false_alarm=TERMS.max_false_alarm):
    """The melanoma bonus, one rule for the grader's points, the verdict, the diagnosis and the class report: recall at
    or above `threshold` AND false alarms (share of other lesions predicted melanoma) at or below `max_false_alarm`.
    Recall alone would pay a model that calls every lesion melanoma."""
    return metrics["mel_recall"] >= threshold and metrics["mel_false_alarm"] <= max_false_alarm


def mel_operating_point(metrics):
    """The bonus's two numbers as a student reads them: "caught 50 of 100 melanomas; sent 14.2% of other lesions to
    biopsy" (locked.metrics.evaluate's counts). None for a table of headline numbers without those counts."""
    if "mel_false_alarm" not in metrics:
        return None
    return (f"caught {metrics['mel_caught']} of {metrics['mel_total']} melanomas; sent "
            f"{share(metrics['mel_false_alarm'])} of other lesions to biopsy")


def headline(metrics, params=None, seconds=None, threshold=TERMS.mel_threshold, max_false_alarm=TERMS.max_false_alarm,
             auc_target=TERMS.auc_target):
    parts = [f"Macro AUC          {metrics['auc']:.4f}   (target >= {auc_target:.2f})",
             f"Melanoma recall    {metrics['mel_recall']:.2f}     (bonus >= {threshold:.2f}, with false alarms <= "
             f"{max_false_alarm:.2f})"]
    if "mel_false_alarm" in metrics:
        parts.append(f"False alarms       {metrics['mel_false_alarm']:.2f}     (other lesions called melanoma: "
                     f"{metrics['other_flagged']} of {metrics['other_total']})")
    parts += [f"Cancer sensitivity {metrics['cancer_sensitivity']:.4f}   (mean recall of akiec, bcc, mel)",
              f"Balanced accuracy  {metrics['balanced_accuracy']:.4f}",
              f"Accuracy           {metrics['accuracy']:.4f}"]
    if params is not None:
        parts.append(f"Parameters         {params:,}")
    if seconds is not None:
        parts.append(f"Training time      {seconds:.1f} s")
    return "\n".join(parts)


def verdict(metrics, threshold=TERMS.mel_threshold, max_false_alarm=TERMS.max_false_alarm, auc_target=TERMS.auc_target):
    """The course's one-line verdict: AUC target, then the melanoma bonus, which is the clinical question: melanomas
    caught while keeping false alarms manageable (mel_bonus_met). Headline numbers without the false-alarm counts
    (mel_operating_point is None) are judged on recall alone."""
    auc_ok = metrics["auc"] >= auc_target
    mel_ok = metrics["mel_recall"] >= threshold
    point = mel_operating_point(metrics)
    if mel_ok and point and not mel_bonus_met(metrics, threshold, max_false_alarm):
        auc = "AUC target met" if auc_ok else f"AUC {metrics['auc']:.3f} below {auc_target:.2f}"
        return (f"VERDICT: {auc}, but no melanoma bonus: it {point}, over the {share(max_false_alarm)} the bonus "
                "allows. Calling lesions melanoma is not catching them: a screening aid keeps false alarms "
                "manageable.")
    said = f" It {point}." if point else ""
    half = "half the melanomas" if threshold == 0.5 else f"{share(threshold)} of melanomas"
    misses = f"misses {1 - metrics['mel_recall']:.0%} of melanomas"
    if auc_ok and mel_ok:
        return f"VERDICT: beats the baseline target AND catches at least {half}. Well done.{said}"
    if auc_ok:
        return (f"VERDICT: AUC target met, but it {misses}. "
                f"A model that wins on AUC is not the one you would deploy.{said}")
    if mel_ok:
        return f"VERDICT: melanoma recall bonus met, AUC {metrics['auc']:.3f} still below {auc_target:.2f}.{said}"
    return (f"VERDICT: below target (AUC {metrics['auc']:.3f} < {auc_target:.2f}), and it {misses}; "
            f"keep experimenting.{said}")

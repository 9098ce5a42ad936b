"""The text the course prints: class distribution, per-class report, headline metrics, verdict."""
from locked.info import CLASS_NAMES, LONG_NAMES, TARGET_AUC, TARGET_MEL_RECALL


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


def headline(metrics, params=None, seconds=None):
    parts = [f"Macro AUC          {metrics['auc']:.4f}   (target >= {TARGET_AUC:.2f})",
             f"Melanoma recall    {metrics['mel_recall']:.2f}     (bonus >= {TARGET_MEL_RECALL:.2f})",
             f"Cancer sensitivity {metrics['cancer_sensitivity']:.4f}   (mean recall of akiec, bcc, mel)",
             f"Balanced accuracy  {metrics['balanced_accuracy']:.4f}",
             f"Accuracy           {metrics['accuracy']:.4f}"]
    if params is not None:
        parts.append(f"Parameters         {params:,}")
    if seconds is not None:
        parts.append(f"Training time      {seconds:.1f} s")
    return "\n".join(parts)


def verdict(metrics):
    """The course's one-line verdict: AUC target, then the melanoma bonus, which is the clinical question."""
    auc_ok = metrics["auc"] >= TARGET_AUC
    mel_ok = metrics["mel_recall"] >= TARGET_MEL_RECALL
    if auc_ok and mel_ok:
        return "VERDICT: beats the baseline target AND catches at least half the melanomas. Well done."
    if auc_ok:
        return (f"VERDICT: AUC target met, but it misses {1 - metrics['mel_recall']:.0%} of melanomas. "
                "A model that wins on AUC is not the one you would deploy.")
    if mel_ok:
        return f"VERDICT: melanoma recall bonus met, AUC {metrics['auc']:.3f} still below {TARGET_AUC:.2f}."
    return f"VERDICT: below target (AUC {metrics['auc']:.3f} < {TARGET_AUC:.2f}); keep experimenting."

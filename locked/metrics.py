"""The course's metrics. Definitions are fixed; scikit-learn does the arithmetic.

Every function validates its inputs first and names the argument and the fix, like sklearn.metrics does.
"""
import numpy as np

from locked.info import CANCER_CLASSES, CLASS_NAMES, MEL, NUM_CLASSES

PROBA_ATOL = 1e-4  # how far a row of probabilities may sum from 1 (float32 outputs of a softmax are this close)


def check_predictions(y_true, proba, *, atol=PROBA_ATOL):
    """Validate labels and class probabilities; return them as (int64 array, float64 array).

    y_true: shape (N,) or (N, 1), integers in [0, 7). proba: shape (N, 7), finite, rows summing to 1.
    Logits are not probabilities: pass them through ``softmax`` first.
    """
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y_true must have shape (N,) or (N, 1); got {y.shape}.")
    if y.size == 0:
        raise ValueError("y_true is empty; there is nothing to score.")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"y_true must hold integer class indices; got dtype {y.dtype} with non-integer values.")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        raise ValueError(f"y_true must hold class indices 0..{NUM_CLASSES - 1}; found {y.min()}..{y.max()}.")

    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"proba must have shape (N, {NUM_CLASSES}), one column per class {CLASS_NAMES}; got {p.shape}."
        )
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"proba has {p.shape[0]} rows but y_true has {y.shape[0]} labels; they must match.")
    bad = ~np.isfinite(p)
    if bad.any():
        raise ValueError(f"proba has {int(bad.sum())} NaN or infinite values (first in row {int(np.argwhere(bad)[0, 0])}).")
    if (p < -atol).any() or (p > 1 + atol).any():
        raise ValueError("proba must hold probabilities in [0, 1]; got values outside. Apply softmax to logits first.")
    sums = p.sum(axis=1)
    off = np.abs(sums - 1) > atol
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(f"proba rows must sum to 1; row {i} sums to {sums[i]:.6f}. Apply softmax to logits first.")
    return y, p


def softmax(logits):
    """Row-wise softmax in float64 (numerically stable)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def evaluate(y_true, proba):
    """All the course's metrics for one split, as plain Python values (JSON-ready)."""
    # Imported here, not at the top: scikit-learn costs ~100 MB, and the grader's parent must stay small while
    # the sandboxed child trains (Gradescope's box has 768 MB for both).
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

    y, p = check_predictions(y_true, proba)
    labels = list(range(NUM_CLASSES))
    missing = sorted(set(labels) - set(np.unique(y).tolist()))
    if missing:
        names = [CLASS_NAMES[i] for i in missing]
        raise ValueError(f"y_true has no example of {names}; macro one-vs-rest AUC needs every class present.")
    pred = p.argmax(axis=1)
    mel, flagged = y == MEL, pred == MEL
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(CLASS_NAMES)
    }
    return {
        "auc": float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels)),
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": balanced_accuracy(per_class),
        "mel_recall": float(recall[MEL]),
        # The bonus's operating point (locked.report.mel_bonus_met): melanomas caught, and the other lesions sent to
        # biopsy as melanoma, whose share is the false-alarm rate. Argmax calls, like mel_recall.
        "mel_caught": int((mel & flagged).sum()), "mel_total": int(mel.sum()),
        "other_flagged": int((~mel & flagged).sum()), "other_total": int((~mel).sum()),
        "mel_false_alarm": float((~mel & flagged).sum() / (~mel).sum()),
        "cancer_sensitivity": cancer_sensitivity(per_class),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "n": int(y.shape[0]),
    }


def cancer_sensitivity(per_class):
    """Unweighted mean recall of akiec, bcc and mel: how many cancers of each kind the model catches."""
    return float(np.mean([per_class[c]["recall"] for c in CANCER_CLASSES]))


def balanced_accuracy(per_class):
    """Mean of the seven per-class recalls (a majority-class model scores 1/7)."""
    return float(np.mean([per_class[c]["recall"] for c in CLASS_NAMES]))


"""Beyond the course: which model would you deploy? Screening numbers from saved class probabilities.

Pure numpy and scikit-learn (no torch): every function takes labels (N,) and probabilities (N, 7) in the course's
class order and returns plain Python values.

Screening view. A model *flags* a case for biopsy when its most likely class is a cancer (akiec, bcc or mel). A
cancer is *caught* when it is flagged, whichever cancer class was predicted: a melanoma called bcc still gets its
biopsy. So the recalls here can be higher than the course's per-class recalls, which need the exact class.
  - cancer sensitivity: mean over akiec, bcc and mel of the fraction flagged (the course's unweighted average);
  - melanoma recall: the fraction of melanomas flagged;
  - specificity: the fraction of non-cancer cases (bkl, df, nv, vasc) NOT flagged;
  - biopsy rate: the fraction of all cases flagged.
Ensembles: OR ("biopsy if either model flags cancer") and average (mean probabilities, then argmax).

Operating points (melanoma one-vs-rest, score = P(mel)): melanoma sensitivity at a fixed specificity from the ROC
curve, and the threshold that reaches a target melanoma recall, with what it costs in false positives. Thresholds
are chosen on the validation split and then checked on the test split, as a deployment would have to.
"""
import numpy as np

from locked.info import CANCER_CLASSES, CLASS_NAMES, MEL, NUM_CLASSES, TARGET_MEL_RECALL

CANCER = tuple(CLASS_NAMES.index(c) for c in CANCER_CLASSES)
DEFAULT_PAIR = ("exp_20_cosine_scheduler", "exp_21_best_custom_cnn")  # the course's proposal
SPECIFICITIES = (0.80, 0.90)
TARGET_RECALL = 0.80
GOOD_MEL_RECALL = 0.7


def mel_band(recall):
    """The report's bands for melanoma recall, shared by its table and its plots: "bad" below the course's bonus
    line (misses most melanomas), "mid" up to GOOD_MEL_RECALL, "good" from there; None when unknown."""
    if recall is None:
        return None
    if recall < TARGET_MEL_RECALL:
        return "bad"
    return "mid" if recall < GOOD_MEL_RECALL else "good"


def _check(y, proba=None):
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if proba is None:
        return y
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape != (len(y), NUM_CLASSES):
        raise ValueError(f"probabilities must have shape ({len(y)}, {NUM_CLASSES}); got {p.shape}.")
    return y, p


def flags_cancer(proba):
    """True where the model's most likely class is akiec, bcc or mel."""
    p = np.asarray(proba, dtype=np.float64)
    return np.isin(p.argmax(axis=1), CANCER)


def or_ensemble(*probas):
    """Flags of 'biopsy if any member flags cancer'."""
    if len(probas) < 2:
        raise ValueError("an ensemble needs at least two members.")
    return np.logical_or.reduce([flags_cancer(p) for p in probas])


def average_ensemble(*probas):
    """Mean of the members' class probabilities (rows still sum to 1)."""
    if len(probas) < 2:
        raise ValueError("an ensemble needs at least two members.")
    return np.mean([np.asarray(p, dtype=np.float64) for p in probas], axis=0)


def screening(y, flagged):
    """Cancer sensitivity, melanoma recall, specificity and biopsy rate of a flag vector (see the module doc)."""
    y = _check(y)
    flagged = np.asarray(flagged, dtype=bool).reshape(-1)
    if flagged.shape != y.shape:
        raise ValueError(f"flags have shape {flagged.shape}; labels {y.shape}.")
    per_class = {CLASS_NAMES[c]: float(flagged[y == c].mean()) if (y == c).any() else float("nan") for c in CANCER}
    cancer, benign = np.isin(y, CANCER), ~np.isin(y, CANCER)
    n_flagged = int(flagged.sum())
    return {
        "cancer_sensitivity": float(np.nanmean(list(per_class.values()))),
        "mel_recall": per_class["mel"],
        "specificity": float((~flagged[benign]).mean()) if benign.any() else float("nan"),
        "biopsy_rate": float(flagged.mean()),
        "caught": per_class,
        "n": int(len(y)), "n_cancer": int(cancer.sum()), "n_flagged": n_flagged,
        "missed_cancers": int((cancer & ~flagged).sum()), "missed_melanomas": int(((y == MEL) & ~flagged).sum()),
        "false_positives": int((benign & flagged).sum()),
    }


# --- melanoma operating points -----------------------------------------------------------------------------------

def mel_roc(y, proba):
    """(fpr, tpr, thresholds) of melanoma vs rest with score P(mel); every threshold kept."""
    from sklearn.metrics import roc_curve  # imported when used: `python -m grader grade` must stay small

    y, p = _check(y, proba)
    if not (y == MEL).any() or (y == MEL).all():
        raise ValueError("the melanoma ROC needs both melanoma and non-melanoma cases.")
    return roc_curve(y == MEL, p[:, MEL], drop_intermediate=False)


def sensitivity_at_specificity(y, proba, specificity):
    """The best melanoma sensitivity whose specificity (non-melanomas not flagged) is at least `specificity`."""
    fpr, tpr, thr = mel_roc(y, proba)
    ok = np.flatnonzero(fpr <= 1 - specificity + 1e-12)
    i = ok[np.argmax(tpr[ok])]  # fpr is sorted, so ok is never empty (fpr[0] == 0)
    return {"specificity_target": float(specificity), "sensitivity": float(tpr[i]),
            "specificity": float(1 - fpr[i]), "threshold": _finite(thr[i])}


def threshold_for_recall(y, proba, target=TARGET_RECALL):
    """The highest P(mel) threshold whose melanoma recall reaches `target`, and its cost in false positives."""
    y, p = _check(y, proba)
    fpr, tpr, thr = mel_roc(y, p)
    i = int(np.argmax(tpr >= target - 1e-12))  # tpr is non-decreasing and ends at 1, so a point always exists
    result = apply_threshold(y, p, thr[i])
    return {"target_recall": float(target), **result}


def apply_threshold(y, proba, threshold):
    """Flag a melanoma when P(mel) >= threshold: recall, false positives (count, rate), biopsies per melanoma."""
    y, p = _check(y, proba)
    flagged = p[:, MEL] >= threshold
    mel, other = y == MEL, y != MEL
    tp, fp = int((flagged & mel).sum()), int((flagged & other).sum())
    return {"threshold": _finite(threshold), "recall": float(tp / mel.sum()) if mel.any() else float("nan"),
            "true_positives": tp, "false_positives": fp,
            "false_positive_rate": float(fp / other.sum()) if other.any() else float("nan"),
            "n_melanoma": int(mel.sum()), "n_other": int(other.sum()), "n_flagged": tp + fp,
            "flagged_per_melanoma_found": float((tp + fp) / tp) if tp else float("inf")}


def _finite(t):
    t = float(t)
    return t if np.isfinite(t) else float("inf")


def operating_points(labels, proba, specificities=SPECIFICITIES, target=TARGET_RECALL):
    """Per split ROC operating points, plus a target-recall threshold chosen on val and applied to test."""
    out = {}
    for split in ("val", "test"):
        y, p = _check(labels[split], proba[split])
        out[split] = {"at_specificity": [sensitivity_at_specificity(y, p, s) for s in specificities],
                      # the model as trained: melanoma called when mel is the most likely class
                      "argmax": {"recall": float((p[y == MEL].argmax(axis=1) == MEL).mean()),
                                 "false_positives": int((p[y != MEL].argmax(axis=1) == MEL).sum()),
                                 "n_other": int((y != MEL).sum())}}
    chosen = threshold_for_recall(labels["val"], proba["val"], target)
    out["target_recall"] = {"val": chosen, "test": apply_threshold(labels["test"], proba["test"], chosen["threshold"])}
    return out


# --- the deployment view -----------------------------------------------------------------------------------------

def candidates(members, ensembles):
    """[(name, kind, member ids)] for each member used and each ensemble (OR and average)."""
    rows, seen = [], set()
    for group in ensembles:
        for m in group:
            if m not in seen:
                seen.add(m)
                rows.append((m, "model", (m,)))
    for group in ensembles:
        label = " + ".join(group)
        rows.append((f"OR({label})", "or", tuple(group)))
        rows.append((f"AVG({label})", "average", tuple(group)))
    return rows


def deployment_view(probas, labels, ensembles=(DEFAULT_PAIR,), target=TARGET_RECALL):
    """Screening numbers on val and test for each member of `ensembles` and each ensemble.

    probas: {experiment id: {"val": (N,7), "test": (M,7)}}; labels: {"val": (N,), "test": (M,)}.
    Returns {"rows": [...], "target_recall": target}; each row has 'name', 'kind', 'members', and per split the
    screening dict, plus (for models and average ensembles, which have probabilities) melanoma operating points.
    """
    missing = sorted({m for g in ensembles for m in g} - set(probas))
    if missing:
        raise KeyError(f"no saved probabilities for {missing}")
    rows = []
    for name, kind, members in candidates(probas, ensembles):
        row = {"name": name, "kind": kind, "members": list(members)}
        proba = None
        if kind == "model":
            proba = probas[members[0]]
        elif kind == "average":
            proba = {s: average_ensemble(*(probas[m][s] for m in members)) for s in ("val", "test")}
        for split in ("val", "test"):
            flags = (or_ensemble(*(probas[m][split] for m in members)) if kind == "or"
                     else flags_cancer(proba[split]))
            row[split] = screening(labels[split], flags)
        row["operating_points"] = operating_points(labels, proba, target=target) if proba is not None else None
        rows.append(row)
    return {"rows": rows, "target_recall": target, "ensembles": [list(g) for g in ensembles]}


def recommend(view, split="test"):
    """A one-paragraph, number-backed answer to 'which would you deploy?' from a deployment_view."""
    rows = view["rows"]
    best = max(rows, key=lambda r: (round(r[split]["cancer_sensitivity"], 6), -r[split]["biopsy_rate"]))
    cheapest = min(rows, key=lambda r: (r[split]["biopsy_rate"], -r[split]["cancer_sensitivity"]))
    s = best[split]
    text = (f"Highest cancer sensitivity on the {split} split: {best['name']} catches {s['cancer_sensitivity']:.0%} of "
            f"cancers (melanoma {s['mel_recall']:.0%}) at a biopsy rate of {s['biopsy_rate']:.0%} and specificity "
            f"{s['specificity']:.0%}.")
    if cheapest is not best:
        c = cheapest[split]
        text += (f" The most conservative, {cheapest['name']}, biopsies {c['biopsy_rate']:.0%} but catches only "
                 f"{c['cancer_sensitivity']:.0%} of cancers (melanoma {c['mel_recall']:.0%}).")
    return {"best": best["name"], "cheapest": cheapest["name"], "text": text}

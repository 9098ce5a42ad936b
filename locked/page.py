"""One run record (locked/train.py's JSON) as one HTML page with plots, for a student who would rather look than read.

Opens from disk with no network: inline CSS, the figures as inline base64 PNG, no scripts, no links. The words are
locked/report.py's (data banner, headline, verdict) and the targets the terms' (locked/terms.py), so the page says
what the printed report says. matplotlib (Agg backend) is imported only when a page is drawn: the grader's parent
imports parts of locked/ and must stay small, and a student without matplotlib still trains.
"""
import base64
import html
import io
import math
from pathlib import Path

import numpy as np

from locked import report
from locked.info import CLASS_NAMES, LONG_NAMES, MEL
from locked.terms import TERMS
from locked.text import shown

DANGER, SAFE, NEUTRAL, TRAIN = "#d7301f", "#1a9850", "#6b8fb5", "#f28e2b"

CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;margin:0;color:#1f2328;
background:#f6f7f9;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:20px 28px 48px;background:#fff}
h1{font-size:24px;margin:4px 0 8px}h2{font-size:19px;margin:28px 0 8px;border-bottom:2px solid #e5e7eb;
padding-bottom:4px}
.banner{background:#b42318;color:#fff;padding:12px 16px;font-weight:700;font-size:16px;border-radius:6px;margin:10px 0}
.ok-banner{background:#e7f5ec;color:#14532d;border:1px solid #9bd3b0;padding:10px 14px;border-radius:6px}
.verdict{border-left:5px solid #2563eb;background:#eff6ff;padding:10px 14px;margin:12px 0;border-radius:4px;
font-weight:600}
pre{background:#f3f4f6;padding:10px 12px;border-radius:6px;font-size:13px;overflow-x:auto}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.fig{text-align:center;margin:8px 0}.fig img{max-width:100%;height:auto;border:1px solid #eee}
.note{font-size:12.5px;color:#57606a}
@media (max-width:800px){.grid2{grid-template-columns:1fr}}
"""


class PlotsUnavailable(ImportError):
    """matplotlib is not installed: the run is still trained, saved and reported, only without this page."""


def esc(value):
    """Text for HTML: control characters and invalid Unicode escaped (locked/text.py), then HTML's own."""
    return html.escape(shown(value if isinstance(value, str) else str(value)), quote=True)


def _pyplot():
    """matplotlib.pyplot on the Agg backend (no display), imported here: only drawing a page needs it."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise PlotsUnavailable("matplotlib is not installed; install the pinned versions: "
                               "pip install -r requirements.txt") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "font.family": "DejaVu Sans"})
    return plt


def _png(plt, fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _series(history, key):
    """One column of the per-epoch history; a missing or non-finite value (a diverged val loss is None) is a gap."""
    values = [row.get(key) for row in history]
    return [v if isinstance(v, (int, float)) and math.isfinite(v) else np.nan for v in values]


def _epochs(history):
    return [row.get("epoch", i + 1) for i, row in enumerate(history)]


def _mark_mel(labels):
    """Melanoma's tick label in red and bold: the class the bonus is about."""
    labels[MEL].set_color(DANGER)
    labels[MEL].set_fontweight("bold")


def _epochs_axis(ax, history):
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not history:
        ax.text(0.5, 0.5, "no per-epoch history in this run", ha="center", va="center", transform=ax.transAxes,
                color="#57606a")


def loss_curves(plt, history):
    """Train and validation loss per epoch: apart, the model learns the training set rather than the lesions."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    epochs = _epochs(history)
    ax.plot(epochs, _series(history, "train_loss"), "o-", color=TRAIN, label="train loss")
    ax.plot(epochs, _series(history, "val_loss"), "o-", color=NEUTRAL, label="validation loss")
    _epochs_axis(ax, history)
    ax.set_ylabel("cross-entropy loss")
    ax.set_title("Loss per epoch")
    if history:
        ax.legend(fontsize=8)
    return _png(plt, fig)


def accuracy_and_auc(plt, history, auc, auc_target=TERMS.auc_target):
    """Accuracy per epoch (the locked loop measures it each epoch) and the macro AUC after the last epoch, against
    the AUC target: accuracy alone misleads, since calling every lesion nv scores about two thirds."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    epochs = _epochs(history)
    ax.plot(epochs, _series(history, "train_acc"), "o-", color=TRAIN, label="train accuracy")
    ax.plot(epochs, _series(history, "val_acc"), "o-", color=NEUTRAL, label="validation accuracy")
    last = epochs[-1] if epochs else 1
    ax.plot([last], [auc], "*", markersize=15, color=SAFE if auc >= auc_target else DANGER,
            label=f"validation macro AUC {auc:.3f} (after training)")
    ax.axhline(auc_target, color="black", ls="--", lw=1, label=f"AUC target {auc_target:.2f}")
    _epochs_axis(ax, history)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy / AUC")
    ax.set_title("Accuracy per epoch; macro AUC after training")
    ax.legend(fontsize=7.5, loc="lower right")
    return _png(plt, fig)


def confusion(plt, matrix):
    """Rows are the true class, columns the prediction; colour is the share of the row (that class's recall on the
    diagonal), numbers are image counts, so a rare class's misses show as plainly as nv's."""
    counts = np.asarray(matrix, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, f"{n:.0f}", ha="center", va="center", fontsize=8,
                color="white" if shares[i, j] > 0.55 else "#1f2328")
    ticks = range(len(CLASS_NAMES))
    ax.set_xticks(ticks, CLASS_NAMES)
    ax.set_yticks(ticks, CLASS_NAMES)
    _mark_mel(ax.get_xticklabels())
    _mark_mel(ax.get_yticklabels())
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix (validation)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return _png(plt, fig)


def recall_bars(plt, metrics, threshold=TERMS.mel_threshold, max_false_alarm=TERMS.max_false_alarm):
    """Recall per class, melanoma against the bonus threshold (coloured by the whole bonus rule, false alarms
    included: report.mel_bonus_met)."""
    per_class = metrics["per_class"]
    recalls = [per_class[name]["recall"] for name in CLASS_NAMES]
    colours = [NEUTRAL] * len(CLASS_NAMES)
    colours[MEL] = SAFE if report.mel_bonus_met(metrics, threshold, max_false_alarm) else DANGER
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    y = np.arange(len(CLASS_NAMES))
    ax.axhspan(MEL - 0.45, MEL + 0.45, color=colours[MEL], alpha=0.1)  # seen even when no melanoma is caught
    ax.barh(y, recalls, color=colours, height=0.7)
    for i, r in enumerate(recalls):
        ax.text(min(r + 0.01, 0.9), i, f"{r:.2f}", va="center", fontsize=8)
    ax.axvline(threshold, color="black", ls="--", lw=1)
    ax.text(threshold, len(CLASS_NAMES) - 0.45, f" melanoma bonus: recall >= {threshold:.2f}", fontsize=7.5,
            va="bottom")
    ax.set_yticks(y, [f"{name} (n={per_class[name]['support']})" for name in CLASS_NAMES])
    _mark_mel(ax.get_yticklabels())
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("recall (share of the class caught)")
    title = "Recall per class (validation)"
    if "mel_false_alarm" in metrics:
        title += (f"\nmelanoma false alarms {report.share(metrics['mel_false_alarm'])} "
                  f"(the bonus allows <= {report.share(max_false_alarm)})")
    ax.set_title(title)
    return _png(plt, fig)


def _figure(src, caption):
    return f"<div class='fig'><img src=\"{src}\" alt=\"{esc(caption)}\"></div>"


def build(record):
    """The page for one run record, as a string."""
    plt = _pyplot()
    val, history = record["val"], record.get("history") or []
    data = record.get("data") or {}
    name = Path(str(record.get("submission", "your submission"))).name
    banner = esc(report.data_banner(data)) if data else "Data: not recorded in this run"
    banner_class = "ok-banner" if data.get("kind") == "official" else "banner"
    figures = [
        ("Training curves", [(loss_curves(plt, history), "Loss per epoch"),
                             (accuracy_and_auc(plt, history, val["auc"]), "Accuracy per epoch and macro AUC")]),
        ("Where the errors are", [(confusion(plt, val["confusion_matrix"]), "Confusion matrix"),
                                  (recall_bars(plt, val), "Recall per class")]),
    ]
    sections = [f"<h1>Your run: {esc(name)}</h1>", f"<div class='{banner_class}'>{banner}</div>",
                f"<div class='verdict'>{esc(report.verdict(val))}</div>",
                f"<h2>Headline numbers (validation, {val['n']:,} images)</h2>",
                f"<pre>{esc(report.headline(val, record.get('params'), record.get('train_seconds')))}</pre>"]
    for title, pair in figures:
        sections += [f"<h2>{esc(title)}</h2>", "<div class='grid2'>",
                     *(_figure(src, caption) for src, caption in pair), "</div>"]
    legend = "; ".join(f"{short}: {long}" for short, long in zip(CLASS_NAMES, LONG_NAMES))
    sections.append(f"<p class='note'>Classes: {esc(legend)}. Written by <code>python -m locked.train</code> beside "
                    "the run's JSON. Self-contained: no scripts, no network.</p>")
    title = f"DermaMNIST run: {name}" + ("" if data.get("kind") == "official" else " (not official data)")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
            + "\n".join(sections) + "</main></body></html>\n")


def write(record, out):
    """Draw the page for `record` into `out` (an .html file); return its path."""
    out = Path(out)
    out.write_text(build(record), encoding="utf-8")
    return out

"""The report's figures, as inline PNG (base64) strings. matplotlib with the Agg backend: no display, no network.

Each function takes the suite rows (instructor.runs.summary_row dicts, ok rows only) or plain numbers and returns
a data: URI. The suite report (report.py) and the class report (classroom.py) share them.
"""
import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from instructor.deployment import GOOD_MEL_RECALL, mel_band  # noqa: E402
from locked.info import TARGET_AUC, TARGET_MEL_RECALL  # noqa: E402
from locked.text import shown  # noqa: E402

DANGER = "#d7301f"
SAFE = "#1a9850"
PUBLISHED = "#444444"
LABEL_CHARS = 24  # a point's label is cut here, so one long name cannot cover the plot
MEL_COLOURS = {"bad": DANGER, "mid": "#fdae61", "good": SAFE, None: "#bbbbbb"}
plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                     "font.family": "DejaVu Sans", "svg.fonttype": "none"})


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def mel_colour(recall):
    """Red below the bonus line, amber in the middle band, green above (deployment.mel_band)."""
    return MEL_COLOURS[mel_band(recall)]


def _short(row):
    return f"{row['num']:02d}" if row.get("num") is not None else row["id"]


def auc_ranked(rows, published=None, run_label="this run", published_hardware="hardware unknown"):
    """Validation macro AUC, best first; bars coloured by melanoma recall; published AUC as diamonds.
    published_hardware: what the published figures ran on (solutions/published.json's `hardware`)."""
    rows = sorted(rows, key=lambda r: r["val_auc"])
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.4))
    y = np.arange(len(rows))
    ax.barh(y, [r["val_auc"] for r in rows], color=[mel_colour(r["val_mel_recall"]) for r in rows], height=0.7,
            label=f"{run_label} (colour: melanoma recall)")
    pub_handle = None
    if published:
        pts = [(i, published[r["id"]]["reported"]["auc"]) for i, r in enumerate(rows) if r["id"] in published]
        if pts:
            pub_handle = ax.scatter([p[1] for p in pts], [p[0] for p in pts], marker="D", s=22, color="white",
                                    edgecolor=PUBLISHED, zorder=3,
                                    label=f"published (real DermaMNIST val, {published_hardware})")
    ax.set_yticks(y, [f"{_short(r)} {r['name']}" for r in rows])
    lo = min([r["val_auc"] for r in rows] + [0.5])
    ax.set_xlim(max(0.0, lo - 0.05), 1.0)
    ax.axvline(TARGET_AUC, color="black", ls="--", lw=1)
    ax.text(TARGET_AUC, len(rows) - 0.4, f" target {TARGET_AUC:.2f}", va="bottom", fontsize=8)
    ax.set_xlabel("validation macro AUC")
    _mel_legend(ax, pub_handle)
    ax.set_title("Experiments ranked by validation macro AUC")
    return _png(fig)


def _mel_legend(ax, extra=None):
    from matplotlib.patches import Patch

    handles = [Patch(color=MEL_COLOURS["bad"], label=f"this run, mel recall < {TARGET_MEL_RECALL:.1f}"),
               Patch(color=MEL_COLOURS["mid"],
                     label=f"this run, mel recall {TARGET_MEL_RECALL:.1f}-{GOOD_MEL_RECALL:.1f}"),
               Patch(color=MEL_COLOURS["good"], label=f"this run, mel recall >= {GOOD_MEL_RECALL:.1f}")]
    if extra is not None:
        handles.append(extra)
    ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.9)


def _label(row, key):
    """A point's label: the row's `key` (a student's name: any text, so made printable and cut to LABEL_CHARS),
    else its experiment number or id."""
    if key is None:
        return _short(row)
    text = shown(row.get(key) or row["id"], one_line=True)
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _scatter_labels(ax, xs, ys, rows, key=None):
    """parse_math=False: a '$' in a name is text, never mathtext (which can fail to draw the whole figure)."""
    for x, y, r in zip(xs, ys, rows):
        ax.annotate(_label(r, key), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7, parse_math=False)


def auc_vs_mel(rows, split="val", annotate=True, terms=None, label=None):
    """AUC against melanoma recall on `split`, with the danger zone (misses most melanomas) shaded; each point
    labelled when `annotate` (a class of 150 is left unlabelled) with its row's `label` key (a student's name),
    else its experiment number. `terms`: the AUC target and bonus threshold graded (locked/terms.py), else the
    course's."""
    target, threshold = (terms.auc_target, terms.mel_threshold) if terms else (TARGET_AUC, TARGET_MEL_RECALL)
    words = {"val": "validation", "test": "test"}[split]
    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    xs, ys = [r[f"{split}_mel_recall"] for r in rows], [r[f"{split}_auc"] for r in rows]
    lo = min(ys + [0.5]) - 0.03
    ax.axvspan(-0.02, threshold, color=DANGER, alpha=0.10, lw=0)
    ax.text(0.01, 0.995, f"danger zone: misses too many\nmelanomas (recall < {threshold:.2f})",
            transform=ax.get_xaxis_transform(), va="top", fontsize=8, color=DANGER)
    ax.axhline(target, color="black", ls="--", lw=1)
    ax.scatter(xs, ys, c=[mel_colour(x) for x in xs], edgecolor="black", lw=0.5, s=40 if annotate else 24,
               zorder=3, alpha=1 if annotate else 0.8)
    if annotate:
        _scatter_labels(ax, xs, ys, rows, label)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(lo, 1.0)
    ax.set_xlabel(f"{words} melanoma recall")
    ax.set_ylabel(f"{words} macro AUC")
    ax.set_title("Ranking (AUC) vs catching melanoma (recall)")
    return _png(fig)


def histogram(values, xlabel, title, lines=(), bins=20):
    """How a class is spread on one number (score, AUC); `lines` are (x, label) marks such as a target."""
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    values = [v for v in values if v is not None]
    if values:
        ax.hist(values, bins=bins, color="#4c78a8", edgecolor="white")
    for x, label in lines:
        ax.axvline(x, color="black", ls="--", lw=1)
        ax.text(x, 0.98, f" {label}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_title(f"{title} (n = {len(values)})")
    return _png(fig)


def auc_vs(rows, key, xlabel, title):
    """AUC against a cost on a log axis (training time or parameters)."""
    pts = [(r[key], r["val_auc"], r) for r in rows if r.get(key)]
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    if pts:
        xs, ys, rs = zip(*pts)
        ax.scatter(xs, ys, c=[mel_colour(r["val_mel_recall"]) for r in rs], edgecolor="black", lw=0.5, s=40,
                   zorder=3)
        _scatter_labels(ax, xs, ys, rs)
        ax.set_xscale("log")
        lo, hi = min(xs) / 1.3, max(xs) * 1.3
        ticks = [m * 10 ** k for k in range(-1, 9) for m in (1, 2, 5) if lo <= m * 10 ** k <= hi]
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.axhline(TARGET_AUC, color="black", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation macro AUC")
    ax.set_title(title)
    return _png(fig)


def published_vs_run(rows, published, run_label, published_hardware="hardware unknown"):
    """This run's validation AUC against the course's published one, experiment by experiment."""
    pts = [(published[r["id"]]["reported"]["auc"], r["val_auc"], r) for r in rows if r["id"] in published]
    fig, ax = plt.subplots(figsize=(5.4, 5.0))
    if pts:
        xs, ys, rs = zip(*pts)
        lo = min(xs + ys) - 0.03
        ax.plot([lo, 1], [lo, 1], color="#999999", lw=1, ls=":")
        ax.scatter(xs, ys, c=[mel_colour(r["val_mel_recall"]) for r in rs], edgecolor="black", lw=0.5, s=40,
                   zorder=3)
        _scatter_labels(ax, xs, ys, rs)
        ax.set_xlim(lo, 1)
        ax.set_ylim(lo, 1)
    ax.set_xlabel(f"published: real DermaMNIST val split, {published_hardware}\n(validation macro AUC)")
    ax.set_ylabel(f"this run: {run_label}\n(validation macro AUC)")
    ax.set_title("Published vs this run (dotted: equal)")
    return _png(fig)


def mel_roc_curves(curves, points=()):
    """Melanoma-vs-rest ROC curves on the test split. curves: [(label, fpr, tpr)]; points: [(label, fpr, tpr)]."""
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    for label, fpr, tpr in curves:
        ax.plot(fpr, tpr, lw=1.4, label=label)
    for label, x, y in points:
        ax.scatter([x], [y], s=36, marker="o", edgecolor="black", zorder=3, label=label)
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls=":")
    for spec in (0.8, 0.9):
        ax.axvline(1 - spec, color="#777777", lw=0.8, ls="--")
        ax.text(1 - spec, 0.02, f" {spec:.0%} spec.", fontsize=7, rotation=90, va="bottom")
    ax.set_xlabel("false positive rate (non-melanomas flagged)")
    ax.set_ylabel("melanoma recall")
    ax.set_title("Melanoma vs rest, test split")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)

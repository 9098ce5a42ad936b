"""`python -m instructor report runs/suite/ [--out report.html]`: one self-contained HTML page from a suite run.

Opens from disk with no network: inline CSS, figures as inline base64 PNG (instructor/plots.py), no scripts, no
external fonts or links. It puts this run's numbers beside the course's published ones (solutions/published.json),
each clearly labelled with its data and hardware, shouts when the data is synthetic, tells each experiment's change
and lesson from the solution's own docstrings, and answers "which model would you deploy?" with screening numbers
(instructor/deployment.py).
"""
import html
import json
import time
from pathlib import Path

import numpy as np

from instructor import deployment, runs
from locked.info import CANCER_CLASSES, CLASS_NAMES, TARGET_AUC, TARGET_MEL_RECALL
from locked.text import shown

REPO = Path(__file__).resolve().parent.parent

CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;margin:0;color:#1f2328;
background:#f6f7f9;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:4px 0 6px}h2{font-size:20px;margin:34px 0 10px;border-bottom:2px solid #e5e7eb;
padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}
.sub{color:#57606a;margin:0 0 14px}
.banner{background:#b42318;color:#fff;padding:14px 18px;font-weight:700;font-size:17px;border-radius:6px;
margin:12px 0;letter-spacing:.2px}
.banner small{display:block;font-weight:400;font-size:13px;margin-top:4px}
.ok-banner{background:#e7f5ec;color:#14532d;border:1px solid #9bd3b0;padding:10px 14px;border-radius:6px}
.labels{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin:10px 0}
.lab{border-radius:6px;padding:10px 12px;font-size:13px}
.lab b{display:block;font-size:12px;text-transform:uppercase;letter-spacing:.5px;margin-bottom:2px}
.lab.pub{background:#eef2ff;border:1px solid #c7d2fe}.lab.run{background:#fff7ed;border:1px solid #fed7aa}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:10px;margin:12px 0}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px;background:#fafbfc}
.card .v{font-size:24px;font-weight:700}.card .k{font-size:12px;color:#57606a}
.card .d{font-size:12px;color:#57606a;margin-top:2px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0 4px;width:100%}
th,td{padding:4px 6px;border-bottom:1px solid #eaecef;text-align:right;white-space:nowrap}
th{background:#f3f4f6;font-weight:600;white-space:normal;vertical-align:bottom}
.scroll{overflow-x:auto;margin:8px 0 4px}.scroll table{margin:0}
td.l,th.l{text-align:left}td.wrap{white-space:normal;text-align:left}
tr.skip td{color:#6b7280;background:#fafafa}
.pub-col{background:#f5f7ff;color:#3b4a7a}
.mel-bad{background:#fde2e1;color:#8a1c12;font-weight:600}.mel-mid{background:#fff1d6}.mel-good{background:#dcf3e3}
.note{font-size:12.5px;color:#57606a}
.answer{border-left:5px solid #2563eb;background:#eff6ff;padding:10px 14px;margin:10px 0;border-radius:4px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.fig{text-align:center;margin:8px 0}.fig img{max-width:100%;height:auto;border:1px solid #eee}
.fig .cap{font-size:12px;color:#57606a}
.chapter{margin:18px 0}.exp{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;margin:8px 0}
.exp h4{margin:0 0 4px;font-size:14.5px}.exp p{margin:3px 0;font-size:13px}
.exp .nums{font-size:12.5px;color:#374151}
.tag{display:inline-block;font-size:11px;padding:1px 6px;border-radius:10px;background:#eef2f7;color:#374151;
margin-left:6px}
.tag.bad{background:#fde2e1;color:#8a1c12}.tag.skip{background:#fef3c7;color:#7c4a03}
code{background:#f3f4f6;padding:1px 4px;border-radius:3px;font-size:12px}
footer{margin-top:40px;font-size:12px;color:#6b7280}
@media (max-width:800px){.grid2,.labels{grid-template-columns:1fr}}
"""


def esc(x):
    """Text for HTML: control characters and invalid Unicode escaped (locked/text.py), then HTML's own."""
    return html.escape(shown(x if isinstance(x, str) else str(x)), quote=True)


def fmt(x, nd=3, pct=False):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return f"{x:.0%}" if pct else f"{x:.{nd}f}"


def mel_class(recall):
    band = deployment.mel_band(recall)
    return f"mel-{band}" if band else ""


# --- loading -----------------------------------------------------------------------------------------------------

def _published(meta):
    for folder in (meta.get("solutions"), REPO / "solutions"):
        if folder and (Path(folder) / "published.json").exists():
            pub = json.loads((Path(folder) / "published.json").read_text())
            return pub, {e["id"]: e for e in pub["experiments"]}
    return None, {}


def load(suite_dir):
    """Everything the page needs from a suite folder (read by instructor/runs.py, the folder's one reader)."""
    suite_dir = Path(suite_dir)
    ctx = runs.read(suite_dir)
    if not ctx["rows"]:
        raise SystemExit(f"{suite_dir}: no graded experiments (run `python -m instructor suite ... --out {suite_dir}`).")
    published, pub_by_id = _published(ctx["meta"])
    return {**ctx, "dir": suite_dir, "published": published, "pub": pub_by_id}


def machine(ctx):
    """(hardware, threads) of the run: suite.json's, else the first experiment's (suite.json not written yet)."""
    meta = ctx["meta"]
    if meta.get("hardware"):
        return meta["hardware"], meta.get("threads")
    info = next((i for i in ctx["infos"].values() if i.get("graded_on")), {})
    return info.get("graded_on") or {}, info.get("threads")


def hardware_text(ctx):
    return runs.hardware_label(*machine(ctx))


def run_label(ctx):
    return f"{ctx['data'].get('label', 'unknown data')}, {hardware_text(ctx)}"


def published_label(ctx):
    """What the course's figures were measured on, from solutions/published.json (their one source)."""
    pub = ctx["published"]
    if not pub:
        return "published: solutions/published.json not found"
    return f"published: real DermaMNIST val split (n = {pub['n_evaluated']:,}), {pub['hardware']}"


def published_hardware(ctx):
    """What the course's published figures ran on, for the figures' labels (solutions/published.json)."""
    return (ctx["published"] or {}).get("hardware", "hardware unknown")


def course_time(ctx):
    """The course's own wall time for its 25 experiments ('' without published.json)."""
    pub = ctx["published"]
    return f"about {pub['minutes_for_all_25']} min for all 25 on {pub['hardware']}" if pub else ""


# --- sections ----------------------------------------------------------------------------------------------------

def banner(ctx):
    data = ctx["data"]
    if data.get("kind") == "synthetic":
        return ('<div class="banner" id="synthetic-banner">SYNTHETIC DATA: these are not DermaMNIST results.'
                f'<small>{esc(data.get("label", ""))}. The stand-in has DermaMNIST\'s shapes and class counts but '
                'made-up images: compare experiments with each other, never with the course\'s published figures '
                'or with real-data grades.</small></div>')
    if data.get("kind") != "official":
        return (f'<div class="banner">UNOFFICIAL DATA FILE<small>{esc(data.get("label", ""))}</small></div>')
    return f'<div class="ok-banner">Data: {esc(data.get("label"))}</div>'


def labels_box(ctx):
    return ('<div class="labels">'
            f'<div class="lab run"><b>this run</b>{esc(run_label(ctx))}</div>'
            f'<div class="lab pub"><b>published</b>{esc(published_label(ctx))}; {esc(course_time(ctx))}. Copied from '
            f'the course report (solutions/published.json), not measured here.</div></div>')


def timing(ctx):
    rows = ctx["rows"]
    graded = sum(r["grade_seconds"] or 0 for r in rows)
    train = sum(r["train_seconds"] or 0 for r in rows if r["status"] == "ok")
    invocations = ctx["meta"].get("runs") or []
    longest = max(invocations, key=lambda r: len(r.get("graded", [])), default=None)
    return {"grading_seconds": graded, "train_seconds": train, "runs": invocations, "main_run": longest}


def headline(ctx):
    rows, ok = ctx["rows"], [r for r in ctx["rows"] if r["status"] == "ok"]
    t = timing(ctx)
    cards = []
    if ok:
        best = ok[0]
        cards.append(("best validation AUC", fmt(best["val_auc"], 4), f"{best['id']}"))
        meet = [r for r in ok if r["val_auc"] >= TARGET_AUC]
        cards.append((f"meet the {TARGET_AUC:.2f} AUC target", f"{len(meet)} / {len(ok)}",
                      "of the graded experiments"))
        both = [r for r in meet if r["val_mel_recall"] >= TARGET_MEL_RECALL]
        cards.append(("AUC target AND melanoma recall >= 0.5", f"{len(both)}",
                      ", ".join(r["id"] for r in both[:3]) + (" ..." if len(both) > 3 else "") or "none"))
        mel = max(ok, key=lambda r: r["val_mel_recall"])
        cards.append(("best melanoma recall", fmt(mel["val_mel_recall"], 2), f"{mel['id']} (AUC {mel['val_auc']:.3f})"))
    skipped = [r for r in rows if r["status"] == "skipped"]
    failed = [r for r in rows if r["status"] == "failed"]
    cards.append(("graded / skipped / failed", f"{len(ok)} / {len(skipped)} / {len(failed)}",
                  "skipped = pretrained weights not available" if skipped else ""))
    cards.append(("grading time, all experiments", f"{t['grading_seconds'] / 60:.1f} min",
                  f"training {t['train_seconds'] / 60:.1f} min" + (f"; course: {course_time(ctx)}"
                                                                   if ctx["published"] else "")))
    body = "".join(f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div>'
                   f'<div class="d">{esc(d)}</div></div>' for k, v, d in cards)
    return f'<div class="cards" id="headline">{body}</div>'


def _flags_cell(ctx, row):
    """The integrity review's flags for one experiment: their kinds, the grader's messages on hover; '–' if none."""
    if not row.get("flags"):
        return "<td class='l'>–</td>"
    flags = ((ctx["records"].get(row["id"]) or {}).get("integrity") or {}).get("flags", [])
    detail = " ".join(f.get("message", "") for f in flags)
    return (f"<td class='l'><span class='tag bad flag' title='{esc(detail)}'>flagged: "
            f"{esc(', '.join(row['flags']))}</span></td>")


def full_table(ctx):
    pub = ctx["pub"]
    head = ("<tr><th>#</th><th class='l'>experiment</th><th class='l'>chapter</th><th>val AUC</th>"
            "<th>mel recall</th><th>cancer sens.</th><th>bal. acc.</th><th>test AUC</th><th>test mel recall</th>"
            "<th>test cancer sens.</th><th>params</th><th>train s</th><th class='l'>integrity</th>"
            "<th class='pub-col'>published AUC</th><th class='pub-col'>published mel recall</th></tr>")
    body, rank = [], 0
    for r in ctx["rows"]:
        p = (pub.get(r["id"]) or {}).get("reported", {})
        pubcells = (f"<td class='pub-col'>{fmt(p.get('auc'), 3)}</td>"
                    f"<td class='pub-col'>{fmt(p.get('mel_recall'), 2)}</td>")
        if r["status"] != "ok":
            tag = "skip" if r["status"] == "skipped" else "bad"
            body.append(f"<tr class='skip'><td>–</td><td class='l'>{esc(r['id'])}</td><td class='l'>"
                        f"{esc(r['chapter'] or '')}</td><td colspan='10' class='wrap'><span class='tag {tag}'>"
                        f"{esc(r['status'])}</span> {esc(r['note'])}</td>{pubcells}</tr>")
            continue
        rank += 1
        train = f"{r['train_seconds']:.1f}" if r["train_seconds"] is not None else "–"
        body.append(
            f"<tr><td>{rank}</td><td class='l'>{esc(r['id'])}</td><td class='l'>{esc(r['chapter'] or '')}</td>"
            f"<td><b>{fmt(r['val_auc'], 4)}</b></td>"
            f"<td class='{mel_class(r['val_mel_recall'])}'>{fmt(r['val_mel_recall'], 2)}</td>"
            f"<td>{fmt(r['val_cancer_sensitivity'], 2)}</td><td>{fmt(r['val_balanced_accuracy'], 2)}</td>"
            f"<td>{fmt(r['test_auc'], 4)}</td>"
            f"<td class='{mel_class(r['test_mel_recall'])}'>{fmt(r['test_mel_recall'], 2)}</td>"
            f"<td>{fmt(r['test_cancer_sensitivity'], 2)}</td>"
            f"<td>{r['params']:,}</td><td>{train}</td>{_flags_cell(ctx, r)}{pubcells}</tr>")
    return (f"<div class='scroll'><table id='results-table'>{head}{''.join(body)}</table></div>"
            f"<p class='note'>Sorted by validation macro AUC. Melanoma recall: <span class='mel-bad'>&nbsp;below "
            f"{TARGET_MEL_RECALL:.1f}&nbsp;</span> misses most melanomas, <span class='mel-mid'>&nbsp;"
            f"{TARGET_MEL_RECALL:.1f}-{deployment.GOOD_MEL_RECALL:.1f}&nbsp;</span>, <span class='mel-good'>&nbsp;"
            f"{deployment.GOOD_MEL_RECALL:.1f} and above&nbsp;</span>. Cancer sensitivity is the mean recall "
            "of akiec, bcc and mel. Train s = training time inside the grader's sandbox (one torch thread). "
            "Integrity: the grader's memorisation review (perturbed test images, test-vs-validation gap, literal "
            "data in the source); a flag is for review, not a penalty, and its message shows on hover. "
            f"<span class='pub-col'>&nbsp;Shaded columns&nbsp;</span>: {esc(published_label(ctx))}.</p>")


def heatmap(ctx):
    ok = [r for r in ctx["rows"] if r["status"] == "ok"]
    head = "<tr><th class='l'>experiment</th>" + "".join(
        f"<th>{c}{' *' if c in CANCER_CLASSES else ''}</th>" for c in CLASS_NAMES) + "</tr>"
    body = []
    for r in ok:
        cells = []
        for c in CLASS_NAMES:
            v = r["val_recall"][c]
            # white (0) -> deep blue (1); text turns white on dark cells
            shade = int(255 - 190 * v)
            bg = f"rgb({shade},{int(255 - 120 * v)},255)"
            fg = "#fff" if v > 0.6 else "#111"
            border = "outline:2px solid #b42318;outline-offset:-2px;" if c == "mel" else ""
            cells.append(f"<td style='background:{bg};color:{fg};{border}'>{v:.2f}</td>")
        body.append(f"<tr><td class='l'>{esc(r['id'])}</td>{''.join(cells)}</tr>")
    return (f"<div class='scroll'><table id='recall-heatmap'>{head}{''.join(body)}</table></div><p class='note'>Per-class recall on the "
            "validation split (darker = more of that class found). * cancer classes; the melanoma column is outlined. "
            "A column of zeros is a class the model never predicts.</p>")


def figures(ctx):
    from instructor import plots

    ok = [r for r in ctx["rows"] if r["status"] == "ok"]
    if not ok:
        return "<p>No graded experiment to plot.</p>"
    label = run_label(ctx)
    figs = [
        (plots.auc_ranked(ok, ctx["pub"], "this run", published_hardware(ctx)),
         f"Validation AUC per experiment (bars, coloured by melanoma recall) with the published AUC (diamonds: "
         f"{published_label(ctx)})."),
        (plots.auc_vs_mel(ok), "The danger zone: models left of the line miss most melanomas, however high their AUC."),
        (plots.auc_vs(ok, "train_seconds", "training time (s, log scale)", "AUC vs training time"),
         f"Training time in the grader's sandbox ({label})."),
        (plots.auc_vs(ok, "params", "parameters (log scale)", "AUC vs parameters"), "Parameters, frozen included."),
    ]
    if ctx["pub"]:
        figs.append((plots.published_vs_run(ok, ctx["pub"], ctx["data"].get("label", ""), published_hardware(ctx)),
                     "Each point is one experiment; on real data and the same hardware they would sit near the "
                     "dotted line." + (" On synthetic data they are not expected to." if ctx["data"].get("kind")
                                       == "synthetic" else "")))
    cells = "".join(f"<div class='fig'><img alt='figure' src='{src}'><div class='cap'>{esc(cap)}</div></div>"
                    for src, cap in figs)
    return f"<div class='grid2' id='figures'>{cells}</div>"


def published_table(ctx):
    pub, rows = ctx["pub"], {r["id"]: r for r in ctx["rows"]}
    if not pub:
        return "<p>solutions/published.json not found.</p>"
    dl = esc(ctx["data"].get("label", ""))
    head = ("<tr><th class='l' rowspan='2'>experiment</th>"
            f"<th colspan='4' class='pub-col'>{esc(published_label(ctx))}</th>"
            f"<th colspan='4'>this run: {dl}</th></tr><tr>"
            + "".join(f"<th class='pub-col'>{h}</th>" for h in ("val AUC", "mel recall", "cancer sens.", "time s"))
            + "".join(f"<th>{h}</th>" for h in ("val AUC", "mel recall", "cancer sens.", "train s")) + "</tr>")
    body = []
    for eid, e in sorted(pub.items(), key=lambda kv: kv[1]["num"]):
        p, r = e["reported"], rows.get(eid)
        mine = ("<td colspan='4' class='wrap'>not in this run</td>" if r is None else
                f"<td colspan='4' class='wrap'>{esc(r['status'])}</td>" if r["status"] != "ok" else
                f"<td>{fmt(r['val_auc'], 3)}</td><td class='{mel_class(r['val_mel_recall'])}'>"
                f"{fmt(r['val_mel_recall'], 2)}</td><td>{fmt(r['val_cancer_sensitivity'], 2)}</td>"
                f"<td>{fmt(r['train_seconds'], 1)}</td>")
        body.append(f"<tr><td class='l'>{esc(eid)}</td><td class='pub-col'>{fmt(p['auc'], 3)}</td>"
                    f"<td class='pub-col {mel_class(p['mel_recall'])}'>{fmt(p['mel_recall'], 2)}</td>"
                    f"<td class='pub-col'>{fmt(p['cancer_sensitivity'], 2)}</td>"
                    f"<td class='pub-col'>{fmt(p['time_s'], 1)}</td>{mine}</tr>")
    return f"<div class='scroll'><table id='published-table'>{head}{''.join(body)}</table></div>"


def chapters(ctx):
    rows = {r["id"]: r for r in ctx["rows"]}
    infos, pub = ctx["infos"], ctx["pub"]
    order = sorted(infos.values(), key=lambda i: (i.get("num") or 0, i["id"]))
    out, current = [], None
    for info in order:
        chapter = info.get("chapter") or "Other"
        if chapter != current:
            if current is not None:
                out.append("</div>")
            out.append(f"<div class='chapter'><h3>{esc(chapter)}</h3>")
            current = chapter
        r, p = rows[info["id"]], (pub.get(info["id"]) or {}).get("reported")
        if r["status"] == "ok":
            mine = (f"this run: val AUC <b>{r['val_auc']:.3f}</b>, melanoma recall "
                    f"<span class='{mel_class(r['val_mel_recall'])}'>&nbsp;{r['val_mel_recall']:.2f}&nbsp;</span>, "
                    f"cancer sensitivity {r['val_cancer_sensitivity']:.2f}, {r['params']:,} params, "
                    f"{fmt(r['train_seconds'], 1)} s")
            tag = "" if r["val_mel_recall"] >= TARGET_MEL_RECALL else "<span class='tag bad'>misses most melanomas</span>"
        else:
            mine, tag = f"this run: {esc(r['note'])}", f"<span class='tag skip'>{esc(r['status'])}</span>"
        pubtxt = (f"published: val AUC {p['auc']:.3f}, melanoma recall {p['mel_recall']:.2f}, cancer sensitivity "
                  f"{p['cancer_sensitivity']:.2f}, {p['time_s']:.1f} s" if p else "")
        parts = [f"<h4>{esc(info['id'])}: {esc(info.get('name', ''))}{tag}</h4>"]
        if info.get("builds_on"):
            parts.append(f"<p><b>Builds on</b> {esc(_builds_on(info['builds_on']))}</p>")
        if info.get("model_change"):
            parts.append(f"<p><b>Model:</b> {esc(info['model_change'])}</p>")
        if info.get("training_change"):
            parts.append(f"<p><b>Training:</b> {esc(info['training_change'])}</p>")
        if info.get("lesson"):
            parts.append(f"<p><b>Lesson</b> (the course's, from its published real-data figures): "
                         f"{esc(info['lesson'])}</p>")
        parts.append(f"<p class='nums'>{mine}<br>{esc(pubtxt)}</p>")
        out.append(f"<div class='exp' id='{esc(info['id'])}'>{''.join(parts)}</div>")
    if current is not None:
        out.append("</div>")
    return "".join(out)


def _builds_on(text):
    """experiment.json from older suites kept the 'Builds on' words."""
    return text[len("Builds on"):].strip() if text.startswith("Builds on") else text


# --- deployment --------------------------------------------------------------------------------------------------

def pick_pair(ctx, ensembles=None):
    """The ensembles to show: the asked ones, else the course's proposal, else the two best by validation AUC."""
    probas = ctx["probas"]
    if ensembles:
        return [tuple(g) for g in ensembles], ""
    if all(m in probas for m in deployment.DEFAULT_PAIR):
        return [deployment.DEFAULT_PAIR], ""
    ranked = [r["id"] for r in ctx["rows"] if r["id"] in probas]
    if len(ranked) < 2:
        return [], "Fewer than two experiments have saved probabilities: no ensemble to show."
    return [tuple(ranked[:2])], (f"The course's proposal ({' OR '.join(deployment.DEFAULT_PAIR)}) is not in this "
                                 f"run; showing the two best by validation AUC instead.")


def deployment_section(ctx, ensembles=None, target=deployment.TARGET_RECALL):
    if ctx["labels"] is None or not ctx["probas"]:
        return "<p>No saved probabilities in this suite folder (graded before predictions were kept?).</p>", None
    groups, note = pick_pair(ctx, ensembles)
    parts = ["<p>The course ends by proposing to deploy <b>exp_20_cosine_scheduler OR exp_21_best_custom_cnn</b>: "
             "biopsy a lesion if either model calls it a cancer. Here is what that, the average of the two models' "
             "probabilities, and each model alone would do, from the probabilities this run saved. A case is "
             "<i>flagged</i> when the predicted class is akiec, bcc or mel; a cancer is <i>caught</i> when it is "
             "flagged, whatever cancer class was named (a melanoma called bcc still gets its biopsy), so these "
             "recalls can exceed the per-class recalls of the results table.</p>"]
    if note:
        parts.append(f"<p class='note'>{esc(note)}</p>")
    view = None
    if groups:
        view = deployment.deployment_view(ctx["probas"], ctx["labels"], groups, target)
        rec = deployment.recommend(view, "test")
        parts.append(f"<div class='answer' id='deploy-answer'><b>Which model would you deploy?</b> {esc(rec['text'])} "
                     f"{esc(_threshold_sentence(ctx, target))}</div>")
        for split in ("test", "val"):
            n = view["rows"][0][split]["n"]
            parts.append(f"<h3>Screening on the {split} split (n = {n})</h3>" + _screening_table(view, split))
    parts.append("<h3>Operating points: melanoma vs rest, every experiment</h3>" + _operating_table(ctx, target))
    if view:
        parts.append(_roc_figure(ctx, view))
    return "".join(parts), view


def _screening_table(view, split):
    head = ("<tr><th class='l'>candidate</th><th class='l'>kind</th><th>cancer sensitivity</th>"
            "<th>melanoma recall</th><th>akiec</th><th>bcc</th><th>specificity</th><th>biopsy rate</th>"
            "<th>biopsies</th><th>missed cancers</th><th>missed melanomas</th><th>false positives</th></tr>")
    kinds = {"model": "model", "or": "OR ensemble", "average": "average ensemble"}
    body = []
    for row in view["rows"]:
        s = row[split]
        body.append(f"<tr><td class='l'>{esc(row['name'])}</td><td class='l'>{kinds[row['kind']]}</td>"
                    f"<td><b>{fmt(s['cancer_sensitivity'], pct=True)}</b></td>"
                    f"<td class='{mel_class(s['mel_recall'])}'>{fmt(s['mel_recall'], pct=True)}</td>"
                    f"<td>{fmt(s['caught']['akiec'], pct=True)}</td><td>{fmt(s['caught']['bcc'], pct=True)}</td>"
                    f"<td>{fmt(s['specificity'], pct=True)}</td><td>{fmt(s['biopsy_rate'], pct=True)}</td>"
                    f"<td>{s['n_flagged']}</td><td>{s['missed_cancers']} / {s['n_cancer']}</td>"
                    f"<td>{s['missed_melanomas']}</td><td>{s['false_positives']}</td></tr>")
    return (f"<div class='scroll'><table class='screening' id='screening-{split}'>{head}{''.join(body)}</table></div><p class='note'>"
            "OR ensemble: biopsy if any member flags a cancer; average ensemble: mean of the members' probabilities, "
            "then the most likely class. Specificity: non-cancer cases (bkl, df, nv, vasc) not flagged. Biopsy rate: "
            "all cases flagged. False positives: non-cancer cases flagged.</p>")


def operating_points(ctx, target):
    out = {}
    for r in ctx["rows"]:
        if r["id"] in ctx["probas"]:
            out[r["id"]] = deployment.operating_points(ctx["labels"], ctx["probas"][r["id"]], target=target)
    return out


def _operating_table(ctx, target):
    ops = ctx.setdefault("_ops", operating_points(ctx, target))
    head = ("<tr><th class='l' rowspan='2'>experiment</th><th colspan='2'>as trained (argmax), test</th>"
            "<th colspan='2'>test: sensitivity at specificity</th>"
            f"<th colspan='3'>threshold for {target:.0%} melanoma recall, chosen on val</th>"
            "<th colspan='3'>that threshold on test</th></tr><tr>"
            "<th>mel recall</th><th>false pos.</th><th>80%</th><th>90%</th>"
            "<th>P(mel) &ge;</th><th>false pos. (rate)</th><th>biopsies per mel.</th>"
            "<th>mel recall</th><th>false pos. (rate)</th><th>biopsies per mel.</th></tr>")
    body = []
    for eid, op in ops.items():
        a, s = op["test"]["argmax"], op["test"]["at_specificity"]
        v, t = op["target_recall"]["val"], op["target_recall"]["test"]
        body.append(
            f"<tr><td class='l'>{esc(eid)}</td><td class='{mel_class(a['recall'])}'>{fmt(a['recall'], pct=True)}</td>"
            f"<td>{a['false_positives']}</td><td>{fmt(s[0]['sensitivity'], pct=True)}</td>"
            f"<td>{fmt(s[1]['sensitivity'], pct=True)}</td><td>{fmt(v['threshold'], 3)}</td>"
            f"<td>{v['false_positives']} ({fmt(v['false_positive_rate'], pct=True)})</td>"
            f"<td>{fmt(v['flagged_per_melanoma_found'], 1)}</td>"
            f"<td class='{mel_class(t['recall'])}'>{fmt(t['recall'], pct=True)}</td>"
            f"<td>{t['false_positives']} ({fmt(t['false_positive_rate'], pct=True)})</td>"
            f"<td>{fmt(t['flagged_per_melanoma_found'], 1)}</td></tr>")
    return (f"<div class='scroll'><table id='operating-points'>{head}{''.join(body)}</table></div><p class='note'>Melanoma one-vs-rest with "
            "score P(mel). Sensitivity at 80%/90% specificity: the best melanoma recall on the test ROC curve while "
            "flagging at most 20%/10% of non-melanomas. The threshold column is what a deployment would have to fix in "
            f"advance: the highest P(mel) cut-off reaching {target:.0%} recall on the validation split, then applied "
            "unchanged to the test split. False positives are non-melanomas flagged; biopsies per melanoma = flagged "
            "cases per melanoma found. Rows in the order of the results table (validation AUC).</p>")


def _threshold_sentence(ctx, target):
    ops = ctx.setdefault("_ops", operating_points(ctx, target))
    if not ops:
        return ""
    best = next(iter(ops))  # rows are sorted by validation AUC
    t = ops[best]["target_recall"]["test"]
    v = ops[best]["target_recall"]["val"]
    return (f"Alternatively, keep the best-ranking model ({best}) and move its melanoma threshold instead of its "
            f"argmax: P(mel) >= {v['threshold']:.3f}, fixed on validation for {target:.0%} recall, catches "
            f"{t['recall']:.0%} of test melanomas at {t['false_positives']} false positives "
            f"({t['false_positive_rate']:.0%} of non-melanomas, {t['flagged_per_melanoma_found']:.1f} biopsies per "
            "melanoma found).")


def _roc_figure(ctx, view):
    from instructor import plots

    curves, points = [], []
    for row in view["rows"]:
        if row["kind"] == "or":
            continue
        members = row["members"]
        proba = (ctx["probas"][members[0]]["test"] if row["kind"] == "model" else
                 deployment.average_ensemble(*(ctx["probas"][m]["test"] for m in members)))
        fpr, tpr, _ = deployment.mel_roc(ctx["labels"]["test"], proba)
        curves.append((row["name"], fpr, tpr))
        a = row["operating_points"]["test"]["argmax"]
        points.append((f"{row['name']} as trained", a["false_positives"] / a["n_other"], a["recall"]))
    src = plots.mel_roc_curves(curves, points)
    return (f"<div class='fig'><img alt='melanoma ROC' src='{src}'><div class='cap'>Melanoma-vs-rest ROC on the "
            "test split; dots mark each model as trained (argmax). Anywhere along its curve is reachable by moving the "
            "threshold.</div></div>")


# --- the page ----------------------------------------------------------------------------------------------------

def build(suite_dir, ensembles=None, target=deployment.TARGET_RECALL):
    """The report as one HTML string."""
    ctx = load(suite_dir)
    t = timing(ctx)
    deploy_html, _ = deployment_section(ctx, ensembles, target)
    skipped = [r for r in ctx["rows"] if r["status"] != "ok"]
    main_run = t["main_run"]
    run_txt = (f" The largest run graded {len(main_run['graded'])} experiments in "
               f"{main_run['wall_seconds'] / 60:.1f} min wall (started {main_run['started']}"
               f"{'' if main_run.get('finished', True) else ', still running'})." if main_run else "")
    sections = [
        "<h1>DermaMNIST 'Beat the Baseline': the course's experiments, graded</h1>",
        f"<p class='sub'>{len(ctx['rows'])} experiments, each graded by "
        "the isolated grader (sandboxed training, parent-side scoring), as a student's submission would be.</p>",
        banner(ctx), labels_box(ctx),
        "<h2>Headline figures</h2>", headline(ctx),
        f"<p class='note'>Grading time summed over experiments: {t['grading_seconds'] / 60:.1f} min on "
        f"{esc(hardware_text(ctx))}" + (f"; the course reports {esc(course_time(ctx))}" if ctx["published"] else "")
        + f".{esc(run_txt)}</p>",
        "<h2 id='deploy'>Which model would you deploy?</h2>", deploy_html,
        "<h2>All experiments</h2>", full_table(ctx),
        "<h2>Plots</h2>", figures(ctx),
        "<h2>Per-class recall</h2>", heatmap(ctx),
        "<h2>Published figures beside this run</h2>",
        f"<p class='note'>Left: the course's figures ({esc(published_label(ctx))}). "
        f"Right: this run ({esc(run_label(ctx))})."
        "</p>", published_table(ctx),
        "<h2>Chapters: what each experiment changed, and its lesson</h2>",
        "<p class='note'>From each solution's own docstrings (train_config.py and model.py). The lessons quote the "
        "course's published real-data figures.</p>", chapters(ctx),
    ]
    if skipped:
        items = "".join(f"<li><b>{esc(r['id'])}</b>: {esc(r['note'])}</li>" for r in skipped)
        sections += ["<h2>Skipped or failed</h2>", f"<ul id='skipped'>{items}</ul>"]
    if ctx["stale"]:
        sections.append(f"<p class='note'>Left out (graded on other data): {esc(', '.join(ctx['stale']))}.</p>")
    sections.append(f"<footer>Generated {esc(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))} by "
                    f"<code>python -m instructor report {esc(ctx['dir'])}</code>. Self-contained: no scripts, no network."
                    "</footer>")
    title = "DermaMNIST suite report" + (" (SYNTHETIC data)" if ctx["data"].get("kind") == "synthetic" else "")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
            + "\n".join(sections) + "</main></body></html>\n")


def write(suite_dir, out=None, ensembles=None, target=deployment.TARGET_RECALL):
    out = Path(out) if out else Path(suite_dir) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build(suite_dir, ensembles, target), encoding="utf-8")
    return out


def main(args):
    ensembles = [tuple(x.strip() for x in g.split(",") if x.strip()) for g in (args.ensemble or [])]
    bad = [g for g in ensembles if len(g) < 2]
    if bad:
        raise SystemExit(f"--ensemble needs two or more experiment ids separated by commas; got {bad}")
    out = write(args.suite, args.out, ensembles or None, args.target_recall)
    print(f"Wrote {out} ({out.stat().st_size / 1024:.0f} KB); open it in a browser (no network needed).")
    return 0


def add_parser(cmds):
    r = cmds.add_parser("report", help="build a self-contained HTML report from a suite folder")
    r.add_argument("suite", help="the suite's --out folder (e.g. runs/suite/)")
    r.add_argument("--out", help="HTML file to write (default: SUITE/report.html)")
    r.add_argument("--ensemble", action="append", metavar="ID,ID[,ID]",
                   help="experiments to ensemble (repeatable); default: exp_20_cosine_scheduler,exp_21_best_custom_cnn")
    r.add_argument("--target-recall", type=float, default=deployment.TARGET_RECALL,
                   help="melanoma recall the threshold table aims for (default 0.8)")
    r.set_defaults(run=main)
    return r

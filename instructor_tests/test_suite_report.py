"""The suite runner, the HTML report and the deployment view.

Unit tests of instructor/deployment.py use hand-made probabilities whose answers are worked out in the comments. The
integration tests grade three experiments once (exps 1 and 3 train in seconds on the 0.2-scale synthetic data; exp 23
needs ImageNet weights, which cannot be fetched here, so it must be reported as skipped with the fix), then check the
result files, resumability, the summary order, the report's HTML, and a real headless Chromium rendering of it.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from instructor import deployment as dep
from instructor import report as report_mod
from instructor import runs, suite
from locked.info import SPLIT_SIZES

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = json.loads((REPO / "solutions" / "published.json").read_text())
ONLY = "1,3,23"
IDS = ("exp_01_baseline", "exp_03_sgd_lower_lr", "exp_23_resnet18_finetune")
AKIEC, BCC, BKL, DF, MEL, NV, VASC = range(7)


# --- deployment.py: hand-made probabilities ----------------------------------------------------------------------

def peaked(classes, top):
    """Rows that put `top` on the given class and spread the rest evenly (rows sum to 1)."""
    p = np.full((len(classes), 7), (1 - top) / 6)
    p[np.arange(len(classes)), classes] = top
    return p


#        mel  mel  akiec bcc  nv   nv   bkl  vasc
Y = np.array([MEL, MEL, AKIEC, BCC, NV, NV, BKL, VASC])
A = peaked([MEL, NV, AKIEC, NV, NV, MEL, BKL, VASC], 0.76)  # flags 1 0 1 0 0 1 0 0
B = peaked([NV, MEL, NV, BCC, NV, NV, MEL, VASC], 0.64)  # flags 0 1 0 1 0 0 1 0


def test_flags_cancer_is_argmax_in_akiec_bcc_mel():
    assert dep.flags_cancer(A).tolist() == [True, False, True, False, False, True, False, False]
    assert dep.flags_cancer(B).tolist() == [False, True, False, True, False, False, True, False]


def test_or_ensemble_biopsies_if_either_flags():
    assert dep.or_ensemble(A, B).tolist() == [True, True, True, True, False, True, True, False]
    with pytest.raises(ValueError):
        dep.or_ensemble(A)


def test_screening_single_model():
    s = dep.screening(Y, dep.flags_cancer(A))
    # caught: mel 1/2, akiec 1/1, bcc 0/1 -> mean 0.5; benign (nv nv bkl vasc) flagged: one nv -> specificity 3/4
    assert s["caught"] == {"akiec": 1.0, "bcc": 0.0, "mel": 0.5}
    assert s["cancer_sensitivity"] == pytest.approx(0.5)
    assert s["mel_recall"] == pytest.approx(0.5)
    assert s["specificity"] == pytest.approx(0.75)
    assert s["biopsy_rate"] == pytest.approx(3 / 8)
    assert (s["n_flagged"], s["false_positives"], s["missed_cancers"], s["missed_melanomas"]) == (3, 1, 2, 1)


def test_screening_or_ensemble_catches_more_and_biopsies_more():
    s = dep.screening(Y, dep.or_ensemble(A, B))
    assert s["cancer_sensitivity"] == pytest.approx(1.0) and s["mel_recall"] == pytest.approx(1.0)
    assert s["specificity"] == pytest.approx(0.5)  # the flagged nv (A) and the flagged bkl (B)
    assert s["biopsy_rate"] == pytest.approx(6 / 8)
    assert (s["false_positives"], s["missed_cancers"]) == (2, 0)


def test_average_ensemble_means_probabilities():
    avg = dep.average_ensemble(A, B)
    assert np.allclose(avg.sum(axis=1), 1)
    assert np.allclose(avg, (A + B) / 2)
    # where they disagree the more confident A wins (0.41 vs 0.34), so the average flags exactly what A flags
    assert dep.flags_cancer(avg).tolist() == dep.flags_cancer(A).tolist()


def mel_scores(scores):
    """Probabilities with P(mel) = score and the rest spread evenly."""
    s = np.asarray(scores, dtype=float)
    p = np.repeat(((1 - s) / 6)[:, None], 7, axis=1)
    p[:, MEL] = s
    return p


#                 3 melanomas       7 others
Y_OP = np.array([MEL, MEL, MEL, NV, NV, NV, NV, NV, AKIEC, BCC])
P_OP = mel_scores([0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05, 0.15, 0.25, 0.02])


def test_sensitivity_at_specificity():
    # 80% specificity allows 1.4 -> 1 false positive among 7: P(mel) >= 0.6 catches 2 of 3 with the 0.7 nv flagged
    s80 = dep.sensitivity_at_specificity(Y_OP, P_OP, 0.80)
    assert s80["sensitivity"] == pytest.approx(2 / 3)
    assert s80["threshold"] == pytest.approx(0.6) and s80["specificity"] == pytest.approx(6 / 7)
    # 90% allows no false positive: only the 0.9 melanoma
    s90 = dep.sensitivity_at_specificity(Y_OP, P_OP, 0.90)
    assert s90["sensitivity"] == pytest.approx(1 / 3) and s90["threshold"] == pytest.approx(0.9)


def test_threshold_for_target_recall_and_its_cost():
    t = dep.threshold_for_recall(Y_OP, P_OP, 0.8)  # 2/3 < 0.8, so all three: down to 0.2
    assert t["threshold"] == pytest.approx(0.2) and t["recall"] == pytest.approx(1.0)
    assert t["false_positives"] == 3  # 0.7, 0.3, 0.25
    assert t["false_positive_rate"] == pytest.approx(3 / 7)
    assert t["flagged_per_melanoma_found"] == pytest.approx(2.0)
    half = dep.threshold_for_recall(Y_OP, P_OP, 0.5)
    assert half["threshold"] == pytest.approx(0.6) and half["false_positives"] == 1


def test_apply_threshold_on_another_split():
    y = np.array([MEL, MEL, NV, NV])
    r = dep.apply_threshold(y, mel_scores([0.5, 0.1, 0.4, 0.05]), 0.2)
    assert r["recall"] == pytest.approx(0.5) and r["false_positives"] == 1 and r["false_positive_rate"] == 0.5


def test_deployment_view_default_pair_and_answer():
    probas = {dep.DEFAULT_PAIR[0]: {"val": P_OP, "test": A}, dep.DEFAULT_PAIR[1]: {"val": P_OP, "test": B}}
    labels = {"val": Y_OP, "test": Y}
    view = dep.deployment_view(probas, labels)
    names = [r["name"] for r in view["rows"]]
    pair = " + ".join(dep.DEFAULT_PAIR)
    assert names == [*dep.DEFAULT_PAIR, f"OR({pair})", f"AVG({pair})"]
    rows = {r["name"]: r for r in view["rows"]}
    assert rows[f"OR({pair})"]["test"]["biopsy_rate"] == pytest.approx(6 / 8)
    assert rows[f"OR({pair})"]["operating_points"] is None  # flags only, no probabilities
    op = rows[dep.DEFAULT_PAIR[0]]["operating_points"]
    assert op["target_recall"]["val"]["threshold"] == pytest.approx(0.2)  # chosen on val, then applied to test
    assert op["target_recall"]["test"]["n_melanoma"] == 2
    answer = dep.recommend(view)
    assert answer["best"] == f"OR({pair})" and "100%" in answer["text"]
    with pytest.raises(KeyError):
        dep.deployment_view(probas, labels, [("exp_20_cosine_scheduler", "exp_99_missing")])


# --- suite.py helpers (no training) -------------------------------------------------------------------------------

def test_parse_only_and_docstrings():
    assert suite.parse_only("1,3-5, 20") == [1, 3, 4, 5, 20]
    info = suite.describe(REPO / "solutions" / "exp_20_cosine_scheduler")
    assert (info["num"], info["name"], info["chapter"]) == (20, "Cosine LR", "Ch7: Scheduling")
    assert "CosineAnnealingLR" in info["training_change"] and info["lesson"].startswith("Decaying")
    assert suite.describe(REPO / "solutions" / "exp_06_more_channels")["model_change"].startswith("Exp 02's model")


def _row(eid, auc, mel, status="ok"):
    ok = status == "ok"
    return {"id": eid, "num": int(eid[4:6]), "status": status, "note": "" if ok else "skipped: weights",
            "val_auc": auc if ok else None, "val_mel_recall": mel, "val_cancer_sensitivity": 0.5, "test_auc": auc,
            "params": 10, "train_seconds": 1.0}


def test_figures_name_the_published_hardware_from_published_json(monkeypatch):
    """The published figures' hardware comes from solutions/published.json, never a label written into plots.py."""
    from instructor import plots

    texts = []

    def capture(fig):
        for ax in fig.axes:
            texts.append(ax.get_xlabel())
            texts.extend(t.get_text() for t in (ax.get_legend().get_texts() if ax.get_legend() else ()))
        plots.plt.close(fig)
        return "data:,"

    monkeypatch.setattr(plots, "_png", capture)
    published = json.loads((REPO / "solutions" / "published.json").read_text())
    pub = {e["id"]: e for e in published["experiments"]}
    rows = [{**_row(eid, 0.8, 0.4), "name": pub[eid]["name"]} for eid in list(pub)[:3]]
    ctx = {"published": {**published, "hardware": "Test Rig 9000"}, "pub": pub, "rows": rows, "meta": {},
           "infos": {}, "data": {"label": "synthetic", "kind": "synthetic"}}
    report_mod.figures(ctx)
    assert any("Test Rig 9000" in t for t in texts if "published (real" in t), texts
    assert any("Test Rig 9000" in t for t in texts if t.startswith("published: real")), texts
    assert not [t for t in texts if "M1" in t], texts


def test_table_sorted_by_validation_auc_with_skipped_last():
    rows = [_row("exp_23_x", None, None, "skipped"), _row("exp_01_a", 0.7, 0.0), _row("exp_20_b", 0.93, 0.6),
            _row("exp_08_c", 0.9, 0.4)]
    table = runs.format_table(rows)
    order = [m for m in re.findall(r"exp_\d+_\w", table)]
    assert order == ["exp_20_b", "exp_08_c", "exp_01_a", "exp_23_x"]
    assert "0.40!" in table and "0.60 " in table  # melanoma recall below 0.5 is marked


def test_weights_error_is_a_skip_with_the_fix():
    record = {"metrics": {"val": None, "test": None}, "tests": [],
              "error": {"check": "weights", "message": "build_model() needs pretrained weights ... Fix: run "
                        "`python -m locked.weights` once."}}
    status, note = runs.outcome(record)
    assert status == "skipped" and note.startswith("skipped: weights not available")
    assert "python -m locked.weights" in note


def _env(tmp, torch_home):
    env = {**os.environ, "DERMA_DATA_DIR": str(tmp / "data"), "DERMA_SYNTHETIC_SCALE": "0.2",
           "TORCH_HOME": str(torch_home), "PYTHONPATH": str(REPO)}
    env.pop("DERMA_SYNTHETIC", None)
    return env


def _cli(args, env, timeout=600):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "instructor", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, time.monotonic() - t0


@pytest.fixture(scope="module")
def torch_home():
    """An empty weights cache the sandbox user can reach (pytest's tmp dirs are root-only, 0700): no cached
    weights, and no network to fetch them, so the ResNet must fail with WeightsUnavailable."""
    path = Path(tempfile.mkdtemp(prefix="suite-torch-home-"))
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, torch_home):
    tmp = tmp_path_factory.mktemp("suite")
    env, out = _env(tmp, torch_home), tmp / "suite"
    first, seconds = _cli(["suite", "solutions", "--only", ONLY, "--synthetic", "--out", str(out)], env)
    return {"tmp": tmp, "env": env, "out": out, "stdout": first.stdout, "stderr": first.stderr, "seconds": seconds}


def test_suite_writes_one_result_folder_per_experiment(suite_run):
    out = suite_run["out"]
    for eid in IDS:
        for name in ("results.json", "grading_record.json", "report.txt", "experiment.json"):
            assert (out / eid / name).exists(), f"{eid}/{name}"
    with np.load(out / "labels.npz") as labels:
        n_val, n_test = len(labels["val"]), len(labels["test"])
    for eid in IDS[:2]:
        with np.load(out / eid / "predictions.npz") as npz:
            assert npz["val"].shape == (n_val, 7) and npz["test"].shape == (n_test, 7)
            assert np.allclose(npz["val"].sum(axis=1), 1)
        record = json.loads((out / eid / "grading_record.json").read_text())
        assert record["data"]["kind"] == "synthetic" and record["metrics"]["val"]["n"] == n_val
    assert "tqdm" not in suite_run["stdout"] and "suite:" in suite_run["stderr"]  # progress bar on stderr
    meta = json.loads((out / "suite.json").read_text())
    assert meta["key"] == {"kind": "synthetic", "scale": 0.2, "generator_version": meta["key"]["generator_version"]}
    assert len(meta["experiments"]) == 3 and meta["runs"][-1]["graded"] == list(IDS)


def test_resnet_without_weights_is_skipped_with_the_fix_never_trained(suite_run):
    record = json.loads((suite_run["out"] / IDS[2] / "grading_record.json").read_text())
    assert record["error"]["check"] == "weights"
    assert record["metrics"]["val"] is None and not record["history"]  # nothing was trained from random init
    assert not (suite_run["out"] / IDS[2] / "predictions.npz").exists()
    line = next(l for l in suite_run["stdout"].splitlines() if IDS[2] in l)
    assert "skipped: weights not available" in line and "python -m locked.weights" in line


def test_summary_table_sorted_by_validation_auc(suite_run):
    out, stdout = suite_run["out"], suite_run["stdout"]
    aucs = {eid: json.loads((out / eid / "grading_record.json").read_text())["metrics"]["val"]["auc"]
            for eid in IDS[:2]}
    printed = [eid for line in stdout.splitlines() for eid in IDS if re.match(rf"\s*[\d-]+\s+{eid}\b", line)]
    assert printed == sorted(IDS[:2], key=lambda e: -aucs[e]) + [IDS[2]]
    assert "val AUC" in stdout and "mel rec" in stdout and "test AUC" in stdout and "params" in stdout


def test_second_run_resumes_without_regrading(suite_run):
    out = suite_run["out"]
    stamps = {eid: (out / eid / "grading_record.json").stat().st_mtime_ns for eid in IDS}
    again, seconds = _cli(["suite", "solutions", "--only", ONLY, "--synthetic", "--out", str(out)], suite_run["env"])
    assert "0 graded, 3 kept from earlier runs" in again.stdout
    assert {eid: (out / eid / "grading_record.json").stat().st_mtime_ns for eid in IDS} == stamps
    assert seconds < suite_run["seconds"] / 2
    assert all(eid in again.stdout for eid in IDS)  # the table is printed from the kept records
    # other data (here: another synthetic scale) is not "finished"
    assert runs.finished(out / IDS[0], {"kind": "synthetic", "scale": 0.1, "generator_version": 1}) is None


def test_rerun_grades_again(suite_run):
    out = suite_run["out"]
    before = (out / IDS[0] / "grading_record.json").stat().st_mtime_ns
    again, _ = _cli(["suite", "solutions", "--only", "1", "--synthetic", "--out", str(out), "--rerun"],
                    suite_run["env"])
    assert "1 graded, 0 kept" in again.stdout
    assert (out / IDS[0] / "grading_record.json").stat().st_mtime_ns > before


# --- the report --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report(suite_run):
    path = suite_run["tmp"] / "report.html"
    proc, _ = _cli(["report", str(suite_run["out"]), "--out", str(path)], suite_run["env"])
    assert "Wrote" in proc.stdout
    return path


def test_report_is_self_contained_and_labelled(report):
    text = report.read_text(encoding="utf-8")
    assert report.stat().st_size < 2_000_000
    assert 'id="synthetic-banner"' in text and "SYNTHETIC DATA" in text
    assert "id='results-table'" in text and "id='recall-heatmap'" in text and "id='operating-points'" in text
    assert report_mod.published_label({"published": PUBLISHED}) in text
    assert f"about {PUBLISHED['minutes_for_all_25']} min for all 25 on {PUBLISHED['hardware']}" in text
    assert "this run: SYNTHETIC stand-in (scale 0.2)" in text
    assert "Which model would you deploy?" in text and "id='deploy-answer'" in text
    assert "skipped: weights not available" in text and "python -m locked.weights" in text
    for eid in IDS:
        assert eid in text
    assert not re.search(r"https?://", text), "no external resources (or links) in a report that opens offline"
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    srcs = re.findall(r"src='([^']*)'", text) + re.findall(r'src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)


def test_report_results_table_order(report, suite_run):
    aucs = {eid: json.loads((suite_run["out"] / eid / "grading_record.json").read_text())["metrics"]["val"]["auc"]
            for eid in IDS[:2]}
    text = report.read_text(encoding="utf-8")
    table = text[text.index("id='results-table'"):]
    table = table[:table.index("</table>")]
    expected = sorted(IDS[:2], key=lambda e: -aucs[e]) + [IDS[2]]  # best validation AUC first, skipped last
    assert sorted(expected, key=table.index) == expected


def _hand_graded(out, eid, flags):
    """One experiment folder as the suite writes it: experiment.json and a grading record whose metrics come from
    locked.metrics on random probabilities, with the integrity review's flags given."""
    from locked import metrics
    rng = np.random.default_rng(len(eid))
    y = np.repeat(np.arange(7), 5)
    split = metrics.evaluate(y, rng.dirichlet(np.ones(7), len(y)))
    record = {"metrics": {"val": split, "test": split}, "params": 1234, "train_seconds": 2.0, "seconds": 3.0,
              "score": 40.0, "max_score": 90.0, "tests": [], "data": {},
              "integrity": {"flags": [{"kind": k, "message": f"<{k}> explained"} for k in flags]}}
    (out / eid).mkdir(parents=True)
    (out / eid / "grading_record.json").write_text(json.dumps(record))
    (out / eid / "experiment.json").write_text(json.dumps({"id": eid, "num": int(eid[4:6]), "name": eid[7:],
                                                           "chapter": "hand-built"}))


def test_report_table_shows_integrity_flags(tmp_path):
    _hand_graded(tmp_path, "exp_01_baseline", [])
    _hand_graded(tmp_path, "exp_02_lookup_table", ["val_gap", "literal_data"])
    table = report_mod.full_table(report_mod.load(tmp_path))
    rows = {eid: next(r for r in table.split("</tr>") if eid in r)
            for eid in ("exp_01_baseline", "exp_02_lookup_table")}
    assert "flagged: val_gap, literal_data" in rows["exp_02_lookup_table"]
    assert "&lt;val_gap&gt; explained &lt;literal_data&gt; explained" in rows["exp_02_lookup_table"]  # escaped
    assert "flagged" not in rows["exp_01_baseline"]
    assert table.count("<th") == rows["exp_01_baseline"].count("<td") == rows["exp_02_lookup_table"].count("<td")


def test_report_takes_the_published_figures_from_published_json():
    """The course's n, hardware and wall time come from solutions/published.json, not from literals in the
    report: another file gives other figures, and no file gives none."""
    assert PUBLISHED["n_evaluated"] == SPLIT_SIZES["val"]  # the published recalls are k/n of the val split
    other = {"hardware": "Test Box 9000", "minutes_for_all_25": 77, "n_evaluated": 4242, "experiments": []}
    ctx = {"data": {"kind": "synthetic", "label": "SYNTHETIC"}, "meta": {"hardware": {"cpu": "cpu", "cores": 2},
           "threads": 1, "runs": []}, "infos": {}, "rows": [], "published": other, "pub": {}}
    page = report_mod.labels_box(ctx) + report_mod.headline(ctx)
    assert "published: real DermaMNIST val split (n = 4,242), Test Box 9000" in page
    assert "about 77 min for all 25 on Test Box 9000" in page
    for figure in (str(PUBLISHED["minutes_for_all_25"]) + " min", "1003", "1,003", PUBLISHED["hardware"]):
        assert figure not in page
    missing = report_mod.headline({**ctx, "published": None}) + report_mod.labels_box({**ctx, "published": None})
    assert "course:" not in missing and "published.json not found" in missing


def test_report_renders_in_headless_chromium(report, screenshot):
    pixels, console = screenshot(report, 1280, 2000)
    assert len(np.unique(pixels.reshape(-1, 3)[::97], axis=0)) > 20, "a blank page"
    # the synthetic banner (deep red) is on screen
    assert any(r > 150 and g < 60 and b < 60 for r, g, b in pixels[::10, ::10].reshape(-1, 3))
    assert not console, console


def test_grader_command_line_stays_light():
    """`python -m grader` is the grading runtime: it must not load the instructor's tools, scikit-learn,
    matplotlib or torch (the parent stays small on a 768 MB box)."""
    code = ("import sys, grader.__main__; print(sorted(m for m in ('sklearn', 'scipy', 'matplotlib', 'torch', 'tqdm', "
            "'instructor') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_instructor_command_line_stays_light():
    """Registering suite/report/package must not load scikit-learn, matplotlib or torch before a subcommand runs."""
    code = ("import sys, instructor.__main__; print(sorted(m for m in ('sklearn', 'scipy', 'matplotlib', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

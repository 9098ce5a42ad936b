"""The student's run draws its numbers as one page (issue 23, item 2): locked/page.py, hooked into locked/train.py.

- `python -m locked.train --synthetic` (a real run, two epochs on the 0.2-scale stand-in) writes runs/<sub>.html
  beside runs/<sub>.json: four inline PNG figures, the data banner, the class names, the verdict, no scripts and
  no links; headless Chromium renders it to a screenshot that is not blank and shows the figures' own colours.
- A record with no per-epoch history, or one epoch, or a diverged (None) validation loss still draws a page.
- Without matplotlib, or with a record the page cannot draw, the run prints one line and keeps its JSON.
"""
import base64
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from locked import metrics, page, report, train
from locked.info import CLASS_NAMES, LONG_NAMES

REPO = Path(__file__).resolve().parents[1]
STUDENT = REPO / "student"
SCALE = "0.2"  # conftest.TEST_SCALE: the session's synthetic_root
SRC = re.compile(r"""src=["'](data:image/png;base64,([A-Za-z0-9+/=]+))["']""")
SYNTHETIC = {"kind": "synthetic", "label": "SYNTHETIC stand-in (scale 0.2), not DermaMNIST"}


def pngs(text):
    """The page's inline figures, decoded."""
    return [Image.open(io.BytesIO(base64.b64decode(b64))) for _, b64 in SRC.findall(text)]


def not_blank(image, least=20):
    """More than `least` colours in a thumbnail: drawn, not one flat colour."""
    colours = image.convert("RGB").resize((64, 64)).getcolors(64 * 64)
    return colours is None or len(colours) > least


def has_colour(pixels, rgb, tol=12):
    return bool((np.abs(pixels.astype(int) - rgb).max(axis=-1) <= tol).any())


@pytest.fixture(scope="module")
def run(synthetic_root, tmp_path_factory):
    """One real student run from a fresh working folder, as a student types it (runs/ is the default output)."""
    tmp = tmp_path_factory.mktemp("page")
    sub = tmp / "sub"
    sub.mkdir()
    shutil.copyfile(STUDENT / "model.py", sub / "model.py")
    config = (STUDENT / "train_config.py").read_text().replace("EPOCHS = 5", "EPOCHS = 2")
    assert "EPOCHS = 2" in config
    (sub / "train_config.py").write_text(config)
    env = {**os.environ, "DERMA_SYNTHETIC_SCALE": SCALE, "DERMA_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "locked.train", "--synthetic", "--data-dir", str(synthetic_root),
                           "--submission", "sub", "--device", "cpu"], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"tmp": tmp, "stdout": proc.stdout, "html": tmp / "runs" / "sub.html",
            "record": json.loads((tmp / "runs" / "sub.json").read_text())}


def test_the_run_writes_a_self_contained_page_beside_its_json(run):
    assert "Report with plots: runs/sub.html (open it in a browser)" in run["stdout"].splitlines()
    text = run["html"].read_text(encoding="utf-8")
    record = run["record"]
    assert record["data"]["kind"] == "synthetic" and len(record["history"]) == 2
    assert html.escape(report.data_banner(record["data"])) in text
    assert text.index("SYNTHETIC") < text.index("<img"), "the data banner is at the top"
    assert html.escape(report.verdict(record["val"])) in text
    assert all(f"{short}: {html.escape(long)}" in text for short, long in zip(CLASS_NAMES, LONG_NAMES))
    figures = pngs(text)
    assert len(figures) == 4 and len(re.findall(r"<img\b", text)) == 4
    assert all(im.width > 300 and im.height > 200 and not_blank(im) for im in figures)
    lowered = text.lower()
    assert "<script" not in lowered and "<link" not in lowered and "@import" not in lowered
    assert not re.search(r"https?://", text), "no external resources (or links) in a page that opens from disk"


def test_the_page_renders_in_headless_chromium(run, screenshot):
    pixels, console = screenshot(run["html"], 1200, 2400)
    assert len(np.unique(pixels.reshape(-1, 3)[::97], axis=0)) > 20, "a blank page"
    assert has_colour(pixels, (180, 35, 24)), "the synthetic-data banner (the page's CSS)"
    assert has_colour(pixels, (242, 142, 43)), "the training curves (orange: only in the figures)"
    assert has_colour(pixels, (8, 48, 107)), "the confusion matrix (the darkest blue of its colour map)"
    assert not console, console


def validation():
    """locked.metrics on random probabilities: every field a run record's "val" holds."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(CLASS_NAMES)), 6)
    return metrics.evaluate(y, rng.dirichlet(np.ones(len(CLASS_NAMES)), len(y)))


ROW = {"epoch": 1, "train_loss": 1.9, "train_acc": 0.2, "val_loss": None, "val_acc": 0.25, "lr": 0.1, "seconds": 1}


@pytest.mark.parametrize("history", [[], [ROW], None], ids=["no-epochs", "one-epoch-diverged-val-loss", "missing"])
def test_a_short_or_missing_history_still_draws_a_page(history):
    record = {"submission": "/somewhere/student", "data": SYNTHETIC, "params": 6887, "train_seconds": 1.5,
              "val": validation()}
    if history is not None:
        record["history"] = history
    text = page.build(record)
    assert len(pngs(text)) == 4 and all(not_blank(im) for im in pngs(text))
    assert "Your run: student" in text and html.escape(report.data_banner(SYNTHETIC)) in text


def test_without_matplotlib_the_run_prints_one_line_and_keeps_its_json(tmp_path, monkeypatch):
    out = tmp_path / "runs" / "sub.json"
    out.parent.mkdir()
    out.write_text("{}")
    record = {"data": SYNTHETIC, "history": [ROW], "val": validation()}
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ModuleNotFoundError
    line = train.write_page(record, out)
    assert line == ("No report with plots: matplotlib is not installed; install the pinned versions: "
                    "pip install -r requirements.txt")
    assert out.read_text() == "{}" and not out.with_suffix(".html").exists()


def test_a_page_that_cannot_be_drawn_is_one_line_and_never_replaces_the_run(tmp_path):
    out = tmp_path / "run.html"  # --out run.html: the page goes to run.html.html
    out.write_text("{}")
    assert train.write_page({"history": []}, out) == ("No report with plots (KeyError: 'val'). This run is saved all "
                                                      "the same.")
    record = {"data": SYNTHETIC, "history": [ROW], "val": validation()}
    assert train.write_page(record, out) == f"Report with plots: {out}.html (open it in a browser)"
    assert out.read_text() == "{}" and len(pngs((tmp_path / "run.html.html").read_text())) == 4


def test_the_run_imports_matplotlib_only_to_draw():
    code = "import sys, locked.train; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

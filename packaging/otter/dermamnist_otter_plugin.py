"""otter plugin for DermaMNIST: clear the upload folder before otter's grading kernel starts in it.

otter runs the graded file in a Jupyter kernel whose current folder is the submission folder, and that folder is on
the kernel's import path. An uploaded zip can therefore carry a package (an `otter/` or `numpy/` folder, say) that
the kernel imports in place of the real one, as root, before any instructor code runs. Checked with otter 7.0.0:
an `otter/__init__.py` in a student zip ran in the kernel.

This plugin runs in otter's own process (event `before_grading`), after the support files are copied and before
the kernel starts. It moves everything the student uploaded (but the uploaded zip itself, which `otter grade` copies
back out of the container afterwards) into a private folder outside it, empties any `__init__.py`, and records
that folder in `.dermamnist_upload.json`: the driver grades the upload from there by locked/upload.py's one rule,
in student/ or any folder, exactly as Gradescope does. (Two files flat at the upload's top never reach it: otter
refuses more than one top-level .py before any plugin runs.) An uploaded notebook is what otter would run instead of
the driver, so the driver takes its place. After grading, the report card the driver printed (what Gradescope shows
the student: the ignored files, the refusal) becomes the output of otter's results.

Registered in otter_config.json as "dermamnist_otter_plugin.CleanUpload". `python -m instructor package` ships this
file at the zip root (Gradescope imports it from /autograder/source) and installs it into otter's environment from
setup.sh (`otter grade` images). For `otter run`, put the folder holding it on PYTHONPATH.
"""
import json
import shutil
import tempfile
from pathlib import Path

import nbformat
from otter.plugins import AbstractOtterPlugin

DRIVER = "dermamnist_autograder.py"
KEEP = {DRIVER, "_dermamnist_autograder", "tests", "__init__.py"}  # otter's and ours
RECORD = ".dermamnist_upload.json"
MOVED_PREFIX = "dermamnist-upload-"  # the driver accepts only such a private folder (dermamnist_autograder.py)
HEADLINE = "DermaMNIST 'Beat the Baseline' score"  # the report card's first line (grader/results.py)


class CleanUpload(AbstractOtterPlugin):
    def during_generate(self, otter_config, assignment):
        return None  # nothing to do when the zip is built

    def before_grading(self, config):
        folder = Path(self.submission_path).resolve().parent
        moved = Path(tempfile.mkdtemp(prefix=MOVED_PREFIX))  # mode 0700, this user's
        for entry in sorted(folder.iterdir()):
            if entry.name in KEEP or (entry.suffix == ".zip" and entry.is_file() and not entry.is_symlink()):
                continue  # a zip file is not importable from the folder, and `otter grade` copies it back out
            shutil.move(str(entry), str(moved / entry.name))
        for init in (folder / "__init__.py",):
            if init.exists() or init.is_symlink():
                init.unlink()
                init.write_text("")
        (folder / RECORD).write_text(json.dumps({"upload": str(moved)}))
        picked = Path(self.submission_path)
        if picked.name != DRIVER:  # one .ipynb in the upload: otter runs it, unless it is the driver by now
            cell = nbformat.v4.new_code_cell((folder / DRIVER).read_text())
            nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(picked))

    def after_grading(self, results):
        """The student sees the report card, as on Gradescope (the driver's cell prints it), less its headline: the
        grader's exact total, which otter's own (the test_auc check paid in steps) would contradict."""
        printed = "".join(out.get("text", "") for cell in results.notebook.cells
                          if "print(dermamnist_report)" in cell.get("source", "") for out in cell.get("outputs", [])
                          if out.get("output_type") == "stream" and out.get("name") == "stdout")
        card = [line for line in printed.strip().splitlines() if not line.startswith(HEADLINE)]
        if card:
            results.set_output("\n".join(card).strip())

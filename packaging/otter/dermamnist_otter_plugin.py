"""otter plugin for DermaMNIST: clear the upload folder before otter's grading kernel starts in it.

otter runs the graded file in a Jupyter kernel whose current folder is the submission folder, and that folder is on
the kernel's import path. An uploaded zip can therefore carry a package (an `otter/` or `numpy/` folder, say) that
the kernel imports in place of the real one, as root, before any instructor code runs. Checked with otter 7.0.0:
an `otter/__init__.py` in a student zip ran in the kernel.

This plugin runs in otter's own process (event `before_grading`), after the support files are copied and before
the kernel starts. It moves everything the student uploaded except `student/` (and the uploaded zip itself, which
`otter grade` copies back out of the container afterwards) out of the folder, empties any
`__init__.py`, and records what it moved in `.dermamnist_upload.json` so the driver can list it as ignored.

Registered in otter_config.json as "dermamnist_otter_plugin.CleanUpload". `python -m instructor package` ships this
file at the zip root (Gradescope imports it from /autograder/source) and installs it into otter's environment from
setup.sh (`otter grade` images). For `otter run`, put the folder holding it on PYTHONPATH.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

from otter.plugins import AbstractOtterPlugin

KEEP = {"student", "dermamnist_autograder.py", "_dermamnist_autograder", "tests", "__init__.py"}
RECORD = ".dermamnist_upload.json"


class CleanUpload(AbstractOtterPlugin):
    def during_generate(self, otter_config, assignment):
        return None  # nothing to do when the zip is built

    def before_grading(self, config):
        folder = Path(self.submission_path).resolve().parent
        quarantine = Path(tempfile.mkdtemp(prefix="dermamnist-removed-"))
        removed = []
        for entry in sorted(folder.iterdir()):
            if entry.name in KEEP or (entry.suffix == ".zip" and entry.is_file() and not entry.is_symlink()):
                continue  # a zip file is not importable from the folder, and `otter grade` copies it back out
            removed.append(entry.name + ("/" if entry.is_dir() and not entry.is_symlink() else ""))
            shutil.move(str(entry), str(quarantine / entry.name))
        for init in (folder / "__init__.py",):
            if init.exists() or init.is_symlink():
                init.unlink()
                init.write_text("")
        (folder / RECORD).write_text(json.dumps({"removed": removed}))
        os.chmod(quarantine, 0o700)

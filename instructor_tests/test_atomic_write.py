"""grader/resultfile.write_atomic: Gradescope reads results.json whenever the grader stops, so at every moment it
must be the old file or the new one, complete; and in a folder the sandbox user could write to, the writer must
never write through a planted link."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from grader import resultfile

REPO = Path(__file__).resolve().parents[1]
OLD, NEW = {"score": 1.0, "output": "the old grading"}, {"score": 2.0, "output": "the new grading"}

# A writer killed at the rename: os.replace is where the new file would take the old one's place.
KILLED_AT_RENAME = """
import os, signal, sys
from grader import resultfile
os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
resultfile.write_json(sys.argv[1], {"score": 2.0, "output": "the new grading"})
"""


def test_a_writer_killed_before_its_rename_leaves_the_old_file_complete(tmp_path):
    path = tmp_path / "results.json"
    resultfile.write_json(path, OLD)
    proc = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME, str(path)], cwd=REPO, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert json.loads(path.read_text()) == OLD
    assert json.loads((tmp_path / "results.json.tmp").read_text()) == NEW  # it was killed after writing, not before
    resultfile.write_json(path, NEW)  # the next writer takes over the leftover
    assert json.loads(path.read_text()) == NEW and sorted(os.listdir(tmp_path)) == ["results.json"]


def test_a_link_planted_at_the_path_is_replaced_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("not the grader's")
    (tmp_path / "results.json").symlink_to(target)
    (tmp_path / "results.json.tmp").symlink_to(target)
    resultfile.write_json(tmp_path / "results.json", NEW)
    assert not (tmp_path / "results.json").is_symlink() and json.loads((tmp_path / "results.json").read_text()) == NEW
    assert target.read_text() == "not the grader's" and not (tmp_path / "results.json.tmp").exists()


def test_a_directory_planted_at_the_path_is_replaced(tmp_path):
    (tmp_path / "results.json" / "inside").mkdir(parents=True)
    (tmp_path / "results.json.tmp").mkdir()
    resultfile.write_json(tmp_path / "results.json", NEW)
    assert (tmp_path / "results.json").is_file() and json.loads((tmp_path / "results.json").read_text()) == NEW
    assert sorted(os.listdir(tmp_path)) == ["results.json"]

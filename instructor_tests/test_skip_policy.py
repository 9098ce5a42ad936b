"""The repository's skip policy (conftest.py at the root): under CI a skip with an unlisted reason fails the run,
a listed one does not, and every run ends with a summary of its skips. Run on a throwaway test file in a
separate pytest process (a few seconds, no torch)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TESTS = '''
import pytest


def test_runs():
    pass


def test_needs_root():
    pytest.skip("needs root for the sandbox user")


@pytest.mark.skipif(True, reason="chromium not installed")
def test_needs_a_browser():
    pass


@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
'''


def run_pytest(tmp_path, ci, allowed=""):
    (tmp_path / "test_example.py").write_text(TESTS)
    (tmp_path / "allowed.txt").write_text("# comment lines and blank lines are ignored\n\n" + allowed)
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": ci}
    cmd = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q", "-rN",
           "--allowed-skips", str(tmp_path / "allowed.txt"), "test_example.py"]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_outside_ci_skips_are_listed_and_pass(tmp_path):
    proc = run_pytest(tmp_path, ci="")
    assert proc.returncode == 0, proc.stdout
    assert "skipped      test_example.py::test_needs_root: needs root for the sandbox user" in proc.stdout
    assert "skipped      test_example.py::test_needs_a_browser: chromium not installed" in proc.stdout
    assert "2 skipped, 0 skips failed under CI" in proc.stdout


@pytest.mark.parametrize("ci", ["1", "true"])
def test_under_ci_an_unlisted_skip_fails_the_run(tmp_path, ci):
    proc = run_pytest(tmp_path, ci=ci, allowed="chromium not installed\n")
    assert proc.returncode == 1, proc.stdout
    assert "NOT ALLOWED  test_example.py::test_needs_root: needs root for the sandbox user" in proc.stdout
    assert "Skipped under CI: needs root for the sandbox user" in proc.stdout  # the failure says why
    assert "skipped      test_example.py::test_needs_a_browser: chromium not installed" in proc.stdout
    assert "1 skipped, 1 skips failed under CI" in proc.stdout
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in proc.stdout  # the xfail is not a skip


def test_under_ci_listed_skips_pass(tmp_path):
    proc = run_pytest(tmp_path, ci="1", allowed="chromium not installed\nneeds root\n")
    assert proc.returncode == 0, proc.stdout
    assert "2 skipped, 0 skips failed under CI" in proc.stdout


def test_ci_false_is_not_ci(tmp_path):
    assert run_pytest(tmp_path, ci="false").returncode == 0

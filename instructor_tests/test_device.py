"""The GPU option (issue 27): `--device cuda` trains in the sandbox on an NVIDIA GPU, its device nodes bound into the
view, deterministic algorithms on. No GPU has been lent to this project's CI: these tests show the option's plumbing
and its refusals on a machine without one; benchmarks/gpu_suite.sh runs it for real where a GPU is."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import grader.grade as grade_mod
from grader import preflight, rubric as rubric_mod, sandbox

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RUBRIC_PATH = HERE / "grader_test_rubric.toml"
HONEST = HERE / "grader_submissions" / "honest"
NO_GPU = not sandbox.gpu_nodes()


def _argv(limits, nodes, monkeypatch):
    monkeypatch.setattr(sandbox, "gpu_nodes", lambda: nodes)
    with sandbox.Sandbox(limits) as sb:
        return sb._bwrap_argv(["true"]) if sb.bwrap else None


def test_the_gpu_nodes_are_bound_into_the_view_only_for_cuda(monkeypatch):
    nodes = ["/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl"]
    cuda = _argv(rubric_mod.load(device="cuda").limits, nodes, monkeypatch)
    if cuda is None:
        pytest.skip("needs root and bubblewrap (the minimal filesystem view)")
    pairs = [cuda[i + 1] for i, arg in enumerate(cuda) if arg == "--dev-bind"]
    assert pairs == nodes and all(cuda[cuda.index(n) + 1] == n for n in nodes)
    assert "--dev-bind" not in _argv(rubric_mod.load().limits, nodes, monkeypatch)


def test_the_child_is_told_its_device_and_kept_off_cuda_on_the_cpu():
    assert grade_mod.child_request(rubric_mod.load().limits)["device"] == "cpu"
    assert grade_mod.child_request(rubric_mod.load(device="cuda").limits)["device"] == "cuda"


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_the_environments_verdict_before_any_grading(synthetic_root, tmp_path):
    env = {**os.environ, "DERMA_SYNTHETIC_SCALE": "0.2", "DERMA_DATA_DIR": str(synthetic_root)}
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(HONEST), "--out", str(tmp_path / "out"),
                           "--synthetic", "--rubric", str(RUBRIC_PATH), "--device", "cuda"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    output = json.loads((tmp_path / "out" / "results.json").read_text())["output"]
    assert "The autograder itself failed" in output and "not a problem with your submission" in output
    assert "no NVIDIA device nodes" in output and "--device cpu" in output
    assert not (tmp_path / "out" / "grading_record.json").exists()  # nothing was graded


def test_gpu_nodes_the_sandbox_cannot_open_are_named_before_any_grading(monkeypatch):
    """A node only root may open (a driver set up with restrictive modes): the probe, as the grading's uid, says so."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the sandbox's uid must differ from the node's owner")
    fd, node = tempfile.mkstemp(prefix="dermagrade-nvidia-", dir="/dev")  
    os.close(fd)
    os.chmod(node, 0o600)
    monkeypatch.setattr(sandbox, "gpu_nodes", lambda: [node])
    try:
        with pytest.raises(preflight.EnvironmentUnusable, match="cannot open the GPU's device nodes"):
            preflight.check(rubric_mod.load(device="cuda").limits)
        preflight.check(rubric_mod.load().limits)  # the same host grades on the CPU
    finally:
        os.unlink(node)


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
@pytest.mark.parametrize("command", [["suite", str(REPO / "solutions"), "--only", "1"],
                                     ["grade-class", str(HERE / "grader_submissions"), "-j", "1"]])
def test_the_instructors_tools_refuse_cuda_without_a_gpu_before_grading(synthetic_root, tmp_path, command):
    env = {**os.environ, "DERMA_SYNTHETIC_SCALE": "0.2", "DERMA_DATA_DIR": str(synthetic_root)}
    proc = subprocess.run([sys.executable, "-m", "instructor", *command, "--synthetic", "--device", "cuda", "--out",
                           str(tmp_path / "out"), "--no-progress"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().startswith("Grading environment check failed:") and "--device cpu" in proc.stderr
    assert not list((tmp_path / "out").glob("*/grading_record.json"))  # nothing was graded


def test_the_suite_records_the_device_it_trained_on():
    from instructor import runs, suite
    assert suite.hardware()["device"] == "cpu" and runs.hardware_label(suite.hardware()).endswith(", CPU")
    assert runs.hardware_label(suite.hardware("cuda")).endswith(", trained on cuda")


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_a_torch_that_finds_no_gpu_in_the_sandbox_is_the_environments_failure(synthetic_root, tmp_path, monkeypatch):
    """Device nodes that open (so the preflight passes) but no GPU torch can use (a driver mismatch): the child says
    so and ends before its first report, so no student code ran and the verdict blames the environment."""
    fd, node = tempfile.mkstemp(prefix="dermagrade-nvidia-", dir="/dev")  
    os.close(fd)
    os.chmod(node, 0o666)
    monkeypatch.setattr(sandbox, "gpu_nodes", lambda: [node])
    monkeypatch.setenv("DERMA_SYNTHETIC_SCALE", "0.2")
    try:
        record = grade_mod.grade(HONEST, tmp_path / "out", rubric_path=RUBRIC_PATH, data_dir=synthetic_root,
                                 synthetic=True, log=lambda *a: None, device="cuda")
    finally:
        os.unlink(node)
    assert record["score"] == 0 and record["grader_failure"], record["tests"][0]["output"]
    assert "not with your submission" in record["grader_failure"]
    assert "finds no GPU in the sandbox" in record["sandbox"]["output"]

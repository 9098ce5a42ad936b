"""README claims that no other test exercised, each shown true by trying it.

- "Student code runs only in a child process: an empty working directory ... no network" and "the parent never
  imports student code (nor torch)": one grading of grader_submissions/probe (the honest CNN, which prints its
  working directory and tries to reach a TCP listener this test opens on the grader's loopback), run by
  `grader.__main__.main` in a separate process that then reports which heavy modules it had loaded.
- "If the file is there its md5 is compared with the official one and reports say 'official'": a file whose md5 is
  the official one (patched to this test file's md5, since the real download is not available offline).

"A better model scores better" on the synthetic data is in test_training.py (it reuses the lesson trainings).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grader import results, sandbox
from locked import data, report
from locked.info import FLAG

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROBE = HERE / "grader_submissions" / "probe"
SCALE = "0.2"  # conftest.TEST_SCALE, the scale of the session's synthetic_root
HEAVY = ("torch", "torchvision", "matplotlib", "instructor")

#: Grades like `python -m grader grade`, then prints which of HEAVY the grading process had imported.
PARENT = f"""
import json, sys
from grader.__main__ import main
rc = main(sys.argv[1:])
print("PARENT_MODULES " + json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
sys.exit(rc)
"""


@pytest.fixture(scope="module")
def probe(synthetic_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("probe")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    sub = tmp / "sub"
    shutil.copytree(PROBE, sub)
    model = sub / "model.py"
    model.write_text(model.read_text().replace("PROBE_PORT = 0", f"PROBE_PORT = {listener.getsockname()[1]}"))
    cmd = [sys.executable, "-c", PARENT, "grade", str(sub), "--synthetic", "--data-dir", str(synthetic_root),
           "--out", str(tmp / "out"), "--memory-limit", "1200"]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "DERMA_SYNTHETIC_SCALE": SCALE},
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    try:
        conn, _ = listener.accept()
        reached = conn.recv(100) or b"connected"
        conn.close()
    except BlockingIOError:
        reached = None
    finally:
        listener.close()
    record = json.loads((tmp / "out" / "grading_record.json").read_text())
    line = next(l for l in proc.stdout.splitlines() if l.startswith("PARENT_MODULES "))
    return {"record": record, "parent_modules": json.loads(line.split(" ", 1)[1]), "reached": reached,
            "output": record["sandbox"]["output"]}


def test_the_grading_process_never_imports_torch(probe):
    tests = {t["key"]: t for t in probe["record"]["tests"]}
    assert tests["trains"]["status"] == "passed" and probe["record"]["history"]  # torch did run: in the child
    assert probe["parent_modules"] == []


def test_student_code_starts_in_an_empty_working_directory(probe):
    line = next(l for l in probe["output"].splitlines() if l.startswith("probe: cwd "))
    cwd, listing = line.removeprefix("probe: cwd ").split(" holds ")
    assert Path(cwd).name == "work" and listing == "[]", line


def test_student_code_has_no_network(probe):
    if os.geteuid() != 0 and sandbox.bubblewrap()[0] is None:
        pytest.skip("without root the sandbox isolates the network only in bubblewrap's user namespace, and "
                    f"bubblewrap cannot run here: {sandbox.bubblewrap()[1]}")
    assert probe["reached"] is None, f"the sandbox reached the grader's loopback: {probe['reached']!r}"
    assert "probe: network blocked (" in probe["output"], probe["output"]
    assert "no network" in "; ".join(probe["record"]["sandbox"]["isolation"])  # and the instructor's report says so


def test_a_file_with_the_official_md5_is_reported_official(synthetic_root, tmp_path, monkeypatch):
    path = tmp_path / f"{FLAG}.npz"
    shutil.copyfile(Path(synthetic_root) / "synthetic" / f"scale-{SCALE}" / f"{FLAG}.npz", path)
    monkeypatch.setattr(data, "OFFICIAL_MD5", data.md5sum(path))
    found, provenance = data.locate(tmp_path)
    assert found == path and provenance["kind"] == "official" and provenance["md5"] == data.OFFICIAL_MD5
    assert provenance["label"] == "official DermaMNIST (md5 verified)"
    assert report.data_banner(provenance) == "Data: official DermaMNIST (md5 verified)"  # no NOT comparable
    record = {"score": 0, "max_score": 0, "data": provenance, "tests": [], "metrics": {},
              "sandbox": {"isolation": ["not started"]}}
    assert "Data: official DermaMNIST (md5 verified)" in results.report_card(record).splitlines()[1]

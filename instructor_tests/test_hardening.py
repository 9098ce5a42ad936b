"""Sandbox hardening (issue 11): every attack a hostile student tried, as a test that fails without the fix.

Three layers, cheapest first:
  - the sandbox alone, with small `python -c` scripts (no torch, about a second each): what the child can see,
    its uid and folders, memory held outside any process, files, processes, leftovers;
  - the parent's reading of what the child leaves in out/, with planted files (no child at all);
  - whole gradings of hostile submissions (instructor_tests/grader_submissions/), each the honest model plus one
    attack, so its score must be the honest one exactly or a student-facing error, never the grader's fault.
The filesystem-view cases need root and bubblewrap (`apt-get install -y bubblewrap`; .ci/run installs it).
"""
import dataclasses
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import grader.grade as grade_mod
from grader import protocol, results, sandbox, scoring
from instructor import runs
from locked import data
from test_grader import (BUILT, MEMORY_LIMIT_MB, RUBRIC, RUBRIC_PATH, SANITY, SCALE, SUBS, _grade, _same_grade, by_key,
                         check_gradescope, check_outcome, honest)  # noqa: F401  (honest: the shared fixture)

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0
VIEW = IS_ROOT and sandbox.bubblewrap()[0] is not None
needs_root = pytest.mark.skipif(not IS_ROOT, reason="uids, cgroups and namespaces need root")
needs_view = pytest.mark.skipif(not VIEW, reason="the minimal filesystem view needs root and bubblewrap")
FORGED = "was missing or not what the grader writes"
NOT_OURS = "This is not a problem with your submission"


@pytest.fixture(autouse=True)
def _scale(monkeypatch):
    monkeypatch.setenv("DERMA_SYNTHETIC_SCALE", SCALE)


def _limits(**changes):
    return dataclasses.replace(RUBRIC.limits, **{"time_limit_s": 30, "memory_limit_mb": 400, **changes})


def _run(code, *args, **limits):
    """Run `code` in a fresh sandbox; return (Outcome, the uid it ran as, the files it left in out/)."""
    with sandbox.Sandbox(_limits(**limits)) as sb:
        sb.seal()
        outcome = sb.run([sys.executable, "-I", "-c", code, *args], env={"PATH": "/usr/bin:/bin"})
        left = sorted(p.name for p in (sb.path / "out").iterdir())
        return outcome, sb.ids.uid if sb.ids else None, left


# --------------------------------------------------------------------------------------------------------------
# What the child sees


LOOK = """
import os, sys
print("root", sorted(os.listdir("/")))
print("sandbox", sorted(os.listdir("/sandbox")))
print("procs", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
for path in sys.argv[1:]:
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(1)
        print("READABLE", path)
    except OSError as err:
        print("hidden", path, type(err).__name__)
"""


@needs_view
def test_the_child_sees_only_its_view(tmp_path):
    """No project folder, no other grading, no host /tmp or /dev/shm file, no label file whatever its mode."""
    planted = Path(tempfile.mkdtemp(prefix="dermagrade-test-", dir="/tmp"))
    try:
        planted.chmod(0o755)
        np.savez(planted / "labels.npz", test=np.arange(5))
        (planted / "labels.npz").chmod(0o644)  # world-readable: only the view keeps it out
        shm = Path("/dev/shm") / planted.name
        shm.write_text("host shm")
        shm.chmod(0o644)
        hosts = [str(REPO), str(REPO / "solutions"), str(REPO / "grader" / "rubric.toml"), str(planted),
                 str(planted / "labels.npz"), str(shm), "/etc/passwd", "/home", "/root/.medmnist", "/sys", "/run"]
        outcome, _, _ = _run(LOOK, *hosts)
    finally:
        shutil.rmtree(planted, ignore_errors=True)
        Path("/dev/shm", planted.name).unlink(missing_ok=True)
    lines = outcome.output.splitlines()
    root = eval(lines[0][len("root "):])  # noqa: S307  (our own print of a list of names)
    assert set(root) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev", "tmp",
                         "var", "sandbox"} | {Path(sys.prefix).parts[1]}, root
    assert eval(lines[1][len("sandbox "):]) == ["home", "out", "work"]  # noqa: S307  (the test wrote nothing else)
    assert max(eval(lines[2][len("procs "):])) < 10  # noqa: S307  its own PID namespace: no host process
    assert "READABLE" not in outcome.output, outcome.output
    assert outcome.output.count("hidden") == len(hosts)
    assert any("minimal filesystem view (bubblewrap)" in note for note in outcome.isolation)


# --------------------------------------------------------------------------------------------------------------
# Identity: a uid per grading, 0700 folders


WHO = """
import os
print(os.getuid(), os.getgid(), os.getgroups(), flush=True)
"""


@needs_root
def test_each_grading_gets_its_own_uid_and_private_folders():
    with sandbox.Sandbox(_limits()) as a, sandbox.Sandbox(_limits()) as b:
        assert a.ids.uid != b.ids.uid
        first, last = RUBRIC.limits.sandbox_uids
        for sb in (a, b):
            assert first <= sb.ids.uid <= last
            sb.seal()
            tmp, out = os.stat(sb.tmp), os.stat(sb.path / "out")
            assert (tmp.st_uid, tmp.st_gid, stat.S_IMODE(tmp.st_mode)) == (0, sb.ids.gid, 0o710)
            assert (out.st_uid, stat.S_IMODE(out.st_mode)) == (sb.ids.uid, 0o700)
        outcome = a.run([sys.executable, "-I", "-c", WHO], env={"PATH": "/usr/bin:/bin"})
        assert outcome.output.split()[:2] == [str(a.ids.uid), str(a.ids.gid)]
        uid = a.ids.uid
    assert not os.path.exists(a.tmp) and not os.path.exists(b.tmp)
    with sandbox.Sandbox(_limits()) as c:  # released: the lock file no longer holds it
        assert c.ids is not None and not sandbox._pids_of_uid(uid)


# --------------------------------------------------------------------------------------------------------------
# Memory and disk counted whole


HOG = """
import mmap, os, sys, time
held = 0
for path in ("/dev/shm/hog", "/tmp/hog"):
    try:
        with open(path, "wb") as f:
            while True:
                f.write(bytes(1 << 20)); f.flush(); held += 1 << 20
    except OSError as err:
        print(path, "full at", held >> 20, "MB", type(err).__name__, flush=True)
fd = os.memfd_create("hog")
while True:
    size = os.fstat(fd).st_size
    os.ftruncate(fd, size + (32 << 20))
    with mmap.mmap(fd, 32 << 20, offset=size) as m:
        for i in range(0, 32 << 20, 4096):
            m[i] = 1
    held += 32 << 20
    print("holding", held >> 20, "MB", flush=True)
"""


@needs_root
@pytest.mark.parametrize("cgroup", [True, False], ids=["cgroup", "no_cgroup"])
def test_memory_in_shm_tmpfs_and_memfd_counts_against_the_limit(cgroup, monkeypatch):
    """Issue 11: 2.5 GB in /dev/shm and a memfd passed a 1,536 MB limit, reported as 865 MB, and outlived the run.
    With a cgroup the kernel counts those pages; without one the grader adds them up itself."""
    if not cgroup:
        def no_cgroup(*args):
            raise OSError(38, "Function not implemented")
        monkeypatch.setattr(sandbox, "Cgroup", no_cgroup)
    before = set(os.listdir("/dev/shm"))
    outcome, _, _ = _run(HOG, memory_limit_mb=300, scratch_mb=64, max_file_mb=4096)
    assert outcome.memory_exceeded, outcome.output
    notes = "; ".join(outcome.isolation)
    assert ("memory cgroup of 300 MB" in notes) == cgroup and ("no memory cgroup" in notes) != cgroup
    held = [int(line.split()[1]) for line in outcome.output.splitlines() if line.startswith("holding")]
    print(f"HOG ({'cgroup' if cgroup else 'no cgroup'}): held {max(held)} MB by its own count, reported peak "
          f"{outcome.peak_rss_mb:.0f} MB, limit 300 MB")
    # stopped within one step of the limit by the kernel, or within one poll (0.1 s) by the grader
    assert max(held) <= (300 + 32 if cgroup else 300 + 1000)
    assert outcome.peak_rss_mb >= 300  # and the record says it reached the limit
    if VIEW:  # private /dev/shm and /tmp, each capped at scratch_mb
        assert "/dev/shm/hog full at 64 MB OSError" in outcome.output and "/tmp/hog full at 128 MB" in outcome.output
    assert set(os.listdir("/dev/shm")) <= before  # nothing outlived the run


BIG_FILE = """
import os, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
try:
    with open("big", "wb") as f:
        for _ in range(64):
            f.write(bytes(1 << 20))
except OSError as err:
    print("big file stopped:", err.strerror, os.path.getsize("big") >> 20, "MB", flush=True)
n = 0
try:
    while True:
        open(f"../out/f{n}", "w").close()
        n += 1
except OSError as err:
    print("out/ full after", n, "files:", err.strerror, flush=True)
"""


@needs_root
def test_file_size_and_output_folder_are_capped():
    outcome, _, left = _run(BIG_FILE, max_file_mb=8)
    assert "big file stopped: File too large 8 MB" in outcome.output, outcome.output
    assert "out/ full after" in outcome.output and len(left) <= sandbox.OUT_FILES


FORK_BOMB = """
import os, time
n = 0
try:
    while n < 5000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as err:
    print("fork refused after", n, "processes:", err.strerror, flush=True)
"""


@needs_root
def test_process_limit_stops_a_fork_bomb():
    t0 = time.monotonic()
    outcome, uid, _ = _run(FORK_BOMB, max_processes=32)
    assert "fork refused after" in outcome.output, outcome.output
    assert int(outcome.output.split("after")[1].split()[0]) < 32
    assert time.monotonic() - t0 < 25 and not sandbox._pids_of_uid(uid)


DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1.5)
        open(sys.argv[1], "w").write("outlived")
        os._exit(0)
    os._exit(0)
print("daemon started", flush=True)
"""


@needs_root
def test_nothing_the_child_starts_outlives_it():
    with sandbox.Sandbox(_limits()) as sb:
        sb.seal()
        outcome = sb.run([sys.executable, "-I", "-c", DAEMON, sb.inside("out/marker")], env={"PATH": "/usr/bin:/bin"})
        assert outcome.output == "daemon started\n"
        time.sleep(2.5)  # the daemon would have written by now
        assert not (sb.path / "out" / "marker").exists()


# --------------------------------------------------------------------------------------------------------------
# Cleanup cannot crash


def test_cleanup_removes_deep_trees_odd_names_and_locked_folders(tmp_path):
    """Issue 11: a 5,000-deep folder made cleanup raise RecursionError and blame the grader. 5,000 is five times
    Python's default recursion limit, so a cleanup that recurses once per level fails here."""
    root = tmp_path / "box"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    for i in range(5000):
        name = [b"a\nb", b"\xff", b"x" * 200][i % 3]
        os.mkdir(name, dir_fd=fd)
        fd, old = os.open(name, os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.mkdir(b"locked", 0o000, dir_fd=fd)
    os.close(fd)
    sandbox.remove_tree(root)
    assert not root.exists()


def test_cleanup_never_raises_and_runs_every_step(monkeypatch):
    sb = sandbox.Sandbox(_limits())
    monkeypatch.setattr(sb, "_kill_leftovers", lambda: 1 / 0)
    sb.close()
    assert not sb.tmp.exists() and sb.ids is None


# --------------------------------------------------------------------------------------------------------------
# The parent trusts no byte from the report pipe or out/


ROWS = {"val": 4, "test": 6}


def _report(stage="done", **fields):
    """The report lines a child sends up to `stage`, the last one carrying `fields`."""
    lines = [{"stage": s} for s in protocol.STAGES[:protocol.STAGES.index(stage) + 1]]
    lines[-1].update({"epochs": 1, "batch_size": 32, "model_name": "Net",
                      "preprocessing": {"ok": True, "message": "fine"}, "history": [], **fields})
    return b"".join(protocol.encode_report(line) for line in lines)


def _plant(sb, **files):
    for name, content in files.items():
        path = sb.path / "out" / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)


GOOD_SHAPES = protocol.encode_shapes([((16, 3, 3, 3), True), ((16,), False)])
GOOD_PREDICTIONS = protocol.encode_predictions(np.ones((10, 7)))
STARTED = protocol.encode_report({"stage": "started"})


def _bomb_npz(path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("test.npy", "w", force_zip64=True) as f:
            for _ in range(16):
                f.write(bytes(1 << 24))  # 256 MB of zeros, about 256 kB compressed


PLANTS = {  # (what the child sent over the report pipe, what it left in out/)
    "report_flood": ((_report() + protocol.encode_report({"pad": "x" * 1_100_000}))[:protocol.REPORT_MAX_BYTES],
                     {protocol.SHAPES: GOOD_SHAPES}),
    "report_junk": (STARTED + b"junk\n" + _report(), {}),
    "report_nested": (STARTED + b"[" * 200_000 + b"]" * 200_000 + b"\n", {}),
    "report_bad_types": (STARTED + protocol.encode_report({"stage": "checked", "model_name": 1,
                                                           "preprocessing": {"ok": "yes", "message": 1}}), {}),
    "report_not_a_dict": (STARTED + b"[1, 2, 3]\n", {}),
    "report_backwards": (_report() + protocol.encode_report({"stage": "loaded"}), {protocol.SHAPES: GOOD_SHAPES}),
    "report_unknown_stage": (STARTED + protocol.encode_report({"stage": "over"}), {}),
    "shapes_missing": (_report("built"), {}),
    "shapes_fifo": (_report("built"), {protocol.SHAPES: os.mkfifo}),
    "shapes_link": (_report("built"), {protocol.SHAPES: lambda p: p.symlink_to("/dev/zero")}),
    "shapes_overflow": (_report("built"), {protocol.SHAPES: GOOD_SHAPES[:-8] + np.int64(2**62).tobytes()}),
    "shapes_wrong_header": (_report("built"), {protocol.SHAPES: GOOD_SHAPES.replace(b"<i8", b"<f8")}),
    "predictions_missing": (_report(), {protocol.SHAPES: GOOD_SHAPES}),
    "predictions_fifo": (_report(), {protocol.SHAPES: GOOD_SHAPES, protocol.PREDICTIONS: os.mkfifo}),
    "predictions_dev_zero": (_report(), {protocol.SHAPES: GOOD_SHAPES,
                                         protocol.PREDICTIONS: lambda p: p.symlink_to("/dev/zero")}),
    "predictions_compressed": (_report(), {protocol.SHAPES: GOOD_SHAPES, "predictions.npz": _bomb_npz,
                                           protocol.PREDICTIONS: _bomb_npz}),
    "predictions_billion_rows": (_report(), {protocol.SHAPES: GOOD_SHAPES,
                                             protocol.PREDICTIONS: protocol._header("<f4", (10**9, 7)) + bytes(4096)}),
    "predictions_wrong_rows": (_report(), {protocol.SHAPES: GOOD_SHAPES,
                                           protocol.PREDICTIONS: protocol.encode_predictions(np.ones((11, 7)))}),
    "predictions_float64": (_report(), {protocol.SHAPES: GOOD_SHAPES,
                                        protocol.PREDICTIONS: GOOD_PREDICTIONS.replace(b"<f4", b"<f8")}),
}
FLOODED = {"report_flood": 5_000_000}  # bytes the child sent in all, past the REPORT_MAX_BYTES the parent kept


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_what_the_child_sends_and_leaves_is_read_safely(plant):
    """Floods, junk, FIFOs, links, bombs, wrong shapes: no hang, no memory growth, the student's error, and the
    checks it passed before the tampering are still credited."""
    report, files = PLANTS[plant]
    outcome = sandbox.Outcome(0, 1.0, report=report, report_bytes=FLOODED.get(plant, len(report)))
    with sandbox.Sandbox(_limits()) as sb:
        (sb.path / "out").mkdir()
        _plant(sb, **files)
        t0 = time.monotonic()
        resource_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        status, predictions = grade_mod._read_outputs(sb, outcome, ROWS)
        assert time.monotonic() - t0 < 2
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - resource_before < 50_000  # kB
    assert predictions is None and status["error"]["check"] == "status"
    assert status["error"]["message"] in (protocol.TAMPERED,) or FORGED in status["error"]["message"]
    tests, _ = scoring.score(status, predictions, {"val": [], "test": []}, outcome, RUBRIC)
    earned = {t["key"] for t in tests if t["score"]}
    assert earned == (BUILT if plant.startswith("predictions") or plant in ("report_backwards", "report_flood")
                      else set())  # what it did before is still true
    assert status["error"]["message"] in by_key({"tests": tests})["trains"]["output"]
    assert scoring.grader_failure(status, outcome, RUBRIC.limits) is None  # never the grader's fault


def test_good_outputs_are_read_with_the_rows_the_child_was_given():
    outcome = sandbox.Outcome(0, 1.0, report=_report(params=10**400, trainable_params=-1))
    outcome.report_bytes = len(outcome.report)
    with sandbox.Sandbox(_limits()) as sb:
        (sb.path / "out").mkdir()
        logits = np.arange(70, dtype=np.float32).reshape(10, 7)
        _plant(sb, **{protocol.SHAPES: GOOD_SHAPES, protocol.PREDICTIONS: protocol.encode_predictions(logits)})
        status, predictions = grade_mod._read_outputs(sb, outcome, ROWS)
    assert "error" not in status
    assert (status["params"], status["trainable_params"]) == (16 * 27 + 16, 16 * 27)  # from the shapes only
    assert (predictions["val"] == logits[:4]).all() and (predictions["test"] == logits[4:]).all()


def test_nothing_reported_is_the_environments_and_anything_reported_is_not():
    """Only an empty report (the child ended before "started", before any student code) blames the environment."""
    with sandbox.Sandbox(_limits()) as sb:
        (sb.path / "out").mkdir()
        for report, environment in ((b"", True), (b'{"stage": "star', True), (STARTED, False),
                                    (STARTED + b"\xff\xfe garbage", False)):
            outcome = sandbox.Outcome(-9, 1.0, memory_exceeded=True, report=report, report_bytes=len(report))
            status, _ = grade_mod._read_outputs(sb, outcome, ROWS)
            failure = scoring.grader_failure(status, outcome, RUBRIC.limits)
            assert (failure is not None) == environment, report
            builds = by_key({"tests": scoring.score(status, None, {}, outcome, RUBRIC)[0]})["builds"]["output"]
            assert ("before your code ran" in builds) == environment, builds


def test_status_fields_are_typed_and_bounded():
    long = "x" * 10_000_000
    clean = protocol.clean_status({"stage": "done", "error": {"check": "crash", "message": long}, "extra": long,
                                  "model_name": long, "history": [{"epoch": 1, "train_loss": 0.5, "train_acc": 0.5,
                                                                   "val_loss": None, "val_acc": 0.5, "lr": 0.1,
                                                                   "seconds": 1.0, "junk": long}]})
    assert len(json.dumps(clean)) < 10_000 and "extra" not in clean and "junk" not in clean["history"][0]
    for bad in ({"stage": "done", "epochs": 10**400}, {"stage": "done", "epochs": True},
                {"stage": "done", "train_seconds": float("nan")}, {"stage": "done", "history": [{"epoch": "1"}]},
                {"stage": "done", "batch_size": -1}, {"stage": "over"}):
        assert clean_error(bad) == protocol.TAMPERED, bad


def clean_error(status):
    return protocol.clean_status(status).get("error", {}).get("message")


# --------------------------------------------------------------------------------------------------------------
# results.json stays under 1 MB whatever happens


def _record(**changes):
    record = {"score": 0.0, "max_score": 90.0, "seconds": 1.0, "data": {"label": "x", "kind": "synthetic"},
              "metrics": {}, "ignored_files": [], "params": None, "train_seconds": None,
              "tests": [{"key": "builds", "name": "Model builds", "score": 0.0, "max_score": 5.0, "status": "failed",
                         "output": "x", "visibility": "visible"}],
              "sandbox": {"isolation": ["test"], "output": ""}}
    return {**record, **changes}


@pytest.mark.parametrize("case", ["printed", "test_output", "ignored_names"])
def test_results_json_stays_under_a_megabyte(case, tmp_path):
    big = "y" * 5_000_000
    record = {
        "printed": _record(sandbox={"isolation": ["test"], "output": big}),
        "test_output": _record(tests=[{**_record()["tests"][0], "output": big}] * 7),
        "ignored_names": _record(ignored_files=["n" * 65_000] * 20 + ["... and 59,980 more"]),
    }[case]
    results.write(tmp_path, record)
    assert (tmp_path / "results.json").stat().st_size < results.MAX_RESULTS_BYTES
    check_gradescope(tmp_path / "results.json")


def test_a_zip_of_long_names_and_many_entries_keeps_results_small(synthetic_root, tmp_path):
    """Issue 11: a zip with 60,000 entries gave a 12 MB results.json (the ignored-files list)."""
    upload = tmp_path / "upload.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        for name in ("model.py", "train_config.py"):
            zf.write(SUBS / "honest" / name, f"student/{name}")
        for i in range(60):
            zf.writestr(f"student/{i:02d}" + "n" * 60_000, b"")
    # grade() up to intake: the sandbox run itself is not needed to show the record's size
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grade_mod.preflight, "check", lambda *a, **k: None)
        mp.setattr(sandbox.Sandbox, "run", lambda self, cmd, env, **kw: sandbox.Outcome(0, 0.0, isolation=["skipped"]))
        record, _ = _grade(upload, tmp_path / "out", synthetic_root)
    assert len(record["ignored_files"]) == 21
    assert (tmp_path / "out" / "results.json").stat().st_size < results.MAX_RESULTS_BYTES


@pytest.mark.parametrize("kind", ["corrupt", "encrypted"])
def test_a_broken_zip_is_the_students_error_not_the_graders(kind, synthetic_root, tmp_path):
    upload = tmp_path / "upload.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        for name in ("model.py", "train_config.py"):
            zf.write(SUBS / "honest" / name, name)
    raw = bytearray(upload.read_bytes())
    if kind == "corrupt":
        raw[40:60] = b"\0" * 20  # inside model.py's compressed bytes: a CRC error when read
    else:
        raw[6] |= 1  # the local header's "encrypted" flag ...
        cd = raw.find(b"PK\x01\x02")
        raw[cd + 8] |= 1  # ... and the central directory's
    upload.write_bytes(bytes(raw))
    record, elapsed = _grade(upload, tmp_path / "out", synthetic_root)
    r = check_gradescope(tmp_path / "out" / "results.json")
    assert record["score"] == 0 and NOT_OURS not in r["output"]
    assert ("make the zip again" in by_key(record)["builds"]["output"]), by_key(record)["builds"]["output"]


# --------------------------------------------------------------------------------------------------------------
# Labels 0600 in 0700 folders


def test_suite_keeps_its_label_file_private(synthetic_root, tmp_path):
    out = tmp_path / "suite"
    out.mkdir(mode=0o755)
    path, provenance = data.locate(synthetic_root, True)
    runs.save_labels(out, data.read(path, provenance), provenance)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / runs.LABELS).stat().st_mode) == 0o600


# --------------------------------------------------------------------------------------------------------------
# Whole gradings of hostile submissions


def _cli(submission, out, data_dir, command=("grader", "grade")):
    """The grader (or the suite) in its own process, started; _finish() returns its own peak RSS in MB (its
    children, the sandbox, excluded)."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report the forked pytest process's
    # size (about 1.9 GB late in a full run), not the grader's.
    code = ("import runpy, sys; sys.argv = sys.argv[1:]\n"
            "try:\n    runpy.run_module(sys.argv[0], run_name='__main__')\n"
            "finally:\n    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
            "    print('PARENT_MAXRSS_KB', hwm.split()[1])\n")
    cmd = [sys.executable, "-c", code, command[0], *command[1:], str(submission), "--data-dir", str(data_dir),
           "--out", str(out), "--rubric", str(RUBRIC_PATH), "--memory-limit", str(MEMORY_LIMIT_MB)]
    env = {**os.environ, "DERMA_SYNTHETIC_SCALE": SCALE, "DERMA_SYNTHETIC": "1"}
    return subprocess.Popen(cmd, cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc):
    said, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, said[-3000:]
    return int(said.rsplit("PARENT_MAXRSS_KB", 1)[1].split()[0]) / 1024


@needs_view
def test_no_label_file_or_course_file_is_reachable(honest, synthetic_root, tmp_path):
    """Issue 11: the suite's labels.npz (found via --out in /proc), readable .npz copies beside the data file
    (via --data-dir), a label file left in /tmp, and solutions/ carried out in the output: 100/90 before."""
    data_dir = Path(tempfile.mkdtemp(prefix="dermagrade-test-", dir="/tmp"))
    try:
        data_dir.chmod(0o755)
        src = Path(synthetic_root) / "synthetic" / f"scale-{SCALE}"
        target = data_dir / "synthetic" / f"scale-{SCALE}"
        shutil.copytree(src, target)
        shutil.copyfile(src / "dermamnist.npz", target / "copy_of_dermamnist.npz")  # beside it, left 0644
        for p in [data_dir / "synthetic", target, *target.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        out = data_dir / "suite"
        proc = _cli(SUBS / "look_around", out, data_dir, command=("instructor", "suite"))
        _finish(proc)
        record = json.loads((out / "look_around" / "grading_record.json").read_text())
        said = record["sandbox"]["output"]
        assert "look_around: / holds" in said and "total stolen labels: 0" in said, said[-3000:]
        assert "LEAKED" not in said and "READ" not in said and "grader command line" not in said, said
        assert stat.S_IMODE((out / runs.LABELS).stat().st_mode) == 0o600
        assert not (target / "dermamnist.npz").stat().st_mode & stat.S_IROTH  # the grader protected it
        _same_grade(record, honest)
        assert "solutions" not in json.dumps(json.loads((out / "look_around" / "results.json").read_text()))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@needs_root
def test_two_gradings_at_once_cannot_touch_each_other(honest, synthetic_root, tmp_path):
    """Issue 11: one sandbox overwrote another's status 773 times (honest 64.65 -> 0) and read its code. Its
    progress now travels on a pipe; the attack goes after the other grading's out/ files instead."""
    attacker = _cli(SUBS / "neighbour", tmp_path / "attacker", synthetic_root)
    time.sleep(3)  # the attacker is looking before the honest grading starts, and for 30 s after
    victim = _cli(SUBS / "honest", tmp_path / "victim", synthetic_root)
    _finish(victim), _finish(attacker)
    attacked = json.loads((tmp_path / "attacker" / "grading_record.json").read_text())
    record = json.loads((tmp_path / "victim" / "grading_record.json").read_text())
    assert "read 0 other submissions, overwrote 0 output files" in attacked["sandbox"]["output"]
    _same_grade(record, honest)
    _same_grade(attacked, honest)
    uids = [next(n for n in r["sandbox"]["isolation"] if n.startswith("runs as uid")) for r in (record, attacked)]
    assert uids[0] != uids[1]
    # Issue 11 item 7: the child flushes before it exits, so the epoch log reaches the report card.
    assert "epoch   1/1  train loss" in record["sandbox"]["output"]
    assert "epoch   1/1  train loss" in (tmp_path / "victim" / "report.txt").read_text()


@needs_root
def test_shm_hog_is_stopped_at_the_memory_limit(synthetic_root, tmp_path):
    before = set(os.listdir("/dev/shm"))
    record, _ = _grade(SUBS / "shm_hog", tmp_path / "out", synthetic_root, time_limit_s=120)
    box = record["sandbox"]
    held = [int(line.split()[2]) for line in box["output"].splitlines() if line.startswith("shm_hog: holding")
            and line.split()[2].isdigit()]
    print(f"shm_hog: held {max(held)} MB by its own count; the record says peak {box['peak_rss_mb']:.0f} MB")
    assert box["memory_exceeded"] and not box["timed_out"], box
    assert box["peak_rss_mb"] >= MEMORY_LIMIT_MB and max(held) <= MEMORY_LIMIT_MB + 100
    check_outcome(record, tmp_path / "out", set(),
                  [("trains", f"Your run used more than {MEMORY_LIMIT_MB} MB of memory")])
    assert set(os.listdir("/dev/shm")) <= before


def test_compressed_and_linked_predictions_cost_the_parent_nothing(synthetic_root, tmp_path):
    """Issue 11: a 1.6 KB compressed predictions.npz grew the root parent to 3.2 GB."""
    peak_mb = _finish(_cli(SUBS / "predictions_bomb", tmp_path / "out", synthetic_root))
    print(f"predictions_bomb: the grader's own peak RSS {peak_mb:.0f} MB")
    record = json.loads((tmp_path / "out" / "grading_record.json").read_text())
    assert "predictions_bomb: planted" in record["sandbox"]["output"], record["sandbox"]["output"][-2000:]
    check_outcome(record, tmp_path / "out", set(SANITY) - {"trains"},
                  [("trains", "The grader's predictions file (out/predictions.npy) was missing or not what the "
                              "grader writes")])
    assert peak_mb < 400


def test_deep_folders_do_not_break_cleanup(honest, synthetic_root, tmp_path, monkeypatch):
    folders = []
    real_close = sandbox.Sandbox.close
    monkeypatch.setattr(sandbox.Sandbox, "close", lambda self: folders.append(self.tmp) or real_close(self))
    record, _ = _grade(SUBS / "deep_tree", tmp_path / "out", synthetic_root)
    assert "deep_tree: .: 5000 folders deep" in record["sandbox"]["output"], record["sandbox"]["output"][-2000:]
    check_outcome(record, tmp_path / "out", set(SANITY))
    _same_grade(record, honest)
    assert folders and not any(f.exists() for f in folders)


def test_a_forged_parameter_count_is_not_taken_from_the_child(honest, synthetic_root, tmp_path):
    """Issue 11: params = 10**400 in the status crashed the leaderboard (OverflowError), blamed on the grader."""
    record, _ = _grade(SUBS / "forged_params", tmp_path / "out", synthetic_root)
    r = check_outcome(record, tmp_path / "out", set(SANITY))
    _same_grade(record, honest)  # the parameter count included: computed from the tensor shapes
    assert {"name": "Parameters", "value": honest["params"], "order": "asc"} in r["leaderboard"]


@needs_root
def test_without_bubblewrap_the_fallback_grades_the_same_and_says_so(honest, synthetic_root, tmp_path, monkeypatch):
    """Hosts where bubblewrap cannot run (a container without the privilege) get the hand-written fallback: the
    same grade, and a record that says the host's filesystem was visible."""
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: (None, "bubblewrap cannot run here (test)"))
    record, _ = _grade(SUBS / "honest", tmp_path / "out", synthetic_root)
    _same_grade(record, honest)
    notes = record["sandbox"]["isolation"]
    assert "the host's filesystem is visible (bubblewrap cannot run here (test))" in notes
    assert any(n.startswith("runs as uid ") for n in notes) and "own PID namespace" in "; ".join(notes)
    assert "Sandbox: the host's filesystem is visible" in (tmp_path / "out" / "instructor_report.txt").read_text()
    assert "Sandbox:" not in (tmp_path / "out" / "report.txt").read_text()  # the student's card: no sandbox internals


def test_results_are_written_before_cleanup(synthetic_root, tmp_path, monkeypatch):
    written = []
    real_close = sandbox.Sandbox.close
    monkeypatch.setattr(grade_mod.preflight, "check", lambda *a, **k: None)  # this test is about the grading's own
    monkeypatch.setattr(sandbox.Sandbox, "run", lambda self, cmd, env, **kw: sandbox.Outcome(0, 0.0, isolation=["test"]))
    monkeypatch.setattr(sandbox.Sandbox, "close", lambda self: written.append(
        (tmp_path / "out" / "results.json").exists()) or real_close(self))
    _grade(SUBS / "honest", tmp_path / "out", synthetic_root)
    assert written == [True]

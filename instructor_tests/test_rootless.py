"""Rootless grading (issue 24 item 2): an instructor without root grades in bubblewrap's user namespace.

Every test runs the grader as a real unprivileged user: as root, a system user of the tests' own (dermagrade-test,
made on first use); without root, the user running pytest. The grader's code, the rubric, the submissions, the
synthetic data and the grader's key are copied into a workspace that user owns, so nothing depends on where the
repository lives or who may read it, and the grade can be compared with root's (the same key draws the same
synthetic test split). Skipped only where unprivileged user namespaces are unavailable; CI runs them (.ci/run).
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader import integrity
from test_grader import (RUBRIC_PATH, SANITY, SCALE, SUBS, _same_grade, check_outcome,
                         honest)  # noqa: F401  (honest: the shared fixture)

REPO = Path(__file__).resolve().parent.parent
USER = "dermagrade-test"
ROOTLESS = "rootless: runs as the grader's own uid"
SECRET = "SECRET of the other grading"


@pytest.fixture(scope="module")
def as_user():
    """The command prefix that runs a command as the unprivileged user ([] when pytest itself is not root)."""
    prefix = []
    if os.geteuid() == 0:
        if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                           check=True)
        prefix = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups", "--"]
    probe = subprocess.run([*prefix, "unshare", "--user", "--", "/bin/true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"unprivileged user namespaces are unavailable on this host ({probe.stderr.strip()}): "
                    "rootless grading cannot be tested here")
    return prefix


@pytest.fixture(scope="module")
def workspace(as_user, synthetic_root):
    """A folder the unprivileged user owns: code/ (grader/, locked/, instructor/, packaging/image.py), the rubric,
    the submissions, the data and home/ with the grader's key."""
    ws = Path(tempfile.mkdtemp(prefix="dermagrade-rootless-test-", dir="/tmp"))
    try:
        for pkg in ("grader", "locked", "instructor"):
            shutil.copytree(REPO / pkg, ws / "code" / pkg, ignore=shutil.ignore_patterns("__pycache__"))
        (ws / "code" / "packaging").mkdir()  # the images' settings, which instructor/package.py reads
        shutil.copyfile(REPO / "packaging" / "image.py", ws / "code" / "packaging" / "image.py")
        shutil.copyfile(RUBRIC_PATH, ws / "rubric.toml")
        for sub in ("honest", "neighbour"):
            shutil.copytree(SUBS / sub, ws / "subs" / sub)
        scale = Path("synthetic") / f"scale-{SCALE}"
        shutil.copytree(Path(synthetic_root) / scale, ws / "data" / scale)
        key_dir = ws / "home" / integrity.KEY_DIR.relative_to(Path.home())
        key_dir.mkdir(parents=True)
        integrity.grader_key()  # made on first use: the one root's gradings use
        shutil.copyfile(integrity.KEY_DIR / integrity.KEY_FILE, key_dir / integrity.KEY_FILE)
        (ws / "driver.py").write_text(DRIVER)
        (ws / "class_driver.py").write_text(CLASS_DRIVER)
        if as_user:
            subprocess.run(["chown", "-R", f"{USER}:{USER}", str(ws)], check=True)
        ws.chmod(0o700)
        yield ws
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def _start(as_user, ws, *args, env=()):
    """`python ARGS` as the unprivileged user in code/, with a clean environment of its own (plus `env`, NAME=VALUE
    strings), started."""
    env = ["env", "-i", f"HOME={ws / 'home'}", "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1",
           f"PYTHONPATH={ws / 'code'}", f"DERMA_SYNTHETIC_SCALE={SCALE}", *env]
    return subprocess.Popen([*as_user, *env, sys.executable, *map(str, args)], cwd=ws / "code", text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _grade(as_user, ws, sub, name):
    out = ws / "out" / name
    return out, _start(as_user, ws, "-m", "grader", "grade", ws / "subs" / sub, "--synthetic", "--data-dir",
                       ws / "data", "--out", out, "--rubric", ws / "rubric.toml", "--memory-limit", "1200")


def _finish(proc, out):
    said, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, said[-3000:]
    return said, json.loads((out / "grading_record.json").read_text())


# --------------------------------------------------------------------------------------------------------------
# The sandbox alone, with small scripts (no torch, a few seconds): a neighbour under the same uid, with and without
# the view. Without it (bubblewrap turned off: the grader's own user, the host's filesystem) the neighbour reads the
# other grading's file, so the check below is shown to catch a setup that does not keep gradings apart.

DRIVER = '''
import dataclasses, json, sys
from grader import rubric, sandbox
mode, rubric_path, secret, code = sys.argv[1:5]
if mode == "no_view":
    sandbox.bubblewrap = lambda: (None, "turned off by the test")
if mode == "no_cap":
    sandbox.NPROC_PER_NAMESPACE = False
limits = dataclasses.replace(rubric.load(rubric_path).limits, time_limit_s=60, memory_limit_mb=400)
with sandbox.Sandbox(limits) as sb:
    if secret:
        (sb.path / "secret.txt").write_text(secret)
    sb.seal()
    print("READY", sb.path, flush=True)
    outcome = sb.run([sys.executable, "-I", "-c", code, sb.inside("out/stop")], env={"PATH": "/usr/bin:/bin"})
    print(json.dumps({"output": outcome.output, "isolation": outcome.isolation,
                      "memory_exceeded": outcome.memory_exceeded, "peak_mb": outcome.peak_rss_mb}))
'''

HOLD = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.05)\n"

LOOK = """
import glob, os
found = set(glob.glob("/tmp/dermagrade-*/sandbox/secret.txt"))
for pid in filter(str.isdigit, os.listdir("/proc")):
    found.update(glob.glob(f"/proc/{pid}/cwd/../secret.txt"))
    found.update(glob.glob(f"/proc/{pid}/root/tmp/dermagrade-*/sandbox/secret.txt"))
for path in sorted(found):
    try:
        print("READ", open(path).read(), flush=True)
    except OSError as err:
        print("refused", path, type(err).__name__)
print("looked at", len(found), "paths")
"""


@pytest.mark.parametrize("mode", ["view", "no_view"])
def test_a_neighbour_under_the_same_uid_reads_nothing_of_another_grading(mode, as_user, workspace):
    """Two sandboxes at once under one unprivileged user: the second looks for the first one's file in /tmp and
    through /proc. With the rootless view it finds nothing; without it (the check's bad setup) it reads the file."""
    victim = _start(as_user, workspace, workspace / "driver.py", mode, workspace / "rubric.toml", SECRET, HOLD)
    ready = victim.stdout.readline()
    assert ready.startswith("READY "), ready + victim.communicate()[0]
    try:
        looked = _sandboxed(as_user, workspace, mode, LOOK)
    finally:
        stop = Path(ready.split(" ", 1)[1].strip()) / "out" / "stop"
        subprocess.run([*as_user, "touch", str(stop)], check=True)
        held = json.loads(victim.communicate(timeout=120)[0].splitlines()[-1])
    notes = "; ".join(looked["isolation"])
    assert "looked at" in looked["output"], looked["output"]
    if mode == "view":
        assert "READ" not in looked["output"] and SECRET not in looked["output"], looked["output"]
        assert ROOTLESS in notes and "(bubblewrap --unshare-user)" in notes, notes
        assert "the host's filesystem is visible" not in notes
    else:
        assert f"READ {SECRET}" in looked["output"], looked["output"]
        assert ROOTLESS not in notes and "the host's filesystem is visible (turned off by the test)" in notes
    assert held["isolation"] == looked["isolation"]  # one user, one host: both sandboxes say the same


def _sandboxed(as_user, ws, mode, code):
    """What one sandbox run of `code` gave, as the unprivileged user: output, isolation notes, memory verdict."""
    said = _start(as_user, ws, ws / "driver.py", mode, ws / "rubric.toml", "", code).communicate(timeout=120)[0]
    assert said.startswith("READY "), said[-3000:]
    return {**json.loads(said.splitlines()[-1]), "path": said.split(None, 2)[1]}


HOG = {"anon": "import sys, time\nheld = b'x' * (700 * 2**20)\ntime.sleep(5)\nprint('survived')\n",
       # two private tmpfs of 256 MB each (the rubric's scratch_mb): over the 400 MB limit together, not alone
       "tmpfs": "import time\nfor d in ('/dev/shm', '/tmp'):\n    with open(d + '/hog', 'wb') as f:\n"
                "        f.write(b'x' * (240 * 2**20))\ntime.sleep(5)\nprint('survived')\n"}


@pytest.mark.parametrize("where", sorted(HOG))
def test_memory_is_polled_and_stopped_without_a_cgroup(where, as_user, workspace):
    """No cgroup without root: the watchdog counts process memory and the view's private tmpfs (read through
    /proc/PID/root, which the grader's uid may read in its own user namespace) and stops the child at the limit."""
    ran = _sandboxed(as_user, workspace, "view", HOG[where])
    assert ran["memory_exceeded"] and "survived" not in ran["output"], ran
    assert ran["peak_mb"] > 400
    assert any(n.startswith("no memory cgroup (grader is not root") for n in ran["isolation"])


THREADS = """
import threading, time
started = 0
try:
    for _ in range(400):
        threading.Thread(target=time.sleep, args=(3,), daemon=True).start()
        started += 1
except RuntimeError:
    pass
print("started", started)
"""


@pytest.mark.parametrize("mode", ["view", "no_cap"])
def test_processes_and_threads_are_capped_inside_the_user_namespace(mode, as_user, workspace):
    """RLIMIT_NPROC set inside bubblewrap's user namespace caps this grading's tasks at the rubric's max_processes
    (256 here), whatever else the grader's user runs. Without it (the bad setup) all 400 threads start."""
    ran = _sandboxed(as_user, workspace, mode, THREADS)
    started = int(ran["output"].split("started ")[1].split()[0])
    files = next(n for n in ran["isolation"] if n.startswith("files up to"))
    if mode == "view":
        assert 200 < started < 256, ran["output"]
        assert ", 256 processes" in files
    else:
        assert started == 400, ran["output"]
        assert "processes" not in files


LOCK = """
import os, sys
folder = os.path.join(os.path.dirname(sys.argv[1]), "locked")
os.makedirs(folder + "/inner")
open(folder + "/inner/file", "w").close()
os.chmod(folder + "/inner", 0)
os.chmod(folder, 0)
print("locked")
"""


def test_a_folder_the_child_locks_in_out_is_removed_without_root(as_user, workspace):
    """out/ is a plain folder without root: a mode-000 tree there stops a plain rm, so cleanup unlocks it first."""
    ran = _sandboxed(as_user, workspace, "view", LOCK)
    assert ran["output"] == "locked\n", ran
    assert not Path(ran["path"]).parent.exists()


# --------------------------------------------------------------------------------------------------------------
# Whole gradings as the unprivileged user


@pytest.fixture(scope="module")
def rootless_grading(as_user, workspace):
    """The honest submission graded once without root: (the grader's output, its record, its out folder)."""
    out, proc = _grade(as_user, workspace, "honest", "honest")
    said, record = _finish(proc, out)
    return said, record, out


def test_a_good_submission_grades_the_same_without_root(rootless_grading, honest):
    """The same grade as root's (same data, key and settings), with the instructor warned of what root would add."""
    said, record, out = rootless_grading
    check_outcome(record, out, set(SANITY))
    _same_grade(record, honest)
    assert "Warning: grading without root, in bubblewrap's user namespace" in said, said[-3000:]


def test_the_sandbox_note_names_the_rootless_mechanism_and_what_it_lacks(rootless_grading, as_user):
    said, record, out = rootless_grading
    uid = int(subprocess.run([*as_user, "id", "-u"], capture_output=True, text=True, check=True).stdout)
    notes = record["sandbox"]["isolation"]
    assert notes[0].startswith("minimal filesystem view (bubblewrap)")
    assert notes[1].startswith(f"{ROOTLESS} {uid} in a user namespace of its own (bubblewrap --unshare-user)")
    assert "no uid per grading" in notes[1]
    assert any(n.startswith("no memory cgroup (grader is not root") and "polled" in n for n in notes), notes
    assert "no CPU quota (grader is not root)" in notes
    assert any("out/ is a plain folder, its total size and file count not capped" in n for n in notes), notes
    assert not any(n.startswith("runs as uid") or "host's filesystem is visible" in n for n in notes), notes
    sandbox_line = f"Sandbox: {'; '.join(notes)}."
    assert sandbox_line in (out / "instructor_report.txt").read_text()
    assert "Sandbox:" not in (out / "report.txt").read_text()  # the student's card: no sandbox internals


def test_two_gradings_at_once_under_one_uid_cannot_touch_each_other(as_user, workspace, honest):
    """The issue-11 neighbour (reads other gradings' model.py, overwrites their out/ files for 30 s) beside an honest
    grading, both as the same unprivileged user: the views alone keep them apart."""
    attacker_out, attacker = _grade(as_user, workspace, "neighbour", "attacker")
    time.sleep(3)  # the attacker is looking before the honest grading starts, and for 30 s after
    victim_out, victim = _grade(as_user, workspace, "honest", "victim")
    (_, record), (_, attacked) = _finish(victim, victim_out), _finish(attacker, attacker_out)
    assert "read 0 other submissions, overwrote 0 output files" in attacked["sandbox"]["output"], \
        attacked["sandbox"]["output"][-3000:]
    _same_grade(record, honest)
    _same_grade(attacked, honest)
    same_uid = [next(n for n in r["sandbox"]["isolation"] if n.startswith(ROOTLESS)) for r in (record, attacked)]
    assert same_uid[0] == same_uid[1]  # one uid for both: only the views keep them apart


# --------------------------------------------------------------------------------------------------------------
# A class graded without root, two at a time (`python -m instructor grade-class -j 2`, as an instructor on a shared
# server would): each student's code looks for the other student's folders and files while both are being graded,
# and says what it saw. With the rootless view it sees nothing of the other; with bubblewrap turned off in every
# worker (the bad setup: one uid, the host's filesystem) the same check catches it reading the other's files.

PEEK = """\"\"\"The honest model, plus a student who looks for the other student of the class while both are graded.
For {seconds} s from import it lists and reads whatever it finds of the other: their folder in the class export and
in the class's out folder (absolute paths, as a student who knows the course's layout would guess them), every
grading's temporary folder under /tmp, and the folders of every process it can see in /proc. It prints what it saw,
then trains honestly.\"\"\"
import glob
import json
import os
import time

import torch.nn as nn

ME, OTHER, MARK = {me!r}, {other!r}, {mark!r}
EXPORT, OUT = {export!r}, {out!r}
OTHERS_MARK = "peek-mark-" + OTHER  # in the other's model.py only


def _look():
    found = set()
    for folder in (os.path.join(EXPORT, OTHER), os.path.join(OUT, OTHER)):
        found.update(glob.glob(folder) + glob.glob(os.path.join(folder, "**"), recursive=True))
    for pattern in ("/tmp/dermagrade-*/**/model.py", "/proc/*/cwd/model.py", "/proc/*/cwd/../*/model.py",
                    "/proc/*/root/tmp/dermagrade-*/**/model.py", "/proc/*/root" + EXPORT + "/*/model.py"):
        found.update(glob.glob(pattern, recursive=True))
    saw, mine = set(), set()
    for path in filter(os.path.lexists, found):  # glob gives "FOLDER/" for "FOLDER/**" even where FOLDER is not
        if OTHER in path.split(os.sep):
            saw.add(path)  # listed: a folder or file of the other's
        try:
            with open(path, errors="replace") as f:
                text = f.read()
            if OTHERS_MARK in text:
                saw.add(path)  # read: the other's model.py
            elif MARK in text:
                mine.add(path)  # its own model.py: the search does reach files where it may
        except OSError:
            pass
    return saw, mine


t0, saw, mine = time.time(), set(), set()
while time.time() - t0 < {seconds}:
    looked = _look()
    saw, mine = saw | looked[0], mine | looked[1]
    time.sleep(0.5)
print("peek: " + json.dumps({{"me": ME, "from": t0, "to": time.time(), "saw": sorted(saw), "mine": len(mine)}}),
      flush=True)


def build_model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )
"""
PEEK_SECONDS = 15  # long enough for both gradings of -j 2 to be looking at once (asserted below)
STUDENTS = ("alice", "bob")

# The bad setup: grade-class itself, with every worker grading with bubblewrap turned off (the fallback: the
# grader's own uid, the host's filesystem).
CLASS_DRIVER = """
import sys
from instructor import __main__ as cli, worker
worker.COMMAND = [sys.executable, "-c", "import sys\\nfrom grader import sandbox\\n"
                  "sandbox.bubblewrap = lambda: (None, 'turned off by the test')\\n"
                  "from instructor import worker\\nsys.exit(worker.main())"]
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("mode", ["view", "no_view"])
def test_a_class_graded_two_at_a_time_without_root_keeps_each_student_out_of_the_others_folders(
        mode, as_user, workspace, honest):
    """Issue 24 item 2's done-when: a class graded without root on this machine (grade-class -j 2 as an unprivileged
    user) keeps two concurrent submissions from reading each other's folders. Each submission looks for the other's
    export folder, out folder, live sandbox and processes for 15 s while the other does the same, and reports what
    it saw: nothing, with the rootless view. Without it (the bad setup) each reads the other's files, in the export
    and in the other's live sandbox, so the check is shown to catch a class whose gradings are not kept apart."""
    export, out = workspace / f"class-{mode}", workspace / "out" / f"class-{mode}"
    for me, other in (STUDENTS, STUDENTS[::-1]):
        (export / me).mkdir(parents=True)
        (export / me / "model.py").write_text(PEEK.format(me=me, other=other, mark=f"peek-mark-{me}",
                                                          export=str(export), out=str(out), seconds=PEEK_SECONDS))
        shutil.copyfile(SUBS / "honest" / "train_config.py", export / me / "train_config.py")
    if as_user:
        subprocess.run(["chown", "-R", f"{USER}:{USER}", str(export)], check=True)
    args = ["grade-class", export, "--out", out, "-j", "2", "--synthetic", "--rubric", workspace / "rubric.toml",
            "--memory-limit", "1200", "--no-progress"]
    command = ["-m", "instructor", *args] if mode == "view" else [workspace / "class_driver.py", *args]
    said, _ = _start(as_user, workspace, *command, env=[f"DERMA_DATA_DIR={workspace / 'data'}"]).communicate(
        timeout=900)
    assert "2 graded, 0 kept from earlier runs, 0 grader failures" in said and "with 2 sandbox(es) at once" in said, \
        said[-3000:]

    peeks, records = {}, {}
    for me in STUDENTS:
        records[me] = json.loads((out / me / "grading_record.json").read_text())
        output = records[me]["sandbox"]["output"]
        line = next((x for x in output.splitlines() if x.startswith("peek: ")), None)
        assert line, output[-3000:]
        peeks[me] = json.loads(line[len("peek: "):])
        assert peeks[me]["me"] == me and peeks[me]["mine"] > 0, peeks[me]  # it found its own file, through /proc
    alice, bob = (peeks[me] for me in STUDENTS)
    assert alice["from"] < bob["to"] and bob["from"] < alice["to"], peeks  # both were looking at the same time

    notes = {me: "; ".join(records[me]["sandbox"]["isolation"]) for me in STUDENTS}
    if mode == "view":
        for me in STUDENTS:
            assert peeks[me]["saw"] == [], f"{me} saw the other student's files: {peeks[me]['saw']}"
            assert ROOTLESS in notes[me] and "(bubblewrap --unshare-user)" in notes[me], notes[me]
            _same_grade(records[me], honest)  # and the class is graded as root grades it
        assert notes["alice"] == notes["bob"]  # one uid for both: only the views keep them apart
        with open(out / "gradebook.csv", newline="") as f:
            rows = {r["submission"]: r for r in csv.DictReader(f)}
        assert {me: rows[me]["status"] for me in STUDENTS} == {me: "ok" for me in STUDENTS}, rows
    else:
        for me, other in (STUDENTS, STUDENTS[::-1]):
            saw = peeks[me]["saw"]
            assert str(export / other / "model.py") in saw, saw  # the other's upload, in the export
            live = [p for p in saw if p.startswith("/tmp/dermagrade-") and p.endswith("/sandbox/submission/model.py")
                    and not p.startswith(str(workspace))]
            assert live, saw  # the other's live sandbox, read while it was being graded
            assert ROOTLESS not in notes[me] and "the host's filesystem is visible (turned off by the test)" in \
                notes[me], notes[me]

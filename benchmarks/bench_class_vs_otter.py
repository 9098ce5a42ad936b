"""`instructor grade-class -j N` and `otter grade --containers N` side by side, in one run, on the same zips; then
grade-class on a Dask cluster of 1 and 2 one-thread workers (`--cluster`, a LocalCluster file) on the same zips.

    python benchmarks/bench_class_vs_otter.py [--jobs 2] [--workers 1,2] [--work /var/tmp/dermamnist-bench]
                                              [--json FILE]

The zips: seven of the course's experiments and three broken submissions, each a zip holding student/ (what otter
accepts). Both tools grade them on the same synthetic data (scale 0.2, the otter test image's) with the same
grader key: the script bakes one key and the data made with it into a base image derived from
packaging/check_docker.sh's otter test base (as a real image has its data baked, so no container makes its own)
and hands grade-class the same key and data through HOME, so both score on the same synthetic test split with the
same perturbations. otter's image is built (or found in Docker's cache) in a warm-up that grades one zip; only the
timed runs that follow are compared: wall time, per-submission time and every check's points side by side.

Needs: a Docker engine (`bash packaging/check_docker.sh --only otter` once first: it starts dockerd if needed, and
builds the stand-in bases), otter-grader, root (grade-class's full sandbox). The machine may be shared: the load
average is printed before and after each run.
"""
import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import rubric as rubric_mod  # noqa: E402
from instructor import classroom, package, runs, suite  # noqa: E402

OTTER_BASE = "dermamnist-standin:otter-test"  # packaging/check_docker.sh's otter base (synthetic data, scale 0.2)
BENCH_BASE = "dermamnist-standin:otter-bench"
OTTER_NAME = "dermamnist-bench"  # otter tags its image otter-grade:OTTER_NAME
SCALE = "0.2"
SUBMISSIONS = {**{name: ROOT / "solutions" / name for name in (
    "exp_01_baseline", "exp_02_adam_default", "exp_05_sgd_momentum", "exp_08_batchnorm", "exp_11_hflip",
    "exp_14_normalize_gotcha", "exp_16_label_smoothing")},
    "broken_shapes": ROOT / "instructor_tests" / "package_submissions" / "broken",
    "syntax_error": ROOT / "instructor_tests" / "grader_submissions" / "syntax_error",
    "crash_mid_training": ROOT / "instructor_tests" / "grader_submissions" / "crash_mid_training"}
WARMUP = "broken_shapes"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def load():
    return round(os.getloadavg()[0], 2)


def make_zips(folder):
    folder.mkdir(parents=True)
    for name, src in SUBMISSIONS.items():
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as z:
            for f in ("model.py", "train_config.py"):
                z.write(src / f, f"student/{f}")


def bench_image(work):
    """BENCH_BASE: the otter test base with a grader key and the synthetic data (and the grader's test draw from that
    key) baked in, as a real image has its data baked; the same key and data are kept under work/home for
    grade-class (HOME). Returns that HOME."""
    home = work / "home"
    keys = home / ".config" / "dermamnist-grader"
    keys.mkdir(parents=True, mode=0o700)
    (keys / "grader.key").write_text(os.urandom(32).hex())
    (keys / "grader.key").chmod(0o600)
    sh([sys.executable, "-c", "from grader import rubric; from grader.grade import prepare_data; "
        "prepare_data(rubric.load(None), None, True)"], cwd=ROOT, env=grading_env(home))
    ctx = work / "image"
    ctx.mkdir()
    shutil.copytree(home, ctx / "root", symlinks=True)
    (ctx / "Dockerfile").write_text(f"FROM {OTTER_BASE}\nCOPY root/ /root/\n"
                                    "RUN chmod 700 /root/.config/dermamnist-grader\n")
    sh(["docker", "build", "-q", "-t", BENCH_BASE, str(ctx)])
    return home


def grading_env(home):
    return {**os.environ, "HOME": str(home), "DERMA_SYNTHETIC_SCALE": SCALE, "PYTHONPATH": str(ROOT)}


def wheel_server(work):
    """The stand-in torch wheels, served where the otter base's setup expects them (as check_docker.sh does)."""
    env = sh(["docker", "image", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", OTTER_BASE]).stdout
    links = next((line.split("=", 1)[1] for line in env.splitlines() if line.startswith("TORCH_FIND_LINKS=")), "")
    wheels = sh([sys.executable, "-m", "pip", "config", "get", "global.find-links"]).stdout.strip() \
        if links else ""
    if not (links.startswith("http://") and wheels):
        return None
    host, port = links[len("http://"):].strip("/").split(":")
    return subprocess.Popen([sys.executable, "-m", "http.server", port, "--bind", host, "--directory", wheels],
                            stdout=open(work / "wheels.log", "wb"), stderr=subprocess.STDOUT)


def otter(work, zips, out, jobs, env):
    out.mkdir(parents=True)
    cmd = ["otter", "grade", "-a", str(work / "dist" / "otter_autograder.zip"), "-o", str(out), "--ext", "zip",
           "-n", OTTER_NAME, "--timeout", "900", "--image", BENCH_BASE, "--containers", str(jobs), str(zips)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    (out / "otter.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"otter grade failed ({proc.returncode}); see {out / 'otter.log'}")
    with open(out / "final_grades.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    maxima = rows.pop("points-per-question")
    return seconds, ({Path(name).stem: row for name, row in rows.items()}, maxima)


def grade_class(zips, out, home, *where):
    """(wall seconds, gradebook rows by student) of grade-class with `where` (-j N, or --cluster FILE)."""
    t0 = time.monotonic()
    sh([sys.executable, "-m", "instructor", "grade-class", str(zips), "--out", str(out), *where,
        "--synthetic", "--rerun", "--no-progress"], cwd=ROOT, env=grading_env(home))
    seconds = time.monotonic() - t0
    with open(out / classroom.GRADEBOOK, newline="", encoding="utf-8") as f:
        return seconds, {r["student"]: r for r in csv.DictReader(f)}


def otter_overheads(work, env, repeats=3):
    """What otter pays beside the grading, measured alone: its image step on every run (a docker build that finds
    every layer cached) and one container's start and stop (`docker run --rm IMAGE true`)."""
    from otter.grade.containers import build_image
    from otter.run.run_autograder.autograder_config import AutograderConfig

    saved = dict(os.environ)
    os.environ.update(env)  # the buildx shim, where the engine lacks buildx
    try:
        t0 = time.monotonic()
        image = build_image(str(work / "dist" / "otter_autograder.zip"), BENCH_BASE, OTTER_NAME, AutograderConfig())
        build_s = time.monotonic() - t0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    starts = []
    for _ in range(repeats):
        t0 = time.monotonic()
        sh(["docker", "run", "--rm", image, "true"])
        starts.append(time.monotonic() - t0)
    return {"cached_image_build_s": round(build_s, 1), "container_start_s": round(sorted(starts)[repeats // 2], 2)}


def grader_seconds(out):
    """Mean seconds of the grader itself per submission (the records' `seconds`: sandbox, training, scoring), so
    that a tool's wall time per submission splits into the grading and what the tool adds around it."""
    seconds = [record["seconds"] for record, _ in runs.graded(out) if record.get("seconds") is not None]
    return round(sum(seconds) / len(seconds), 1)


def otter_points(points, spec):
    """grade-class's points for a check as otter's question pays them: the AUC's partial credit rounded down to
    one of package.OTTER_PARTIAL_STEPS steps (packaging/otter/question_partial.py.tmpl), the rest as they are."""
    value = float(points or 0.0)
    if spec.key != "test_auc":
        return value
    step = spec.points / package.OTTER_PARTIAL_STEPS
    return step * min(package.OTTER_PARTIAL_STEPS, int(value / step + 1e-9))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workers", default="1,2", help="Dask workers (one thread each) of the --cluster runs")
    ap.add_argument("--work", default="/var/tmp/dermamnist-bench")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    make_zips(work / "submissions")
    warm = work / "warmup"
    warm.mkdir(parents=True)
    shutil.copyfile(work / "submissions" / f"{WARMUP}.zip", warm / f"{WARMUP}.zip")
    sh([sys.executable, "-m", "instructor", "package", "--out", str(work / "dist"), "--only", "otter"], cwd=ROOT)
    home = bench_image(work)
    env = dict(os.environ)
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0:
        env["DOCKER_CONFIG"] = str(work / "docker-config")  # Debian's docker.io: check_docker.sh's buildx shim
        (work / "docker-config" / "cli-plugins").mkdir(parents=True)
        shim = work / "docker-config" / "cli-plugins" / "docker-buildx"
        shutil.copyfile(ROOT / "packaging" / "docker-buildx-shim", shim)
        shim.chmod(0o755)
    server = wheel_server(work)
    try:
        t0 = time.monotonic()
        otter(work, warm, work / "otter_warmup", 1, env)  # builds otter's image, or finds it in Docker's cache
        warmup_s = time.monotonic() - t0
    finally:
        if server:
            server.kill()
    n, timings = len(SUBMISSIONS), {}

    def timed(name, run, **extra):
        before = load()
        seconds, result = run()
        timings[name] = {"wall_s": round(seconds, 1), "per_submission_s": round(seconds / n, 1),
                         "load_before": before, "load_after": load(), **extra}
        return result

    book = timed(f"grade-class -j {args.jobs}",
                 lambda: grade_class(work / "submissions", work / "class", home, "-j", str(args.jobs)))
    timings[f"grade-class -j {args.jobs}"]["grader_s_per_submission"] = grader_seconds(work / "class")
    grades, maxima = timed(f"otter --containers {args.jobs}", lambda: otter(
        work, work / "submissions", work / "otter", args.jobs, env), warmup_not_counted_s=round(warmup_s, 1))
    timings[f"otter --containers {args.jobs}"].update(otter_overheads(work, env))
    for workers in map(int, filter(None, args.workers.split(","))):
        spec = work / f"local-{workers}.yaml"
        spec.write_text(f"kind: local\nworkers: {workers}\nn_workers: {workers}\nthreads_per_worker: 1\n"
                        "dashboard_address: null\n")
        other = timed(f"grade-class --cluster, {workers} worker(s)", lambda: grade_class(
            work / "submissions", work / f"cluster-{workers}", home, "--cluster", str(spec)))
        timings[f"grade-class --cluster, {workers} worker(s)"]["same_grades_as_-j"] = all(
            {k: v for k, v in other[s].items() if k != "train_seconds"} ==
            {k: v for k, v in book[s].items() if k != "train_seconds"} for s in SUBMISSIONS)
    specs = {c.key: c for c in rubric_mod.load(None).checks}
    questions = {q.split("_", 1)[1]: q for q in maxima if q.startswith("q")}
    rows, disagree = [], []
    for name in SUBMISSIONS:
        b, g = book[name], grades[name]
        row = {"submission": name, "status": b["status"], "grade-class score": b["score"],
               "otter total": g["total_points_earned"], "test AUC": b["test_auc"]}
        for key, q in questions.items():
            mine = otter_points(b.get(f"{key} (points)"), specs[key])
            row[key] = f"{mine:g} / {float(g[q]):g}"
            if abs(mine - float(g[q])) > 1e-6:
                disagree.append(f"{name} {key}: grade-class {mine:g}, otter {float(g[q]):g}")
        rows.append(row)
    hw = suite.hardware()
    print(f"Machine: {runs.hardware_label(hw)}, {platform.platform()}; {n} zips, synthetic scale {SCALE}")
    for name, r in timings.items():
        print(f"{name:34} wall {r['wall_s']:7.1f} s   per submission {r['per_submission_s']:5.1f} s   load "
              f"{r['load_before']} -> {r['load_after']}" + "".join(f"   {k} {v}" for k, v in list(r.items())[4:]))
    print("\nper check: grade-class's points as otter pays them / otter's points")
    head = ["submission", "status", "grade-class score", "otter total", "test AUC", *questions]
    print(" | ".join(head))
    for row in rows:
        print(" | ".join(str(row[h]) for h in head))
    print("\nAll shared checks agree." if not disagree else "\nDISAGREE:\n  " + "\n  ".join(disagree))
    if args.json:
        Path(args.json).write_text(json.dumps({"hardware": hw, "runs": timings, "rows": rows, "disagree": disagree},
                                              indent=1))
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 16's speed levers for the locked loop, side by side in one run, and the floor they leave.

    python benchmarks/bench_levers.py [--only 1-22] [--lever-exp 11] [--python OTHER_PYTHON] [--suite DIR] [--json F]

Every measurement runs in a fresh child interpreter (`--measure`), one torch thread, as a sandbox runs; the two
sides of each lever alternate, so background load hits both alike. Times are CPU seconds of that child
(`time.process_time`), which on one thread is the wall time of an idle core.

  floor      per experiment: one training step (forward, loss, backward, optimizer step; no data), at its batch
             size on random channels-last batches, and one pass over a validation-sized batch set; times the
             steps and epochs it trains. Summed over --only, divided by the 2 cores: the least wall time the current
             engine's arithmetic can take for the suite, before any data handling, start-up or scoring.
  compute    on --lever-exp: eager (the engine) vs torch.compile (compile time with an empty cache, as in a fresh
             sandbox; step time; same losses?) vs bfloat16 autocast (step time, how far the losses move), 40 steps
             each from the same seed.
  build      the same eager step and the child's imports (torch, torchvision, locked) under --python, e.g. a venv
             with the CPU build of torch (benchmarks/README.md says how to make one).
  data       the batches as the loop makes them (each image made PIL and transformed per sample, per epoch) vs PIL
             copies of the split made up front (the engine before) vs every image's tensor made once and batches
             sliced from it (only a transform without randomness allows it: the baseline's ToTensor, not experiment
             13's ColorJitter): time per epoch, same values, and the memory each holds.
  schedule   with --suite DIR (a finished `python -m instructor suite` folder): the wall time of its measured
             gradings on 2 sandboxes in folder order, longest-epochs first, and longest-first by the true times.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from instructor import runs, suite  # noqa: E402  (its --only parser, the result folders; no torch)

TARGET_S = 452  # the course's M1 Max time for experiments 1-22 (issue 16)
CORES = 2


def measure(exp, mode, steps, data_dir):
    """In a fresh child: import, build experiment `exp`, time `steps` training steps in `mode`; print JSON."""
    t0 = time.perf_counter()
    import torch
    import torchvision  # noqa: F401
    from locked import engine, submission
    from locked.info import SPLIT_SIZES
    imports = time.perf_counter() - t0
    torch.set_num_threads(1)
    sub = submission.load(solution(exp))
    engine.seed_everything()
    model = engine.build_model(sub).train()
    optimizer, criterion, _ = engine.make_training_objects(sub, model, [1] * 7)
    if mode == "data":
        return data_epoch(sub, data_dir, engine) | {"imports_s": imports}
    layout = torch.channels_last if engine._channels_last_ok(model, "cpu") else torch.contiguous_format
    g = torch.Generator().manual_seed(1)
    xs = [torch.rand(sub.batch_size, 3, 28, 28, generator=g).contiguous(memory_format=layout) for _ in range(8)]
    ys = [torch.randint(0, 7, (sub.batch_size,), generator=g) for _ in range(8)]
    forward = torch.compile(model) if mode == "compile" else model
    losses = []

    def step(i):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
            loss = criterion(forward(xs[i % 8]), ys[i % 8])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    c0 = time.process_time()
    step(0)
    first = time.process_time() - c0
    for i in range(1, 4):
        step(i)
    c0 = time.process_time()
    for i in range(4, 4 + steps):
        step(i)
    step_s = (time.process_time() - c0) / steps
    val = torch.rand(SPLIT_SIZES["val"], 3, 28, 28, generator=g)
    c0 = time.process_time()
    engine.predict_logits(model, val, "cpu")
    return {"exp": exp, "mode": mode, "torch": torch.__version__, "imports_s": imports, "first_step_s": first,
            "step_s": step_s, "val_s": time.process_time() - c0, "losses": losses, "epochs": sub.epochs,
            "steps_per_epoch": engine.steps_per_epoch(SPLIT_SIZES["train"], sub.batch_size)}


def data_epoch(sub, data_dir, engine):
    """One epoch of per-sample transforms (what the loop does) against making every image's tensor once and slicing
    batches from it (possible only for a train_transform without randomness): set-up once, then per epoch, each
    epoch timed twice, alternating, the faster kept; and the memory the made-once tensor holds."""
    import torch
    from locked import data
    images = data.load(data_dir, synthetic_data=True).images["train"]
    batches = engine.epoch_batches(list(range(len(images))), sub.batch_size)
    c0 = time.process_time()
    every = engine.train_batch(sub, images, range(len(images)), "cpu")
    setup = time.process_time() - c0
    pil = [engine.Image.fromarray(img) for img in images]  # the engine before: PIL copies of the split, made once
    sides = {"per_sample": lambda idx: engine.train_batch(sub, images, idx, "cpu"), "once": lambda idx: every[idx],
             "pil_upfront": lambda idx: torch.stack([sub.train_transform(pil[i]) for i in idx])}
    times, made = {k: [] for k in sides}, {}
    for _ in range(2):
        for side, fn in sides.items():
            c0 = time.process_time()
            made[side] = [fn(idx) for idx in batches]
            times[side].append(time.process_time() - c0)
    same = all(a.equal(b) for a, b in zip(made["once"], made["per_sample"]))
    pil_mb = sum(sys.getsizeof(p) + len(p.tobytes()) for p in pil) / 2**20
    return {"same_values": same, "setup_s": setup, "once_epoch_s": min(times["once"]),
            "per_sample_epoch_s": min(times["per_sample"]), "once_mb": every.nbytes / 2**20,
            "pil_upfront_epoch_s": min(times["pil_upfront"]), "pil_mb": pil_mb, "epochs": sub.epochs,
            "torch": torch.__version__}


def solution(exp):
    found = sorted(ROOT.glob(f"solutions/exp_{int(exp):02d}_*"))
    if not found:
        raise SystemExit(f"--only/--lever-exp: no solutions/exp_{int(exp):02d}_* folder")
    return found[0]


def child(python, exp, mode, steps, data_dir):
    cmd = [python, __file__, "--measure", str(exp), mode, "--steps", str(steps)] + (
        ["--data-dir", str(data_dir)] if data_dir else [])
    with tempfile.TemporaryDirectory() as cache:  # torch.compile starts cold, as in a fresh sandbox
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "TORCHINDUCTOR_CACHE_DIR": cache}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def floor(args):
    rows = [child(sys.executable, exp, "eager", args.steps, None) for exp in args.only]
    print(f"\n## Floor: the engine's arithmetic alone, experiments {args.only[0]}-{args.only[-1]}\n")
    print("| exp | epochs | steps/epoch | ms/step | val pass s | training floor s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    total = 0.0
    for r in rows:
        r["floor_s"] = r["epochs"] * (r["steps_per_epoch"] * r["step_s"] + r["val_s"])
        total += r["floor_s"]
        print(f"| {r['exp']} | {r['epochs']} | {r['steps_per_epoch']} | {1000 * r['step_s']:.1f} | "
              f"{r['val_s']:.2f} | {r['floor_s']:.0f} |")
    print(f"\nSum: **{total:.0f} s** of one core; on {CORES} cores at best **{total / CORES:.0f} s** wall, against the "
          f"{TARGET_S} s target ({total / CORES / TARGET_S:.2f}x it), before data, start-up and scoring.")
    return {"rows": rows, "core_seconds": total, "wall_floor_s": total / CORES}


def compute(args):
    """Alternate eager / compile / bf16 on one experiment, `reps` times each."""
    modes = ["eager", "compile", "bf16"]
    runs = {m: [] for m in modes}
    for _ in range(args.reps):
        for m in modes:
            runs[m].append(child(sys.executable, args.lever_exp, m, args.steps, None))
    eager = statistics.median(r["step_s"] for r in runs["eager"])
    print(f"\n## Compute levers, experiment {args.lever_exp} ({args.reps} alternating runs each, medians)\n")
    print(f"| lever | ms/step | vs eager | first step s | losses after {args.steps + 4} steps vs eager |")
    print("| --- | ---: | ---: | ---: | --- |")
    out = {}
    for m in modes:
        step = statistics.median(r["step_s"] for r in runs[m])
        first = statistics.median(r["first_step_s"] for r in runs[m])
        ref, got = runs["eager"][0]["losses"], runs[m][0]["losses"]
        same_run = all(r["losses"] == got for r in runs[m])
        diff = max(abs(a - b) for a, b in zip(ref, got))
        verdict = "identical" if got == ref else f"differ (max {diff:.2e})"
        verdict += "; regrade identical" if same_run else "; regrade DIFFERS"
        print(f"| {m} | {1000 * step:.1f} | {eager / step:.2f}x | {first:.1f} | {verdict} |")
        out[m] = {"step_s": step, "first_step_s": first, "speedup": eager / step, "losses_identical": got == ref,
                  "max_loss_diff": diff, "regrade_identical": same_run}
    return out


def build(args):
    sides = {"this python": sys.executable, "--python": args.python}
    runs = {k: [] for k in sides}
    for _ in range(args.reps):
        for k, py in sides.items():
            runs[k].append(child(py, args.lever_exp, "eager", args.steps, None))
    print(f"\n## torch builds, experiment {args.lever_exp} ({args.reps} alternating runs each, medians)\n")
    print("| python | torch | ms/step | imports s (torch, torchvision, locked) | losses |")
    print("| --- | --- | ---: | ---: | --- |")
    out = {}
    ref = runs["this python"][0]["losses"]
    for k, rs in runs.items():
        step, imp = statistics.median(r["step_s"] for r in rs), statistics.median(r["imports_s"] for r in rs)
        same = "identical" if rs[0]["losses"] == ref else "differ"
        print(f"| {k} | {rs[0]['torch']} | {1000 * step:.1f} | {imp:.2f} | {same} |")
        out[k] = {"torch": rs[0]["torch"], "step_s": step, "imports_s": imp, "losses_identical": same == "identical"}
    return out


def data_lever(args):
    print("\n## Data: making the training batches (full-size synthetic train split)\n")
    print("| experiment | the loop: PIL per sample s/epoch | PIL copies made up front (the engine before) s/epoch | "
          "tensors made once: set-up + s/epoch | pixel bytes held: PIL copies / tensors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    out = {}
    for exp in (1, 13):  # the baseline (ToTensor only) and ColorJitter (random: cannot be made once)
        r = out[exp] = child(sys.executable, exp, "data", 0, args.data_dir)
        once = (f"{r['setup_s']:.2f} + {r['once_epoch_s']:.2f}" if r["same_values"] else
                "not possible: random per image and epoch")
        print(f"| {exp} | {r['per_sample_epoch_s']:.2f} | {r['pil_upfront_epoch_s']:.2f} | {once} | "
              f"{r['pil_mb']:.0f} MB / {r['once_mb'] if r['same_values'] else 0:.0f} MB |")
    return out


def schedule(args):
    import heapq
    jobs = [(info["id"], len(record["history"]), info["worker_seconds"]) for record, info in runs.graded(args.suite)
            if info.get("worker_seconds")]

    def wall(order):
        free = [0.0] * CORES
        for *_, seconds in order:
            heapq.heappush(free, heapq.heappop(free) + seconds)
        return max(free)

    orders = {"folder order (what the suite does)": jobs, "most epochs first": sorted(jobs, key=lambda j: -j[1]),
              "longest first, true times": sorted(jobs, key=lambda j: -j[2])}
    print(f"\n## Schedule: {len(jobs)} measured gradings of {args.suite} on {CORES} sandboxes (simulated)\n")
    print("| order | wall s |\n| --- | ---: |")
    out = {name: wall(order) for name, order in orders.items()}
    for name, w in out.items():
        print(f"| {name} | {w:.0f} |")
    print(f"| perfect split | {sum(j[2] for j in jobs) / CORES:.0f} |")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="1-22", type=suite.parse_only)
    ap.add_argument("--lever-exp", default=11, type=int)
    ap.add_argument("--steps", default=40, type=int)
    ap.add_argument("--reps", default=2, type=int)
    ap.add_argument("--python", help="a second interpreter (e.g. with the CPU build of torch) for the build lever")
    ap.add_argument("--data-dir", help="where the synthetic data is (or is made)")
    ap.add_argument("--suite", help="a finished suite folder, for the schedule lever")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: floor,compute,build,data")
    ap.add_argument("--json")
    ap.add_argument("--measure", nargs=2, metavar=("EXP", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], args.measure[1], args.steps, args.data_dir)))
        return
    skip = set(filter(None, args.skip.split(",")))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    results = {}
    for name, fn in (("floor", floor), ("compute", compute), ("data", data_lever)):
        if name not in skip:
            results[name] = fn(args)
    if args.python and "build" not in skip:
        results["build"] = build(args)
    if args.suite:
        results["schedule"] = schedule(args)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

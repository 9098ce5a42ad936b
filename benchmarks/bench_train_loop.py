"""Training throughput: the locked loop (locked.engine.fit) against a naive course-style PyTorch loop.

    python benchmarks/bench_train_loop.py            # 2 runs x 2 epochs per side, alternating sides
    python benchmarks/bench_train_loop.py --quick    # 1 epoch per run
    python benchmarks/bench_train_loop.py --reps 3 --epochs 2 --json out.json

Both sides train experiment 12 (solutions/exp_12_rotation: BatchNorm CNN, 94,599 params, HFlip + Rotation(15)
+ ToTensor, Adam 1e-3, batch 32) on the full-size synthetic data, with the same thread count, the same seed and
the student's own transform object applied per sample per epoch. The naive side is what a course script does:
medmnist's dataset (a PIL image per __getitem__), a torch DataLoader (num_workers=0, default collate), and a
validation pass each epoch through a DataLoader with ToTensor at the training batch size.

Sides alternate (locked, naive, naive, locked, ...) so background load on a shared machine hits both alike,
after one untimed warm-up epoch per side (one-time kernel setup would otherwise land on whichever side runs
first).
Time per epoch is split into sections: data (transform + batch assembly), compute (forward, loss, backward,
optimizer step), validation, and other (the rest of the epoch: zero_grad, labels, running metrics, loop
overhead). For the locked loop the sections come from timing wrappers around engine internals (train_batch,
student_call, predict_logits); the naive loop is timed inline.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from medmnist import DermaMNIST  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torchvision import transforms  # noqa: E402

from locked import data, engine, submission  # noqa: E402

EXP12 = ROOT / "solutions" / "exp_12_rotation"
SECTIONS = ("data", "compute", "validation", "other")


def _timed(fn, times, key):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[key] += time.perf_counter() - t0
    return wrapper


def run_locked(sub, splits, device):
    """engine.fit as `python -m locked.train` calls it, with timing wrappers around its sections."""
    times = defaultdict(float)
    originals = engine.train_batch, engine.student_call, engine.predict_logits

    def student_call(sub_, check, what, fn, *args):  # the forward, loss, backward and step all pass through here
        if check != "train":
            return originals[1](sub_, check, what, fn, *args)
        t0 = time.perf_counter()
        try:
            return originals[1](sub_, check, what, fn, *args)
        finally:
            times["compute"] += time.perf_counter() - t0

    engine.train_batch = _timed(originals[0], times, "data")
    engine.student_call = student_call
    engine.predict_logits = _timed(originals[2], times, "validation")
    try:
        engine.seed_everything()
        t0 = time.perf_counter()
        model = engine.build_model(sub)
        history = engine.fit(sub, model, splits, device, log=lambda *a: None, progress=False)
        wall = time.perf_counter() - t0
    finally:
        engine.train_batch, engine.student_call, engine.predict_logits = originals
    epoch_seconds = [row["seconds"] for row in history]
    return _summary(epoch_seconds, times, wall, history)


def run_naive(sub, splits, device):
    """A course-style loop: medmnist Dataset + DataLoader, per-epoch validation through a DataLoader."""
    times = defaultdict(float)
    engine.seed_everything()
    t_start = time.perf_counter()
    root = str(Path(splits.provenance["path"]).parent)
    train_ds = DermaMNIST(split="train", root=root, transform=sub.train_transform, download=False)
    val_ds = DermaMNIST(split="val", root=root, transform=transforms.ToTensor(), download=False)
    train_loader = DataLoader(train_ds, batch_size=sub.batch_size, shuffle=True, num_workers=0)
    val_loader = DataLoader(val_ds, batch_size=sub.batch_size, shuffle=False, num_workers=0)
    model = sub.build_model().to(device)
    optimizer = sub.make_optimizer(model)
    criterion = sub.make_loss(torch.tensor(splits.class_counts("train"), dtype=torch.float32))
    scheduler = sub.make_scheduler(optimizer)
    epoch_seconds, history = [], []
    for epoch in range(sub.epochs):
        t_epoch = time.perf_counter()
        model.train()
        running_loss, correct, seen = 0.0, 0, 0
        batches = iter(train_loader)
        while True:
            t0 = time.perf_counter()
            try:
                images, labels = next(batches)
            except StopIteration:
                break
            images, labels = images.to(device), labels.squeeze(1).long().to(device)
            optimizer.zero_grad()
            t1 = time.perf_counter()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            t2 = time.perf_counter()
            times["data"] += t1 - t0
            times["compute"] += t2 - t1
            running_loss += loss.item() * labels.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            seen += labels.size(0)
        if scheduler is not None:
            scheduler.step()
        t0 = time.perf_counter()
        model.eval()
        val_loss, val_correct, val_seen = 0.0, 0, 0
        with torch.no_grad():
            for images, labels in val_loader:
                images, labels = images.to(device), labels.squeeze(1).long().to(device)
                outputs = model(images)
                val_loss += torch.nn.functional.cross_entropy(outputs, labels).item() * labels.size(0)
                val_correct += (outputs.argmax(1) == labels).sum().item()
                val_seen += labels.size(0)
        times["validation"] += time.perf_counter() - t0
        epoch_seconds.append(time.perf_counter() - t_epoch)
        history.append({"train_loss": running_loss / seen, "train_acc": correct / seen,
                        "val_loss": val_loss / val_seen, "val_acc": val_correct / val_seen})
    return _summary(epoch_seconds, times, time.perf_counter() - t_start, history)


def _summary(epoch_seconds, times, wall, history):
    epochs = sum(epoch_seconds)
    sections = {k: times[k] for k in SECTIONS[:3]}
    sections["other"] = epochs - sum(sections.values())
    return {"epoch_seconds": epoch_seconds, "sections": sections, "setup_seconds": wall - epochs,
            "wall_seconds": wall, "last_epoch": history[-1]}


def warm_up(sub, splits, device):
    """One untimed epoch per side, so one-time kernel setup lands in neither measurement."""
    epochs, sub.epochs = sub.epochs, 1
    for run in (run_locked, run_naive):
        run(sub, splits, device)
    sub.epochs = epochs


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": torch.multiprocessing.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "cuda_build": torch.version.cuda, "threads": torch.get_num_threads()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    ap.add_argument("--reps", type=int, default=2, help="runs per side, alternating sides (default 2)")
    ap.add_argument("--quick", action="store_true", help="1 epoch per run")
    ap.add_argument("--threads", type=int, help="torch threads for both sides (default: as locked.train, "
                    "$DERMA_THREADS or 2)")
    ap.add_argument("--json", help="also write the raw figures to this file")
    args = ap.parse_args(argv)
    epochs = 1 if args.quick else args.epochs

    threads = engine.pin_threads(args.threads)
    device = torch.device("cpu")
    splits = data.load(synthetic_data=True)
    sub = submission.load(EXP12)
    sub.epochs = epochs
    n_train = len(splits.labels["train"])
    info = machine()
    print(f"Experiment 12 on {splits.provenance['label']}: {n_train} train / {len(splits.labels['val'])} val images; "
          f"{epochs} epoch(s) per run, {args.reps} run(s) per side; {threads} threads, {info['cpu']}, "
          f"torch {info['torch']}; load average before: {os.getloadavg()[0]:.1f}")

    warm_up(sub, splits, device)
    sides = {"locked": run_locked, "naive": run_naive}
    results = {name: [] for name in sides}
    for rep in range(args.reps):
        order = ("locked", "naive") if rep % 2 == 0 else ("naive", "locked")
        for name in order:
            r = sides[name](sub, splits, device)
            results[name].append(r)
            print(f"  run {rep + 1} {name:<6}  epochs " + " ".join(f"{s:6.2f}s" for s in r["epoch_seconds"]) +
                  f"   setup {r['setup_seconds']:.2f}s")

    table = {}
    for name, runs in results.items():
        epoch_s = [s for r in runs for s in r["epoch_seconds"]]
        n_epochs = len(epoch_s)
        table[name] = {
            "epochs": n_epochs, "mean_epoch_s": sum(epoch_s) / n_epochs, "median_epoch_s": statistics.median(epoch_s),
            "images_per_s": n_train * n_epochs / sum(epoch_s),
            "sections_per_epoch_s": {k: sum(r["sections"][k] for r in runs) / n_epochs for k in SECTIONS},
            "setup_s": sum(r["setup_seconds"] for r in runs) / len(runs),
        }
    ratio = table["locked"]["images_per_s"] / table["naive"]["images_per_s"]
    pair_ratios = [sum(n["epoch_seconds"]) / sum(lk["epoch_seconds"])
                   for lk, n in zip(results["locked"], results["naive"])]

    print(f"\n{'per epoch':<22}{'locked':>12}{'naive':>12}")
    for k in SECTIONS:
        lk, nv = table["locked"]["sections_per_epoch_s"][k], table["naive"]["sections_per_epoch_s"][k]
        print(f"  {k:<20}{lk:>11.2f}s{nv:>11.2f}s")
    for stat in ("mean", "median"):
        lk, nv = table["locked"][f"{stat}_epoch_s"], table["naive"][f"{stat}_epoch_s"]
        print(f"  {f'total ({stat})':<20}{lk:>11.2f}s{nv:>11.2f}s")
    print(f"{'train images/s':<24}{table['locked']['images_per_s']:>10.0f}{table['naive']['images_per_s']:>12.0f}")
    print(f"{'one-time setup':<22}{table['locked']['setup_s']:>11.2f}s{table['naive']['setup_s']:>11.2f}s")
    print(f"load average after: {os.getloadavg()[0]:.1f} (on {info['cores']} cores; above that, other processes "
          f"shared the CPU during the measurement)")
    print(f"\nlocked / naive throughput: {ratio:.2f}x  (per run pair: {', '.join(f'{r:.2f}x' for r in pair_ratios)})")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "epochs_per_run": epochs, "reps": args.reps,
                                               "summary": table, "ratio": ratio, "pair_ratios": pair_ratios,
                                               "runs": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The student's run: `python -m locked.train [--submission DIR] [--synthetic | --data-dir DIR]`.

Trains the submission with the locked loop, reports on the validation split as the course does, and writes the
whole run (metrics, history, data provenance) as JSON for later tools.
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

from locked import data, engine, metrics, report, settings, submission, weights
from locked.info import TARGET_AUC, TARGET_MEL_RECALL


def run(folder, splits, device=None, log=print, progress=True, max_epochs=submission.DEFAULT_MAX_EPOCHS):
    """Load, build, train and score on validation. Returns the run record (a JSON-ready dict)."""
    threads = engine.pin_threads()
    engine.seed_everything()
    sub = submission.load(folder, max_epochs=max_epochs)
    model = engine.build_model(sub)
    params = engine.count_parameters(model)
    device = engine.pick_device(device)
    log(f"Model: {type(model).__name__}, {params:,} parameters; device {device}, {threads} threads; "
        f"{sub.epochs} epochs, batch {sub.batch_size}")
    t0 = time.perf_counter()
    history = engine.fit(sub, model, splits, device, log=log, progress=progress)
    train_seconds = time.perf_counter() - t0
    val_proba = metrics.softmax(engine.predict_logits(model, engine.to_val_tensor(splits.images["val"]), device))
    return {"submission": str(sub.folder), "data": splits.provenance, "params": params,
            "train_seconds": train_seconds, "history": history,
            "val": metrics.evaluate(splits.labels["val"], val_proba),
            "machine": {"device": str(device), "threads": threads, "platform": platform.platform(),
                        "python": platform.python_version(), "torch": engine.torch.__version__}}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m locked.train", description=__doc__.splitlines()[0])
    ap.add_argument("--submission", default="student", help="folder with model.py and train_config.py")
    ap.add_argument("--data-dir", help="folder holding dermamnist.npz (default: $DERMA_DATA_DIR or ~/.medmnist)")
    ap.add_argument("--synthetic", action="store_true", help="offline: use the synthetic stand-in, not real data")
    ap.add_argument("--device", help="cpu, cuda or mps (default: the fastest available)")
    ap.add_argument("--out", help="where to write the run's JSON (default: runs/<submission>.json)")
    args = ap.parse_args(argv)
    try:
        splits = data.load(args.data_dir, args.synthetic)
    except (data.DataUnavailable, settings.SettingError) as err:
        print(err, file=sys.stderr)
        return 2
    print(report.data_banner(splits.provenance))
    print(report.class_distribution(splits))
    try:
        record = run(args.submission, splits, device=args.device)
    except (submission.SubmissionError, weights.WeightsUnavailable) as err:
        print(f"\nYour submission could not be trained:\n  {err}", file=sys.stderr)
        return 1
    val = record["val"]
    print(f"\nValidation report ({val['n']} images):")
    print(report.per_class_table(val))
    print(report.headline(val, record["params"], record["train_seconds"]))
    print(report.verdict(val))
    print(report.data_banner(splits.provenance))
    out = Path(args.out or f"runs/{Path(args.submission).resolve().name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"Run written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

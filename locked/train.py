"""The student's run: `python -m locked.train [--submission DIR] [--synthetic | --data-dir DIR]`.

Trains the submission with the locked loop, reports on the validation split as the course does, says what the
numbers mean (locked.diagnosis), forecasts the graded time, compares with the previous run (locked.compare), and keeps
every run as JSON in runs/history/<submission>/ (the latest also at runs/<submission>.json for later tools, drawn
beside it as a page with plots, runs/<submission>.html: locked/page.py).

It is the grader's first reviewer: before training it stops where the grader would not train (a model over the
parameter budget, and everything submission.load and engine.build_model refuse) and warns where a grader check would
fail while training goes on (the preprocessing check; a file not saved as UTF-8). After training nothing it reads
can stop it: the run is saved first, then reported and compared.
"""
import argparse
import copy
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

from locked import (compare, consistency, data, diagnosis, engine, metrics, page, report, settings, submission,
                    weights)
from locked.terms import TERMS

#: Speed probe: steps timed (after WARMUP_STEPS untimed ones) on a throwaway copy of the model, one thread.
PROBE_STEPS = 10
WARMUP_STEPS = 2


def measure_speed(sub, model, splits, steps=PROBE_STEPS, warmup=WARMUP_STEPS):
    """The submission's own one-thread CPU speed, as the grader runs it: seconds per training step and per pass over
    the validation split. CPU time, not wall time: a busy laptop (or a shared server) would otherwise inflate it.
    Works on copies with every random state restored, so the real run is unchanged.
    Also returns the config the diagnosis reads (optimizer, configured lr, scheduler, class weights)."""
    torch = engine.torch
    threads, states = torch.get_num_threads(), (random.getstate(), np.random.get_state())
    try:
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]):
            probe = copy.deepcopy(model).to("cpu").train()
            optimizer, criterion, scheduler = engine.make_training_objects(sub, probe, splits.class_counts("train"))
            channels_last = engine._channels_last_ok(probe, "cpu")
            bs, n = sub.batch_size, len(splits.labels["train"])
            batches = [[i % n for i in range(k * bs, (k + 1) * bs)] for k in range(warmup + steps)]
            y = torch.as_tensor(splits.labels["train"])
            for k, idx in enumerate(batches):
                if k == warmup:
                    t0 = time.process_time()
                x = engine.train_batch(sub, splits.images["train"], idx, "cpu", channels_last)
                engine.train_step(sub, probe, optimizer, criterion, x, y[idx],
                                  f"step {k + 1} of the speed measurement, before training")
            step = (time.process_time() - t0) / steps
            val_x = engine.to_val_tensor(splits.images["val"])
            t0 = time.process_time()
            engine.predict_logits(probe, val_x, "cpu")
            evaluation = time.process_time() - t0
    finally:
        torch.set_num_threads(threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
    steps_per_epoch = max(1, n // bs + (n % bs > 1))
    config = {"optimizer": type(optimizer).__name__, "lr": configured_lr(optimizer),
              "scheduler": type(scheduler).__name__ if scheduler is not None else None,
              "class_weights": getattr(criterion, "weight", None) is not None, "epochs": sub.epochs,
              "batch_size": bs}
    return {"step_seconds": step, "steps_per_epoch": steps_per_epoch, "eval_seconds": evaluation,
            "predict_seconds": evaluation * (1 + len(splits.images["test"]) / len(splits.images["val"]))}, config


def configured_lr(optimizer):
    """The learning rate train_config.py set, for the diagnosis. A scheduler moves param_groups' "lr" as soon as it
    is built (OneCycleLR to max_lr / 25: the "lr=0.004" of issue 22), so this reads what it was given: OneCycleLR's
    max_lr (it replaces the optimizer's rate), else the rate any other scheduler started from, else lr."""
    group = optimizer.param_groups[0]
    return group.get("max_lr", group.get("initial_lr", group.get("lr")))


def forecast_for(speed, epochs, time_limit_s=TERMS.time_limit_s, cpu_share=diagnosis.GRADING_CPU_SHARE):
    return diagnosis.forecast(speed["step_seconds"], speed["steps_per_epoch"], epochs, speed["eval_seconds"],
                              speed["predict_seconds"], time_limit_s=time_limit_s, cpu_share=cpu_share)


def probe(folder, splits, max_epochs=TERMS.max_epochs):
    """Load and build a submission and forecast its graded time, without training (for quick checks)."""
    engine.seed_everything()
    sub = submission.load(folder, max_epochs=max_epochs)
    speed, config = measure_speed(sub, engine.build_model(sub), splits)
    return forecast_for(speed, sub.epochs), config


def over_budget(model, params, budget=TERMS.param_budget):
    """Why the run stops before training a model over the parameter budget, as the grader does (grader/child.py);
    None within it."""
    if params <= budget:
        return None
    own = [(sum(p.numel() for p in m.parameters(recurse=False)), name or "the model", type(m).__name__)
           for name, m in model.named_modules()]
    n, name, kind = max(own)
    return (f"model.py: your model has {params:,} parameters, over the budget of {budget:,} (frozen ones count too). "
            "The grader does not train a model over the budget: its param_budget check fails, and so do training and "
            f"the test AUC. This run stops here too. The largest layer is {name} ({kind}, {n:,} parameters). Shrink "
            "the widest layers: Linear(a, b) has a*b + b parameters, Conv2d(a, b, k) a*b*k*k + b; or use a smaller "
            "backbone.")


def student_files(folder, log):
    """The two files as trained, read before training (an edit during the run is not this run's code). Bytes that
    are not UTF-8 are replaced, with a warning: Python runs them inside a comment, so training would not stop."""
    files = {}
    for name in submission.STUDENT_FILES:
        raw = (Path(folder) / name).read_bytes()
        problem = submission.encoding_problem(name, raw)
        if problem:
            log(f"Warning: {problem} (It runs only because that byte is inside a comment.)")
        files[name] = raw.decode("utf-8", "replace")
    return files


def run(folder, splits, device=None, log=print, progress=True, max_epochs=TERMS.max_epochs):
    """Load, build, forecast, train and score on validation. Returns the run record (a JSON-ready dict)."""
    threads = engine.pin_threads()
    engine.seed_everything()
    sub = submission.load(folder, max_epochs=max_epochs)
    files = student_files(sub.folder, log)
    model = engine.build_model(sub)
    params = engine.count_parameters(model)
    refusal = over_budget(model, params)
    if refusal:
        raise submission.SubmissionError("param_budget", refusal)
    device = engine.pick_device(device)
    engine.deterministic(device)
    log(f"Model: {type(model).__name__}, {params:,} parameters; device {device}, {threads} threads; "
        f"{sub.epochs} epochs, batch {sub.batch_size}")
    speed, config = measure_speed(sub, model, splits)
    forecast = forecast_for(speed, sub.epochs)
    log(diagnosis.format_forecast(forecast, sub.batch_size))
    pre = consistency.check_preprocessing(sub.train_transform, splits.images["train"])
    if not pre.ok:
        log("Warning: the grader's preprocessing check will fail (training goes on, as in the grader):\n"
            + pre.message)
    t0 = time.perf_counter()
    history = engine.fit(sub, model, splits, device, log=log, progress=progress)
    train_seconds = time.perf_counter() - t0
    val_proba = metrics.softmax(engine.predict_logits(model, engine.to_val_tensor(splits.images["val"]), device))
    return {"submission": str(sub.folder), "data": splits.provenance, "params": params,
            "train_seconds": train_seconds, "history": history, "config": config,
            "val": metrics.evaluate(splits.labels["val"], val_proba),
            "preprocessing": {"ok": pre.ok, "message": pre.message, "measured": pre.measured},
            "speed": speed, "forecast": forecast,
            "files": files,
            "machine": {"device": str(device), "threads": threads, "host": platform.node(),
                        "platform": platform.platform(),
                        "python": platform.python_version(), "torch": engine.torch.__version__}}


def diagnose(record):
    """The diagnosis block for a run record."""
    return diagnosis.format_findings(diagnosis.diagnose(record["history"], record["val"], record.get("config"),
                                                        record.get("preprocessing")))


def save(record, out):
    """Write the record to `out` (the latest run) and to the history folder beside it; return the previous run
    (None if there is none, or if it cannot be read: it is only compared with) and where this one was kept."""
    out = Path(out)
    history = out.parent / "history" / out.stem
    history.mkdir(parents=True, exist_ok=True)
    previous = sorted(history.glob("*.json"))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    record = {**record, "timestamp": stamp}
    path, k = history / f"{stamp}.json", 1
    while path.exists():
        path, k = history / f"{stamp}-{k}.json", k + 1
    text = json.dumps(record, indent=1)  # ASCII: the student's text is escaped
    path.write_text(text, encoding="utf-8")
    out.write_text(text, encoding="utf-8")
    if not previous:
        return None, path
    try:
        return json.loads(previous[-1].read_text(encoding="utf-8", errors="replace")), path
    except (OSError, ValueError) as err:
        print(f"Your previous run {previous[-1]} could not be read ({err}); this run is not compared with it.",
              file=sys.stderr)
        return None, path


def comparison(previous, record):
    """locked.compare's block, or one line saying why there is none: the run is saved already, and an old or
    hand-edited record may lack anything compare reads."""
    try:
        return compare.compare(previous, record)
    except Exception as err:  # noqa: BLE001  nothing in an old record may end a finished run
        return (f"Not compared with your previous run: its record lacks what the comparison reads "
                f"({type(err).__name__}: {err}). This run is saved all the same.")


def write_page(record, out):
    """The run's page with plots (locked/page.py) beside its JSON, or one line saying why there is none: the run is
    saved already, and nothing in drawing it may end a finished run."""
    path = Path(out).with_suffix(".html")
    if path == Path(out):  # --out x.html: the page must never replace the run
        path = path.with_name(path.name + ".html")
    try:
        return f"Report with plots: {page.write(record, path)} (open it in a browser)"
    except page.PlotsUnavailable as err:
        return f"No report with plots: {err}"
    except Exception as err:  # noqa: BLE001
        return f"No report with plots ({type(err).__name__}: {err}). This run is saved all the same."


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m locked.train", description=__doc__.splitlines()[0])
    ap.add_argument("--submission", default="student", help="folder with model.py and train_config.py")
    ap.add_argument("--data-dir", help="folder holding dermamnist.npz (default: $DERMA_DATA_DIR or ~/.medmnist)")
    ap.add_argument("--synthetic", action="store_true", help="offline: use the synthetic stand-in, not real data")
    ap.add_argument("--device", help="cpu, cuda or mps (default: the fastest available)")
    ap.add_argument("--out", help="where to write the run's JSON (default: runs/<submission>.json; every run is "
                                  "also kept in runs/history/<submission>/)")
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
        found = diagnosis.diagnose([], None, error={"check": getattr(err, "check", ""), "message": str(err)})
        if found:
            print(diagnosis.format_findings(found), file=sys.stderr)
        return 1
    out = Path(args.out or f"runs/{Path(args.submission).resolve().name}.json")
    previous, kept = save(record, out)
    val = record["val"]
    print(f"\nValidation report ({val['n']} images):")
    print(report.per_class_table(val))
    print(report.headline(val, record["params"], record["train_seconds"]))
    print(report.verdict(val))
    print()
    print(diagnose(record))
    print(diagnosis.format_forecast(record["forecast"], record["config"]["batch_size"]))
    if previous:
        print(comparison(previous, record))
    print(report.data_banner(splits.provenance))
    print(f"Run written to {out} (kept as {kept})")
    print(write_page(record, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

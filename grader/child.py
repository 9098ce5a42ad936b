"""Runs INSIDE the sandbox, beside a fresh copy of locked/, with the student's two files.

Layout it expects (made by grader/grade.py):
    sandbox/harness/{child.py, locked/}   this file and the locked package (read-only)
    sandbox/submission/                   model.py, train_config.py (read-only)
    sandbox/data.npz                      train + val images and labels, test images WITHOUT labels
    sandbox/request.json                  limits and settings
    sandbox/work/                         the current directory (empty, writable)
    sandbox/out/                          status.json (after every stage) and predictions.npz (writable)
It never sees the test labels. It reports what happened; the parent decides what it is worth.
"""
import json
import os
import sys
import time
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
SANDBOX = HARNESS.parent
sys.path.insert(0, str(HARNESS))

import numpy as np  # noqa: E402

from locked import data, engine, submission, weights  # noqa: E402  (imports torch)
from locked.consistency import check_preprocessing  # noqa: E402

STATUS = {"stage": "started"}
CONSISTENCY_IMAGES = 64


def count_parameters(model):
    """All parameters, frozen ones included: locked.metrics.count_parameters, defined again here because
    locked.metrics imports scikit-learn (about 90 MB and 2 s in this process, which never scores anything), and
    because a submission may patch locked.metrics (this function is bound before any student code runs)."""
    return int(sum(p.numel() for p in model.parameters()))


def save(**fields):
    """Write status.json atomically, so the parent sees the last finished stage even if we are killed."""
    STATUS.update(fields)
    tmp = SANDBOX / "out" / "status.tmp"
    tmp.write_text(json.dumps(STATUS))
    tmp.replace(SANDBOX / "out" / "status.json")


def main():
    request = json.loads((SANDBOX / "request.json").read_text())
    engine.pin_threads(request["threads"])
    engine.seed_everything()
    with np.load(SANDBOX / "data.npz") as npz:
        images = {s: npz[f"{s}_images"] for s in ("train", "val", "test")}
        labels = {s: npz[f"{s}_labels"] for s in ("train", "val")}
    splits = data.Splits(images, labels)
    save(stage="started")  # the first status.json: from here on the student's code runs (none without it)
    sub = submission.load(SANDBOX / "submission", max_epochs=request["max_epochs"])
    save(stage="loaded", epochs=sub.epochs, batch_size=sub.batch_size)
    model = engine.build_model(sub)
    save(stage="built", params=count_parameters(model), model_name=type(model).__name__,
         trainable_params=int(sum(p.numel() for p in model.parameters() if p.requires_grad)))
    result = check_preprocessing(sub.train_transform, images["train"][:CONSISTENCY_IMAGES])
    save(stage="checked", preprocessing={"ok": result.ok, "message": result.message, "measured": result.measured})
    if STATUS["params"] > request["param_budget"]:
        return  # over budget: not trained, the parent explains
    device = engine.pick_device("cpu")
    t0 = time.perf_counter()
    history = engine.fit(sub, model, splits, device, progress=False)
    save(stage="trained", history=history, train_seconds=time.perf_counter() - t0)
    logits = {s: engine.predict_logits(model, engine.to_val_tensor(images[s]), device) for s in ("val", "test")}
    np.savez(SANDBOX / "out" / "predictions.npz", val=logits["val"], test=logits["test"])
    save(stage="done")


if __name__ == "__main__":
    try:
        main()
    except submission.SubmissionError as err:
        save(error={"check": err.check, "message": str(err)})
    except weights.WeightsUnavailable as err:
        save(error={"check": "weights", "message": str(err)})
    except MemoryError:
        save(error={"check": "memory", "message": "Python ran out of memory (MemoryError)."})
    except SystemExit as err:
        save(error={"check": "exit", "message": f"Your code called sys.exit({err.code!r}) (or exit()/quit()). "
                    "Remove it: the grader's process must run to the end to train and score your model."})
    except BaseException as err:  # anything else: report it, pointing at the student's line if there is one
        save(error={"check": "crash", "message": submission.describe_exception(err, SANDBOX / "submission")})
    os._exit(0)  # skip interpreter teardown (and any atexit hooks a submission may have registered)

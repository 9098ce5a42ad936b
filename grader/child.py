"""Runs INSIDE the sandbox, beside a fresh copy of locked/, with the student's two files.

Layout it expects (made by grader/grade.py):
    sandbox/harness/{child.py, locked/}   this file and the locked package (read-only)
    sandbox/submission/                   model.py, train_config.py (read-only)
    sandbox/data.npz                      train + val images and labels, test images WITHOUT labels
    sandbox/request.json                  limits and settings
    sandbox/work/                         the current directory (empty, writable)
    sandbox/home/                         $HOME (writable; what imports create there, e.g. ~/.medmnist, stays
                                          out of work/)
    sandbox/out/                          what it reports (writable): status.json after every stage,
                                          param_shapes.npy and predictions.npy (raw, see grader/protocol.py)
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

import torch  # noqa: E402

from locked import data, engine, submission, weights  # noqa: E402
from locked.consistency import check_preprocessing  # noqa: E402

import protocol  # noqa: E402  (grader/protocol.py, copied beside this file)

STATUS = {"stage": "started"}
# Bound before any student code runs, which may patch locked.engine or torch.nn.Module.
count_parameters, module_parameters = engine.count_parameters, torch.nn.Module.parameters


def save(**fields):
    """Write status.json atomically, so the parent sees the last finished stage even if we are killed."""
    STATUS.update(fields)
    tmp = SANDBOX / "out" / "status.tmp"
    tmp.write_text(json.dumps(STATUS))
    tmp.replace(SANDBOX / "out" / "status.json")


def write_out(name, payload):
    tmp = SANDBOX / "out" / (name + ".tmp")
    tmp.write_bytes(payload)
    tmp.replace(SANDBOX / "out" / name)


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
    params = count_parameters(model)
    write_out(protocol.SHAPES, protocol.encode_shapes([(tuple(p.shape), p.requires_grad)
                                                        for p in module_parameters(model)]))
    save(stage="built", model_name=type(model).__name__)
    result = check_preprocessing(sub.train_transform, images["train"])
    save(stage="checked", preprocessing={"ok": result.ok, "message": result.message, "measured": result.measured})
    if params > request["param_budget"]:
        return  # over budget: not trained, the parent explains
    device = engine.pick_device("cpu")
    t0 = time.perf_counter()
    history = engine.fit(sub, model, splits, device, progress=False)
    save(stage="trained", history=history, train_seconds=time.perf_counter() - t0)
    logits = {s: engine.predict_logits(model, engine.to_val_tensor(images[s]), device) for s in ("val", "test")}
    write_out(protocol.PREDICTIONS, protocol.encode_predictions(np.concatenate([logits["val"], logits["test"]])))
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
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:  # the student's prints and the epoch log; a submission may have replaced or closed the streams
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(0)  # skip interpreter teardown (and any atexit hooks a submission may have registered)

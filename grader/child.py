"""Runs INSIDE the sandbox, beside a fresh copy of locked/, with the student's two files.

Layout it expects (made by grader/grade.py):
    sandbox/harness/{child.py, locked/}   this file and the locked package (read-only)
    sandbox/submission/                   model.py, train_config.py (read-only)
    sandbox/data.npz                      train + val images and labels, test images WITHOUT labels
    sandbox/request.json                  limits and settings
    sandbox/work/                         the current directory (empty, writable)
    sandbox/home/                         $HOME (writable; what imports create there, e.g. ~/.medmnist, stays
                                          out of work/)
    sandbox/out/                          param_shapes.npy and predictions.npy (raw, see grader/protocol.py)
Its progress goes to the parent over the report pipe ($DERMAGRADE_REPORT_FD), a line as each stage is reached.
It never sees the test labels. It reports what happened; the parent decides what it is worth.
"""
import ctypes
import json
import os
import sys
import threading
import time
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
SANDBOX = HARNESS.parent
sys.path.insert(0, str(HARNESS))

import numpy as np  # noqa: E402

import torch  # noqa: E402

from locked import data, engine, submission, weights  # noqa: E402
from locked.consistency import check_preprocessing  # noqa: E402
from locked.text import shown  # noqa: E402

import protocol  # noqa: E402  (grader/protocol.py, copied beside this file)

REPORT = int(os.environ.get(protocol.REPORT_FD, "-1"))  # set by the grader; read before any student code
# Bound before any student code runs, which may patch locked.engine, torch.nn.Module or os.
count_parameters, module_parameters, os_write = engine.count_parameters, torch.nn.Module.parameters, os.write


def save(**fields):
    """Send one report line to the parent: once written it is the parent's, whatever the student's code does."""
    line = protocol.encode_report(fields)
    while line:
        line = line[os_write(REPORT, line):]


# glibc's malloc keeps blocks a run frees for reuse, and dynamically raises the size above which blocks go back to
# the kernel: a ResNet's freed activations stay counted against the sandbox (exp 25 in-process, one thread: 799 MB
# by default, 731 MB when every block over 128 KB goes back). Giving them back slows a small CNN's steps by half
# or more, so the child does it only once its memory nears the limit; the numbers do not change, only where freed
# memory goes (packaging/RESULTS.md, "Chapters on the default box").
M_MMAP_THRESHOLD, GIVE_BACK_ABOVE, TIGHT_SHARE, WATCH_EVERY_S = -3, 128 * 1024, 0.75, 0.2


def give_back_memory_when_tight(limit_mb, rss=None, libc=None, on_switch=None):
    """Start a thread that, once this process's RSS passes TIGHT_SHARE of `limit_mb`, tells glibc's malloc to
    return freed blocks over GIVE_BACK_ABOVE to the kernel and trims what it holds. False where malloc is not
    glibc's (nothing to switch). rss, libc and on_switch are for tests."""
    if libc is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt, libc.malloc_trim  # noqa: B018 (glibc only)
        except (OSError, AttributeError):
            return False
    if rss is None:
        page = os.sysconf("SC_PAGE_SIZE")

        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * page

    def watch():
        while rss() <= TIGHT_SHARE * limit_mb * 2**20:
            time.sleep(WATCH_EVERY_S)
        libc.mallopt(M_MMAP_THRESHOLD, GIVE_BACK_ABOVE)
        libc.malloc_trim(0)
        if on_switch:
            on_switch()

    threading.Thread(target=watch, name="give-back-memory", daemon=True).start()
    return True


def write_out(name, payload):
    tmp = SANDBOX / "out" / (name + ".tmp")
    tmp.write_bytes(payload)
    tmp.replace(SANDBOX / "out" / name)


def main():
    request = json.loads((SANDBOX / "request.json").read_text())
    engine.pin_threads(request["threads"])
    device = engine.pick_device(request["device"])
    if device.type == "cuda" and not torch.cuda.is_available():  # before STARTED: the environment's failure
        print(f"grader: device cuda, but torch {torch.__version__} (CUDA build {torch.version.cuda}) finds no GPU in "
              "the sandbox: check the driver and the /dev/nvidia* nodes, or grade with --device cpu.", flush=True)
        os._exit(3)
    engine.deterministic(device)
    engine.seed_everything()
    if request.get("memory_limit_mb"):
        give_back_memory_when_tight(request["memory_limit_mb"], on_switch=lambda: print(
            f"grader: your run's memory is near its {request['memory_limit_mb']:g} MB limit: freed memory now goes "
            "back to the system (steps may slow down); a smaller batch or model uses less.", flush=True))
    with np.load(SANDBOX / "data.npz") as npz:
        images = {s: npz[f"{s}_images"] for s in ("train", "val", "test")}
        labels = {s: npz[f"{s}_labels"] for s in ("train", "val")}
    splits = data.Splits(images, labels)
    save(stage=protocol.STARTED)  # the first report: from here on the student's code runs (none without it)
    sub = submission.load(SANDBOX / "submission", max_epochs=request["max_epochs"])
    save(stage=protocol.LOADED, epochs=sub.epochs, batch_size=sub.batch_size)
    model = engine.new_model(sub)
    params = count_parameters(model)
    write_out(protocol.SHAPES, protocol.encode_shapes([(tuple(p.shape), p.requires_grad)
                                                        for p in module_parameters(model)]))
    save(stage=protocol.BUILT, model_name=type(model).__name__)
    engine.check_output(model, sub)
    save(stage=protocol.SHAPED)
    result = check_preprocessing(sub.train_transform, images["train"])
    save(stage=protocol.CHECKED,
         preprocessing=protocol.Preprocessing(ok=result.ok, message=result.message, measured=result.measured))
    if params > request["param_budget"]:
        return  # over budget: not trained, the parent explains
    t0 = time.perf_counter()
    history = engine.fit(sub, model, splits, device, progress=False, deadline=request["deadline"])
    save(stage=protocol.TRAINED, history=history, train_seconds=time.perf_counter() - t0)
    logits = {s: engine.predict_logits(model, engine.to_val_tensor(images[s]), device) for s in ("val", "test")}
    write_out(protocol.PREDICTIONS, protocol.encode_predictions(np.concatenate([logits["val"], logits["test"]])))
    save(stage=protocol.DONE)


def error(err):
    """The report's error for an exception that ended main()."""
    if isinstance(err, submission.SubmissionError):
        return protocol.Error(check=err.check, message=str(err))
    if isinstance(err, weights.WeightsUnavailable):
        return protocol.Error(check="weights", message=str(err))
    if isinstance(err, MemoryError):
        return protocol.Error(check="memory", message="Python ran out of memory (MemoryError).")
    if isinstance(err, SystemExit):
        return protocol.Error(check="exit", message=f"Your code called sys.exit("
                              f"{shown(repr(err.code), 200, one_line=True)}) (or exit()/quit()). Remove it: the "
                              "grader's process must run to the end to train and score your model.")
    # anything else: report it, pointing at the student's line if there is one
    return protocol.Error(check="crash", message=submission.describe_exception(err, SANDBOX / "submission"))


if __name__ == "__main__":
    code = 0
    try:
        main()
    except BaseException as err:  # noqa: BLE001
        try:
            fields = error(err)
        except BaseException:  # noqa: BLE001  an exception whose str() or repr() itself raises
            fields = protocol.Error(check="crash", message=f"{type(err).__name__} (its message could not be read)")
        try:
            save(error=fields)
        except OSError:  # the student's code closed or replaced the report pipe: the parent is told by the status
            code = protocol.CHANNEL_LOST
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:  # the student's prints and the epoch log; a submission may have replaced or closed the streams
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(code)  # skip interpreter teardown (and any atexit hooks a submission may have registered)

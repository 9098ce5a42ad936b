"""What the child hands the parent: a report over a pipe, and raw arrays in out/, each read byte for byte.

    the report       one JSON object per line on the pipe whose file descriptor is in $DERMAGRADE_REPORT_FD,
                     written as each stage in STAGES is reached (then fields such as the error). A pipe, not a file:
                     bytes already sent cannot be taken back by student code, so the parent knows for sure whether
                     STARTED (the harness is about to import the student's files) arrived before the child ended.

    predictions.npy   float32, shape (val rows + test rows, 7): the val rows, then the test rows, as many as the
                      parent gave the child. The parent knows the exact header and size before it reads a byte.
    param_shapes.npy  int64, shape (tensors, 1 + MAX_DIMS): per parameter tensor, requires_grad (0/1) then its
                      dimensions padded with 1 (dimensions past the 8th folded into the 8th). The parent accepts
                      only the header numpy writes for a count up to MAX_TENSORS, then exactly that many bytes,
                      and computes the parameter count itself.
The arrays, little-endian with an exact .npy v1 header: no compression, no pickle, no parsing beyond comparing
bytes. The report's names are defined here alone (STAGES, `Report`): the child writes these, and the parent keeps
only these, typed and bounded (`clean_status`). The history rows' fields are locked/history.py's, as
the training loop writes them and students' copies of locked/ read them without grader/. numpy, the standard
library and locked/ only: the child imports this file from its harness folder, beside the harness's copy of locked/;
the parent from grader/.
"""
import io
import json
import math
import re
from typing import NotRequired, TypedDict

import numpy as np
from numpy.lib import format as npy

from locked import metrics
from locked.history import HistoryRow
from locked.info import NUM_CLASSES
from locked.submission import SubmissionError
from locked.text import shown

PREDICTIONS, SHAPES = "predictions.npy", "param_shapes.npy"
REPORT_FD = "DERMAGRADE_REPORT_FD"  # the variable naming the report pipe's file descriptor in the child
REPORT_MAX_BYTES = 1_000_000        # the parent keeps this much of the report; more is a flood, not a report
CHANNEL_LOST = 86                   # the child's exit status when its report pipe was closed under it
# What the child reports before each step: STARTED before the student's files are imported (nothing of the
# student's has run before it), LOADED when they were, BUILT when build_model() returned an nn.Module (its
# parameter shapes written), SHAPED when its output on a plain batch had the right shape, CHECKED after the
# preprocessing check, TRAINED after training, DONE when the predictions were written.
STAGES = STARTED, LOADED, BUILT, SHAPED, CHECKED, TRAINED, DONE = (
    "started", "loaded", "built", "shaped", "checked", "trained", "done")
MAX_DIMS = 8
MAX_TENSORS = 100_000
MAX_DIM = 2**40              # any real dimension is far below
MAX_PARAMS = 10**12
_SHAPES_HEADER = re.compile(rb"\{'descr': '<i8', 'fortran_order': False, 'shape': \((\d{1,6}), %d\), \}"
                            % (1 + MAX_DIMS))


def _header(descr, shape):
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()  # magic, version 1.0, length, the dict padded to 64 bytes: what np.save writes


def encode_predictions(logits):
    a = np.ascontiguousarray(logits, dtype="<f4")
    return _header("<f4", a.shape) + a.tobytes()


def predictions_bytes(rows):
    """The exact size of a valid predictions file for `rows` rows (the most the parent will read)."""
    return len(_header("<f4", (rows, NUM_CLASSES))) + rows * NUM_CLASSES * 4


def decode_predictions(raw, rows):
    """(rows, 7) float32 array from the file's bytes; ValueError unless header and size are exactly right."""
    head = _header("<f4", (rows, NUM_CLASSES))
    if len(raw) != predictions_bytes(rows) or raw[:len(head)] != head:
        raise ValueError(f"{PREDICTIONS} is not a ({rows}, {NUM_CLASSES}) float32 array as the grader writes it "
                         f"({len(raw):,} bytes; expected {predictions_bytes(rows):,})")
    return np.frombuffer(raw, dtype="<f4", offset=len(head)).reshape(rows, NUM_CLASSES)


def encode_shapes(shapes):
    """[(shape tuple, requires_grad), ...] -> bytes."""
    rows = []
    for shape, trainable in shapes:
        dims = list(shape) or [1]
        dims = dims[:MAX_DIMS - 1] + [math.prod(dims[MAX_DIMS - 1:])]
        rows.append([int(bool(trainable)), *dims, *[1] * (MAX_DIMS - len(dims))])
    a = np.array(rows, dtype="<i8").reshape(len(rows), 1 + MAX_DIMS)
    return _header("<i8", a.shape) + a.tobytes()


SHAPES_MAX_BYTES = len(_header("<i8", (MAX_TENSORS, 1 + MAX_DIMS))) + MAX_TENSORS * (1 + MAX_DIMS) * 8


def decode_shapes(raw):
    """(params, trainable params) computed here from the tensor shapes; ValueError for anything malformed."""
    end = raw.find(b"\n") + 1
    match = _SHAPES_HEADER.search(raw[:end])
    n = int(match.group(1)) if match else -1
    if not 0 <= n <= MAX_TENSORS:
        raise ValueError(f"{SHAPES} does not start with the header the grader writes")
    head = _header("<i8", (n, 1 + MAX_DIMS))
    if raw[:len(head)] != head or len(raw) != len(head) + n * (1 + MAX_DIMS) * 8:
        raise ValueError(f"{SHAPES} has the wrong header or size")
    rows = np.frombuffer(raw, dtype="<i8", offset=len(head)).reshape(n, 1 + MAX_DIMS)
    if n and (not np.isin(rows[:, 0], (0, 1)).all() or rows[:, 1:].min() < 0 or rows[:, 1:].max() > MAX_DIM):
        raise ValueError(f"{SHAPES} holds values no tensor has")
    sizes = [math.prod(int(d) for d in row[1:]) for row in rows]  # Python integers: no overflow
    params, trainable = sum(sizes), sum(s for s, row in zip(sizes, rows) if row[0])
    if params > MAX_PARAMS:
        raise ValueError(f"{SHAPES} claims {params:,} parameters")
    return params, trainable


class Error(TypedDict):
    """Why the run ended: the check that failed (SubmissionError.check, "crash", "memory", "exit", ...) and what
    the student reads."""
    check: str
    message: str


class Preprocessing(TypedDict):
    """locked.consistency's verdict on train_transform; the parent keeps ok and message."""
    ok: bool
    message: str
    measured: NotRequired[dict]


class Report(TypedDict, total=False):
    """The fields the child reports, each with the stage it comes with (the error with none: it may come at any)."""
    stage: str                     # one of STAGES, on every line but the error's
    error: Error
    epochs: int                    # LOADED: train_config.py's
    batch_size: int
    model_name: str                # BUILT: type(build_model()).__name__
    preprocessing: Preprocessing   # CHECKED
    history: list                  # TRAINED: locked.history.HistoryRow rows, one per epoch
    train_seconds: float           # TRAINED: engine.fit alone


class Status(Report, total=False):
    """The report as the parent keeps it (clean_status), with what the parent computed itself from out/."""
    params: int
    trainable_params: int


def encode_report(fields):
    """One report line: a JSON object and a newline."""
    return json.dumps(fields).encode() + b"\n"


def decode_report(raw):
    """(fields merged in order, garbled) from the report's bytes. Every complete line must be a JSON object whose
    stage (if any) keeps to STAGES' order, the first one being STARTED; reading stops at the first line that is
    not, and `garbled` is then True (only student code writes such a line). A last line without its newline was cut
    off (the child was killed while writing, or the report passed REPORT_MAX_BYTES) and is not read."""
    fields = {}
    for line in raw.split(b"\n")[:-1]:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            return fields, True
        stage = entry.get("stage", fields.get("stage")) if isinstance(entry, dict) else None
        if stage not in STAGES or STAGES.index(stage) < STAGES.index(fields.get("stage", STARTED)):
            return fields, True
        if not fields and stage != STARTED:
            return fields, True
        fields.update(entry)
    return fields, False


TAMPERED = ("The grader's progress reports (its report pipe, ${var}) were written to or garbled by your code, so "
            "nothing they say can be trusted. Do not write to file descriptors your code did not open, or change "
            "the grader's variables.").replace("${var}", "$" + REPORT_FD)
MAX_TEXT = 4000        # characters of a message kept (a traceback longer than this is cut)
MAX_HISTORY = 10_000   # epochs
_MAX_INT = {"epochs": 10**6, "batch_size": 10**7}


class _Tampered(ValueError):
    pass


def _text(value, limit=MAX_TEXT):
    if not isinstance(value, str):
        raise _Tampered
    return shown(value, limit)


def _int(value, high):
    if type(value) is not int or not 0 <= value <= high:
        raise _Tampered
    return value


def _real(value, none_ok=False):
    if value is None and none_ok:
        return None
    if type(value) not in (int, float) or not -1e12 <= value <= 1e12:  # NaN fails both comparisons
        raise _Tampered
    return float(value)


def _row(row):
    """One history row: HistoryRow's fields, an int epoch and reals (None only where HistoryRow allows it)."""
    if not isinstance(row, dict):
        raise _Tampered
    return {k: _int(row.get(k), MAX_HISTORY) if kind is int else _real(row.get(k), none_ok=kind is not float)
            for k, kind in HistoryRow.__annotations__.items()}


def _clean(status):
    """Only Report's fields, each of its type and within its bounds; _Tampered otherwise."""
    if not isinstance(status, dict) or status.get("stage", STARTED) not in STAGES:
        raise _Tampered
    out = Status(stage=status.get("stage", STARTED))
    if "error" in status:
        error = status["error"]
        if not isinstance(error, dict):
            raise _Tampered
        out["error"] = Error(check=_text(error.get("check"), 64), message=_text(error.get("message")))
    for key, high in _MAX_INT.items():
        if key in status:
            out[key] = _int(status[key], high)
    if "model_name" in status:
        out["model_name"] = _text(status["model_name"], 200)
    if "preprocessing" in status:
        pre = status["preprocessing"]
        if not (isinstance(pre, dict) and isinstance(pre.get("ok"), bool)):
            raise _Tampered
        out["preprocessing"] = {"ok": pre["ok"], "message": _text(pre.get("message"))}
    if "history" in status:
        history = status["history"]
        if not isinstance(history, list) or len(history) > MAX_HISTORY:
            raise _Tampered
        out["history"] = [_row(r) for r in history]
    if "train_seconds" in status:
        out["train_seconds"] = _real(status["train_seconds"])
    return out


def clean_status(status):
    """The child's report as the parent may use it: a new dict of Report's fields, typed and bounded (messages made
    printable and cut to MAX_TEXT characters). It is written from the same process as student code, so a malformed
    one means tampering: it becomes an error (score 0) instead of crashing the grader. The parameter count is not
    taken from it: the parent computes it from the tensor shapes (decode_shapes)."""
    try:
        return _clean(status)
    except _Tampered:
        return Status(stage=STARTED, error=Error(check="status", message=TAMPERED))


def read_report(raw, sent):
    """The status from the report's bytes, `sent` being how many the child wrote (more than len(raw) when the
    parent kept only REPORT_MAX_BYTES): {} when nothing arrived (no student code ran); garbled or cut, what
    arrived before still stands, with the tampering error."""
    fields, garbled = decode_report(raw)
    status = clean_status(fields) if fields else {}
    if garbled or sent > len(raw):
        status = {**status, "stage": status.get("stage", STARTED), "error": Error(check="status", message=TAMPERED)}
    return status


def reached(status, stage):
    """True when the child reported `stage` (or a later one)."""
    return status.get("stage") in STAGES and STAGES.index(status["stage"]) >= STAGES.index(stage)


def as_probabilities(array, split, n):
    """Validate the child's predictions for one split (logits or probabilities) and return probabilities."""
    try:
        a = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):  # the file is written beside student code: it may hold anything
        a = np.full((0,), np.nan)
    if a.shape != (n, NUM_CLASSES):
        raise SubmissionError("predictions", f"The {split} predictions have shape {a.shape}; expected ({n}, "
                              f"{NUM_CLASSES}), one row per image and one column per class.")
    bad = int((~np.isfinite(a)).any(axis=1).sum())
    if bad:
        raise SubmissionError("predictions", f"After training, your model output NaN or infinite values for {bad} "
                              f"of the {n} {split} images. The weights blew up: lower the learning rate, or "
                              "check forward() for log(0) or division by zero.")
    sums = a.sum(axis=1, keepdims=True)
    if (a >= 0).all() and (a <= 1).all() and (np.abs(sums - 1) <= metrics.PROBA_ATOL).all():
        return a / sums  # probabilities already: exactly normalised, as the metrics require
    return metrics.softmax(a)

"""What the child hands the parent: a report over a pipe, and raw arrays in out/, each read byte for byte.

    the report       one JSON object per line on the pipe whose file descriptor is in $DERMAGRADE_REPORT_FD,
                     written as each stage in STAGES is reached (then fields such as the error). A pipe, not a file:
                     bytes already sent cannot be taken back by student code, so the parent knows for sure whether
                     "started" (the harness is about to import the student's files) arrived before the child ended.

    predictions.npy   float32, shape (val rows + test rows, 7): the val rows, then the test rows, as many as the
                      parent gave the child. The parent knows the exact header and size before it reads a byte.
    param_shapes.npy  int64, shape (tensors, 1 + MAX_DIMS): per parameter tensor, requires_grad (0/1) then its
                      dimensions padded with 1 (dimensions past the 8th folded into the 8th). The parent accepts
                      only the header numpy writes for a count up to MAX_TENSORS, then exactly that many bytes,
                      and computes the parameter count itself.
The arrays, little-endian with an exact .npy v1 header: no compression, no pickle, no parsing beyond comparing
bytes. numpy and the standard library only: the child imports it from its harness folder, the parent from grader/.
"""
import io
import json
import math
import re

import numpy as np
from numpy.lib import format as npy

PREDICTIONS, SHAPES = "predictions.npy", "param_shapes.npy"
REPORT_FD = "DERMAGRADE_REPORT_FD"  # the variable naming the report pipe's file descriptor in the child
REPORT_MAX_BYTES = 1_000_000        # the parent keeps this much of the report; more is a flood, not a report
CHANNEL_LOST = 86                   # the child's exit status when its report pipe was closed under it
# What the child reports before each step: "started" before the student's files are imported (nothing of the
# student's has run before it), "loaded" when they were, "built" when build_model() returned an nn.Module (its
# parameter shapes written), "shaped" when its output on a plain batch had the right shape, "checked" after the
# preprocessing check, "trained" after training, "done" when the predictions were written.
STAGES = ("started", "loaded", "built", "shaped", "checked", "trained", "done")
NUM_CLASSES = 7              # locked.info.NUM_CLASSES (kept here so that this file stands alone in the harness)
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


def encode_report(fields):
    """One report line: a JSON object and a newline."""
    return json.dumps(fields).encode() + b"\n"


def decode_report(raw):
    """(fields merged in order, garbled) from the report's bytes. Every complete line must be a JSON object whose
    stage (if any) keeps to STAGES' order, the first one being "started"; reading stops at the first line that is
    not, and `garbled` is then True (only student code writes such a line). A last line without its newline was cut
    off (the child was killed while writing, or the report passed REPORT_MAX_BYTES) and is not read."""
    fields = {}
    for line in raw.split(b"\n")[:-1]:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            return fields, True
        stage = entry.get("stage", fields.get("stage")) if isinstance(entry, dict) else None
        if stage not in STAGES or STAGES.index(stage) < STAGES.index(fields.get("stage", STAGES[0])):
            return fields, True
        if not fields and stage != STAGES[0]:
            return fields, True
        fields.update(entry)
    return fields, False

"""The honest model, plus forged predictions (issue 11: a 1.6 KB compressed predictions.npz grew the grader's
root parent to 3.2 GB).

It replaces the grader child's writer for the predictions: instead of the real file it leaves a 1.6 KB zip-
compressed npz that would expand to 3 GB (the old format), a raw file whose header claims 10**9 rows, and then
swaps predictions.npy for a symbolic link to /dev/zero. The parent must read none of it and say why.
"""
import io
import os
import sys
import zipfile

import torch.nn as nn

_child = sys.modules["__main__"]  # grader/child.py


def _bomb_npz(path, gigabytes=3):
    header = b"\x93NUMPY\x01\x00v\x00" + b"{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 7), }" % (
        gigabytes * 2**30 // 28)
    header = header.ljust(127, b" ") + b"\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("test.npy", "w", force_zip64=True) as f:
            f.write(header)
            zero = bytes(1 << 24)
            for _ in range(gigabytes * 64):
                f.write(zero)


def _forged_write_out(name, payload):
    out = _child.SANDBOX / "out"
    if name != "predictions.npy":
        return _real_write_out(name, payload)
    _bomb_npz(out / "predictions.npz")
    head = b"\x93NUMPY\x01\x00v\x00" + b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 7), }"
    (out / "predictions.npy").write_bytes(head.ljust(127, b" ") + b"\n" + bytes(4096))
    os.replace(out / "predictions.npy", out / "claims_a_billion_rows.npy")
    os.symlink("/dev/zero", out / "predictions.npy")
    print(f"predictions_bomb: planted {sorted(os.listdir(out))}; predictions.npz is "
          f"{os.path.getsize(out / 'predictions.npz'):,} bytes", flush=True)


_real_write_out, _child.write_out = _child.write_out, _forged_write_out


def build_model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(32, 7),
    )

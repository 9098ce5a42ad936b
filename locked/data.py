"""Load DermaMNIST's official splits, or the synthetic stand-in, and say which it was.

The file is medmnist's own `dermamnist.npz` (downloaded and md5-checked by medmnist when missing); it is read
with numpy using medmnist's keys ({split}_images, {split}_labels), exactly what medmnist.DermaMNIST exposes as
.imgs and .labels, because medmnist's dataset class imports torch and the grader's parent must not.

Where the data lives: `--data-dir`, else $DERMA_DATA_DIR, else medmnist's own (~/.medmnist).
Offline switch: `--synthetic` or DERMA_SYNTHETIC=1, honoured by every entry point through `want_synthetic`.
(Environment variables are read in locked/settings.py.)
"""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from locked import settings, synthetic
from locked.info import DEFAULT_ROOT, FLAG, IMAGE_SHAPE, NUM_CLASSES, OFFICIAL_MD5, SPLITS

ENV_ROOT = "DERMA_DATA_DIR"
ENV_SYNTHETIC = "DERMA_SYNTHETIC"
ENV_SYNTHETIC_SCALE = "DERMA_SYNTHETIC_SCALE"


class DataUnavailable(RuntimeError):
    """The real dataset is not on disk and could not be downloaded."""


@dataclass
class Splits:
    """Images uint8 (N, 28, 28, 3) and labels int64 (N,) per split, plus where they came from."""
    images: dict
    labels: dict
    provenance: dict = field(default_factory=dict)

    def class_counts(self, split):
        return np.bincount(self.labels[split], minlength=NUM_CLASSES).tolist()


def want_synthetic(flag=False):
    """True if the caller asked for synthetic data, by flag or by DERMA_SYNTHETIC=1."""
    return bool(flag) or settings.flag(ENV_SYNTHETIC)


def data_root(data_dir=None):
    return Path(data_dir).expanduser() if data_dir else settings.path(ENV_ROOT) or Path(DEFAULT_ROOT).expanduser()


def md5sum(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(data_dir=None, synthetic_data=False, scale=None):
    """Load all three splits. Real data unless synthetic is asked for; never a silent substitute."""
    path, provenance = locate(data_dir, synthetic_data, scale)
    return read(path, provenance)


def locate(data_dir=None, synthetic_data=False, scale=None):
    """Find (or make, or download) the npz file; return its path and provenance."""
    root = data_root(data_dir)
    if want_synthetic(synthetic_data):
        scale = float(scale or settings.number(ENV_SYNTHETIC_SCALE, 1.0, minimum=0.001))
        root = root / "synthetic" / f"scale-{scale:g}"
        path = synthetic.write(root, scale=scale)
        provenance = {"kind": "synthetic", "label": f"SYNTHETIC stand-in (scale {scale:g}), not DermaMNIST",
                      "path": str(path), "scale": scale, "generator_version": synthetic.GENERATOR_VERSION}
    else:
        path = _ensure_real_file(root)
        digest = md5sum(path)
        official = digest == OFFICIAL_MD5
        provenance = {"kind": "official" if official else "unofficial",
                      "label": "official DermaMNIST (md5 verified)" if official else
                      f"UNOFFICIAL dermamnist.npz (md5 {digest} != official {OFFICIAL_MD5})",
                      "path": str(path), "md5": digest}
    return path, provenance


def read(path, provenance, splits=SPLITS):
    """Read the splits from a medmnist-format npz and check their shapes and dtypes."""
    images, labels = {}, {}
    with np.load(path) as npz:
        for split in splits:
            images[split] = npz[f"{split}_images"]
            labels[split] = npz[f"{split}_labels"].reshape(-1).astype(np.int64)
            if images[split].shape[1:] != IMAGE_SHAPE or images[split].dtype != np.uint8:
                raise ValueError(f"{path}: {split}_images must be uint8 (N, 28, 28, 3); got "
                                 f"{images[split].dtype} {images[split].shape}. Is this dermamnist.npz (28x28)?")
    return Splits(images, labels, provenance)


def _ensure_real_file(root):
    path = root / f"{FLAG}.npz"
    if path.exists():
        return path
    try:
        from medmnist import DermaMNIST  # imports torch; only needed to download

        root.mkdir(parents=True, exist_ok=True)
        DermaMNIST(split="train", root=str(root), download=True)
    except Exception as err:  # medmnist wraps every download failure in a RuntimeError
        raise DataUnavailable(
            f"DermaMNIST is not at {path} and the download failed ({type(err).__name__}).\n"
            f"  Fix: download {FLAG}.npz (md5 {OFFICIAL_MD5}) from https://zenodo.org/records/10519652\n"
            f"       and put it in {root} (or point --data-dir / ${ENV_ROOT} at its folder),\n"
            f"  or work offline on the synthetic stand-in: add --synthetic (or set {ENV_SYNTHETIC}=1)."
        ) from None
    return path

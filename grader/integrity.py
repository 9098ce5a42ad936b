"""Held-out integrity: the points should measure the model, not knowledge of the test labels.

What the grader can do, all in the parent, outside the sandbox:
  - a key the sandbox cannot read (`grader_key`: ~/.config/dermamnist-grader/grader.key, 0600; the sandbox runs
    as another user) from which every secret below is derived;
  - the synthetic test split drawn from that key, so `locked.synthetic` cannot regenerate its labels;
  - a private test file (`read_test_file`) and a fixed public/private split of the test set (`public_private`);
  - perturbed copies of the test images (flip, sub-pixel shift, light noise, JPEG re-encoding), chosen per
    submission from the key and mixed among the plain images (`mix`), so a model that recognises the exact test
    images shows itself by collapsing on the copies (`review`), beside two more tells: test AUC far above
    validation AUC, and large literal data in the source (`scan_source`).
The flags are for the instructor's review, never an automatic penalty. What no grader can prevent is written in
README ("How grading stays fair and safe").
"""
import ast
import hashlib
import hmac
import io
import os
import secrets
import tokenize
import zlib
from pathlib import Path

import numpy as np

from grader.protocol import as_probabilities
from locked import metrics, synthetic
from locked.data import DataUnavailable, md5sum
from locked.info import IMAGE_SHAPE, NUM_CLASSES
from locked.submission import SubmissionError

KEY_FILE = "grader.key"
KEY_DIR = Path.home() / ".config" / "dermamnist-grader"  # the grading box's (root's, on Gradescope and Docker)
KINDS = ("flip", "shift", "noise", "jpeg")


# --- the key and what is derived from it --------------------------------------------------------------------------

def grader_key(root=KEY_DIR):
    """(key bytes, note). The key lives in root/grader.key, mode 0600, made on first use (an image should make it
    at build time); a folder the grader cannot write gives a key for this grading only, and the note says so
    (the synthetic test draw and the perturbations then differ between gradings)."""
    path = Path(root) / KEY_FILE
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_name(f"{KEY_FILE}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)  # atomic: a grading running at the same time keeps the first key
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = bytes.fromhex(path.read_text().strip())
        if len(key) != 32:
            raise ValueError("not 64 hex digits")
        return key, f"kept in {path}"
    except (OSError, ValueError) as err:
        return secrets.token_bytes(32), f"for this grading only ({path}: {err})"


def derive(key, *parts):
    """A 63-bit seed from the key and `parts` (bytes or str)."""
    message = b"|".join(p if isinstance(p, bytes) else str(p).encode() for p in parts)
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:8], "big") >> 1


def submission_digest(folder):
    """sha256 of the two graded files: the perturbations are chosen per submission."""
    h = hashlib.sha256()
    for name in ("model.py", "train_config.py"):
        h.update((Path(folder) / name).read_bytes())
    return h.hexdigest()


# --- the test set ----------------------------------------------------------------------------------------------------

def synthetic_test(folder, scale, key):
    """The synthetic test split the grader scores on: drawn from the key, not from the file's public seed, and
    cached in folder/grader-test.npz readable by the grader's user only."""
    seed = derive(key, "synthetic-test", synthetic.GENERATOR_VERSION, f"{scale:g}")
    tag = np.array(derive(key, "synthetic-test-tag", seed))  # names the draw without giving its seed away
    path = Path(folder) / "grader-test.npz"
    try:
        with np.load(path) as npz:
            if npz["tag"] == tag:
                return npz["images"], npz["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError):
        pass
    images, labels = synthetic.generate_split("test", scale, seed)
    tmp = path.with_name(f"grader-test.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        np.savez(f, images=images, labels=labels, tag=tag)
    tmp.replace(path)
    return images, labels.astype(np.int64)


def read_test_file(path):
    """(images, labels, provenance) of a private test file, checked; a problem is the instructor's to fix."""
    path = Path(path)
    fix = ("A private test file is a medmnist-format .npz with test_images uint8 (N, 28, 28, 3) and test_labels "
           "(N,) or (N, 1), integers 0-6, every class present (see grader/rubric.toml, [test]).")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("test_images", "test_labels") if k not in npz.files]
            if missing:
                raise DataUnavailable(f"Private test file {path} has no {missing[0]} (keys: {sorted(npz.files)}). "
                                      + fix)
            images, labels = npz["test_images"], npz["test_labels"]
    except (OSError, ValueError) as err:
        raise DataUnavailable(f"Private test file {path} cannot be read ({type(err).__name__}: {err}). {fix}") from None
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE or labels.shape != (len(images),):
        raise DataUnavailable(f"Private test file {path}: test_images {images.dtype} {images.shape}, test_labels "
                              f"{labels.dtype} {labels.shape}. {fix}")
    if not np.issubdtype(labels.dtype, np.integer) or not set(np.unique(labels).tolist()) == set(range(NUM_CLASSES)):
        raise DataUnavailable(f"Private test file {path}: labels {sorted(np.unique(labels).tolist())[:10]}. {fix}")
    provenance = {"source": "private file", "file": path.name, "md5": md5sum(path), "bytes": path.stat().st_size,
                  "n": len(labels)}
    return images, labels.astype(np.int64), provenance


def public_private(images, labels, fraction):
    """(public rows, private rows): a fixed split of the test set, `fraction` of every class public. Fixed by the
    test images themselves, so every grading box and every submission uses the same one."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(images.tobytes()).digest()[:8], "big"))
    public = []
    for c in range(NUM_CLASSES):
        rows = rng.permutation(np.flatnonzero(labels == c))
        public.extend(rows[:min(len(rows) - 1, max(1, round(fraction * len(rows))))].tolist())
    public = np.array(sorted(public), dtype=np.int64)
    return public, np.setdiff1d(np.arange(len(labels)), public)


# --- perturbed copies, mixed in -----------------------------------------------------------------------------------

def _flip(images, rng):
    out = images.copy()
    for i, how in enumerate(rng.integers(0, 3, len(images))):  # horizontal, vertical, both
        out[i] = images[i][:, ::-1] if how == 0 else images[i][::-1] if how == 1 else images[i][::-1, ::-1]
    return out


def _shift(images, rng):
    """A sub-pixel shift (0.25-0.75 px on each axis, bilinear, edges repeated)."""
    out = np.empty_like(images)
    grid = np.arange(images.shape[1])
    for i, img in enumerate(images):
        x = img.astype(np.float32)
        for axis in (0, 1):
            src = grid - rng.uniform(0.25, 0.75) * rng.choice((-1, 1))
            lo = np.floor(src)
            f = (src - lo).astype(np.float32)
            lo = lo.astype(int)
            a, b = np.take(x, np.clip(lo, 0, len(grid) - 1), axis), np.take(x, np.clip(lo + 1, 0, len(grid) - 1), axis)
            w = f[:, None, None] if axis == 0 else f[None, :, None]
            x = a * (1 - w) + b * w
        out[i] = np.clip(np.round(x), 0, 255)
    return out


def _noise(images, rng):
    sigma = rng.uniform(1.5, 3.0, (len(images), 1, 1, 1))
    return np.clip(np.round(images + rng.normal(0, 1, images.shape) * sigma), 0, 255).astype(np.uint8)


def _jpeg(images, rng):
    """Re-encoded as JPEG at quality 85-95, no chroma subsampling (Pillow: torchvision's dependency)."""
    from PIL import Image

    out = np.empty_like(images)
    for i, img in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=int(rng.integers(85, 96)), subsampling=0)
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


_PERTURB = {"flip": _flip, "shift": _shift, "noise": _noise, "jpeg": _jpeg}


def perturb(images, rng):
    """(perturbed copies, kind index per copy): each image gets one of KINDS, in equal shares; a copy that came
    out byte-identical (a symmetric image flipped) is nudged by one grey level so no copy equals its original."""
    n = len(images)
    kinds = rng.permutation(np.resize(np.arange(len(KINDS)), n))
    out = np.empty_like(images)
    for k, name in enumerate(KINDS):
        rows = np.flatnonzero(kinds == k)
        if len(rows):
            out[rows] = _PERTURB[name](images[rows], rng)
    for i in np.flatnonzero((out.reshape(n, -1) == images.reshape(n, -1)).all(axis=1)):
        y, x, c = (int(rng.integers(0, s)) for s in IMAGE_SHAPE)
        out[i, y, x, c] = out[i, y, x, c] + 1 if out[i, y, x, c] < 255 else 254
    return out, kinds


class Mix:
    """The test images as the child sees them: plain and perturbed, in an order only the parent knows."""

    def __init__(self, images, seed):
        rng = np.random.default_rng(seed)
        self.n = len(images)
        perturbed, self.kinds = perturb(images, rng)
        self.order = rng.permutation(2 * self.n)  # child row j shows concat(plain, perturbed)[order[j]]
        self.images = np.concatenate([images, perturbed])[self.order]

    def unmix(self, predictions):
        """(predictions with test = one row per plain image in test-set order, perturbed rows, problem or None)."""
        if predictions is None:
            return None, None, None
        test = np.asarray(predictions["test"])
        if test.ndim != 2 or len(test) != 2 * self.n:
            return None, None, (f"Your model returned predictions of shape {test.shape} for the {2 * self.n} test "
                                f"images it was given; expected ({2 * self.n}, {NUM_CLASSES}), one row per image. "
                                "forward() must return one row of 7 scores for every image in the batch.")
        back = np.empty_like(test)
        back[self.order] = test
        return {**predictions, "test": back[:self.n]}, back[self.n:], None


# --- the review ------------------------------------------------------------------------------------------------------

def _constant(node):
    """True for a literal built of constants only (a table written into the source)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _constant(k) for k in node.keys) and all(_constant(v) for v in node.values)
    return False


_UNSCANNED = {RecursionError: "nested too deeply to read", MemoryError: "nested too deeply or too large to read",
              ValueError: "a literal too large to write out"}


def _literals(raw):
    """[(where in the file, bytes)] of its comments taken together and of each literal; [] when Python cannot read
    it (a syntax error, a null byte, not UTF-8: it could not have run either). Lone surrogates count as bytes."""
    try:
        tree = ast.parse(raw)
    except (SyntaxError, ValueError):
        return []
    comments = [t.string for t in tokenize.tokenize(io.BytesIO(raw).readline) if t.type == tokenize.COMMENT]
    blobs = [("comments", "\n".join(comments).encode("utf-8", "surrogatepass"))]
    for node in ast.walk(tree):
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(value, (str, bytes)):
            blobs.append((f"line {node.lineno}", value if isinstance(value, bytes) else
                          value.encode("utf-8", "surrogatepass")))
        elif type(value) is int:  # 0xfff...: a table as one number, too long for str() past 4,300 digits
            blobs.append((f"line {node.lineno}", value.to_bytes((value.bit_length() + 7) // 8, "big")))
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)) and _constant(node):
            blobs.append((f"line {node.lineno}", ast.unparse(node).encode("utf-8", "surrogatepass")))
    return blobs


def scan_source(folder):
    """Compressed sizes of the two files and of their largest literal (a string, bytes, a list/dict of constants,
    or a file's comments taken together): a table of test labels has to live somewhere in the source.

    Never raises on what the student wrote: a file Python may run but the scan cannot walk (nested deeper than the
    parser's or the scan's recursion allows, a number too long to write out) is named in "unscanned" with the
    reason, for review, and still counts in the source size."""
    total, largest, where, unscanned = b"", 0, None, []
    for name in ("model.py", "train_config.py"):
        raw = (Path(folder) / name).read_bytes()
        total += raw
        try:
            blobs = _literals(raw)
        except Exception as err:  # noqa: BLE001  whatever the source: the grading goes on, the instructor is told
            unscanned.append(f"{name}: {type(err).__name__} ({_UNSCANNED.get(type(err), 'the scan failed on it')})")
            continue
        for at, blob in blobs:
            size = len(zlib.compress(blob, 9)) if blob else 0
            if size > largest:
                largest, where = size, f"{name} {at}"
    return {"source_bytes": len(total), "source_compressed_bytes": len(zlib.compress(total, 9)),
            "largest_literal_compressed_bytes": largest, "largest_literal_at": where, "unscanned": unscanned}


def _auc(labels, proba):
    try:
        return metrics.evaluate(labels, proba)["auc"]
    except ValueError:  # a subset without every class
        return None


def review(mix, perturbed, labels, plain, graded, val, source, limits):
    """The integrity part of the grading record: what was measured, and a flag for each tell over its limit.

    labels, plain: the whole test set's labels and metrics (both parts of a split); graded, val: the metrics of the
    part the points come from and of the validation split (None when the model did not train)."""
    result = {"perturbed_copies": mix.n, "kinds": list(KINDS), "source": source, "flags": []}
    if plain is not None and perturbed is not None:
        try:
            proba = as_probabilities(perturbed, "perturbed test", mix.n)
        except SubmissionError as err:
            result["perturbed_error"] = str(err)
        else:
            base, copy = plain["auc"], _auc(labels, proba)
            result.update(plain_auc=base, perturbed_auc=copy, drop=base - copy, by_kind={
                name: _auc(labels[mix.kinds == k], proba[mix.kinds == k]) for k, name in enumerate(KINDS)})
            if base - copy > limits.max_perturbed_drop:
                result["flags"].append({"kind": "perturbation", "message": (
                    f"Test AUC {base:.3f} on the plain images but {copy:.3f} on perturbed copies (flip, sub-pixel "
                    f"shift, light noise, JPEG): a drop of {base - copy:.3f}, over {limits.max_perturbed_drop:g}. "
                    "An honest model barely moves; one that recognises the exact test images collapses.")})
    if graded is not None and val is not None:
        gap = graded["auc"] - val["auc"]
        result.update(val_gap=gap)
        if gap > limits.max_val_gap:
            result["flags"].append({"kind": "val_gap", "message": (
                f"Test AUC {graded['auc']:.3f} is {gap:.3f} above validation AUC {val['auc']:.3f} (limit "
                f"{limits.max_val_gap:g}): a model that generalises scores alike on both.")})
    if source["largest_literal_compressed_bytes"] > limits.max_literal_kb * 1024:
        result["flags"].append({"kind": "literal_data", "message": (
            f"{source['largest_literal_at']} holds a literal of {source['largest_literal_compressed_bytes']:,} "
            f"bytes compressed (limit {limits.max_literal_kb:g} KB): look for a table of labels.")})
    for note in source.get("unscanned", []):
        result["flags"].append({"kind": "unscanned", "message": (
            f"{note}: the scan for literal data could not walk this file, so a table of labels in it would go "
            "unseen. Read the file.")})
    if source["source_compressed_bytes"] > limits.max_source_kb * 1024:
        result["flags"].append({"kind": "source_size", "message": (
            f"model.py and train_config.py are {source['source_compressed_bytes']:,} bytes compressed (limit "
            f"{limits.max_source_kb:g} KB; the course's solutions are under 1.3 KB).")})
    return result

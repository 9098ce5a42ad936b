"""A deterministic stand-in for DermaMNIST, written in the exact medmnist npz format.

Why: the real file comes from Zenodo, which CI and offline machines cannot reach. The stand-in has the official
keys, dtypes, shapes, split sizes and per-class label counts, so every code path (medmnist loading included) runs
unchanged. Its images are lesion-like blobs on skin: colour, size, border irregularity and texture depend on the
class, each image is pulled part of the way toward the look of a typical nevus (melanomas most of all), so a
better model scores better, the majority class tempts a weak one, and the train-only Normalize trap hurts.

Colour statistics (version 2): one fixed per-channel affine map takes the drawn images' colours to DermaMNIST's
published per-channel pixel mean and std (`DERMAMNIST_MEAN`, `DERMAMNIST_STD`), so a train-only ImageNet Normalize
shifts and stretches the inputs by the amount it does on the real data. Version 1's colours were darker and less
varied (mean 0.68/0.52/0.45, std 0.12/0.10/0.10), which made the trap's shift smaller than the course's. Version 2
also narrows the per-image exposure ranges (lesion brightness x0.92-1.08, was x0.8-1.2; skin 190-215, was 175-230),
so classes differ by the lesion more than by the exposure: a calibration, not a DermaMNIST measurement, chosen
because with the old ranges the trap still scored val AUC 0.66 against the course's 0.54 (docs/DIAGNOSIS.md).

Difficulty (version 3): the course's table in miniature. On real DermaMNIST the weak baseline misses the 0.90 target
(AUC 0.822) and every melanoma, and well-trained models reach AUC 0.90 while catching few melanomas (exp 18: 0.911,
recall 0.01); version 2 let the baseline reach 0.91 and catch half. Two changes, calibrated by direct runs
(docs/DIAGNOSIS.md, "Stand-in version 3"): melanomas are drawn nearer the nevus look (typicality Beta(1.0, 2.5), mean
0.29, was Beta(1.6, 1.6), mean 0.5), so most of them are more likely a nevus to a model that does not weight them up;
and the lesion wanders more in the frame (centre std 3.5 px, was 2.0), which costs a model that flattens its feature
map into a Linear layer (the baseline) more than one that pools globally (the BatchNorm CNN).

It is never real data: every report built on it says "synthetic".
"""
import json
from pathlib import Path

import numpy as np

from locked.info import CLASS_NAMES, IMAGE_SHAPE, NUM_CLASSES, OFFICIAL_COUNTS, SPLITS

GENERATOR_VERSION = 3
DEFAULT_SEED = 0

#: DermaMNIST's per-channel pixel statistics (RGB, pixels in [0, 1], 28x28 images), as a public medmnist-based
#: DermaMNIST loader normalises with; the HAM10000 source images (DermaMNIST is HAM10000 downsized) give nearly the
#: same in public code: mean (0.7630, 0.5456, 0.5700), std (0.1409, 0.1526, 0.1700). Quoted, not re-measured: the
#: real file cannot be downloaded here (docs/DIAGNOSIS.md says where they come from and how to check them).
DERMAMNIST_MEAN = (0.7636, 0.5387, 0.5621)
DERMAMNIST_STD = (0.1351, 0.1526, 0.1675)
#: What the drawing below produces before the colour map (0..255, unclipped; measured on the scale-1 train split;
#: full precision because the measured runs in docs/DIAGNOSIS.md used exactly these).
_DRAWN_MEAN = (174.61333172764975, 133.85177195126298, 114.883422964944)
_DRAWN_STD = (27.0878141175394, 24.635687906570265, 24.45513271414738)

# Per class: lesion RGB, radius (px), border irregularity, texture strength, typicality Beta(a, b).
# Typicality is how far an image moves from the generic nevus look toward its own class's look.
_CLASS_LOOK = {
    "akiec": dict(rgb=(182, 108, 98), radius=8.0, irregular=0.16, texture=0.22, typ=(2.5, 1.5)),
    "bcc": dict(rgb=(196, 142, 150), radius=7.0, irregular=0.10, texture=0.14, typ=(2.5, 1.5)),
    "bkl": dict(rgb=(152, 118, 82), radius=9.0, irregular=0.12, texture=0.20, typ=(2.0, 1.5)),
    "df": dict(rgb=(146, 102, 88), radius=5.5, irregular=0.05, texture=0.10, typ=(2.5, 1.5)),
    "mel": dict(rgb=(88, 58, 48), radius=9.5, irregular=0.24, texture=0.32, typ=(1.0, 2.5)),
    "nv": dict(rgb=(118, 82, 62), radius=7.5, irregular=0.06, texture=0.12, typ=(2.0, 2.0)),
    "vasc": dict(rgb=(168, 50, 80), radius=6.0, irregular=0.08, texture=0.10, typ=(3.0, 1.5)),
}
_GENERIC = _CLASS_LOOK["nv"]
_JITTER = 3.5  # std of the lesion centre's offset from the image centre, px


def split_counts(scale=1.0):
    """Per-class counts for each split: the official ones times `scale`, at least 3 of every class."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1]; got {scale}. Use 1.0 for official split sizes.")
    return {s: tuple(max(3, round(c * scale)) for c in OFFICIAL_COUNTS[s]) for s in SPLITS}


def _labels(counts, rng):
    y = np.repeat(np.arange(NUM_CLASSES, dtype=np.uint8), counts)
    rng.shuffle(y)
    return y


def _images(labels, rng):
    img = (_draw(labels, rng) - _DRAWN_MEAN) / _DRAWN_STD * (255 * np.array(DERMAMNIST_STD))
    return np.clip(np.round(img + 255 * np.array(DERMAMNIST_MEAN)), 0, 255).astype(np.uint8)


def _draw(labels, rng):
    """Lesions on skin, 0..255 float and unclipped, before the colour map."""
    from scipy.ndimage import zoom  # only when generating: keeps the grader's parent process small

    n = len(labels)
    h, w, _ = IMAGE_SHAPE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    look = {k: np.array([_CLASS_LOOK[CLASS_NAMES[c]][k] for c in labels], dtype=np.float32)
            for k in ("rgb", "radius", "irregular", "texture")}
    generic = {k: np.asarray(_GENERIC[k], dtype=np.float32) for k in look}
    typ = np.array([rng.beta(*_CLASS_LOOK[CLASS_NAMES[c]]["typ"]) for c in labels], dtype=np.float32)

    def mix(key):  # move from the generic nevus look toward the class look by each image's typicality
        t = typ.reshape((n,) + (1,) * (look[key].ndim - 1))
        return generic[key] + t * (look[key] - generic[key])

    rgb = mix("rgb") * rng.uniform(0.92, 1.08, (n, 1)) + rng.normal(0, 6, (n, 3))  # brightness, then hue
    radius = mix("radius") * rng.uniform(0.8, 1.2, n)
    irregular = mix("irregular") * rng.uniform(0.6, 1.4, n)
    texture = mix("texture") * rng.uniform(0.6, 1.4, n)

    # Skin background with dermoscope vignetting.
    skin = rng.uniform(190, 215, (n, 1)) * np.array([1.0, 0.78, 0.68]) + rng.normal(0, 8, (n, 3))
    cy, cx = 13.5 + rng.normal(0, _JITTER, n), 13.5 + rng.normal(0, _JITTER, n)
    dy, dx = yy[None] - cy[:, None, None], xx[None] - cx[:, None, None]
    corner = np.sqrt((yy[None] - 13.5) ** 2 + (xx[None] - 13.5) ** 2) / 19.1
    vignette = 1 - rng.uniform(0.0, 0.35, (n, 1, 1)) * corner**2

    # Lesion shape: an ellipse whose radius wobbles with angle (irregular border).
    angle = np.arctan2(dy, dx)
    aspect = rng.uniform(0.7, 1.0, (n, 1, 1))
    tilt = rng.uniform(0, np.pi, (n, 1, 1))
    rot_x = dx * np.cos(tilt) + dy * np.sin(tilt)
    rot_y = (-dx * np.sin(tilt) + dy * np.cos(tilt)) / aspect
    dist = np.sqrt(rot_x**2 + rot_y**2)
    wobble = np.zeros_like(dist)
    for k in (3, 5, 7):
        wobble += rng.uniform(0, 1, (n, 1, 1)) * np.sin(k * angle + rng.uniform(0, 2 * np.pi, (n, 1, 1)))
    edge = radius[:, None, None] * (1 + irregular[:, None, None] * wobble / 1.5)
    alpha = 1 / (1 + np.exp((dist - edge) / rng.uniform(0.6, 1.5, (n, 1, 1))))

    # Blotchy texture: coarse noise upsampled, scaled by the class's texture strength.
    blotch = zoom(rng.normal(0, 1, (n, 7, 7)), (1, 4, 4), order=1)
    shade = 1 + texture[:, None, None] * blotch

    lesion = rgb[:, None, None, :] * shade[..., None]
    background = skin[:, None, None, :] * vignette[..., None]
    img = background * (1 - alpha[..., None]) + lesion * alpha[..., None]
    return img + rng.normal(0, 7, img.shape)


def generate_split(split, scale=1.0, seed=DEFAULT_SEED):
    """One split's (images, labels). The grader draws its test split from a seed of its own (grader/integrity.py),
    so the labels of the images it grades cannot be regenerated by anyone who only has this module."""
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    labels = _labels(split_counts(scale)[split], rng)
    return _images(labels, rng), labels


def generate(scale=1.0, seed=DEFAULT_SEED):
    """Return the npz payload: {split}_images uint8 (N, 28, 28, 3) and {split}_labels uint8 (N, 1)."""
    arrays = {}
    for split in SPLITS:
        images, labels = generate_split(split, scale, seed)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels.reshape(-1, 1)
    return arrays


def write(root, scale=1.0, seed=DEFAULT_SEED):
    """Write `root/dermamnist.npz` (and a JSON description beside it) unless an identical one is there."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path, meta_path = root / "dermamnist.npz", root / "synthetic.json"
    meta = {"generator": "locked.synthetic", "version": GENERATOR_VERSION, "seed": seed, "scale": scale,
            "counts": {s: list(c) for s, c in split_counts(scale).items()}}
    if path.exists() and meta_path.exists() and json.loads(meta_path.read_text()) == meta:
        return path
    tmp = root / "dermamnist.tmp.npz"
    np.savez_compressed(tmp, **generate(scale, seed))
    tmp.replace(path)
    meta_path.write_text(json.dumps(meta, indent=1))
    return path

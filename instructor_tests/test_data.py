"""locked.synthetic and locked.data: the stand-in has medmnist's exact format and the official sizes, and the
loader always says which data it loaded (synthetic, official, unofficial) or fails with the fix."""
import shutil
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from locked import data, report, synthetic
from locked.info import (CLASS_NAMES, FLAG, IMAGE_SHAPE, INFO, NUM_CLASSES, OFFICIAL_COUNTS, OFFICIAL_MD5,
                         SPLIT_SIZES, SPLITS)

ZENODO = "https://zenodo.org/records/10519652"
KEYS = {f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels")}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """No test downloads anything: a loader that wrongly goes for the real file fails fast instead of hanging.
    (The shell's data switches are cleared for the whole run by the root conftest.py.)"""
    import torchvision.datasets.utils

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", _download_url_fails([]))


@pytest.fixture(scope="module")
def full_scale(tmp_path_factory):
    """The stand-in at scale 1.0 (official sizes), generated once through data.load (about 6 s)."""
    root = tmp_path_factory.mktemp("full")
    splits = data.load(root, synthetic_data=True, scale=1.0)
    return splits, root / "synthetic" / "scale-1" / f"{FLAG}.npz"


@pytest.fixture(scope="session")
def scale(small_splits):
    """conftest's TEST_SCALE, read back from what the session fixture loaded."""
    return small_splits.provenance["scale"]


@pytest.fixture(scope="session")
def small_npz(synthetic_root, scale):
    path = synthetic_root / "synthetic" / f"scale-{scale:g}" / f"{FLAG}.npz"
    assert path.is_file()
    return path


@pytest.fixture
def unofficial_dir(tmp_path, small_npz):
    """A data dir holding a dermamnist.npz that is not the official file (a copy of the small stand-in)."""
    shutil.copy(small_npz, tmp_path / f"{FLAG}.npz")
    return tmp_path


# ---------------------------------------------------------------------------------------------------------------
# The synthetic file: medmnist's format, official sizes and counts, deterministic.

def test_synthetic_file_has_medmnists_keys_dtypes_and_shapes(full_scale):
    _, path = full_scale
    assert path.name == "dermamnist.npz"
    with np.load(path) as npz:
        assert set(npz.files) == KEYS
        for split in SPLITS:
            images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
            assert images.dtype == np.uint8 and labels.dtype == np.uint8, split
            assert images.shape == (SPLIT_SIZES[split],) + IMAGE_SHAPE == (SPLIT_SIZES[split], 28, 28, 3)
            assert labels.shape == (SPLIT_SIZES[split], 1), split


def test_synthetic_full_scale_has_the_official_split_sizes_and_class_counts(full_scale):
    splits, _ = full_scale
    assert SPLIT_SIZES == {"train": 7007, "val": 1003, "test": 2005} == dict(INFO["n_samples"])
    for split in SPLITS:
        assert len(splits.labels[split]) == len(splits.images[split]) == SPLIT_SIZES[split]
        assert tuple(splits.class_counts(split)) == OFFICIAL_COUNTS[split], split
    assert splits.provenance["scale"] == 1.0


def test_synthetic_file_loads_through_medmnist(full_scale):
    from medmnist import DermaMNIST

    splits, path = full_scale
    for split in SPLITS:
        ds = DermaMNIST(split=split, root=str(path.parent), download=False)
        assert len(ds) == SPLIT_SIZES[split]  # medmnist asserts its own n_samples here
        np.testing.assert_array_equal(ds.imgs, splits.images[split])
        np.testing.assert_array_equal(ds.labels.reshape(-1), splits.labels[split])
        img, target = ds[0]
        assert img.size == (28, 28) and img.mode == "RGB"
        assert target.shape == (1,) and target[0] == splits.labels[split][0]


def test_synthetic_images_vary_and_are_not_blank(full_scale):
    splits, _ = full_scale
    train = splits.images["train"]
    assert 60 < train.mean() < 220 and train.std() > 20
    assert len({img.tobytes() for img in train[:500]}) == 500  # no duplicated images
    # Labels are shuffled, not sorted by class.
    assert len(np.unique(splits.labels["train"][:100])) >= 4


def test_generation_is_deterministic(small_npz, scale):
    """Regenerating gives the very arrays written to disk earlier in the session; another seed does not."""
    with np.load(small_npz) as npz:
        on_disk = {k: npz[k] for k in npz.files}
    again = synthetic.generate(scale=scale)
    assert set(again) == set(on_disk) == KEYS
    for key in KEYS:
        np.testing.assert_array_equal(again[key], on_disk[key], err_msg=key)
    other = synthetic.generate(scale=scale, seed=synthetic.DEFAULT_SEED + 1)
    assert not np.array_equal(other["train_images"], on_disk["train_images"])


def test_small_scale_keeps_every_class_in_every_split(small_splits, scale):
    """evaluate() needs every class in val; at the test scale the rarest classes are kept at >= 3 images."""
    expected = synthetic.split_counts(scale)
    for split in SPLITS:
        counts = small_splits.class_counts(split)
        assert tuple(counts) == expected[split], split
        assert min(counts) >= 3, split
        for c in range(NUM_CLASSES):
            assert counts[c] == max(3, round(OFFICIAL_COUNTS[split][c] * scale)), (split, CLASS_NAMES[c])


@pytest.mark.parametrize("bad_scale", [0, -0.5, 1.5])
def test_scale_outside_zero_one_is_refused(bad_scale):
    with pytest.raises(ValueError, match="scale must be in"):
        synthetic.split_counts(bad_scale)


def test_write_does_not_regenerate_an_identical_file(small_npz, scale):
    before = small_npz.stat().st_mtime_ns
    assert synthetic.write(small_npz.parent, scale=scale) == small_npz
    assert small_npz.stat().st_mtime_ns == before


# ---------------------------------------------------------------------------------------------------------------
# Provenance: every load says what it loaded.

def test_synthetic_load_says_synthetic(small_splits, scale):
    prov = small_splits.provenance
    assert prov["kind"] == "synthetic"
    assert "SYNTHETIC" in prov["label"]
    assert 0 < scale < 1 and f"scale {scale:g}" in prov["label"]
    assert prov["generator_version"] == synthetic.GENERATOR_VERSION
    banner = report.data_banner(prov)
    assert "SYNTHETIC" in banner and "NOT comparable" in banner


def test_loaded_arrays_have_the_documented_types(small_splits):
    for split in SPLITS:
        assert small_splits.images[split].dtype == np.uint8
        assert small_splits.images[split].shape[1:] == IMAGE_SHAPE
        assert small_splits.labels[split].dtype == np.int64 and small_splits.labels[split].ndim == 1
        assert 0 <= small_splits.labels[split].min() and small_splits.labels[split].max() < NUM_CLASSES


def test_a_dermamnist_npz_with_the_wrong_md5_is_reported_unofficial(unofficial_dir, scale):
    splits = data.load(unofficial_dir)
    prov = splits.provenance
    assert prov["kind"] == "unofficial"
    assert prov["md5"] != OFFICIAL_MD5 and prov["md5"] == data.md5sum(unofficial_dir / f"{FLAG}.npz")
    assert "UNOFFICIAL" in prov["label"] and prov["md5"] in prov["label"] and OFFICIAL_MD5 in prov["label"]
    assert "NOT comparable" in report.data_banner(prov)
    assert len(splits.labels["val"]) == sum(synthetic.split_counts(scale)["val"])


def _download_url_fails(calls):
    def fake(*args, **kwargs):
        calls.append(kwargs.get("url", args[0] if args else None))
        raise urllib.error.URLError("no network in this test")
    return fake


def _medmnist_download_fails(calls):
    def fake(self):
        calls.append(self.flag)
        raise RuntimeError("Automatic download failed!")
    return fake


@pytest.mark.parametrize("where", ["torchvision download_url", "medmnist download"])
def test_missing_real_file_and_failed_download_raise_data_unavailable(tmp_path, monkeypatch, where):
    import medmnist.dataset
    import torchvision.datasets.utils

    calls = []
    if where == "torchvision download_url":
        monkeypatch.setattr(torchvision.datasets.utils, "download_url", _download_url_fails(calls))
    else:
        monkeypatch.setattr(medmnist.dataset.MedMNIST, "download", _medmnist_download_fails(calls))
    root = tmp_path / "empty"
    with pytest.raises(data.DataUnavailable, match="--synthetic") as err:
        data.load(root)
    assert calls, "the loader must try medmnist's download before giving up"
    message = str(err.value)
    assert ZENODO in message and OFFICIAL_MD5 in message and str(root) in message
    assert data.ENV_SYNTHETIC in message
    assert not (root / f"{FLAG}.npz").exists()
    if where == "torchvision download_url":
        assert calls == [INFO["url"]] and calls[0].startswith(ZENODO)


def test_the_environment_switches_to_synthetic(monkeypatch, synthetic_root, scale):
    monkeypatch.setenv(data.ENV_SYNTHETIC, "1")
    splits = data.load(synthetic_root, scale=scale)
    assert splits.provenance["kind"] == "synthetic"
    assert splits.provenance["path"].startswith(str(synthetic_root))
    monkeypatch.setenv(data.ENV_SYNTHETIC_SCALE, str(scale))
    assert data.load(synthetic_root).provenance["scale"] == scale


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("yes", True), ("0", False),
                                             ("", False), ("no", False)])
def test_want_synthetic_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(data.ENV_SYNTHETIC, value)
    assert data.want_synthetic() is expected
    assert data.want_synthetic(True) is True


def test_dermamnist_root_is_honoured(monkeypatch, synthetic_root, unofficial_dir, scale, tmp_path_factory):
    # Real-data path: the file in $DERMA_DATA_DIR is the one loaded.
    monkeypatch.setenv(data.ENV_ROOT, str(unofficial_dir))
    prov = data.load().provenance
    assert prov["kind"] == "unofficial" and prov["path"] == str(unofficial_dir / f"{FLAG}.npz")
    # Synthetic path: the stand-in is found (not regenerated) under $DERMA_DATA_DIR.
    monkeypatch.setenv(data.ENV_ROOT, str(synthetic_root))
    monkeypatch.setenv(data.ENV_SYNTHETIC, "1")
    monkeypatch.setenv(data.ENV_SYNTHETIC_SCALE, str(scale))
    prov = data.load().provenance
    assert prov["kind"] == "synthetic" and prov["path"].startswith(str(synthetic_root))
    # An explicit data dir wins over the environment.
    monkeypatch.delenv(data.ENV_SYNTHETIC)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(unofficial_dir / f"{FLAG}.npz", elsewhere / f"{FLAG}.npz")
    assert data.load(elsewhere).provenance["path"] == str(elsewhere / f"{FLAG}.npz")


def test_missing_medmnist_says_how_to_install_it():
    """Without site-packages (-S) medmnist is missing: the first import of locked says what to install."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(root)!r}); "
                           "import locked.info"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "medmnist package is not installed" in proc.stderr and "pip install -r requirements.txt" in proc.stderr

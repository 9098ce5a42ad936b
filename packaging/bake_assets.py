"""Bake what grading needs from the internet into the image: DermaMNIST and the ImageNet ResNet18 weights.

    python packaging/bake_assets.py [--check]

  DermaMNIST  $DERMA_DATA_DIR/dermamnist.npz, downloaded by medmnist (which checks
              its md5), then checked again here: md5, keys, dtypes, shapes and split sizes against medmnist's INFO.
              Left readable by root only: it holds the test labels (the grader runs as root, students as nobody).
  ResNet18    $TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth, the
              file `python -m locked.weights` caches, fetched with torch.hub's sha256 check and checked again
              here. Left world-readable: the sandbox user loads it.

--check downloads nothing and only verifies (no torch import). Any problem: a message naming what is missing
and exit status 1, so an image that cannot grade fails at build time, not at a student's submission.

Standalone on purpose (numpy and medmnist, plus torchvision to download): otter's image build runs it before the
project's own files are in the image. Gradescope's setup.sh and the Dockerfile run it through bake_assets.sh.
Both folders come from the caller (the image's, locked/settings.py IMAGE_DATA_DIR and IMAGE_TORCH_HOME, which
instructor/package.py and the Dockerfile pass): a script that cannot import the project does not spell them again.
"""
import argparse
import hashlib
import importlib.util
import os
import re
import stat
import sys
from pathlib import Path

FLAG = "dermamnist"
RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"  # torchvision ResNet18_Weights.IMAGENET1K_V1


class BakeError(RuntimeError):
    pass


def medmnist_info():
    """medmnist's INFO table, read from medmnist/info.py without running medmnist's __init__ (which imports torch)."""
    spec = importlib.util.find_spec("medmnist")
    if spec is None:
        raise BakeError("medmnist is not installed: run packaging/install_deps.sh first.")
    info = importlib.util.spec_from_file_location("_medmnist_info", Path(spec.origin).parent / "info.py")
    module = importlib.util.module_from_spec(info)
    info.loader.exec_module(module)
    return module.INFO[FLAG]


def md5sum(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_file(root, download):
    info = medmnist_info()
    path = root / f"{FLAG}.npz"
    if not path.exists() and download:
        print(f"bake_assets: downloading DermaMNIST into {root} ...", flush=True)
        root.mkdir(parents=True, exist_ok=True)
        try:
            from medmnist import DermaMNIST

            DermaMNIST(split="train", root=str(root), download=True)
        except Exception as err:  # medmnist wraps network failures in RuntimeError
            raise BakeError(f"DermaMNIST download failed ({type(err).__name__}: {err}). The image build needs the "
                            f"internet (Zenodo), or put {FLAG}.npz (md5 {info['MD5']}) into {root} first.") from None
    if not path.exists():
        raise BakeError(f"{path} is missing. Run packaging/bake_assets.sh (with internet) to download it.")
    digest = md5sum(path)
    if digest != info["MD5"]:
        raise BakeError(f"{path} has md5 {digest}, not the official {info['MD5']}: a partial download or another "
                        "file. Delete it and run packaging/bake_assets.sh again.")
    import numpy as np

    with np.load(path) as npz:
        for split, n in info["n_samples"].items():
            images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
            if images.dtype != np.uint8 or images.shape != (n, 28, 28, 3) or labels.shape != (n, 1):
                raise BakeError(f"{path}: {split} split is {images.dtype} {images.shape} / labels {labels.shape}; "
                                f"expected uint8 ({n}, 28, 28, 3) / ({n}, 1).")
    os.chmod(path, 0o600)  # test labels: root only
    return path


def weights_file(torch_home, download):
    path = torch_home / "hub" / "checkpoints" / RESNET18_URL.rsplit("/", 1)[1]
    if not path.exists() and download:
        print(f"bake_assets: downloading ResNet18 ImageNet weights into {path.parent} ...", flush=True)
        os.environ["TORCH_HOME"] = str(torch_home)
        try:
            from torchvision.models import ResNet18_Weights

            if ResNet18_Weights.IMAGENET1K_V1.url != RESNET18_URL:
                raise BakeError(f"torchvision's ResNet18 weights moved to {ResNet18_Weights.IMAGENET1K_V1.url}; "
                                "update RESNET18_URL in packaging/bake_assets.py.")
            ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True)
        except BakeError:
            raise
        except Exception as err:
            raise BakeError(f"ResNet18 weights download failed ({type(err).__name__}: {err}). The image build "
                            f"needs the internet, or copy {path.name} into {path.parent} first.") from None
    if not path.exists():
        raise BakeError(f"{path} is missing. Run packaging/bake_assets.sh (with internet) to download it.")
    prefix = re.search(r"-([a-f0-9]+)\.", path.name).group(1)  # torch.hub's convention: name-<sha256 prefix>.pth
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(prefix):
        raise BakeError(f"{path} has sha256 {digest[:12]}..., expected {prefix}...: delete it and bake again.")
    for folder in [torch_home, *[p for p in torch_home.rglob("*") if p.is_dir()]]:  # readable by the sandbox user
        os.chmod(folder, os.stat(folder).st_mode | stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP
                 | stat.S_IROTH | stat.S_IXOTH)
    os.chmod(path, 0o644)
    return path


def _folder(name):
    if not os.environ.get(name):
        raise BakeError(f"{name} is not set: give the image's folder (instructor/package.py and the Dockerfile set it).")
    return Path(os.environ[name])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bake_assets.py", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify only, download nothing")
    args = ap.parse_args(argv)
    try:
        data = data_file(_folder("DERMA_DATA_DIR"), download=not args.check)
        print(f"bake_assets: OK {data} (official DermaMNIST, md5 verified)")
        weights = weights_file(_folder("TORCH_HOME"), download=not args.check)
        print(f"bake_assets: OK {weights} (sha256 verified, world-readable)")
    except BakeError as err:
        print(f"bake_assets: FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

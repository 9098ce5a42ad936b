"""Pretrained weights: fetch them while the network is there, and say so clearly when they are missing.

torchvision caches downloads in $TORCH_HOME/hub/checkpoints. Image builds (Gradescope setup.sh, Dockerfile) run
`python -m locked.weights` so grading never needs the network; offline, a model that asks for weights fails with
WeightsUnavailable instead of silently training from random initialisation.
"""
import socket
import urllib.error

import torch

FIX = ("Fix: on a machine with internet, run `python -m locked.weights` once (it caches the ImageNet ResNet18 "
       "weights in {cache}); graders bake them into the image at build time.")


class WeightsUnavailable(RuntimeError):
    pass


def cache_dir():
    return f"{torch.hub.get_dir()}/checkpoints"


def is_download_failure(err):
    """True if `err` (or what caused it) is a failed network fetch, e.g. torchvision asking for weights offline."""
    while err is not None:
        # Not any OSError: a student's own missing file (FileNotFoundError) is not a missing download. But an
        # OSError about torch's hub cache is (e.g. the sandbox user may not create a download file there).
        if isinstance(err, (urllib.error.URLError, socket.gaierror, ConnectionError, TimeoutError)):
            return True
        if isinstance(err, OSError) and str(torch.hub.get_dir()) in str(getattr(err, "filename", "") or ""):
            return True
        err = err.__cause__ or err.__context__
    return False


def unavailable(err):
    return WeightsUnavailable(f"build_model() needs pretrained weights that are not cached and could not be "
                              f"downloaded ({type(err).__name__}: {err}). " + FIX.format(cache=cache_dir()))


def fetch():
    """Download every pretrained weight file the course uses (ResNet18, ImageNet) into torchvision's cache."""
    from torchvision.models import ResNet18_Weights

    path = ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    return len(path)


if __name__ == "__main__":
    n = fetch()
    print(f"ResNet18 ImageNet weights cached in {cache_dir()} ({n} tensors).")

"""locked.weights tells a missing pretrained-weights download apart from a student's own file errors."""
import os
import urllib.error

import torch

from locked.weights import is_download_failure


def test_network_failures_and_an_unwritable_hub_cache_are_missing_weights():
    assert is_download_failure(urllib.error.URLError("offline"))
    assert is_download_failure(ConnectionRefusedError())
    cache = os.path.join(torch.hub.get_dir(), "checkpoints", "resnet18-f37072fd.pth.partial")
    assert is_download_failure(PermissionError(13, "Permission denied", cache))


def test_a_students_own_missing_file_is_not_a_weights_problem():
    assert not is_download_failure(FileNotFoundError(2, "No such file", "my_weights.pth"))
    assert not is_download_failure(PermissionError(13, "Permission denied", "/etc/shadow"))
    assert not is_download_failure(ValueError("bad"))

"""Shared fixtures for the project's own tests: a small synthetic DermaMNIST, made once per session."""
import pytest

from locked import data

#: Small enough to train in seconds, large enough that every class is present and lessons show.
TEST_SCALE = 0.2


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A data dir where data.load(root, synthetic_data=True, scale=TEST_SCALE) finds the stand-in."""
    root = tmp_path_factory.mktemp("dermamnist")
    data.load(root, synthetic_data=True, scale=TEST_SCALE)  # writes it once
    return root


@pytest.fixture(scope="session")
def small_splits(synthetic_root):
    return data.load(synthetic_root, synthetic_data=True, scale=TEST_SCALE)


@pytest.fixture
def screenshot(tmp_path):
    """shoot(page, width, height) -> (RGB pixels as an (height, width, 3) array, the browser's console lines): a page
    opened from disk in headless Chromium, as a reader's browser shows it (the suite's, the class's and the student's
    reports are checked this way). Skipped without Chromium; CI installs it, and a skip there fails (conftest.py)."""
    import shutil
    import subprocess

    import numpy as np
    from PIL import Image

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium not installed (apt-get install -y chromium)")

    def shoot(page, width, height):
        shot = tmp_path / "screenshot.png"
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={shot}",
             f"--window-size={width},{height}", "--enable-logging=stderr", "--v=0", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120)
        assert shot.exists(), proc.stderr[-2000:]
        with Image.open(shot) as im:
            assert im.size == (width, height)
            pixels = np.asarray(im.convert("RGB"))
        console = [line for line in proc.stderr.splitlines()
                   if "CONSOLE" in line or "Uncaught" in line or "console.error" in line]
        return pixels, console

    return shoot


@pytest.fixture
def one_thread():
    """Torch on one thread for the test, as in the sandbox (rubric threads = 1): the numbers the grader would get."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

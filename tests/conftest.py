"""What the public checks (`pytest tests/`) run on: your submission, and a tiny synthetic dataset.

Which submission: `pytest tests --submission DIR`, else $DERMA_SUBMISSION, else this repository's student/ folder.
Data: a small synthetic stand-in for DermaMNIST made in memory by locked.synthetic; nothing is downloaded.
A failed check prints only its message (what was found, what was expected, why): the fix is in that text.
"""
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain `pytest tests/` (not `python -m pytest`) does not put the repo on sys.path
    sys.path.insert(0, str(ROOT))

from locked import submission as contract  # noqa: E402
from locked import settings, synthetic, upload  # noqa: E402
from locked.info import NUM_CLASSES  # noqa: E402

DEFAULT_SUBMISSION = ROOT / "student"
SYNTHETIC_SCALE = 0.05  # about 350 training images: enough for every check, generated in a fraction of a second
HERE = Path(__file__).resolve().parent


def pytest_addoption(parser):
    parser.addoption("--submission", metavar="DIR", default=None,
                     help=f"folder with model.py and train_config.py to check (default: $DERMA_SUBMISSION, "
                          f"else {DEFAULT_SUBMISSION})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Show a failed check as its teaching message alone, not as a traceback through the test's code."""
    report = (yield).get_result()
    if (report.failed and call.excinfo is not None and call.excinfo.errisinstance(AssertionError)
            and Path(str(item.fspath)).resolve().parent == HERE):
        report.longrepr = str(call.excinfo.value)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The checks use tiny batches: one thread is fastest, and on a busy machine 2+ threads can be 50x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class Loaded:
    """The submission as locked.submission.load() sees it.

    When only a config value is wrong (say BATCH_SIZE = 0), load() refuses the whole submission; `parts` then holds
    the raw objects from the two files, so the checks that do not depend on that value still run and the config
    check alone reports it.
    """
    path: Path
    sub: object = None      # locked.submission.Submission, fully checked; None if load() failed
    error: Exception = None  # the SubmissionError from load()
    parts: object = None    # Submission built from the raw files after a "config" error, else None

    def get(self, *needs):
        """The submission for a check that uses the attributes `needs`; fails the check if it cannot load."""
        if self.sub is not None:
            return self.sub
        if self.parts is not None and all(callable(getattr(self.parts, n, None)) for n in needs):
            return self.parts
        raise AssertionError(f"Could not load your submission from {self.path}:\n{self.error}")


def load_submission(path, scratch):
    try:
        return Loaded(path, sub=contract.load(upload.find_folder(path, scratch)))
    except contract.SubmissionError as err:
        if err.check != "config":
            return Loaded(path, error=err)
        loaded = Loaded(path, error=err)
    try:
        folder = upload.find_folder(path, scratch)
        model_module, config = contract.import_files(folder)
    except contract.SubmissionError:
        return loaded
    loaded.parts = contract.Submission(
        folder, getattr(model_module, "build_model", None), getattr(config, "EPOCHS", None),
        getattr(config, "BATCH_SIZE", None), *(getattr(config, name, None) for name in
                                                ("train_transform", "make_optimizer", "make_loss", "make_scheduler")))
    return loaded


@pytest.fixture(scope="session")
def submission_path(request):
    return Path(request.config.getoption("--submission") or settings.path("DERMA_SUBMISSION") or DEFAULT_SUBMISSION)


@pytest.fixture(scope="session")
def loaded(submission_path, tmp_path_factory):
    """Loaded once per run; each check asks it for what it needs with loaded.get(...). A zip is read by the
    grader's own rule (locked/upload.py) into a scratch folder."""
    return load_submission(submission_path, tmp_path_factory.mktemp("upload"))


@dataclass
class TinyData:
    images: np.ndarray  # uint8 (N, 28, 28, 3): the synthetic training split
    labels: np.ndarray  # int64 (N,)
    class_counts: list  # images per class, what make_loss(class_counts) receives


@pytest.fixture(scope="session")
def tiny_data():
    arrays = synthetic.generate(scale=SYNTHETIC_SCALE)
    labels = arrays["train_labels"].reshape(-1).astype(np.int64)
    return TinyData(arrays["train_images"], labels, np.bincount(labels, minlength=NUM_CLASSES).tolist())

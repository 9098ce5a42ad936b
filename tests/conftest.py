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
from locked.terms import TERMS  # noqa: E402

DEFAULT_SUBMISSION = ROOT / "student"
SUBMISSION_FROM_ENV = settings.path("DERMA_SUBMISSION")  # read as pytest starts, before any fixture runs
SYNTHETIC_SCALE = 0.05  # about 350 training images: enough for every check, generated in a fraction of a second
HERE = Path(__file__).resolve().parent


def pytest_addoption(parser):
    parser.addoption("--submission", metavar="DIR", default=None,
                     help=f"folder with model.py and train_config.py to check (default: $DERMA_SUBMISSION, "
                          f"else {DEFAULT_SUBMISSION})")


#: check -> the failed check that stopped it (itself when it failed). Each error is reported once, by the check it
#: belongs to; a check that builds on a failed one is skipped, and its skip message names the check to fix first.
BLOCKED = {}
MODEL_CHECK, CONFIG_CHECK = "test_model_builds", "test_config_is_valid"


class Blocked(pytest.skip.Exception):
    """Skip the running check because `cause`, an earlier check, failed."""

    def __init__(self, cause):
        super().__init__(f"skipped because {cause} failed")
        self.cause = cause


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """Show skip reasons in the summary (`-rs`): each says which failed check to fix first."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and "s" not in reporter.reportchars:
        reporter.reportchars += "s"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Show a failed check as its teaching message alone, not as a traceback through the test's code."""
    report = (yield).get_result()
    if Path(str(item.fspath)).resolve().parent != HERE or call.when != "call":
        return
    if report.failed:
        BLOCKED[item.name] = item.name
    elif call.excinfo is not None and call.excinfo.errisinstance(Blocked):
        BLOCKED[item.name] = cause = call.excinfo.value.cause
        report.longrepr = (str(item.path), item.location[1] + 1,
                           f"{item.name}: skipped because {cause} failed; fix what it reports and this check runs")
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(AssertionError):
        report.longrepr = str(call.excinfo.value)


@pytest.fixture
def after(request):
    """after(check, ...): skip the running check if a check it builds on failed (or was skipped for a failure)."""
    def require(*checks):
        for check in checks:
            if check in BLOCKED:
                raise Blocked(BLOCKED[check])
    return require


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
    """The submission as locked.submission.load() sees it, split by file so each error is reported where it is.

    load() stops at the first problem. Then `parts` holds whatever the two files do define, so the checks that do not
    depend on the problem still run: a NameError in train_config.py does not stop the model checks, and an invalid
    BATCH_SIZE does not stop the train_transform check.
    """
    path: Path
    sub: object = None           # locked.submission.Submission, fully checked; None if load() failed
    parts: object = None         # Submission of the raw objects the files define, after load() failed
    model_error: Exception = None   # why model.py (or the folder) cannot be used: test_model_builds reports it
    config_error: Exception = None  # why train_config.py cannot be used: test_config_is_valid reports it

    def get(self, *needs):
        """The submission for a check that uses the attributes `needs`; skips the check if one is missing."""
        if self.sub is not None:
            return self.sub
        for need in needs:
            if not callable(getattr(self.parts, need, None)):
                owner = MODEL_CHECK if need == "build_model" or self.config_error is None else CONFIG_CHECK
                raise Blocked(owner)
        return self.parts


def load_submission(path, scratch):
    try:
        return Loaded(path, sub=contract.load(upload.find_folder(path, scratch), max_epochs=TERMS.max_epochs))
    except contract.SubmissionError as err:
        error = err
    folder = model = config = None
    config_error = None
    try:
        folder = upload.find_folder(path, scratch)
        model = contract.import_file(folder, "model.py")
    except contract.SubmissionError:
        pass
    if folder is not None:
        try:
            config = contract.import_file(folder, "train_config.py")
        except contract.SubmissionError as err:
            config_error = err
    build_model = getattr(model, "build_model", None)
    loaded = Loaded(path, parts=contract.Submission(
        folder, build_model, getattr(config, "EPOCHS", None), getattr(config, "BATCH_SIZE", None),
        *(getattr(config, name, None) for name in ("train_transform", "make_optimizer", "make_loss", "make_scheduler")),
        getattr(config, "SCHEDULER_STEP", "epoch")))
    if callable(build_model):  # load() checks model.py first: its error is about train_config.py
        loaded.config_error = error
    else:
        loaded.model_error, loaded.config_error = error, config_error
    return loaded


@pytest.fixture(scope="session")
def submission_path(request):
    return Path(request.config.getoption("--submission") or SUBMISSION_FROM_ENV or DEFAULT_SUBMISSION)


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

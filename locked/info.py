"""Facts about DermaMNIST. medmnist's INFO table is the source; this file only adds the course's short names.

`import medmnist` imports torch (500+ MB of memory), and the grader's parent process must stay small and never
run torch, so INFO is read from medmnist/info.py directly, without running the package's __init__.
"""
import importlib.util
from pathlib import Path


def _medmnist_info_module():
    package = importlib.util.find_spec("medmnist")
    if package is None:
        raise ModuleNotFoundError("The medmnist package is not installed; it defines DermaMNIST's classes and "
                                  "splits. Install the pinned versions: pip install -r requirements.txt")
    spec = importlib.util.spec_from_file_location("_medmnist_info", Path(package.origin).parent / "info.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_medmnist_info = _medmnist_info_module()
FLAG = "dermamnist"
INFO = _medmnist_info.INFO[FLAG]
DEFAULT_ROOT = _medmnist_info.DEFAULT_ROOT

#: Short names in label order (INFO["label"] has the long ones). The course uses these everywhere.
CLASS_NAMES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
LONG_NAMES = tuple(INFO["label"][str(i)] for i in range(len(CLASS_NAMES)))
NUM_CLASSES = len(CLASS_NAMES)
MEL = CLASS_NAMES.index("mel")
CANCER_CLASSES = ("akiec", "bcc", "mel")
SPLITS = ("train", "val", "test")
SPLIT_SIZES = dict(INFO["n_samples"])  # train 7007, val 1003, test 2005
IMAGE_SHAPE = (28, 28, 3)  # HWC, uint8, as stored in the npz
OFFICIAL_MD5 = INFO["MD5"]

#: Per-class label counts of the official file (not in INFO; counted from dermamnist.npz).
OFFICIAL_COUNTS = {
    "train": (228, 359, 769, 80, 779, 4693, 99),
    "val": (33, 52, 110, 12, 111, 671, 14),
    "test": (66, 103, 220, 23, 223, 1341, 29),
}

#: The course's targets: macro AUC to pass; for the bonus, melanoma recall at least TARGET_MEL_RECALL while sending
#: at most MAX_MEL_FALSE_ALARM of the other lesions to biopsy (the share of non-melanoma images predicted melanoma),
#: so that calling everything melanoma (recall 1, false alarms 1.0) earns nothing. 0.25: every published experiment
#: that reaches the recall sits at 0.08-0.21 (solutions/published.json; instructor_tests/test_scoring.py).
TARGET_AUC = 0.90
TARGET_MEL_RECALL = 0.50
MAX_MEL_FALSE_ALARM = 0.25

assert len(LONG_NAMES) == NUM_CLASSES
assert all(sum(OFFICIAL_COUNTS[s]) == SPLIT_SIZES[s] for s in SPLITS)

"""Facts about DermaMNIST. medmnist's INFO table is the source; this file only adds the course's short names."""
from medmnist import INFO as _MEDMNIST_INFO

FLAG = "dermamnist"
INFO = _MEDMNIST_INFO[FLAG]

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

#: The course's targets: macro AUC to pass, melanoma recall for the bonus.
TARGET_AUC = 0.90
TARGET_MEL_RECALL = 0.50

assert len(LONG_NAMES) == NUM_CLASSES
assert all(sum(OFFICIAL_COUNTS[s]) == SPLIT_SIZES[s] for s in SPLITS)

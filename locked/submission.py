"""Load a submission (student/model.py + student/train_config.py) and check it against the contract.

The contract, in full (see student/train_config.py for the teaching version):
    model.py         build_model() -> torch.nn.Module mapping (N, 3, 28, 28) floats in [0, 1] to (N, 7) logits
    train_config.py  EPOCHS, BATCH_SIZE                        positive ints
                     train_transform                           callable: PIL image -> float tensor (3, 28, 28)
                     make_optimizer(model)                     -> torch.optim.Optimizer
                     make_loss(class_counts)                   -> callable(logits, labels) -> scalar loss
                     make_scheduler(optimizer[, steps_per_epoch]) -> LR scheduler or None
                     SCHEDULER_STEP (optional)                 when the loop steps it: SCHEDULER_STEPS below
Every failure becomes a SubmissionError whose message names the file, what was found and what to change.
"""
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from locked.text import shown

STUDENT_FILES = ("model.py", "train_config.py")
DEFAULT_MAX_EPOCHS = 50
PARAM_BUDGET = 12_000_000  # trainable + frozen parameters; a ResNet18 (11.2M with a 7-class head) fits
MAX_BATCH_SIZE = 4096
#: train_config.SCHEDULER_STEP: when the locked loop calls scheduler.step() (locked/engine.py, step_scheduler).
SCHEDULER_STEPS = {"epoch": "scheduler.step() after every epoch (the default: CosineAnnealingLR, StepLR)",
                   "batch": "scheduler.step() after every optimizer step (OneCycleLR, a warm-up)",
                   "val_loss": "scheduler.step(val_loss) after every epoch's validation (ReduceLROnPlateau)"}


class SubmissionError(Exception):
    """A problem in the student's files. `check` names the stage; str() is the message for the student."""

    def __init__(self, check, message):
        super().__init__(message)
        self.check = check


@dataclass
class Submission:
    folder: Path
    build_model: object
    epochs: int
    batch_size: int
    train_transform: object
    make_optimizer: object
    make_loss: object
    make_scheduler: object
    scheduler_step: str = "epoch"


def describe_exception(err, folder):
    """'file.py line N, in f: Type: message', pointing at the deepest frame in the student's own files. The type
    and message are the student's text: one printable line (locked/text.py), so they cannot forge a report line."""
    folder = str(Path(folder).resolve())
    where = ""
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename and str(Path(frame.filename).resolve()).startswith(folder):
            where = f"{Path(frame.filename).name} line {frame.lineno}, in {frame.name}: "
    return f"{where}{shown(type(err).__name__, 200, one_line=True)}: {shown(str(err), one_line=True)}"


def encoding_problem(filename, raw):
    """What is wrong when a student file's bytes `raw` are not UTF-8 text, with the fix; None when they are.
    Python 3.11 runs such a file when the bytes sit in a comment, so the run warns about it too (locked/train.py)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        line = raw[:bad.start].count(b"\n") + 1
        return (f"{filename} line {line}: the file is not saved as UTF-8 (byte 0x{raw[bad.start]:02x} is not UTF-8 "
                "text; usually a curly quote, a dash or an accented letter that Word or Notepad saved as "
                "Windows-1252). Python reads every source file as UTF-8. Save the file with the UTF-8 encoding (VS "
                "Code: the encoding in the status bar, then 'Save with Encoding'), or type that character as plain "
                "ASCII.")
    return None


def import_file(folder, filename):
    """Run one student file as a module. Only the two files are importable: the grader receives nothing else."""
    path = folder / filename
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so train_config.py may `import model`, as in a plain script
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        problem = encoding_problem(filename, path.read_bytes())
        if problem:
            raise SubmissionError("import", problem) from None
        raise SubmissionError(
            "import", f"{filename} line {err.lineno}: syntax error: {err.msg}.\n    {(err.text or '').strip()}\n"
            "Python could not read the file; fix that line (run `python -m py_compile student/" + filename + "`).",
        ) from None
    except ModuleNotFoundError as err:
        missing = (err.name or "").split(".")[0]
        if missing and ((folder / f"{missing}.py").is_file() or (folder / missing).is_dir()):
            found = f"{missing}.py" if (folder / f"{missing}.py").is_file() else f"the folder {missing}/"
            raise SubmissionError(
                "import", f"{filename} imports {missing}, your own {found} next to it. Helper modules are not "
                "supported: the grader takes only model.py and train_config.py from a submission (nothing else, so "
                f"that no upload can replace the grader's own code), and {missing} would not exist there. Move the "
                f"code you need from it into {filename}.") from None
        raise SubmissionError(
            "import", f"{filename} could not import {err.name or 'a module'}: {err}. Only the packages in "
            "requirements.txt (torch, torchvision, numpy, ...) exist on the grader; use those. A module of your own "
            f"is not taken either: the grader uses only model.py and train_config.py, so put its code into {filename}.",
        ) from None
    except ImportError as err:
        raise SubmissionError(
            "import", f"{filename} could not import from {err.name or 'a module'}: {err}. The grader has exactly the "
            "versions pinned in requirements.txt; install those (pip install -r requirements.txt) and use what they "
            "provide.") from None
    except Exception as err:
        raise SubmissionError("import", f"{filename} failed while loading: {describe_exception(err, folder)}") from None
    return module


def _positive_int(config, name, upper, hint):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SubmissionError("config", f"train_config.py: {name} must be a whole number; got {value!r} "
                              f"({type(value).__name__}). {hint}")
    if not 1 <= value <= upper:
        raise SubmissionError("config", f"train_config.py: {name} = {value} is outside 1..{upper}. {hint}")
    return value


def load(path, max_epochs=DEFAULT_MAX_EPOCHS):
    """Import the two files and check the config's names, types and ranges (not yet the objects they build).

    `path` is a folder upload: the files flat, in student/, or as locked/upload.py's rule finds them. model.py is
    imported and checked first, then train_config.py: the first problem found is the one reported.
    """
    from locked.upload import find_folder  # upload.py imports this module

    folder = find_folder(path)
    model_module = import_file(folder, "model.py")
    build_model = getattr(model_module, "build_model", None)
    if not callable(build_model):
        raise SubmissionError("import", "model.py must define a function build_model() that returns your "
                              "torch.nn.Module (the baseline's is `def build_model(): return BaselineModel()`).")
    config = import_file(folder, "train_config.py")
    examples = {"EPOCHS": "EPOCHS = 5", "BATCH_SIZE": "BATCH_SIZE = 32",
                "train_transform": "train_transform = transforms.ToTensor()",
                "make_optimizer": "def make_optimizer(model): return torch.optim.SGD(model.parameters(), lr=0.1)",
                "make_loss": "def make_loss(class_counts): return nn.CrossEntropyLoss()",
                "make_scheduler": "def make_scheduler(optimizer): return None"}
    why = "The locked training loop uses each of these names, so it cannot start without it."
    for name, example in examples.items():
        if not hasattr(config, name):
            raise SubmissionError("config", f"train_config.py does not define {name}. Add it back, e.g. "
                                  f"`{example}`. {why}")
        if name not in ("EPOCHS", "BATCH_SIZE") and not callable(getattr(config, name)):
            raise SubmissionError("config", f"train_config.py: {name} must be callable; got "
                                  f"{type(getattr(config, name)).__name__}. Expected e.g. `{example}`. {why}")
    epochs = _positive_int(config, "EPOCHS", max_epochs,
                           f"The grader trains inside a time budget, which allows at most {max_epochs} epochs; the "
                           "course used 5 to 20.")
    batch_size = _positive_int(config, "BATCH_SIZE", MAX_BATCH_SIZE,
                               f"Each optimizer step averages the gradient over BATCH_SIZE images, at most "
                               f"{MAX_BATCH_SIZE} (memory); the course used 32, 64 or 128.")
    scheduler_step = getattr(config, "SCHEDULER_STEP", "epoch")
    if not isinstance(scheduler_step, str) or scheduler_step not in SCHEDULER_STEPS:
        choices = "; ".join(f"{k!r}: {v}" for k, v in SCHEDULER_STEPS.items())
        raise SubmissionError("config", f"train_config.py: SCHEDULER_STEP = {scheduler_step!r} is not a choice the "
                              f"training loop knows. Set it to the one your scheduler is written for: {choices}.")
    return Submission(folder, build_model, epochs, batch_size, config.train_transform,
                      config.make_optimizer, config.make_loss, config.make_scheduler, scheduler_step)

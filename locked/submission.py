"""Load a submission (student/model.py + student/train_config.py) and check it against the contract.

The contract, in full (see student/train_config.py for the teaching version):
    model.py         build_model() -> torch.nn.Module mapping (N, 3, 28, 28) floats in [0, 1] to (N, 7) logits
    train_config.py  EPOCHS, BATCH_SIZE                        positive ints
                     train_transform                           callable: PIL image -> float tensor (3, 28, 28)
                     make_optimizer(model)                     -> torch.optim.Optimizer
                     make_loss(class_counts)                   -> callable(logits, labels) -> scalar loss
                     make_scheduler(optimizer)                 -> LR scheduler stepped once per epoch, or None
Every failure becomes a SubmissionError whose message names the file, what was found and what to change.
"""
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

STUDENT_FILES = ("model.py", "train_config.py")
DEFAULT_MAX_EPOCHS = 50
PARAM_BUDGET = 12_000_000  # trainable + frozen parameters; a ResNet18 (11.2M with a 7-class head) fits
MAX_BATCH_SIZE = 4096


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


def describe_exception(err, folder):
    """'file.py line N, in f: Type: message', pointing at the deepest frame in the student's own files."""
    folder = str(Path(folder).resolve())
    where = ""
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename and str(Path(frame.filename).resolve()).startswith(folder):
            where = f"{Path(frame.filename).name} line {frame.lineno}, in {frame.name}: "
    return f"{where}{type(err).__name__}: {err}"


def import_file(folder, filename):
    """Import one student file as a module of its own name (train_config.py may `import model`)."""
    path = folder / filename
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so train_config.py may `import model`, as in a plain script
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise SubmissionError(
            "import", f"{filename} line {err.lineno}: syntax error: {err.msg}.\n    {(err.text or '').strip()}\n"
            "Python could not read the file; fix that line (run `python -m py_compile student/" + filename + "`).",
        ) from None
    except ImportError as err:
        raise SubmissionError(
            "import", f"{filename} could not import {err.name or 'a module'}: {err}. Only the packages in "
            "requirements.txt (torch, torchvision, numpy, ...) exist on the grader; use those.",
        ) from None
    except Exception as err:
        raise SubmissionError("import", f"{filename} failed while loading: {describe_exception(err, folder)}") from None
    finally:
        sys.path.remove(str(folder))
    return module


def import_files(folder):
    """(model module, train_config module) of the two files in `folder`, imported in that order."""
    return import_file(folder, "model.py"), import_file(folder, "train_config.py")


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
    `path` is a folder upload: the files flat, in student/, or as locked/upload.py's rule finds them."""
    from locked.upload import find_folder  # upload.py imports this module

    folder = find_folder(path)
    model_module, config = import_files(folder)
    build_model = getattr(model_module, "build_model", None)
    if not callable(build_model):
        raise SubmissionError("import", "model.py must define a function build_model() that returns your "
                              "torch.nn.Module (the baseline's is `def build_model(): return BaselineModel()`).")
    examples = {"EPOCHS": "EPOCHS = 5", "BATCH_SIZE": "BATCH_SIZE = 32",
                "train_transform": "train_transform = transforms.ToTensor()",
                "make_optimizer": "def make_optimizer(model): return torch.optim.SGD(model.parameters(), lr=0.1)",
                "make_loss": "def make_loss(class_counts): return nn.CrossEntropyLoss()",
                "make_scheduler": "def make_scheduler(optimizer): return None"}
    for name, example in examples.items():
        if not hasattr(config, name):
            raise SubmissionError("config", f"train_config.py does not define {name}. Add it back, e.g. `{example}`.")
        if name not in ("EPOCHS", "BATCH_SIZE") and not callable(getattr(config, name)):
            raise SubmissionError("config", f"train_config.py: {name} must be callable; got "
                                  f"{type(getattr(config, name)).__name__}. Expected e.g. `{example}`.")
    epochs = _positive_int(config, "EPOCHS", max_epochs,
                           f"The time budget allows at most {max_epochs} epochs; the course used 5 to 20.")
    batch_size = _positive_int(config, "BATCH_SIZE", MAX_BATCH_SIZE, "The course used 32, 64 or 128.")
    return Submission(folder, build_model, epochs, batch_size, config.train_transform,
                      config.make_optimizer, config.make_loss, config.make_scheduler)

"""Load the rubric: the defaults in grader/rubric.toml, overridden key by key by an instructor's file."""
import copy
from pathlib import Path

from locked.submission import DEFAULT_MAX_EPOCHS, PARAM_BUDGET

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (Gradescope's Ubuntu 22.04)
    import tomli as tomllib

DEFAULT = Path(__file__).with_name("rubric.toml")
CHECKS = ("builds", "output_shape", "param_budget", "preprocessing", "trains", "test_auc", "mel_recall_bonus")
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def _merge(base, override):
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def load(path=None, **limit_overrides):
    """The rubric as a dict; `path` overrides the defaults; keyword arguments override [limits]."""
    rubric = tomllib.loads(DEFAULT.read_text())
    rubric["limits"].update(max_epochs=DEFAULT_MAX_EPOCHS, param_budget=PARAM_BUDGET)
    if path:
        rubric = _merge(copy.deepcopy(rubric), tomllib.loads(Path(path).read_text()))
    rubric["limits"].update({k: v for k, v in limit_overrides.items() if v is not None})
    unknown = set(rubric["checks"]) - set(CHECKS)
    if unknown:
        raise ValueError(f"rubric: unknown checks {sorted(unknown)}; the grader knows {list(CHECKS)}.")
    for key, check in rubric["checks"].items():
        if check.get("visibility", "visible") not in VISIBILITIES:
            raise ValueError(f"rubric: checks.{key}.visibility must be one of {sorted(VISIBILITIES)}.")
        if check.get("points", 0) < 0:
            raise ValueError(f"rubric: checks.{key}.points must be >= 0.")
    auc = rubric["checks"]["test_auc"]
    if not 0 <= auc["floor"] < auc["target"] <= 1:
        raise ValueError("rubric: checks.test_auc needs 0 <= floor < target <= 1.")
    return rubric

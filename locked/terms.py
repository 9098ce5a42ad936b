"""The grading terms a student reads before grading: the AUC target, the melanoma bonus's rule, the parameter budget,
the epoch cap and the grading box's time limit.

One source each. The course's values are defined in locked/info.py, locked/settings.py and locked/submission.py, and the grader's rubric
defaults to them (grader/rubric.py). An instructor who packages another rubric or limits (`python -m instructor
package --rubric ... --time-limit ...`) gets the grader's values written into the starter kit as locked/terms.json,
which wins here: the student's forecast, report and verdict then show the numbers the grader will use.
Standard library only (the grader's parent imports locked.report).
"""
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from locked.info import MAX_MEL_FALSE_ALARM, TARGET_AUC, TARGET_MEL_RECALL
from locked.settings import ON_TIME_LIMIT, TIME_LIMIT_POLICIES, TIME_LIMIT_S
from locked.submission import DEFAULT_MAX_EPOCHS, PARAM_BUDGET

FILE = Path(__file__).with_name("terms.json")


@dataclass(frozen=True)
class Terms:
    auc_target: float = TARGET_AUC              # test macro AUC for full points
    mel_threshold: float = TARGET_MEL_RECALL    # melanoma bonus: recall at or above ...
    max_false_alarm: float = MAX_MEL_FALSE_ALARM  # ... with at most this share of other lesions called melanoma
    time_limit_s: float = TIME_LIMIT_S          # wall clock of the graded run (training + prediction)
    on_time_limit: str = ON_TIME_LIMIT          # "score" the epochs that fit in it, or "zero" (locked/settings.py)
    param_budget: int = PARAM_BUDGET
    max_epochs: int = DEFAULT_MAX_EPOCHS

    def as_dict(self):
        return dataclasses.asdict(self)


def of_rubric(rubric):
    """The terms of a loaded rubric (grader/rubric.py's Rubric): what `instructor package` writes into the kit."""
    auc, bonus, lim = rubric.check("test_auc"), rubric.check("mel_recall_bonus"), rubric.limits
    return Terms(auc_target=auc.target, mel_threshold=bonus.threshold, max_false_alarm=bonus.max_false_alarm,
                 time_limit_s=lim.time_limit_s, on_time_limit=lim.on_time_limit, param_budget=lim.param_budget,
                 max_epochs=lim.max_epochs)


def _valid(key, value):
    if key == "on_time_limit":
        return isinstance(value, str) and value in TIME_LIMIT_POLICIES
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return False
    if key in ("param_budget", "max_epochs"):
        return isinstance(value, int)
    return value <= 1 or key == "time_limit_s"


def load(path=FILE):
    """The kit's terms (locked/terms.json) over the course's; a missing file is the course's terms. A key that is
    unknown or not a sensible number is ignored (the file is the student's to break; the grader never reads it)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Terms()
    known = {f.name for f in dataclasses.fields(Terms)}
    given = raw if isinstance(raw, dict) else {}
    return Terms(**{k: v for k, v in given.items() if k in known and _valid(k, v)})


#: The terms this installation shows (read once: the kit's file does not change during a run).
TERMS = load()

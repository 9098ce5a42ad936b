"""The rubric: grader/rubric.toml, overridden key by key by an instructor's file, checked once into one immutable
object. Every key is documented in rubric.toml; a wrong one is refused with a message that names it and the fix.
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from locked.info import MAX_MEL_FALSE_ALARM, TARGET_AUC, TARGET_MEL_RECALL
from locked.settings import ON_TIME_LIMIT, TIME_LIMIT_POLICIES, TIME_LIMIT_S
from locked.submission import DEFAULT_MAX_EPOCHS, PARAM_BUDGET

import tomllib

DEFAULT = Path(__file__).with_name("rubric.toml")
CHECKS = ("builds", "output_shape", "param_budget", "preprocessing", "trains", "test_auc", "mel_recall_bonus")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
CHECK_PARAMS = {"test_auc": ("target", "floor"), "mel_recall_bonus": ("threshold", "max_false_alarm")}
# the course's values (locked/info.py), used unless a rubric sets its own; floor must be written out
PARAM_DEFAULTS = {"target": TARGET_AUC, "threshold": TARGET_MEL_RECALL, "max_false_alarm": MAX_MEL_FALSE_ALARM}
TEST_CHECKS = ("test_auc", "mel_recall_bonus")  # the checks scored on the test set
SECTIONS = ("limits", "checks", "test", "integrity")
DEVICES = ("cpu", "cuda")


class RubricError(ValueError):
    """The rubric cannot be used as written; the message names the key and what to write instead."""


@dataclass(frozen=True)
class Limits:
    time_limit_s: float        # wall clock for the whole sandbox run
    memory_limit_mb: float     # the sandboxed process tree
    output_limit_kb: int       # printed output kept, head and tail
    on_time_limit: str = ON_TIME_LIMIT  # "score" the epochs that fit in time_limit_s, or "zero" (locked/settings.py)
    threads: int = 1           # torch threads in the sandbox
    device: str = "cpu"        # what the child trains on: "cpu", or "cuda" (the GPU's device nodes bound in)
    max_epochs: int = DEFAULT_MAX_EPOCHS
    param_budget: int = PARAM_BUDGET
    sandbox_uids: tuple = (2_000_000, 2_009_999)  # one uid per grading from this range (no passwd entry needed)
    scratch_mb: int = 256      # each private tmpfs of the child: /tmp, /var/tmp, /dev/shm, its working folder
    max_file_mb: int = 256     # largest file the child may write
    max_processes: int = 256   # processes and threads of the child


@dataclass(frozen=True)
class Check:
    key: str
    name: str
    points: float
    visibility: str = "visible"
    bonus: bool = False        # extra credit: counted in the score, not in the maximum
    target: float = None       # test_auc: full points at or above
    floor: float = None        # test_auc: no points at or below
    threshold: float = None    # mel_recall_bonus: earned at or above
    max_false_alarm: float = None  # mel_recall_bonus: and at most this share of other lesions called melanoma


@dataclass(frozen=True)
class TestSet:
    data: str = None               # a private test file (absolute path), or None: the data file's own test split
    public_fraction: float = 0.0   # > 0: Kaggle-style split; feedback and leaderboard from this part only


@dataclass(frozen=True)
class Integrity:
    max_perturbed_drop: float = 0.10   # flag when test AUC falls by more than this on perturbed copies
    max_val_gap: float = 0.10          # flag when test AUC exceeds validation AUC by more than this
    max_literal_kb: float = 2.0        # flag a literal (string, bytes, constant list) larger than this, compressed
    max_source_kb: float = 8.0         # flag the two files together larger than this, compressed


@dataclass(frozen=True)
class Rubric:
    limits: Limits
    checks: tuple
    source: str = str(DEFAULT)
    test: TestSet = TestSet()
    integrity: Integrity = Integrity()

    def check(self, key):
        return next(c for c in self.checks if c.key == key)

    @property
    def max_score(self):
        return sum(c.points for c in self.checks if not c.bonus)

    def with_limits(self, **overrides):
        """A copy with some limits replaced (None leaves a limit as it is), checked like the file's."""
        given = {k: v for k, v in overrides.items() if v is not None}
        limits = _limits({**dataclasses.asdict(self.limits), **given}, "command line")
        return dataclasses.replace(self, limits=limits)

    def with_test_data(self, path):
        """A copy grading on the private test file `path` (None leaves the rubric's choice)."""
        return self if path is None else dataclasses.replace(self, test=dataclasses.replace(
            self.test, data=str(Path(path).expanduser().resolve())))

    def as_dict(self):
        return {"source": self.source, "limits": dataclasses.asdict(self.limits),
                "test": dataclasses.asdict(self.test), "integrity": dataclasses.asdict(self.integrity),
                "checks": {c.key: {k: v for k, v in dataclasses.asdict(c).items() if v is not None and k != "key"}
                           for c in self.checks}}


def _number(where, value, kind, low, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise RubricError(f"{where} = {value!r}: expected a {'whole ' if kind is int else ''}number.")
    if (value <= low if low_open else value < low) or (high is not None and value > high):
        span = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise RubricError(f"{where} = {value!r}: must be {span}.")
    return kind(value)


def _unknown(section, given, known):
    extra = sorted(set(given) - set(known))
    if extra:
        raise RubricError(f"{section}: unknown key {extra[0]!r}; the keys are {', '.join(known)} "
                          "(see grader/rubric.toml for what each means).")


def _limits(raw, source):
    known = [f.name for f in dataclasses.fields(Limits)]
    _unknown(f"{source} [limits]", raw, known)
    w = f"{source} [limits]"
    uids = raw.get("sandbox_uids", list(Limits.sandbox_uids))
    if not (isinstance(uids, (list, tuple)) and len(uids) == 2 and all(type(u) is int for u in uids)
            and 1000 <= uids[0] <= uids[1] < 2**31 - 1):
        raise RubricError(f"{w} sandbox_uids = {uids!r}: give [first, last], whole numbers with 1000 <= first <= "
                          "last < 2147483647, a range no user of this machine has, e.g. [2000000, 2009999].")
    for key in ("memory_limit_mb", "output_limit_kb"):
        if key not in raw:
            raise RubricError(f"{w}: {key} is missing; grader/rubric.toml has the default.")
    policy = raw.get("on_time_limit", ON_TIME_LIMIT)
    if not (isinstance(policy, str) and policy in TIME_LIMIT_POLICIES):
        raise RubricError(f"{w} on_time_limit = {policy!r}: use \"score\" (score the epochs that fit in the limit) "
                          "or \"zero\" (a run cut by the limit scores nothing for training and the test).")
    device = raw.get("device", Limits.device)
    if device not in DEVICES:
        raise RubricError(f"{w} device = {device!r}: use \"cpu\" or \"cuda\" (an NVIDIA GPU with its driver on "
                          "the grading machine; every sandbox shares it).")
    return Limits(time_limit_s=_number(f"{w} time_limit_s", raw.get("time_limit_s", TIME_LIMIT_S), float, 0,
                                       low_open=True),
                  on_time_limit=policy,
                  memory_limit_mb=_number(f"{w} memory_limit_mb", raw["memory_limit_mb"], float, 0, low_open=True),
                  output_limit_kb=_number(f"{w} output_limit_kb", raw["output_limit_kb"], int, 1),
                  threads=_number(f"{w} threads", raw.get("threads", 1), int, 1, 64), device=device,
                  max_epochs=_number(f"{w} max_epochs", raw.get("max_epochs", DEFAULT_MAX_EPOCHS), int, 1),
                  param_budget=_number(f"{w} param_budget", raw.get("param_budget", PARAM_BUDGET), int, 1),
                  sandbox_uids=tuple(uids),
                  scratch_mb=_number(f"{w} scratch_mb", raw.get("scratch_mb", Limits.scratch_mb), int, 1),
                  max_file_mb=_number(f"{w} max_file_mb", raw.get("max_file_mb", Limits.max_file_mb), int, 1),
                  max_processes=_number(f"{w} max_processes", raw.get("max_processes", Limits.max_processes), int,
                                        16))


def _check(key, raw, source):
    where = f"{source} [checks.{key}]"
    params = CHECK_PARAMS.get(key, ())
    _unknown(where, raw, ("name", "points", "visibility", "bonus", *params))
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RubricError(f"{where} name = {name!r}: give the check a name students will read.")
    if raw.get("visibility", "visible") not in VISIBILITIES:
        raise RubricError(f"{where} visibility = {raw['visibility']!r}: use one of {', '.join(VISIBILITIES)}.")
    if not isinstance(raw.get("bonus", False), bool):
        raise RubricError(f"{where} bonus = {raw['bonus']!r}: use true or false.")
    values = {p: _number(f"{where} {p}", raw.get(p, PARAM_DEFAULTS.get(p)), float, 0, 1) for p in params}
    if key == "test_auc" and not values["floor"] < values["target"]:
        raise RubricError(f"{where}: floor ({values['floor']}) must be below target ({values['target']}).")
    points = _number(f"{where} points", raw.get("points"), float, 0)
    if raw.get("visibility") == "hidden" and points > 0:
        raise RubricError(f"{where}: visibility = \"hidden\" on a check worth {points:g} points. Gradescope still "
                          "shows students their total, which would give the hidden points away: use "
                          "\"after_due_date\" or \"after_published\" (or give the check 0 points).")
    return Check(key=key, name=name, points=points, visibility=raw.get("visibility", "visible"),
                 bonus=raw.get("bonus", False), **values)


def _test_set(raw, source, checks):
    where = f"rubric {source} [test]"
    _unknown(where, raw, [f.name for f in dataclasses.fields(TestSet)])
    data = raw.get("data", "")
    if not isinstance(data, str):
        raise RubricError(f"{where} data = {data!r}: give the private test file's path as a string, or \"\".")
    if data:  # relative to the rubric file, so a rubric and its test file can travel together
        data = str((Path(source).parent / Path(data).expanduser()).resolve())
    fraction = _number(f"{where} public_fraction", raw.get("public_fraction", 0.0), float, 0, 0.9)
    if fraction > 0:
        shown = [c for c in checks if c.key in TEST_CHECKS and c.visibility == "visible"]
        if shown:
            raise RubricError(f"{where} public_fraction = {fraction:g}: the points then come from the private part, "
                              f"which students must not see before you publish, but [checks.{shown[0].key}] is "
                              "visible. Set its visibility = \"after_published\" (or \"after_due_date\").")
    return TestSet(data=data or None, public_fraction=fraction)


def _integrity(raw, source):
    where = f"{source} [integrity]"
    _unknown(where, raw, [f.name for f in dataclasses.fields(Integrity)])
    default = Integrity()
    return Integrity(**{f.name: _number(f"{where} {f.name}", raw.get(f.name, getattr(default, f.name)), float, 0,
                                        low_open=True) for f in dataclasses.fields(Integrity)})


def _read(path):
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise RubricError(f"rubric {path}: cannot be read ({err.strerror}).") from None
    except tomllib.TOMLDecodeError as err:
        raise RubricError(f"rubric {path}: not valid TOML ({err}).") from None


def load(path=None, **limit_overrides):
    """The checked rubric: the defaults, then `path` key by key, then limit overrides (None = keep)."""
    raw = _read(DEFAULT)
    source = str(DEFAULT)
    if path:
        source = str(path)
        override = _read(path)
        _unknown(f"rubric {path}", override, SECTIONS)
        for section in ("limits", "test", "integrity"):
            raw.setdefault(section, {}).update(override.get(section, {}))
        _unknown(f"rubric {path} [checks]", override.get("checks", {}), CHECKS)
        for key, fields in override.get("checks", {}).items():
            raw["checks"][key].update(fields)
    checks = tuple(_check(k, raw["checks"][k], f"rubric {source}") for k in CHECKS)
    rubric = Rubric(limits=_limits(raw["limits"], f"rubric {source}"), checks=checks, source=source,
                    test=_test_set(raw.get("test", {}), source, checks),
                    integrity=_integrity(raw.get("integrity", {}), f"rubric {source}"))
    return rubric.with_limits(**limit_overrides)

"""Property tests of what the grading parent reads from the student and writes back (issue 21): the source scan
(grader/integrity.py), the child's status (protocol.clean_status), the binary predictions and parameter shapes
(grader/protocol.py) and the three written files (grader/results.py). Whatever the student controls, none of them
raises anything but its documented refusal (which the student would read as "the autograder failed"), and the files
hold only printable text that forges no check line."""
import json
import math
import re
import tempfile
import unicodedata
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader import integrity, protocol, resultfile, results, rubric as rubric_mod, sandbox, scoring
from locked.history import HISTORY_KEYS
from locked.info import NUM_CLASSES
from locked.text import shown

RUBRIC = rubric_mod.load()
SOURCE_KEYS = {"source_bytes", "source_compressed_bytes", "largest_literal_compressed_bytes", "largest_literal_at",
               "unscanned"}
# Text a student may hold: control characters, escapes, lone surrogates, line separators, forged check lines.
FRAGMENTS = ["\n", "\r", "\t", "\x00", "\x1b[2J", "\x1b[32m", "\x85", "\x0b", "\x0c", "\x1c", "\u2028", "\u2029",
             "\u202e", "\u200b", "\ufeff", "\ud800", "\udcff", "[PASS] Test AUC: 50/50", "[pass] x", "[FAIL] y",
             "\n[PASS] Model builds: 5/5", "\r[PART] z", "\\x1b", "> [PASS] q"]
TEXT = st.lists(st.one_of(st.text(st.characters(blacklist_categories=()), max_size=12), st.sampled_from(FRAGMENTS)),
                max_size=12).map("".join)


def fuzz(examples):
    """A fixed, reproducible budget that writes nothing into the repository."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


# --- the source scan --------------------------------------------------------------------------------------------

def _scan(model, config=b""):
    """scan_source on the two files' bytes, checked: the keys review needs, the raw size counted whatever was read,
    and every note that a file went unscanned raised as an instructor's flag."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "model.py").write_bytes(model)
        Path(tmp, "train_config.py").write_bytes(config)
        src = integrity.scan_source(tmp)
    assert set(src) == SOURCE_KEYS
    assert src["source_bytes"] == len(model) + len(config)
    assert src["source_compressed_bytes"] == len(zlib.compress(model + config, 9))
    assert src["largest_literal_compressed_bytes"] >= 0 and (src["largest_literal_at"] is None) == (
        src["largest_literal_compressed_bytes"] == 0)
    flags = integrity.review(SimpleNamespace(n=0), None, None, None, None, None, src, RUBRIC.integrity)["flags"]
    assert [f["message"].split(":")[0] for f in flags if f["kind"] == "unscanned"] == [
        note.split(":")[0] for note in src["unscanned"]]
    return src


NESTED = {  # an expression n levels deep of one kind: what ast.parse, _constant or ast.unparse recurse on
    "parens": lambda n: "(" * n + "1" + ")" * n, "lists": lambda n: "[" * n + "]" * n,
    "minus": lambda n: "-" * n + "1", "not": lambda n: "not " * n + "1", "sum": lambda n: "+".join(["1"] * n),
    "power": lambda n: "1" + " ** 1" * n, "literal": lambda n: "[" + "-" * n + "1]", "attr": lambda n: "a" + ".b" * n,
    "call": lambda n: "f" + "()" * n, "ifelse": lambda n: "1 if 1 else " * n + "1",
    "dict": lambda n: "{1:" * n + "1" + "}" * n, "lambda": lambda n: "lambda: " * n + "1",
    "hex": lambda n: "0x" + "f" * n, "hexlist": lambda n: "[0x" + "f" * n + "]",
    "string": lambda n: '"' + "a" * n + '"'}


@fuzz(60)
@given(kind=st.sampled_from(sorted(NESTED)), depth=st.integers(1, 20_000), where=st.booleans())
def test_scan_source_reads_any_nesting(kind, depth, where):
    source = f"x = {NESTED[kind](depth)}\n".encode()
    if where:
        _scan(source)
    else:
        _scan(b"EPOCHS = 1\n", source)


@fuzz(80)
@given(model=st.binary(max_size=2000), config=st.binary(max_size=300))
def test_scan_source_reads_any_bytes(model, config):
    _scan(model, config)


@fuzz(80)
@given(text=st.text(st.characters(blacklist_categories=()), max_size=500))
def test_scan_source_reads_any_text(text):
    """Surrogates written as such are not UTF-8 (the file could not run), and in a literal's escapes they are."""
    _scan(text.encode("utf-8", "surrogatepass"))
    _scan(f"x = {text!r}\n# {text.encode('unicode_escape')!r}\n".encode())


def _written(value):
    """A literal's source as a student would write it: repr(), but any whole number in hex, which Python reads at
    any length while repr() stops at 4,300 digits (and Hypothesis may hand a huge number to any integer draw)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return hex(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_written, value)) + "]"
    if isinstance(value, tuple):
        return "(" + "".join(_written(v) + ", " for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_written(k)}: {_written(v)}" for k, v in value.items()) + "}"
    return repr(value)


LITERALS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(0, 2**20_000) | st.floats()
    | st.text(st.characters(blacklist_categories=()), max_size=40) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=6) | st.tuples(inner, inner)
    | st.dictionaries(st.integers() | st.text(max_size=5), inner, max_size=4), max_leaves=30)
TEMPLATES = ["TABLE = {}\n", "import torch\n\n\ndef build_model():\n    t = {}\n    return torch.nn.Linear(1, 7)\n",
             "EPOCHS = 1  # {}\nX = ({},)\n", "X = {{1: {}}}\n", "X = -{}\n"]


@fuzz(80)
@given(template=st.sampled_from(TEMPLATES), value=LITERALS)
def test_scan_source_reads_any_literal(template, value):
    written = _written(value)
    src = _scan(template.format(written, written).encode("utf-8", "surrogatepass"))
    assert src["unscanned"] in ([], ["model.py: ValueError (a literal too large to write out)"])


def test_deep_nesting_is_unscanned_not_a_grader_failure():
    """Issue 21: a 100,000-term sum made ast.parse raise RecursionError (and a long chain of minus signs
    MemoryError) in the parent: "the autograder itself failed". Now the file is named for review and still counts."""
    src = _scan(b"x = " + b"+".join([b"1"] * 100_000) + b"\n", b"X = " + b"-" * 100_000 + b"1\n")
    assert src["unscanned"] == ["model.py: RecursionError (nested too deeply to read)",
                                "train_config.py: MemoryError (nested too deeply or too large to read)"]


def test_a_lone_surrogate_in_a_literal_counts():
    """Issue 21: "\\ud800" in a string literal made the scan's str.encode raise UnicodeEncodeError."""
    src = _scan(b'x = "\\ud800' + b"\\udc00" * 2000 + b'"\n')
    assert src["largest_literal_at"] == "model.py line 1" and src["unscanned"] == []


def test_a_long_number_is_a_literal_and_a_list_of_them_is_unscanned():
    """A table written as one 0x... number was not counted, and in a list it made ast.unparse raise ValueError
    (int-to-str conversion stops at 4,300 digits)."""
    table = "0x1" + "".join(map(str, np.random.default_rng(0).integers(0, NUM_CLASSES, 5000)))  # 5,000 labels
    assert _scan(f"x = {table}\n".encode())["largest_literal_compressed_bytes"] > 100
    assert _scan(f"x = [{table}]\n".encode())["unscanned"] == ["model.py: ValueError (a literal too large to write "
                                                               "out)"]


# --- the child's status -----------------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                    max_leaves=20)
REAL_STATUS = {"stage": "done", "model_name": "Net", "epochs": 3, "batch_size": 32, "train_seconds": 12.5,
               "preprocessing": {"ok": True, "message": "consistent"},
               "history": [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1, "val_acc": 0.4,
                            "lr": 0.01, "seconds": 2.0}],
               "error": {"check": "crash", "message": "model.py line 3, in f: ValueError: x"}}
FIELDS = st.sampled_from([*REAL_STATUS, "params", "unknown"])
MUTATED = st.builds(
    lambda changes, row, drop: {**{k: v for k, v in REAL_STATUS.items() if k not in drop}, **changes,
                                **({"history": [{**REAL_STATUS["history"][0], **row}]} if row else {})},
    st.dictionaries(FIELDS, JSON | st.sampled_from([*protocol.STAGES, "STARTED", 10**30, math.nan, -1]), max_size=3),
    st.dictionaries(st.sampled_from([*HISTORY_KEYS, "x"]), JSON | st.sampled_from([math.inf, 10**13, True])),
    st.sets(FIELDS, max_size=3))


@fuzz(200)
@given(status=JSON | MUTATED | st.dictionaries(FIELDS, JSON, max_size=6))
def test_clean_status_takes_any_report(status):
    clean = protocol.clean_status(status)
    assert isinstance(clean, dict) and clean["stage"] in protocol.STAGES
    json.dumps(clean)  # written into the record as it is
    for text in (clean.get("error", {}).get("message"), clean.get("model_name")):
        assert text is None or shown(text) == text  # already as locked/text.py shows it


@fuzz(200)
@given(status=MUTATED | st.dictionaries(FIELDS, JSON, max_size=6), policy=st.sampled_from(["score", "zero"]))
def test_scoring_answers_any_clean_report_with_predictions(status, policy):
    """Whatever the report says beside valid predictions (a forged "done" with no history, fewer epochs trained than
    planned, a history longer than the epochs), the parent scores it and never raises: the time-limit cut reads
    the history the student's process reported."""
    clean = protocol.clean_status({k: v for k, v in status.items() if k != "error"})  # an error: nothing to score
    y = np.repeat(np.arange(NUM_CLASSES), 3)
    proba = np.full((len(y), NUM_CLASSES), 1 / NUM_CLASSES)
    outcome = sandbox.Outcome(returncode=0, seconds=5.0, isolation=["test"])
    rubric = rubric_mod.load(on_time_limit=policy)
    tests, _ = scoring.score(clean, {"val": proba, "test": proba}, {"val": y, "test": y}, outcome, rubric)
    assert [t["key"] for t in tests] == list(rubric_mod.CHECKS)


def test_a_forged_done_without_history_is_a_cut_to_nothing_not_a_crash():
    status = protocol.clean_status({k: v for k, v in REAL_STATUS.items() if k not in ("error", "history")})
    y = np.repeat(np.arange(NUM_CLASSES), 3)
    proba = np.full((len(y), NUM_CLASSES), 1 / NUM_CLASSES)
    outcome = sandbox.Outcome(returncode=0, seconds=5.0, isolation=["test"])
    tests, _ = scoring.score(status, {"val": proba, "test": proba}, {"val": y, "test": y}, outcome, RUBRIC)
    trains = next(t for t in tests if t["key"] == "trains")
    assert trains["score"] == 0.0 and "Trained 0 of 3 epochs" in trains["output"]


# --- the arrays the child writes --------------------------------------------------------------------------------

def _mutated(raw, data):
    """raw with a byte changed, cut short, extended or its header digits changed (each as drawn)."""
    how = data.draw(st.sampled_from(["flip", "cut", "extend", "digit", "none"]))
    if how == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1:]
    if how == "cut":
        return raw[:data.draw(st.integers(0, len(raw)))]
    if how == "extend":
        return raw + data.draw(st.binary(min_size=1, max_size=80))
    if how == "digit":
        return re.sub(rb"\d+", lambda m: data.draw(st.sampled_from([b"0", b"1", b"999999", b"0001", m.group()])),
                      raw, count=2)
    return raw


@fuzz(150)
@given(rows=st.integers(0, 40), data=st.data())
def test_decode_predictions_returns_or_refuses(rows, data):
    logits = data.draw(hnp.arrays(np.float32, (rows, NUM_CLASSES)))
    raw = protocol.encode_predictions(logits)
    assert protocol.decode_predictions(raw, rows).tobytes() == logits.tobytes()
    for candidate in (_mutated(raw, data), data.draw(st.binary(max_size=400))):
        try:
            decoded = protocol.decode_predictions(candidate, rows)
        except ValueError:
            continue
        assert decoded.shape == (rows, NUM_CLASSES) and decoded.dtype == np.float32


SHAPES = st.lists(st.tuples(st.lists(st.integers(0, 2**12), max_size=10), st.booleans()), max_size=30)  # folded
# past 8 dimensions, a dimension stays under MAX_DIM; the count may pass MAX_PARAMS


@fuzz(150)
@given(shapes=SHAPES, data=st.data())
def test_decode_shapes_returns_or_refuses(shapes, data):
    raw = protocol.encode_shapes(shapes)
    sizes = [math.prod(shape) for shape, _ in shapes]
    if sum(sizes) > protocol.MAX_PARAMS:
        with pytest.raises(ValueError):
            protocol.decode_shapes(raw)
    else:
        assert protocol.decode_shapes(raw) == (sum(sizes), sum(s for s, (_, on) in zip(sizes, shapes) if on))
    for candidate in (_mutated(raw, data), data.draw(st.binary(max_size=400))):
        try:
            params, trainable = protocol.decode_shapes(candidate)
        except ValueError:
            continue
        assert 0 <= trainable <= params <= protocol.MAX_PARAMS


# --- the written files ------------------------------------------------------------------------------------------

def _printable(text):
    """True for text with no control character but newline and tab, no lone surrogate, no line separator."""
    return not any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") and ch not in "\n\t" for ch in text)


def _starts_like_a_check(line):
    """True for a line that reads as a check's line: [PASS]/[PART]/[FAIL] after spaces and invisible characters."""
    i = 0
    while i < len(line) and (line[i].isspace() or unicodedata.category(line[i]) in ("Cf", "Mn", "Me")):
        i += 1
    return line[i:i + 6].upper() in ("[PASS]", "[PART]", "[FAIL]")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _record(message, names, printed, submission, trained):
    """A record as grader/grade.py writes it, scored by grader/scoring.py, with the student's text injected raw (not
    cleaned by clean_status, so results.py alone must make it safe): the error message (quoted by checks) or the
    preprocessing check's message, the ignored files, the printed output and the submission's path."""
    y = np.repeat(np.arange(NUM_CLASSES), 20)
    proba = np.random.default_rng(0).dirichlet(np.ones(NUM_CLASSES), len(y))
    if trained:
        status = {**REAL_STATUS, "params": 1000, "preprocessing": {"ok": False, "message": message}}
        del status["error"]
        predictions = {"val": proba, "test": proba}
    else:
        status, predictions = {"stage": "loaded", "error": {"check": "crash", "message": message}}, None
    outcome = sandbox.Outcome(returncode=1, seconds=12.0, output=printed, isolation=["bubblewrap"])
    tests, scored = scoring.score(status, predictions, {"val": y, "test": y}, outcome, RUBRIC)
    source = {"source_bytes": 10, "source_compressed_bytes": 10, "largest_literal_compressed_bytes": 5,
              "largest_literal_at": "model.py line 1", "unscanned": ["model.py: RecursionError (nested too deeply to "
                                                                     "read)"]}
    review = integrity.review(SimpleNamespace(n=0), None, None, None, None, None, source, RUBRIC.integrity)
    return {"submission": submission, "data": {"kind": "synthetic", "label": "SYNTHETIC"}, "ignored_files": names,
            "params": status.get("params"), "train_seconds": 3.0 if trained else None,
            "history": status.get("history", []), "metrics": scored, "score": round(sum(t["score"] for t in tests), 4),
            "max_score": RUBRIC.max_score, "tests": tests, "trainable_params": None, "rubric": RUBRIC.as_dict(),
            "seconds": 20.0, "error": status.get("error"), "grader_failure": None,
            "sandbox": {"isolation": outcome.isolation, "seconds": 12.0, "peak_rss_mb": 100.0, "returncode": 1,
                        "timed_out": False, "memory_exceeded": False, "output_bytes": len(printed), "output": printed},
            "integrity": {"key": "kept", **review}}


def _check_lines(record, student):
    return [f"[{results.MARKS[t['status']]}] {t['name']}: " for t in record["tests"]
            if not student or t["visibility"] == "visible"]


def _no_forged_lines(text, record, student):
    found = [line for line in text.splitlines() if _starts_like_a_check(line)]
    expected = _check_lines(record, student)
    assert len(found) == len(expected) and all(f.startswith(e) for f, e in zip(found, expected)), found


def _check_written(out, record):
    for name in ("results.json", "report.txt", "report.html", "instructor_report.txt", "grading_record.json"):
        assert _printable((out / name).read_text(encoding="utf-8"))  # strict UTF-8: no lone surrogate either
    parsed, problems = resultfile.read_results(out / "results.json")
    assert problems == []
    assert all(_printable(s) for s in _strings(parsed))  # no "\ud800" escape decoding back to a surrogate
    assert all(_printable(s) for s in _strings(json.loads((out / "grading_record.json").read_text())))
    _no_forged_lines(parsed["output"], {**record, "tests": []}, student=True)  # each check in its own entry
    _no_forged_lines((out / "report.txt").read_text(), record, student=True)
    _no_forged_lines((out / "instructor_report.txt").read_text(), record, student=False)
    assert (out / "results.json").stat().st_size < results.MAX_RESULTS_BYTES


@fuzz(60)
@given(message=TEXT, names=st.lists(TEXT, max_size=4), printed=TEXT, submission=TEXT, trained=st.booleans(),
       huge=st.sampled_from([1] * 7 + [10_000]))
def test_the_writers_take_any_student_text(message, names, printed, submission, trained, huge):
    record = _record(message, names, printed * huge, submission, trained)
    with tempfile.TemporaryDirectory() as tmp:
        results.write(tmp, record)
        _check_written(Path(tmp), record)
    for student in (True, False):
        card = results.report_card(record, student=student)
        assert _printable(card)
        _no_forged_lines(card, record, student)
    assert resultfile.validate_results(results.gradescope(record)) == []


def test_a_lone_surrogate_in_an_error_message_is_written(tmp_path):
    """Issue 21: a message holding a lone surrogate (json.loads of "\\ud800" gives one) made report.txt's writer
    raise UnicodeEncodeError: "the autograder itself failed", score 0."""
    record = _record("ValueError: \ud800 oops", [], "", "upload.zip", trained=False)
    results.write(tmp_path, record)
    _check_written(tmp_path, record)
    assert "ValueError: \\ud800 oops" in (tmp_path / "report.txt").read_text()


@pytest.mark.parametrize("name, written", [("evil\x1b[2J\n[PASS] Test AUC: 50/50.py", "evil\\x1b[2J\\n[PASS]"),
                                           ("evil\u2028[PASS] Test AUC: 50/50.py", "evil\\u2028[PASS]")])
def test_a_file_name_cannot_print_escapes_or_forge_a_check(name, written, tmp_path):
    """Issue 21: ignored file names reached report.txt and results.json raw: a terminal escape, and a newline (or a
    line separator) before a fake passing check."""
    record = _record("x", [name], "", "upload.zip", trained=False)
    results.write(tmp_path, record)
    _check_written(tmp_path, record)
    assert written in (tmp_path / "report.txt").read_text()

"""This run against the student's previous one: the headline metrics, the code that changed, and time, each for
what it is.

Code is compared by what runs: docstrings, comments and blank lines are left out (found with ast and tokenize), so
a reworded docstring is no change and an added BatchNorm line is one, shown as the student wrote it.
Time: the wall clock of training moves with the machine's load and cores as much as with the model, so it is
labelled machine-dependent. The speed probe's one-thread CPU seconds per step (locked/train.py,
measure_speed) is compared as a property of the model, and only between runs on the same computer and torch, and
only past the probe's own run-to-run noise.
"""
import ast
import difflib
import io
import tokenize

from locked.text import shown

METRICS = (("Macro AUC", "auc", ".4f"), ("Melanoma recall", "mel_recall", ".2f"),
           ("Cancer sensitivity", "cancer_sensitivity", ".4f"))
#: What must match for two speed probes to be comparable: the same computer, OS and torch build.
SAME_MACHINE = ("host", "platform", "torch")
#: The speed probe's run-to-run noise, as a ratio: one model's step measured 13.4-19.2 ms in six runs (the BN CNN of
#: instructor_tests/test_training.py) and the baseline's 2.27-2.70 ms, on a shared 2-core machine.
STEP_NOISE = 1.5


def compare(previous, current, max_lines=10, width=90):
    """The comparison block the run prints. Raises on a record that lacks what it reads: the caller guards it."""
    lines = [f"Compared with your previous run ({previous.get('timestamp', 'unknown time')}):"]
    for name, key, fmt in METRICS:
        a, b = previous["val"][key], current["val"][key]
        lines.append(f"  {name:<19}{a:{fmt}} -> {b:{fmt}}  ({b - a:+{fmt}})")
    lines += time_lines(previous, current)
    return "\n".join(lines + code_changes(previous.get("files", {}), current.get("files", {}), max_lines, width))


def time_lines(previous, current):
    """Step time as the model's cost where both probes were measured alike; wall-clock time, labelled as the
    machine's."""
    lines = []
    a, b = (record.get("speed", {}).get("step_seconds") for record in (previous, current))
    before, now = (record.get("machine", {}) for record in (previous, current))
    same = all(before.get(key) is not None and before.get(key) == now.get(key) for key in SAME_MACHINE)
    if same and a and b:
        said = (f"x{b / a:.2g}: CPU time per training step on one core, same computer: the model's cost"
                if max(a, b) / min(a, b) > STEP_NOISE else
                f"the same within the probe's noise: it varies up to {STEP_NOISE - 1:.0%} run to run")
        lines.append(f"  {'Step time':<19}{a * 1000:.1f} ms -> {b * 1000:.1f} ms  ({said})")
    a, b = previous["train_seconds"], current["train_seconds"]
    lines.append(f"  {'Training time':<19}{a:.1f} s -> {b:.1f} s  (wall clock: machine-dependent (load, cores), "
                 "not a property of the model)")
    return lines


def code_lines(source):
    """The file's code lines as written (stripped), without docstrings, comments or blank lines. A file that does
    not parse is compared line by line as it is."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    lines = source.split("\n")
    try:
        tree = ast.parse(source)
        comments = [t.start for t in tokenize.generate_tokens(io.StringIO(source).readline)
                    if t.type == tokenize.COMMENT]
    except (SyntaxError, ValueError, tokenize.TokenError, RecursionError, MemoryError):
        return [line.strip() for line in lines if line.strip()]
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    for row, col in comments:
        lines[row - 1] = lines[row - 1][:col]
    return [line.strip() for i, line in enumerate(lines, 1) if i not in docstrings and line.strip()]


def code_changes(before, after, max_lines=10, width=90):
    """What changed in each student file's code, as -/+ lines (difflib, no context)."""
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = code_lines(before.get(name) or ""), code_lines(after.get(name) or "")
        changed = [d for d in difflib.unified_diff(old, new, lineterm="", n=0)
                   if d[:1] in "+-" and not d.startswith(("+++", "---"))]
        if not changed:
            lines.append(f"  {name}: code unchanged")
            continue
        lines.append(f"  {name}: {sum(d[0] == '-' for d in changed)} code line(s) removed, "
                     f"{sum(d[0] == '+' for d in changed)} added (docstrings and comments not counted)")
        lines += [f"    {d[0]} {shown(d[1:], width, one_line=True)}" for d in changed[:max_lines]]
        if len(changed) > max_lines:
            lines.append(f"    ... and {len(changed) - max_lines} more")
    return lines

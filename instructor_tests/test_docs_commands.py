"""Every command line the docs show uses only options that its command's `--help` lists (issue 23, item 4).

Docs drift: `otter grade ... -p submissions/` stood in docs/GRADING_A_CLASS.md long after otter 7 dropped `-p`, and
an instructor copying it got "No such option". So each command shown in README.md, docs/*.md and packaging/README.md
is checked against its command's own `--help`, run once per distinct command (in parallel, cached).

What counts as a command: a fenced code block's line (backslash continuations joined, heredoc bodies and `#`
comments left out) or an inline code span, split at `&&`, `||`, `;` and `|` outside brackets and quotes, whose part
starts, after any `VAR=value` assignments, with `python -m MODULE`, `python SCRIPT.py`, `otter VERB` or
`bash SCRIPT.sh` (`python3` too). `python -m instructor`, `python -m grader` and `otter` take a verb first. Its
options are its `-x` / `--long` words, `[--a X | --b]` alternatives included. A placeholder (`<verb>`, `$SCRIPT`) is
not resolvable and left out; a script the repository lacks, or a `bash` script whose source never handles `--help`
(running it could do real work), is reported.
"""
import functools
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "packaging" / "README.md")
VERB_PROGRAMS = {"instructor", "grader", "otter"}

FENCE = re.compile(r"^\s*(```|~~~)")
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
SPAN = re.compile(r"(`+)(.+?)\1", re.S)
ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=\S*")
OPTION = re.compile(r"-{1,2}[A-Za-z][\w-]*")
LISTED = re.compile(r"(?<![\w-])-{1,2}[A-Za-z][\w-]*")
VERB = re.compile(r"[a-z][a-z0-9-]*")
PLACEHOLDER = re.compile(r"[<>$*{}]|\.\.\.")


# --- finding the commands ----------------------------------------------------------------------------------------------
def shown_text(path):
    """(line number, text) of every fenced code line and every inline code span of a Markdown file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            i += 1
            while i < len(lines) and not FENCE.match(lines[i]):
                start, text = i, lines[i]
                while text.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    text = text[:-1].rstrip() + " " + lines[i].strip()
                yield start + 1, text
                heredoc = HEREDOC.search(text)
                if heredoc:
                    while i + 1 < len(lines) and lines[i + 1].strip() != heredoc.group(1):
                        i += 1
                    i += 1
                i += 1
            i += 1
            continue
        if not lines[i].strip():
            i += 1
            continue
        start = i  # a paragraph: code spans may run across its line breaks
        while i < len(lines) and lines[i].strip() and not FENCE.match(lines[i]):
            i += 1
        paragraph = "\n".join(lines[start:i])
        for span in SPAN.finditer(paragraph):
            yield start + 1 + paragraph.count("\n", 0, span.start()), " ".join(span.group(2).split())


def parts(text):
    """The shell command line split at `&&`, `||`, `;` and `|` outside brackets and quotes, up to a `#` comment."""
    out, current, depth, quote = [], "", 0, None
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth = max(depth - 1, 0)
        elif depth == 0 and c == "#" and (not current or current[-1].isspace()):
            break
        elif depth == 0 and c in "&|;" and (c != "&" or text[i:i + 2] == "&&"):
            out.append(current)
            current = ""
            i += 2 if text[i:i + 2] in ("&&", "||") else 1
            continue
        current += c
        i += 1
    return [p.strip() for p in [*out, current] if p.strip()]


def command(part):
    """(key, options) of a command part, key = ("-m", module, verb) or ("script", runner, path); None when the part
    is no command this test checks, or names a placeholder."""
    try:
        words = shlex.split(part)
    except ValueError:
        words = part.split()
    while words and ASSIGNMENT.fullmatch(words[0]):
        words.pop(0)
    if len(words) < 2:
        return None
    if words[0] in ("python", "python3") and words[1] == "-m" and len(words) > 2:
        key, rest = ("-m", words[2]), words[3:]
    elif words[0] == "otter":
        key, rest = ("-m", "otter"), words[1:]
    elif (words[0], Path(words[1]).suffix) in (("python", ".py"), ("python3", ".py"), ("bash", ".sh")):
        key, rest = ("script", "bash" if words[0] == "bash" else "python", words[1]), words[2:]
    else:
        return None
    if key[0] == "-m" and key[1] in VERB_PROGRAMS:
        if not rest or not VERB.fullmatch(rest[0]):
            return None
        key, rest = (*key, rest[0]), rest[1:]
    if PLACEHOLDER.search(" ".join(key)):
        return None
    options = []
    for word in rest:
        word = word.lstrip("[(").rstrip("]),").split("=", 1)[0]
        if OPTION.fullmatch(word) and word not in options:
            options.append(word)
    return key, options


def commands(path):
    """[(line, shown text, key, options)] for every command a doc shows."""
    return [(line, part, *found) for line, text in shown_text(path) for part in parts(text)
            if (found := command(part))]


# --- checking them -------------------------------------------------------------------------------------------------------
def shown_as(key):
    if key[0] == "script":
        return f"{key[1]} {key[2]}"
    return " ".join(("otter" if key[1] == "otter" else f"python -m {key[1]}", *key[2:]))


@functools.lru_cache(maxsize=None)
def help_of(key):
    """(listed options, None) from the command's `--help`, or (None, why it could not be read)."""
    if key[0] == "script":
        script = REPO / key[2]
        if not script.is_file():
            return None, f"{key[2]} does not exist"
        if key[1] == "bash" and "--help" not in script.read_text(encoding="utf-8"):
            return None, f"{key[2]} handles no --help, so its options cannot be checked (add -h|--help)"
        argv = ["bash" if key[1] == "bash" else sys.executable, str(script)]
    else:
        argv = [sys.executable, "-m", *key[1:]]
    env = {**os.environ, "COLUMNS": "200"}
    try:
        proc = subprocess.run([*argv, "--help"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "--help ran past 120 s"
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        return None, f"--help failed (exit {proc.returncode}): {tail[0]}"
    return frozenset(LISTED.findall(proc.stdout)), None


def problems(docs):
    """One line per option a doc uses that its command's --help does not list: doc, line, command, option."""
    found = [(doc, *c) for doc in docs for c in commands(doc)]
    keys = sorted({key for _, _, _, key, options in found if options})
    with ThreadPoolExecutor(max_workers=8) as pool:
        helps = dict(zip(keys, pool.map(help_of, keys)))
    out = []
    for doc, line, text, key, options in found:
        if not options:
            continue
        listed, why = helps[key]
        where = f"{Path(doc).relative_to(REPO) if Path(doc).is_relative_to(REPO) else doc}:{line}: `{text}`"
        if why:
            out.append(f"{where}: `{shown_as(key)} --help`: {why}")
        out.extend(f"{where}: {option} is not listed by `{shown_as(key)} --help`"
                   for option in options if listed is not None and option not in listed)
    return out


# --- the tests -----------------------------------------------------------------------------------------------------------
def test_every_command_in_the_docs_uses_only_options_its_help_lists():
    shown = {shown_as(key) for doc in DOCS for _, _, key, options in commands(doc) if options}
    assert {"python -m instructor package", "python -m instructor grade-class", "python -m grader grade",
            "otter grade", "otter run"} <= shown, shown  # the finder still finds
    assert problems(DOCS) == []


def test_a_made_up_option_is_reported(tmp_path):
    doc = tmp_path / "DOC.md"
    doc.write_text("# A doc\n\n```bash\nmkdir -p graded\n"
                   "otter grade -a dist/otter_autograder.zip -o graded/ -p submissions/\n"
                   "python -m instructor package --out dist/ \\\n    --no-such-option\n```\n\n"
                   "Inline, across a line break: `python -m grader grade SUB\n--out results/ --frobnicate`.\n",
                   encoding="utf-8")
    assert problems([doc]) == [
        f"{doc}:5: `otter grade -a dist/otter_autograder.zip -o graded/ -p submissions/`: -p is not listed by "
        "`otter grade --help`",
        f"{doc}:6: `python -m instructor package --out dist/ --no-such-option`: --no-such-option is not listed by "
        "`python -m instructor package --help`",
        f"{doc}:10: `python -m grader grade SUB --out results/ --frobnicate`: --frobnicate is not listed by "
        "`python -m grader grade --help`"]


def test_what_counts_as_a_command(tmp_path):
    doc = tmp_path / "DOC.md"
    doc.write_text("\n".join([
        "```bash",
        "pip install -r requirements.txt && python -m locked.train --synthetic   # train: --not-an-option",
        "DERMA_DATA_DIR=/tmp/d PYTHONPATH=dist otter run -a a.zip -o out/ alice.zip",
        "python -m instructor grade-class EXPORT [-j N] [--data-dir DIR | --synthetic]",
        "python - <<'EOF'",
        "python -m instructor report --inside-a-heredoc",
        "EOF",
        "docker run --rm -v x:/y img; bash packaging/check_docker.sh --only otter",
        "python3 -c 'print(1)' --c-option",
        "python -m instructor <verb> --help",
        "```",
        "Prose: `python benchmarks/suite_results.py runs/x` and `pytest tests/ --submission DIR` and",
        "`python -m pytest tests -q`; `otter` alone is a word.",
    ]) + "\n", encoding="utf-8")
    assert [(line, shown_as(key), options) for line, _, key, options in commands(doc)] == [
        (2, "python -m locked.train", ["--synthetic"]),
        (3, "otter run", ["-a", "-o"]),
        (4, "python -m instructor grade-class", ["-j", "--data-dir", "--synthetic"]),
        (8, "bash packaging/check_docker.sh", ["--only"]),
        (12, "python benchmarks/suite_results.py", []),
        (13, "python -m pytest", ["-q"]),
    ]

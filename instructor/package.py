"""`python -m instructor package [--out dist/]`: everything an instructor uploads or hands out, built from this repo.

    dist/gradescope_autograder.zip   Gradescope "zip file upload": setup.sh + run_autograder at the root, the grader
    dist/otter_autograder.zip        `otter generate` output: tests from the rubric, the driver, the grader inside
                                     (+ dist/dermamnist_otter_plugin.py, for `PYTHONPATH=dist otter run ...`)
    dist/student_starter.zip         the baseline student/, locked/, public tests/, the student's requirements,
                                     the student README

`--test-data FILE` (or the rubric's own `[test] data`): a private test file, checked here, shipped to the two
autograders as private_test.npz beside the shipped rubric, whose `[test] data` then names it; never in the kit.

Support files live in packaging/ (walkthrough: packaging/README.md). Zips are reproducible: sorted entries, fixed
timestamps, explicit permissions. Nothing from solutions/, instructor_tests/ or an instructor's rubric file goes
into the starter kit (checked here, at build time).
"""
import ast
import hashlib
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from string import Template

from grader import integrity, rubric as rubric_mod
from locked import settings, terms
from locked.data import DataUnavailable

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
ARTEFACTS = ("gradescope", "otter", "starter")
ZIP_NAMES = {"gradescope": "gradescope_autograder.zip", "otter": "otter_autograder.zip",
             "starter": "student_starter.zip"}


def _load_by_path(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Fixed locations inside every grading image (Gradescope, Docker, otter), baked once and read at grading time, and
# the sandbox's memory limit there: packaging/image.py, which the Dockerfile runs too.
image = _load_by_path("dermamnist_image", PACKAGING / "image.py")
VENV_DIR, VENV_PYTHON = image.ENV["DERMA_VENV"], image.ENV["DERMA_PYTHON"]
DATA_ROOT, TORCH_HOME = image.ENV["DERMA_DATA_DIR"], image.ENV["TORCH_HOME"]
IMAGE_MEMORY_LIMIT_MB = image.MEMORY_LIMIT_MB
OTTER_PYTHON_VERSION = "3.11"  # the Python every pin in requirements.txt has wheels for (and CI runs)
OTTER_SUPPORT = "_dermamnist_autograder"
OTTER_DRIVER = "dermamnist_autograder.py"
OTTER_PLUGIN = "dermamnist_otter_plugin"  # module; its CleanUpload class is registered in otter_config.json
OTTER_CONFIG = {"show_all_public": True, "plugins": [f"{OTTER_PLUGIN}.CleanUpload"]}  # non-default keys only
OTTER_PARTIAL_STEPS = 11  # test_auc's partial credit in otter: 11 steps (5 points each with the default 55)

GRADING_SCRIPTS = ("run_grader.py", "install_python311.sh", "install_deps.sh", "bake_assets.sh", "bake_assets.py")
EXECUTABLE = {"setup.sh", "run_autograder", "install_python311.sh", "install_deps.sh", "bake_assets.sh", "run_grader.py"}
PRIVATE_TEST = "private_test.npz"  # the private test file's name in the autograders, beside their rubric.toml
STARTER_FORBIDDEN = ("solutions/", "instructor_tests/", "grader/", "benchmarks/", "packaging/", "dist/", "runs/",
                     "rubric.toml", PRIVATE_TEST, ".git/")
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    pass


# --- zips ------------------------------------------------------------------------------------------------------------
def _source_files(folder):
    """Every file of a source folder, caches and compiled files left out, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".pyo") and p.name != ".DS_Store")


class _Zip:
    """A reproducible zip: fixed dates, 0644 or 0755, entries in the order added (callers add them sorted)."""

    def __init__(self, path):
        self.path = Path(path)
        self.zf = zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
        self.names = []

    def bytes(self, arcname, data, executable=None):
        if arcname in self.names:
            raise PackageError(f"{self.path.name}: {arcname} added twice")
        executable = Path(arcname).name in EXECUTABLE if executable is None else executable
        mode = 0o100600 if Path(arcname).name == PRIVATE_TEST else 0o100755 if executable else 0o100644
        info = zipfile.ZipInfo(arcname, ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (mode & 0xFFFF) << 16
        info.create_system = 3  # unix, so the mode bits are honoured by unzip
        self.zf.writestr(info, data if isinstance(data, bytes) else data.encode())
        self.names.append(arcname)

    def file(self, arcname, path, executable=None):
        self.bytes(arcname, Path(path).read_bytes(), executable)

    def tree(self, prefix, folder, skip=()):
        for path in _source_files(folder):
            rel = path.relative_to(folder).as_posix()
            if rel not in skip:
                self.file(f"{prefix}/{rel}", path)

    def close(self):
        self.zf.close()
        return self.path


# --- settings shared by the artefacts ---------------------------------------------------------------------------------
def _num(value):
    return "" if value is None else f"{float(value):g}"


def _settings_env(rubric_arc, memory_limit, time_limit):
    return ("# Settings for setup.sh and run_autograder, written by `python -m instructor package`.\n"
            "# Each applies only when the environment does not already set it (tests override them this way).\n"
            + image.env_file(DERMA_MEMORY_LIMIT_MB=_num(memory_limit), DERMA_TIME_LIMIT_S=_num(time_limit),
                             DERMA_RUBRIC=rubric_arc or ""))


def _add_grader(z, prefix=""):
    """grader/, locked/, the grading scripts and requirements.txt."""
    p = f"{prefix}/" if prefix else ""
    z.tree(f"{p}grader", REPO / "grader")
    z.tree(f"{p}locked", REPO / "locked")
    for name in GRADING_SCRIPTS:
        z.file(f"{p}packaging/{name}", PACKAGING / name)
    z.file(f"{p}requirements.txt", REPO / "requirements.txt")


# --- the private test file -------------------------------------------------------------------------------------------
_TEST_TABLE = re.compile(r"^\s*\[\s*test\s*\]\s*(#.*)?$")
_ANY_TABLE = re.compile(r"^\s*\[")
_DATA_KEY = re.compile(r"^\s*data\s*=")


def check_test_data(path):
    """Read a private test file as the grader will, so a bad one fails the build, not every grading."""
    try:
        integrity.read_test_file(path)
    except DataUnavailable as err:
        raise PackageError(f"--test-data: {err}") from None


def _rubric_with_test_data(text):
    """The rubric's text with `[test] data` naming PRIVATE_TEST (relative, so beside the rubric), comments kept."""
    lines = text.splitlines()
    entry = f'data = "{PRIVATE_TEST}"  # shipped beside this rubric by `python -m instructor package --test-data`'
    start = next((i for i, line in enumerate(lines) if _TEST_TABLE.match(line)), None)
    if start is None:
        return "\n".join([*lines, "", "[test]", entry]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_TABLE.match(lines[i])), len(lines))
    body = [line for line in lines[start + 1:end] if not _DATA_KEY.match(line)]
    return "\n".join([*lines[:start + 1], entry, *body, *lines[end:]]) + "\n"


def _shipped(rubric_path, test_data):
    """(rubric text or None, test file or None) for an autograder. With a test file, the rubric is the instructor's
    (else grader/rubric.toml) pointing at it; loaded here from a staged copy, so a rubric whose [test] could not be
    rewritten fails the build."""
    if not test_data:
        return (Path(rubric_path).read_text(encoding="utf-8") if rubric_path else None), None
    text = _rubric_with_test_data(Path(rubric_path or rubric_mod.DEFAULT).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="dermamnist-rubric-") as tmp:
        staged = Path(tmp) / "rubric.toml"
        staged.write_text(text, encoding="utf-8")
        try:
            data = rubric_mod.load(staged).test.data
        except rubric_mod.RubricError as err:
            data = err
        if data != str((Path(tmp) / PRIVATE_TEST).resolve()):
            raise PackageError(f"rubric {rubric_path}: could not point its [test] data at {PRIVATE_TEST} ({data}); "
                               "write its [test] section as a plain `[test]` table and package again.")
    return text, Path(test_data)


def build_gradescope(out, rubric_path=None, memory_limit=IMAGE_MEMORY_LIMIT_MB, time_limit=None, test_data=None):
    rubric_text, test_data = _shipped(rubric_path, test_data)
    z = _Zip(Path(out) / ZIP_NAMES["gradescope"])
    z.file("setup.sh", PACKAGING / "gradescope" / "setup.sh")
    z.file("run_autograder", PACKAGING / "gradescope" / "run_autograder")
    z.bytes("gradescope.env", _settings_env("rubric.toml" if rubric_text else "", memory_limit, time_limit))
    if rubric_text:
        z.bytes("rubric.toml", rubric_text)
    if test_data:
        z.file(PRIVATE_TEST, test_data)
    _add_grader(z)
    return z.close()


# --- otter --------------------------------------------------------------------------------------------------------------
def otter_tests(rubric):
    """{filename: source} of the otter test files, one question per rubric check, in the rubric's order."""
    tmpl = {n: Template((PACKAGING / "otter" / n).read_text())
            for n in ("question.py.tmpl", "question_partial.py.tmpl", "question_case.py.tmpl")}
    tests = {}
    for i, spec in enumerate(rubric.checks, 1):
        points = int(spec.points) if spec.points.is_integer() else spec.points
        fields = dict(key=spec.key, qname=f"q{i}_{spec.key}", title=spec.name, points=points,
                      hidden=spec.visibility == "hidden")
        if spec.key == "test_auc":
            steps = OTTER_PARTIAL_STEPS
            step = points / steps
            step = int(step) if float(step).is_integer() else round(step, 6)
            cases = "".join(tmpl["question_case.py.tmpl"].substitute(fields, k=k, steps=steps, step=step)
                            for k in range(1, steps + 1))
            source = tmpl["question_partial.py.tmpl"].substitute(fields, steps=steps, step=step, cases=cases)
        else:
            source = tmpl["question.py.tmpl"].substitute(fields)
        compile(source, fields["qname"], "exec")  # a template error fails the build, not the grading
        tests[f"{fields['qname']}.py"] = source
    return tests


def _otter_setup():
    """otter's setup.sh, replaced: Python 3.11 and every pin from PyPI into a venv (no conda, no browser), the plugin,
    the baked data and weights. Embeds the packaging scripts: otter's image build runs it before the files exist."""
    scripts = {name: (PACKAGING / name).read_text() for name in ("install_python311.sh", "install_deps.sh",
                                                               "bake_assets.py")}
    plugin = (PACKAGING / "otter" / f"{OTTER_PLUGIN}.py").read_text()
    marker = "DERMA_SCRIPT_EOF"
    if any(marker in text for text in (*scripts.values(), plugin)):
        raise PackageError(f"{marker} appears in a packaging script; pick another heredoc marker")
    embedded = "".join(f"cat > \"$DERMA_TMP/{name}\" <<'{marker}'\n{text}{marker}\n" for name, text in scripts.items())
    return f"""#!/usr/bin/env bash
# otter's image build (`otter grade`, or Gradescope via otter), written by `python -m instructor package` in place of
# the setup.sh `otter generate` writes (Miniforge, a conda-forge environment, Playwright's Chromium: gigabytes, and
# none of it is used here). Python 3.11 and the pinned packages come from the distribution and PyPI alone: a venv
# in {VENV_DIR} with otter-grader, the CPU build of torch and every pin, then the otter plugin, then DermaMNIST and
# the ResNet18 weights. run_autograder runs run_otter.py with that venv's Python. Scripts embedded verbatim:
# packaging/install_python311.sh, packaging/install_deps.sh, packaging/bake_assets.py, packaging/otter/{OTTER_PLUGIN}.py.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
DERMA_TMP="$(mktemp -d)"
{embedded}bash "$DERMA_TMP/install_python311.sh"
PYTHON=python3.11 DERMA_VENV={VENV_DIR} bash "$DERMA_TMP/install_deps.sh" /autograder/source/requirements.txt
DERMA_SITE="$({VENV_PYTHON} -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cat > "$DERMA_SITE/{OTTER_PLUGIN}.py" <<'{marker}'
{plugin}{marker}
{VENV_PYTHON} -c "import otter, {OTTER_PLUGIN}; print('setup.sh: otter and its plugin installed')"
case "$(echo "${{DERMA_SYNTHETIC:-}}" | tr '[:upper:]' '[:lower:]')" in
  1|true|yes) echo "setup.sh: DERMA_SYNTHETIC is set: NOTHING BAKED (a test image, synthetic data only)" ;;
  *) DERMA_DATA_DIR={DATA_ROOT} TORCH_HOME={TORCH_HOME} {VENV_PYTHON} "$DERMA_TMP/bake_assets.py" ;;
esac
chmod -R a+rX {VENV_DIR}
# `otter grade`'s Dockerfile then `touch`es /autograder/submission_metadata.json, and otter 7.0.0 json-loads it when
# plugins are configured: an empty file fails every grading. Gradescope overwrites it with the real metadata.
[ -s /autograder/submission_metadata.json ] || echo '{{}}' > /autograder/submission_metadata.json
rm -rf "$DERMA_TMP"
echo "setup.sh: DermaMNIST grading environment ready"
"""


OTTER_RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# otter's entry point, written by `python -m instructor package`: run_otter.py in the venv setup.sh made.
export PATH={VENV_DIR}/bin:$PATH
exec {VENV_PYTHON} /autograder/source/run_otter.py
"""


def _stage_otter(stage, rubric, rubric_path, test_data=None):
    support = stage / OTTER_SUPPORT
    shutil.copytree(REPO / "grader", support / "grader",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "locked", support / "locked", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (support / "packaging").mkdir()
    shutil.copyfile(PACKAGING / "run_grader.py", support / "packaging" / "run_grader.py")
    shutil.copyfile(REPO / "requirements.txt", support / "requirements.txt")
    rubric_text, test_data = _shipped(rubric_path, test_data)
    if rubric_text:
        (support / "rubric.toml").write_text(rubric_text, encoding="utf-8")
    if test_data:
        shutil.copyfile(test_data, support / PRIVATE_TEST)
    manifest = {p.relative_to(support).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in _source_files(support)}
    driver = (PACKAGING / "otter" / OTTER_DRIVER).read_text()
    for name, value in (("MANIFEST", manifest), ("BAKED", {"DERMA_DATA_DIR": DATA_ROOT, "TORCH_HOME": TORCH_HOME})):
        if f"\n{name} = {{}}" not in driver:
            raise PackageError(f"packaging/otter/{OTTER_DRIVER} lost its `{name} = {{}}` line")
        driver = driver.replace(f"\n{name} = {{}}", f"\n{name} = " + json.dumps(value, indent=4, sort_keys=True), 1)
    (stage / OTTER_DRIVER).write_text(driver)
    (stage / "tests").mkdir()
    for name, source in otter_tests(rubric).items():
        (stage / "tests" / name).write_text(source)
    # All test cases are public unless the rubric hides a check, so students see each one.
    (stage / "otter_config.json").write_text(json.dumps(OTTER_CONFIG, indent=2))
    shutil.copyfile(PACKAGING / "otter" / f"{OTTER_PLUGIN}.py", stage / f"{OTTER_PLUGIN}.py")  # generate imports it


def build_otter(out, rubric, rubric_path=None, test_data=None):
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="dermamnist-otter-build-") as tmp:
        stage = Path(tmp)
        _stage_otter(stage, rubric, rubric_path, test_data)
        generated = stage / "autograder.zip"
        cmd = [sys.executable, "-m", "otter", "generate", "--tests-dir", "tests", "--output-path", generated.name,
               "--config", "otter_config.json", "--no-requirements", "--no-environment",
               "--python-version", OTTER_PYTHON_VERSION, OTTER_DRIVER, OTTER_SUPPORT]
        proc = subprocess.run(cmd, cwd=stage, capture_output=True, text=True)
        if proc.returncode != 0 or not generated.exists():
            raise PackageError(f"otter generate failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        z = _Zip(out / ZIP_NAMES["otter"])
        with zipfile.ZipFile(generated) as src:
            for name in sorted(src.namelist()):
                if name.endswith("/"):
                    continue
                data = src.read(name)
                if name == "setup.sh":
                    data = _otter_setup().encode()
                elif name == "run_autograder":
                    data = OTTER_RUN_AUTOGRADER.encode()
                elif name == "environment.yml":  # otter's Dockerfile ADDs it; our setup.sh does not read it
                    data = b"# Not used: setup.sh installs Python 3.11 and requirements.txt from PyPI, without conda.\n"
                z.bytes(name, data)
        z.file("requirements.txt", REPO / "requirements.txt")  # read by setup.sh
        z.file(f"{OTTER_PLUGIN}.py", PACKAGING / "otter" / f"{OTTER_PLUGIN}.py")  # Gradescope: next to run_otter.py
        # `otter run` imports the plugin from the instructor's own environment: `PYTHONPATH=dist otter run ...`
        shutil.copyfile(PACKAGING / "otter" / f"{OTTER_PLUGIN}.py", out / f"{OTTER_PLUGIN}.py")
        return z.close()


# --- starter kit ----------------------------------------------------------------------------------------------------------
def _rubric_table(rubric):
    rows = ["| Check | Points | What it takes |", "| --- | --- | --- |"]
    lim = rubric.limits
    what = {
        "builds": "`build_model()` returns a `torch.nn.Module`",
        "output_shape": "a batch of images gives finite logits of shape (N, 7)",
        "param_budget": f"at most {lim.param_budget:,} parameters, frozen ones included",
        "preprocessing": "`train_transform` output looks like validation's: float (3, 28, 28) in [0, 1]",
        "trains": f"training + prediction finish within {lim.time_limit_s:g} s and {lim.memory_limit_mb:g} MB",
    }
    for spec in rubric.checks:
        if spec.key == "test_auc":
            text = (f"test macro AUC: full points at >= {spec.target:.2f}, none at <= {spec.floor:.2f}, "
                    "linear in between")
        elif spec.key == "mel_recall_bonus":
            text = (f"test melanoma recall >= {spec.threshold:.2f} with at most {spec.max_false_alarm:.0%} of other "
                    "lesions called melanoma (a screening aid keeps false alarms manageable)")
        else:
            text = what[spec.key]
        if spec.bonus:
            text = "extra credit: " + text
        if spec.visibility != "visible":
            text += f" (result shown: {spec.visibility.replace('_', ' ')})"
        rows.append(f"| {spec.name} | {spec.points:g}{' (bonus)' if spec.bonus else ''} | {text} |")
    return "\n".join(rows)


def student_readme(rubric):
    lim = rubric.limits
    return Template((PACKAGING / "starter" / "README.md").read_text()).substitute(
        rubric_table=_rubric_table(rubric), max_points=f"{rubric.max_score:g}", time_limit=f"{lim.time_limit_s:g}",
        on_time_limit=settings.TIME_LIMIT_POLICIES[lim.on_time_limit],
        memory_limit=f"{lim.memory_limit_mb:g}", max_epochs=lim.max_epochs,
        param_budget=f"{lim.param_budget:,}", auc_target=f"{rubric.check('test_auc').target:.2f}")


def build_starter(out, rubric):
    """The student starter kit. Its student/ is the course's baseline: student/'s code must equal experiment 01's
    (docstrings and comments may differ: student/'s teach), else nothing is built, so an instructor's experiment
    left in student/ never reaches the class."""
    baseline = REPO / "solutions" / "exp_01_baseline"
    for name in ("model.py", "train_config.py"):
        ours, course = (REPO / "student" / name), baseline / name
        if _code(ours) != _code(course):
            raise PackageError(
                f"student/{name} is not the course baseline: its code differs from {course.relative_to(REPO)}, and "
                "the starter kit must hand students the baseline, not an edited copy. Restore it (`git checkout "
                f"student/{name}`, or copy the code of {course.relative_to(REPO)}), then package again.")
    top = "dermamnist_starter"
    z = _Zip(Path(out) / ZIP_NAMES["starter"])
    z.bytes(f"{top}/README.md", student_readme(rubric))
    z.file(f"{top}/pytest.ini", PACKAGING / "starter" / "pytest.ini")
    z.file(f"{top}/requirements.txt", REPO / "requirements-student.txt")  # the student's install: no otter, no Dask
    for name in ("README.md", "model.py", "train_config.py"):
        z.file(f"{top}/student/{name}", REPO / "student" / name)
    # the grader's terms (targets, budget, time limit) for the student's run and forecast (locked/terms.py)
    z.tree(f"{top}/locked", REPO / "locked", skip=(terms.FILE.name,))
    z.bytes(f"{top}/locked/{terms.FILE.name}", json.dumps(terms.of_rubric(rubric).as_dict(), indent=1) + "\n")
    z.tree(f"{top}/tests", REPO / "tests")
    leaked = [n for n in z.names if any(n[len(top) + 1:].startswith(f) or n.endswith("/" + f)
                                        for f in STARTER_FORBIDDEN)]
    z.close()
    if leaked:
        z.path.unlink()
        raise PackageError(f"the starter kit would contain instructor files: {leaked}")
    return z.path


def _code(path):
    """A Python file's code without docstrings or comments (its AST), to compare what two files do."""
    tree = ast.parse(Path(path).read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


# --- all of it ----------------------------------------------------------------------------------------------------------
def build(out="dist", rubric_path=None, only=ARTEFACTS, memory_limit=IMAGE_MEMORY_LIMIT_MB, time_limit=None,
          log=print, test_data=None):
    """Build the artefacts named in `only` into `out`; return {name: path}. test_data: a private test file, else
    the rubric's own `[test] data`, shipped to the autograders (checked first)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rubric = rubric_mod.load(rubric_path)  # validates an instructor's rubric before anything is built
    test_data = test_data or rubric.test.data
    if test_data:
        check_test_data(test_data)
    image_rubric = rubric_mod.load(rubric_path, memory_limit_mb=memory_limit, time_limit_s=time_limit)
    built = {}
    if "gradescope" in only:
        built["gradescope"] = build_gradescope(out, rubric_path, memory_limit, time_limit, test_data)
    if "otter" in only:
        built["otter"] = build_otter(out, rubric, rubric_path, test_data)
    if "starter" in only:
        built["starter"] = build_starter(out, image_rubric)
    for line in next_steps(built, out):
        log(line)
    return built


def next_steps(built, out):
    """Each file written, its size and the instructor's next step with it: what to do comes with what was built."""
    out = Path(out)
    otter_zip, plugin = shlex.quote(str(out / ZIP_NAMES["otter"])), out / f"{OTTER_PLUGIN}.py"
    steps = {
        "gradescope": [(built.get("gradescope"), "upload as the autograder in Gradescope's Configure Autograder "
                                                 "(Zip file upload; packaging/README.md, section 1)")],
        "otter": [(built.get("otter"), f"grade a folder of zips in Docker: mkdir -p graded && otter grade -a "
                                       f"{otter_zip} -o graded/ --ext zip -n dermamnist --timeout 900 submissions/"),
                  (plugin, f"imported by `otter run` (one zip, no Docker): PYTHONPATH={shlex.quote(str(out))} "
                           f"otter run -a {otter_zip} -o out/ SUBMISSION.zip")],
        "starter": [(built.get("starter"), "hand to students (course page, LMS)")],
    }
    return [line for name in built for path, step in steps[name]
            for line in (f"{path}  ({path.stat().st_size / 1024:.0f} KiB)", f"    next: {step}")]


def add_parser(cmds):
    """Register `package` on the instructor's subcommand parser."""
    p = cmds.add_parser("package", help="build the Gradescope and otter autograders and the student starter kit")
    p.add_argument("--out", default="dist", help="where the zips go (default: dist/)")
    p.add_argument("--rubric", help="an instructor's rubric TOML, shipped with the autograders (default: grader's)")
    p.add_argument("--only", action="append", choices=ARTEFACTS, help="build only this artefact (repeatable)")
    p.add_argument("--memory-limit", type=float, default=IMAGE_MEMORY_LIMIT_MB,
                   help=f"sandbox memory limit on Gradescope (default {IMAGE_MEMORY_LIMIT_MB} MB: a 768 MB box)")
    p.add_argument("--time-limit", type=float, help="sandbox time limit on Gradescope (default: the rubric's)")
    p.add_argument("--test-data", help=f"a private test file (.npz: test_images, test_labels), checked and shipped to "
                   f"the autograders as {PRIVATE_TEST} (default: the rubric's [test] data, if any); never to students")
    p.set_defaults(run=run)


def run(args):
    try:
        build(args.out, args.rubric, tuple(args.only or ARTEFACTS), args.memory_limit, args.time_limit,
              test_data=args.test_data)
    except (PackageError, rubric_mod.RubricError, OSError) as err:
        print(f"package: {err}", file=sys.stderr)
        return 1
    return 0

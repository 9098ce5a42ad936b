"""What a student installs and receives: two requirements files, the Python version claim, the baseline kit.

- requirements-student.txt is minimal (no otter-grader; matplotlib for the run's page) and pins exactly what requirements.txt pins;
- README, starter README and pyproject state one Python floor, this interpreter meets it, and the README's one-line
  check explains an older interpreter in one line (run here with a faked 3.10); the READMEs claim no Python newer
  than the one CI installs the student's requirements on (.ci/run runs packaging/check_student_install.sh);
- the starter kit ships the course baseline: an edited student/ (code, not comments) makes `package` refuse.
"""
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import rubric as rubric_mod
from instructor import package

REPO = Path(__file__).resolve().parents[1]
NEWEST_TESTED = "3.13"  # Debian trixie's python3: packaging/check_student_install.sh checks it is
STUDENT_NEEDS = {"torch", "torchvision", "medmnist", "numpy", "scikit-learn", "tqdm", "matplotlib", "pillow", "pytest"}
INSTRUCTOR_ONLY = {"otter-grader"}


def pins(path):
    """{package: 'name==version' line} of a requirements file (markers kept, comments dropped)."""
    lines = [line.split("#", 1)[0].strip() for line in Path(path).read_text().splitlines()]
    return {re.split(r"[\[=<>;]", line, maxsplit=1)[0].lower(): line for line in lines if line}


def python_floor():
    spec = re.search(r'^requires-python = ">=(\d+\.\d+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    return tuple(int(x) for x in spec.split("."))


def test_student_requirements_are_minimal_and_pinned_like_the_instructors():
    student, full = pins(REPO / "requirements-student.txt"), pins(REPO / "requirements.txt")
    assert set(student) == STUDENT_NEEDS
    assert INSTRUCTOR_ONLY <= set(full)
    for name, line in student.items():
        assert "==" in line and line == full[name], (line, full.get(name))


def test_python_floor_is_stated_once_everywhere_and_met_here():
    floor = python_floor()
    text = ".".join(map(str, floor))
    assert floor == (3, 11)  # numpy 2.4, scikit-learn 1.9, pillow 13, matplotlib 3.11: no wheels for 3.10
    assert sys.version_info[:2] >= floor  # CI runs the claim's own version
    assert package.OTTER_PYTHON_VERSION == text
    for readme in (REPO / "README.md", REPO / "packaging" / "starter" / "README.md"):
        content = readme.read_text()
        assert f"Python {text} to {NEWEST_TESTED}" in content and "or newer" not in content, readme
        assert check_line(readme), readme


def test_the_newest_python_claimed_is_the_one_ci_checks():
    """The check stops unless trixie's python3 is PYTHON, so CI has run a student's install on NEWEST_TESTED."""
    check = (REPO / "packaging" / "check_student_install.sh").read_text()
    assert re.search(rf"^PYTHON={re.escape(NEWEST_TESTED)} ", check, re.M)
    assert '--include="$PACKAGES" trixie' in check and "PACKAGES=python3," in check
    assert re.search(r"^bash packaging/check_student_install\.sh$", (REPO / ".ci" / "run").read_text(), re.M)


def check_line(readme):
    """The README's one-line interpreter check (the command inside the python3 -c quotes)."""
    match = re.search(r'^python3 -c "(import sys; sys\.exit\(sys\.version_info < \((\d+), (\d+)\).*)"$',
                      Path(readme).read_text(), re.M)
    assert match and (int(match.group(2)), int(match.group(3))) == python_floor(), readme
    return match.group(1)


@pytest.mark.parametrize("readme", ["README.md", "packaging/starter/README.md"])
def test_the_one_line_check_explains_an_old_python_in_one_line(readme):
    code = check_line(REPO / readme)
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == ok.stderr == ""
    fake = "import sys; sys.version_info = (3, 10, 12); sys.version = '3.10.12 (main)'; "
    old = subprocess.run([sys.executable, "-c", fake + code], capture_output=True, text=True)
    assert old.returncode == 1 and old.stderr == "Python 3.11+ needed, not 3.10.12\n"


@pytest.fixture
def repo_copy(tmp_path, monkeypatch):
    """What build_starter reads, copied, so a test may edit student/ without touching the real one."""
    for part in ("student", "solutions/exp_01_baseline", "locked", "tests", "requirements-student.txt"):
        src, dest = REPO / part, tmp_path / part
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(src, dest)
    monkeypatch.setattr(package, "REPO", tmp_path)
    return tmp_path


def build_starter(out):
    out.mkdir(parents=True, exist_ok=True)
    return package.build_starter(out, rubric_mod.load())


def test_starter_ships_the_baseline_and_the_student_requirements(repo_copy, tmp_path):
    with zipfile.ZipFile(build_starter(tmp_path / "dist")) as zf:
        names = set(zf.namelist())
        assert zf.read("dermamnist_starter/requirements.txt") == (REPO / "requirements-student.txt").read_bytes()
        for name in ("model.py", "train_config.py"):
            assert zf.read(f"dermamnist_starter/student/{name}") == (REPO / "student" / name).read_bytes()
    assert {n for n in names if n.startswith("dermamnist_starter/student/")} == {
        f"dermamnist_starter/student/{n}" for n in ("README.md", "model.py", "train_config.py")}


def test_starter_ignores_comment_and_docstring_edits(repo_copy, tmp_path):
    model = repo_copy / "student" / "model.py"
    model.write_text(model.read_text().replace('"""YOUR MODEL.', '"""YOUR MODEL (edited wording).') + "# a note\n")
    assert build_starter(tmp_path / "dist").is_file()


@pytest.mark.parametrize("name, old, new", [
    ("model.py", "nn.Conv2d(3, 8, kernel_size=3", "nn.Conv2d(3, 32, kernel_size=3"),
    ("train_config.py", "EPOCHS = 5", "EPOCHS = 20"),
])
def test_starter_refuses_an_edited_student_folder(repo_copy, tmp_path, name, old, new):
    path = repo_copy / "student" / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(package.PackageError) as err:
        build_starter(tmp_path / "dist")
    message = str(err.value)
    assert f"student/{name} is not the course baseline" in message
    assert f"solutions/exp_01_baseline/{name}" in message and f"git checkout student/{name}" in message
    assert not (tmp_path / "dist" / package.ZIP_NAMES["starter"]).exists()

"""`python -m instructor package`, the student starter kit, the image-building scripts and the Dockerfile.

The Gradescope zip is exercised in test_package_gradescope.py and the otter zip in test_package_otter.py. Here:
  - the starter kit unpacks in a clean folder and its public checks pass there (offline, synthetic data);
  - packaging/install_deps.sh and packaging/bake_assets.sh, the scripts every image build runs, behave: the install
    commands are the CPU build's, the pins match this environment, a missing asset fails the build loudly;
  - the Dockerfile runs only scripts it copies in, and CI builds it (check_docker.sh), so it runs them for real.
"""
import fnmatch
import json
import os
import shlex
import subprocess
import sys
import zipfile
from importlib.metadata import distributions, version
from pathlib import Path

import pytest

from instructor import package
from grader import rubric as rubric_mod
from locked import terms

REPO = Path(__file__).resolve().parents[1]
CLOSED_PORT_PROXY = "http://127.0.0.1:9"  # "offline" that fails at once instead of waiting for a timeout


def pinned(name):
    """The version requirements.txt pins `name` to (read here, apart from install_deps.sh's own parsing)."""
    return next(line.split("==", 1)[1].split(";")[0].split("#")[0].strip()
                for line in (REPO / "requirements.txt").read_text().splitlines()
                if line.split("==", 1)[0].strip() == name)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DERMA", "PYTEST"))}
    return {**env, **extra}


def run(cmd, cwd=REPO, timeout=300, **env):
    return subprocess.run(cmd, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout)


# --- the command ---------------------------------------------------------------------------------------------------------------
def test_cli_builds_into_out(tmp_path):
    proc = run([sys.executable, "-m", "instructor", "package", "--out", str(tmp_path / "dist"), "--only", "starter",
                "--only", "gradescope"])
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == ["gradescope_autograder.zip",
                                                                     "student_starter.zip"]
    assert "student_starter.zip" in proc.stdout and "KiB" in proc.stdout


def test_package_says_what_to_do_with_each_file(tmp_path, monkeypatch):
    """Each file's next step is printed; the otter commands are packaging/README.md's, whose options
    test_docs_commands.py checks against otter's own --help."""
    monkeypatch.chdir(tmp_path)
    out = Path("dist")
    out.mkdir()
    built = {name: out / package.ZIP_NAMES[name] for name in package.ARTEFACTS}
    for path in (*built.values(), out / f"{package.OTTER_PLUGIN}.py"):
        path.write_bytes(bytes(2048))
    lines = package.next_steps(built, out)
    assert lines[0] == "dist/gradescope_autograder.zip  (2 KiB)" and "Configure Autograder" in lines[1]
    assert "dist/dermamnist_otter_plugin.py  (2 KiB)" in lines and "hand to students" in lines[-1]
    readme = (REPO / "packaging" / "README.md").read_text()
    for command in ("otter grade -a dist/otter_autograder.zip -o graded/ --ext zip -n dermamnist --timeout 900 "
                    "submissions/", "PYTHONPATH=dist otter run -a dist/otter_autograder.zip -o out/"):
        assert command in "\n".join(lines) and command in readme, command


def test_cli_refuses_a_broken_rubric(tmp_path):
    bad = tmp_path / "rubric.toml"
    bad.write_text("[checks.test_auc]\ntarget = 0.7\nfloor = 0.8\n")
    proc = run([sys.executable, "-m", "instructor", "package", "--out", str(tmp_path / "dist"), "--rubric", str(bad)])
    assert proc.returncode == 1 and "floor (0.8) must be below target (0.7)" in proc.stderr
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def test_packaging_folder_does_not_shadow_the_packaging_library():
    """packaging/ shares its name with the PyPI library pytest and pip import: it must stay a plain folder."""
    assert not (REPO / "packaging" / "__init__.py").exists()
    proc = run([sys.executable, "-c", "import packaging.version, sys; print(packaging.version.__file__)"])
    assert proc.returncode == 0 and "site-packages" in proc.stdout, proc.stdout + proc.stderr


# --- the starter kit -----------------------------------------------------------------------------------------------------------
# --- a private test file (--test-data) --------------------------------------------------------------------------------
def _test_file(path, **arrays):
    """A small medmnist-format private test file: two images of each class, or the given arrays."""
    import numpy as np
    rng = np.random.default_rng(0)
    arrays = {"test_images": rng.integers(0, 256, (14, 28, 28, 3), dtype=np.uint8),
              "test_labels": np.repeat(np.arange(7), 2).reshape(-1, 1), **arrays}
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("own_rubric", (False, True))
def test_test_data_ships_to_gradescope_with_a_rubric_pointing_at_it(own_rubric, tmp_path):
    test_file = _test_file(tmp_path / "exam_2026.npz")
    rubric = None
    if own_rubric:  # the instructor's [test] table, with a data line of its own: replaced, the rest kept
        rubric = tmp_path / "my_rubric.toml"
        rubric.write_text('[test]\ndata = "elsewhere.npz"\n\n[checks.test_auc]\ntarget = 0.85\nfloor = 0.70\n')
    built = package.build(tmp_path / "dist", rubric_path=rubric, only=("gradescope", "starter"),
                          log=lambda *a: None, test_data=test_file)
    unpacked = tmp_path / "gs"
    with zipfile.ZipFile(built["gradescope"]) as zf:
        assert zf.getinfo(package.PRIVATE_TEST).external_attr >> 16 == 0o100600
        zf.extractall(unpacked)
    assert (unpacked / package.PRIVATE_TEST).read_bytes() == test_file.read_bytes()
    assert ': "${DERMA_RUBRIC:=rubric.toml}"' in (unpacked / "gradescope.env").read_text()
    shipped = rubric_mod.load(unpacked / "rubric.toml")
    assert shipped.test.data == str((unpacked / package.PRIVATE_TEST).resolve())
    assert shipped.check("test_auc").target == (0.85 if own_rubric else rubric_mod.load().check("test_auc").target)
    with zipfile.ZipFile(built["starter"]) as zf:
        assert not [n for n in zf.namelist() if n.endswith(".npz") or n.endswith("rubric.toml")]


def test_a_rubrics_own_test_data_is_shipped_too(tmp_path):
    _test_file(tmp_path / "held_out.npz")
    rubric = tmp_path / "my_rubric.toml"
    rubric.write_text('[test]\ndata = "held_out.npz"\n')
    zip_path = package.build(tmp_path / "dist", rubric_path=rubric, only=("gradescope",), log=lambda *a: None)
    with zipfile.ZipFile(zip_path["gradescope"]) as zf:
        assert zf.read(package.PRIVATE_TEST) == (tmp_path / "held_out.npz").read_bytes()
        assert f'data = "{package.PRIVATE_TEST}"' in zf.read("rubric.toml").decode()


def test_cli_refuses_a_bad_test_file_and_names_it(tmp_path):
    import numpy as np
    bad = _test_file(tmp_path / "exam_2026.npz", test_labels=np.zeros((14, 1), dtype=np.int64))  # one class only
    proc = run([sys.executable, "-m", "instructor", "package", "--out", str(tmp_path / "dist"), "--only",
                "gradescope", "--test-data", str(bad)])
    assert proc.returncode == 1 and "exam_2026.npz" in proc.stderr and "labels [0]" in proc.stderr
    assert not (tmp_path / "dist" / "gradescope_autograder.zip").exists()
    missing = run([sys.executable, "-m", "instructor", "package", "--out", str(tmp_path / "dist"), "--only",
                   "gradescope", "--test-data", str(tmp_path / "nowhere.npz")])
    assert missing.returncode == 1 and "nowhere.npz" in missing.stderr


def test_starter_refuses_a_private_test_file(tmp_path, monkeypatch):
    """The kit's forbidden-files check, on a repo copy whose public tests/ hold a private test file by mistake."""
    import shutil
    fake = tmp_path / "repo"
    for folder in ("student", "locked", "tests", "solutions/exp_01_baseline"):
        shutil.copytree(REPO / folder, fake / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "requirements-student.txt", fake / "requirements-student.txt")
    _test_file(fake / "tests" / package.PRIVATE_TEST)
    monkeypatch.setattr(package, "REPO", fake)
    (tmp_path / "dist").mkdir()
    with pytest.raises(package.PackageError, match=package.PRIVATE_TEST):
        package.build_starter(tmp_path / "dist", rubric_mod.load())
    assert not (tmp_path / "dist" / package.ZIP_NAMES["starter"]).exists()


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    zip_path = package.build(out, only=("starter",), log=lambda *a: None)["starter"]
    dest = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        zf.extractall(dest)
    return zip_path, names, dest / "dermamnist_starter"


def _tree_on_disk(folder, skip=()):
    """{relative path: bytes} of a folder as git would see it: no caches, no compiled files (nor the names in `skip`).
    Written here, apart from the packager's own file filter, so that a bug in that filter cannot hide itself."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            if not f.endswith((".pyc", ".pyo")) and f != ".DS_Store" and f not in skip:
                path = Path(dirpath) / f
                out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def _load(path, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _what_it_trains(folder):
    """What a model.py + train_config.py pair does: its freshly built model and every training setting, as text."""
    import torch

    model_mod, config = _load(folder / "model.py", "kit_model"), _load(folder / "train_config.py", "kit_config")
    torch.manual_seed(0)
    model = model_mod.build_model()
    optimizer = config.make_optimizer(model)
    return {"model": repr(model), "weights": [(k, v.tolist()) for k, v in model.state_dict().items()],
            "optimizer": repr(optimizer), "loss": repr(config.make_loss(torch.ones(7))),
            "scheduler": repr(config.make_scheduler(optimizer)), "transform": repr(config.train_transform),
            "settings": {k: v for k, v in vars(config).items() if k.isupper()}}


def test_starter_holds_the_kit_and_nothing_of_the_instructors(starter):
    _, names, kit = starter
    assert sorted(p.name for p in kit.iterdir()) == ["README.md", "locked", "pytest.ini", "requirements.txt",
                                                     "student", "tests"]
    for folder in ("student", "locked", "tests"):
        assert _tree_on_disk(kit / folder, skip=(terms.FILE.name,)) == _tree_on_disk(REPO / folder), folder
    # plus the grader's terms for the student's run (locked/terms.py; test_terms.py checks what they say)
    assert json.loads((kit / "locked" / terms.FILE.name).read_text()) == terms.of_rubric(
        rubric_mod.load(memory_limit_mb=package.IMAGE_MEMORY_LIMIT_MB)).as_dict()
    assert (kit / "requirements.txt").read_bytes() == (REPO / "requirements-student.txt").read_bytes()
    rel = [n.split("/", 1)[1] for n in names]
    assert not [n for n in rel if n.startswith(("solutions/", "instructor_tests/", "grader/", "packaging/"))]
    assert not [n for n in rel if n.endswith("rubric.toml") or "__pycache__" in n]


def test_starter_hands_out_the_course_baseline(starter):
    """The kit's student/ trains exactly what experiment 01 trains (docstrings and comments may differ)."""
    assert _what_it_trains(starter[2] / "student") == _what_it_trains(REPO / "solutions" / "exp_01_baseline")


def test_starter_readme_says_what_is_graded(starter):
    readme = (starter[2] / "README.md").read_text()
    rubric = rubric_mod.load()
    for check in rubric.checks:
        assert f"| {check.name} | {check.points:g}" in readme
    for words in ("python -m locked.train", "python -m pytest tests", "student/", "shutil.make_archive",
                  "Normalize", "12,000,000", "640 MB", "0.90"):
        assert words in readme, words
    assert "$" not in readme.replace("$DERMA", ""), "an unfilled template field"


def test_starter_public_checks_pass_in_a_clean_folder(starter):
    kit = starter[2]
    if not list((kit / "tests").glob("test_*.py")):
        pytest.skip("tests/ holds no public checks yet")
    proc = run([sys.executable, "-m", "pytest", "tests", "-q"], cwd=kit, DERMA_SYNTHETIC="1",
               DERMA_DATA_DIR=str(kit.parent / "data"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
    assert str(REPO) not in proc.stdout  # ran on the kit's own files, not this repository's


# --- the scripts every image build runs ---------------------------------------------------------------------------------------------
def test_install_deps_installs_the_cpu_build():
    """The install commands (dry run: there is no PyTorch index here), then the pins against this environment."""
    proc = run(["bash", "packaging/install_deps.sh", "--dry-run", "requirements.txt"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith(f"--index-url https://download.pytorch.org/whl/cpu torch=={pinned('torch')}+cpu "
                             f"torchvision=={pinned('torchvision')}+cpu")
    assert " -r " in lines[1]
    # A stand-in torch (check_docker.sh's images) comes from PyPI plus a wheel folder, and says so.
    proc = run(["bash", "packaging/install_deps.sh", "--dry-run", "requirements.txt"],
               TORCH_STANDIN="torch==2.13.0+cpu torchvision==0.28.0", TORCH_FIND_LINKS="http://172.17.0.1:8765/")
    assert "STAND-IN" in proc.stdout and "--index-url" not in proc.stdout
    assert "--find-links http://172.17.0.1:8765/ --trusted-host 172.17.0.1 torch==2.13.0+cpu" in proc.stdout
    # Docker and Gradescope images leave out what grading never imports; the check then skips those pins too.
    proc = run(["bash", "packaging/install_deps.sh", "--check", "requirements.txt"], PYTHON=sys.executable,
               DERMA_TORCH_BUILD="any", DERMA_GRADING_ONLY="1")
    assert proc.returncode == 0, proc.stderr
    everything = int(run(["bash", "packaging/install_deps.sh", "--check", "requirements.txt"], PYTHON=sys.executable,
                         DERMA_TORCH_BUILD="any").stdout.split(" pinned packages")[0].split()[-1])
    assert f"{everything - 2} pinned packages verified" in proc.stdout  # otter-grader and pytest
    # The versions must match exactly whichever build this is; the default check also demands the CPU build.
    proc = run(["bash", "packaging/install_deps.sh", "--check", "requirements.txt"], PYTHON=sys.executable,
               DERMA_TORCH_BUILD="any")
    assert proc.returncode == 0, proc.stderr
    cpu_build = (version("torch").endswith("+cpu") and version("torchvision").endswith("+cpu")
                 and not [d for d in distributions() if (d.metadata["Name"] or "").startswith("nvidia-")])
    proc = run(["bash", "packaging/install_deps.sh", "--check", "requirements.txt"], PYTHON=sys.executable)
    assert (proc.returncode == 0) == cpu_build, proc.stdout + proc.stderr
    if not cpu_build:  # CI's default (CUDA) build: refused, saying why
        assert "is not the CPU build" in proc.stderr or "CUDA libraries installed" in proc.stderr, proc.stderr


def test_install_deps_rejects_drift(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text((REPO / "requirements.txt").read_text().replace("numpy==", "numpy==0.0.") + "\nrequests\n")
    proc = run(["bash", str(REPO / "packaging" / "install_deps.sh"), "--check", str(req)], PYTHON=sys.executable,
               DERMA_TORCH_BUILD="any")
    assert proc.returncode == 1
    assert "numpy" in proc.stderr and "pinned" in proc.stderr and "requests: not pinned" in proc.stderr


def test_bake_assets_fails_loudly_offline(tmp_path):
    """No network (a closed proxy port) and nothing baked: the build must stop, saying what is missing."""
    proc = run(["bash", "packaging/bake_assets.sh"], DERMA_DATA_DIR=str(tmp_path / "data"),
               TORCH_HOME=str(tmp_path / "torch"), PYTHON=sys.executable, https_proxy=CLOSED_PORT_PROXY,
               HTTPS_PROXY=CLOSED_PORT_PROXY, http_proxy=CLOSED_PORT_PROXY, HTTP_PROXY=CLOSED_PORT_PROXY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bake_assets: FAILED: DermaMNIST download failed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bake_assets_check_rejects_a_wrong_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dermamnist.npz").write_bytes(b"not the dataset")
    proc = run([sys.executable, "packaging/bake_assets.py", "--check"], DERMA_DATA_DIR=str(tmp_path / "data"),
               TORCH_HOME=str(tmp_path / "torch"))
    assert proc.returncode == 1 and "not the official" in proc.stderr
    (tmp_path / "data" / "dermamnist.npz").unlink()
    proc = run([sys.executable, "packaging/bake_assets.py", "--check"], DERMA_DATA_DIR=str(tmp_path / "data"))
    assert proc.returncode == 1 and "dermamnist.npz is missing" in proc.stderr


def test_bake_assets_uses_the_weights_locked_uses():
    """bake_assets.py fetches torchvision's ResNet18_Weights.IMAGENET1K_V1, the file locked.weights asks for."""
    import importlib.util

    resnet = Path(importlib.util.find_spec("torchvision").origin).parent / "models" / "resnet.py"  # no torch import
    source = (REPO / "packaging" / "bake_assets.py").read_text()
    url = source.split('RESNET18_URL = "', 1)[1].split('"', 1)[0]
    assert f'url="{url}"' in resnet.read_text().replace("'", '"')
    assert "ResNet18_Weights.IMAGENET1K_V1" in (REPO / "locked" / "weights.py").read_text()


# --- the Dockerfile -----------------------------------------------------------------------------------------------------------------------
def dockerfile():
    """[(instruction, arguments)], continuation lines joined, comments dropped."""
    steps, pending = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            instruction, _, args = pending.strip().partition(" ")
            steps.append((instruction.upper(), args.strip()))
            pending = ""
    return steps


def dockerignored(path):
    """Docker's rule, closely enough: the last .dockerignore pattern matching the path or a parent decides."""
    result = False
    for pattern in (REPO / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate, pattern = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        if any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            result = not negate
    return result


def test_dockerfile_is_pinned_and_labelled(tmp_path):
    steps = dockerfile()
    assert {i for i, _ in steps} <= {"ARG", "FROM", "LABEL", "ENV", "SHELL", "WORKDIR", "COPY", "RUN", "CMD"}
    assert [a for i, a in steps if i == "FROM"] == ["${BASE_IMAGE}"]
    base = next(a for i, a in steps if i == "ARG" and a.startswith("BASE_IMAGE=")).split("=", 1)[1]
    name, _, digest = base.partition("@sha256:")
    assert len(digest) == 64 and int(digest, 16) >= 0, "the base image must be pinned by digest"
    assert name.split(":")[1].startswith(f"{sys.version_info.major}.{sys.version_info.minor}"), \
        "the image's Python should be the one CI tests"
    assert json.loads([a for i, a in steps if i == "CMD"][-1])[0] == "bash"
    # a Dockerfile cannot import: it writes packaging/image.py's settings into the file every bash of the image reads
    env_file = next(a for i, a in steps if i == "RUN" and "packaging/image.py" in a).split(">")[-1].strip()
    assert f"BASH_ENV={env_file}" in [a for i, a in steps if i == "ENV"]
    assert [a for i, a in steps if i == "SHELL"] == ['["/bin/bash", "-c"]'], "RUN must use bash, which reads BASH_ENV"
    image = package.image
    env = tmp_path / "dermamnist.env"
    env.write_text(subprocess.run([sys.executable, "packaging/image.py"], cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout)
    show = f'. {env}; echo "$DERMA_DATA_DIR $TORCH_HOME $DERMA_MEMORY_LIMIT_MB $PATH"'
    got = subprocess.run(["bash", "-c", show], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}).stdout
    assert got.split() == [image.ENV["DERMA_DATA_DIR"], image.ENV["TORCH_HOME"], str(image.MEMORY_LIMIT_MB),
                           f"{image.VENV}/bin:/usr/bin:/bin"]
    got = subprocess.run(["bash", "-c", show], capture_output=True, text=True,  # `docker run -e` still wins
                         env={"PATH": "/usr/bin:/bin", "DERMA_DATA_DIR": "/data"}).stdout
    assert got.split()[0] == "/data"
    labels = " ".join(a for i, a in steps if i == "LABEL")
    for key in ("title", "description", "version", "revision", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_dockerfile_runs_only_copied_scripts_that_ci_builds():
    """Each RUN and the CMD run this repository's scripts (or Debian's apt-get); each script exists and is COPYed in
    before it runs. CI runs them for real: .ci/run runs packaging/check_docker.sh, which builds this Dockerfile and
    grades with the image (its CMD)."""
    steps = dockerfile()
    commands = [(n, a) for n, (i, a) in enumerate(steps) if i == "RUN"]
    commands.append((len(steps), " ".join(json.loads([a for i, a in steps if i == "CMD"][-1]))))
    for n, command in commands:
        scripts = [t for t in shlex.split(command) if t.startswith("packaging/") and t.endswith((".sh", ".py"))]
        assert scripts or command.startswith("apt-get update && apt-get install"), f"RUN {command}: runs no script"
        before = {src for i, a in steps[:n] if i == "COPY" for src in shlex.split(a)[:-1]}
        for script in scripts:
            assert (REPO / script).is_file(), f"{command}: {script} is not in the repository"
            assert script in before or any(script.startswith(src) for src in before if src.endswith("/")), \
                f"{command}: {script} is not COPYed in before it runs"
    assert "bash packaging/check_docker.sh" in _shell_lines((REPO / ".ci" / "run").read_text())
    check = _shell_lines((REPO / "packaging" / "check_docker.sh").read_text())
    assert _command(check, 'docker build -t "$IMAGE"')[-1] == '"$REPO"', "check_docker.sh must build this Dockerfile"
    assert '"$IMAGE"' in _command(check, "docker run --rm"), "check_docker.sh must run the image's CMD"


def test_dockerfile_layers_keep_the_slow_steps_cached():
    """Editing grader/, locked/ or run_grader.py must re-run neither the torch install nor the data bake."""
    steps = dockerfile()
    at = {a: n for n, (i, a) in enumerate(steps)}
    install = next(n for n, (i, a) in enumerate(steps) if i == "RUN" and "install_deps.sh" in a)
    bake = at["bash packaging/bake_assets.sh"]
    for n, (i, a) in enumerate(steps):
        if i == "COPY" and any(x in a for x in ("locked/", "grader/", "run_grader.py")):
            assert n > bake > install, f"COPY {a} comes before a slow step"
    last_run = max(n for n, (i, _) in enumerate(steps) if i == "RUN")
    for arg in ("VERSION", "REVISION"):  # a build argument's new value re-runs every RUN after its ARG
        assert next(n for n, (i, a) in enumerate(steps) if i == "ARG" and a.startswith(arg)) > last_run, arg


def test_dockerfile_copies_only_what_exists_and_is_in_the_context():
    copies = [shlex.split(a) for i, a in dockerfile() if i == "COPY"]
    assert copies
    for *sources, _dest in copies:
        for src in sources:
            path = REPO / src
            assert path.exists(), f"COPY {src}: not in the repository"
            files = [path] if path.is_file() else package._source_files(path)
            for f in files:
                rel = f.relative_to(REPO).as_posix()
                assert not dockerignored(rel), f"COPY {src}: {rel} is excluded by .dockerignore"
    for private in ("solutions/exp_01_baseline/model.py", "instructor_tests/conftest.py", "tests/conftest.py",
                    "packaging/README.md", "dist/x.zip", ".git/HEAD", "locked/__pycache__/x.pyc"):
        assert dockerignored(private), private


# --- packaging/check_docker.sh runs what packaging/README.md tells instructors to run ------------------------------------------
def _shell_lines(text):
    """Each command of a shell text, continuation lines joined, comments and indentation dropped."""
    lines, pending = [], ""
    for line in text.splitlines():
        pending += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            lines.append(pending.split(" #")[0].strip())
            pending = ""
    return [l for l in lines if l]


def _command(lines, start):
    """The tokens of the first command beginning with `start` (a line's start or after `&&`), up to the first
    redirection, `||` or `)`."""
    line = next(l for l in lines if l.startswith(start) or f"&& {start}" in l)
    tokens = shlex.split(line[line.index(start):], posix=False)
    out = []
    for t in tokens:
        if t.startswith((">", "2>", "|", "&")) or t == "||":
            break
        out.append(t.rstrip(")"))
    return out


def _drop_option(tokens, name):
    out, skip = [], False
    for t in tokens:
        if skip:
            skip = False
        elif t == name:
            skip = True
        else:
            out.append(t)
    return out


def test_check_docker_runs_the_readmes_commands():
    readme = _shell_lines((REPO / "packaging" / "README.md").read_text())
    check_text = (REPO / "packaging" / "check_docker.sh").read_text()
    check = _shell_lines(check_text)
    rename = {'"$PWD/alice"': '"$SUB"', '"$PWD/results"': '"$OUT"', "dermamnist-grader": '"$IMAGE"',
              "--cpus=0.5": '--cpus="$CPUS"', ".": '"$REPO"'}
    assert 'CPUS="${DERMA_CHECK_CPUS:-0.5}"' in check_text  # Gradescope's 0.5 CPU, as README says, by default
    for documented_start, start in (("docker build -t dermamnist-grader", 'docker build -t "$IMAGE"'),
                                    ("docker run --rm", "docker run --rm")):
        documented = [rename.get(t, t) for t in _command(readme, documented_start)]
        assert _drop_option(_command(check, start), "--build-arg") == documented, start
    documented = _command(readme, "otter grade -a")
    assert _drop_option(_command(check, "otter grade -a"), "--image") == documented
    assert "-p" not in documented  # otter 7 takes the submissions positionally

#!/usr/bin/env bash
# Gradescope image build: runs once, as root, on Ubuntu 22.04, with internet, from this zip unpacked into
# /autograder/source. Installs Python 3.11 and the pinned CPU build of torch (into gradescope.env's venv), bakes
# DermaMNIST and the ResNet18 weights into the image, and checks everything. Any failure stops the build.
# check_docker.sh runs it in a Debian stand-in container (TORCH_STANDIN, DERMA_SYNTHETIC set there).
set -euo pipefail
SOURCE="${AUTOGRADER_ROOT:-/autograder}/source"
cd "$SOURCE"
. ./gradescope.env   # DERMA_PYTHON, DERMA_DATA_DIR, TORCH_HOME, limits: written by `python -m instructor package`
VENV="$(dirname "$(dirname "$DERMA_PYTHON")")"

bash packaging/install_python311.sh
PYTHON=python3.11 DERMA_VENV="$VENV" DERMA_GRADING_ONLY=1 bash packaging/install_deps.sh requirements.txt
PYTHON="$DERMA_PYTHON" bash packaging/bake_assets.sh
PYTHON="$DERMA_PYTHON" bash packaging/bake_assets.sh --check

# The grading step's own imports, as run_autograder will run them (the parent never imports torch).
"$DERMA_PYTHON" -c "import grader.grade, locked.data; print('setup.sh: grader imports OK')"
# bubblewrap gives the sandbox its minimal filesystem view where the container allows it; elsewhere the grader
# falls back to namespaces and a uid of its own, and instructor_report.txt's "Sandbox:" line says which applied.
apt-get install -y --no-install-recommends bubblewrap || echo "setup.sh: WARNING: no bubblewrap; the sandbox falls back"
chmod -R a+rX "$VENV"
# The grader's key (root-only, 0600): made once here, so a regrade in a fresh container draws the same synthetic
# test split and the same perturbations. A private test file (`package --test-data`) stays root-only too.
"$DERMA_PYTHON" -c "from grader import integrity; _, note = integrity.grader_key()
print('setup.sh: grader key', note); assert note.startswith('kept'), note"
[ ! -e private_test.npz ] || chmod 600 private_test.npz
echo "setup.sh: done"

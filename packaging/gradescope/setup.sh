#!/usr/bin/env bash
# Gradescope image build: runs once, as root, on Ubuntu 22.04, with internet, from this zip unpacked into
# /autograder/source. Installs Python 3.11 and the pinned CPU build of torch (into /opt/dermamnist/venv), bakes
# DermaMNIST and the ResNet18 weights into the image, and checks everything. Any failure stops the build.
#
# Why not the system Python 3.10: requirements.txt pins numpy 2.4, scikit-learn 1.9, pillow 13 and matplotlib 3.11,
# which publish no Python 3.10 wheels, and the grade depends on those exact versions.
set -euo pipefail
SOURCE="${AUTOGRADER_ROOT:-/autograder}/source"
cd "$SOURCE"
. ./gradescope.env   # DERMA_PYTHON, DERMAMNIST_ROOT, TORCH_HOME, limits: written by `python -m instructor package`
export DEBIAN_FRONTEND=noninteractive
VENV="$(dirname "$(dirname "$DERMA_PYTHON")")"

is_final_311() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) and sys.version_info.releaselevel == "final" else 1)'; }

apt-get update
apt-get install -y --no-install-recommends ca-certificates python3.11 python3.11-venv || true
if ! command -v python3.11 >/dev/null || ! is_final_311 python3.11; then
  echo "setup.sh: Ubuntu's python3.11 is missing or a pre-release; installing it from the deadsnakes PPA"
  apt-get install -y --no-install-recommends software-properties-common gpg-agent
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
fi
is_final_311 python3.11 || { echo "setup.sh: FAILED: no Python 3.11 available" >&2; exit 1; }

PYTHON=python3.11 DERMA_VENV="$VENV" bash packaging/install_deps.sh requirements.txt
PYTHON="$DERMA_PYTHON" bash packaging/bake_assets.sh
PYTHON="$DERMA_PYTHON" bash packaging/bake_assets.sh --check

# The grading step's own imports, as run_autograder will run them (the parent never imports torch).
"$DERMA_PYTHON" -c "import grader.grade, locked.data; print('setup.sh: grader imports OK')"
id nobody >/dev/null || { echo "setup.sh: FAILED: no 'nobody' user for the sandbox" >&2; exit 1; }
chmod -R a+rX "$VENV"
echo "setup.sh: done"

#!/usr/bin/env bash
# Install the grading environment: the pinned CPU build of torch/torchvision (PyTorch's CPU index: no CUDA
# libraries, about 1/10 of the default build's size on disk), then every other pin in requirements.txt, then
# verify that exactly the pinned versions are installed. Fails loudly on any mismatch.
#
# Used by Gradescope's setup.sh, the Dockerfile and otter's setup.sh (embedded by `python -m instructor package`).
# CI runs the --dry-run and --check modes (tests/instructor_tests/test_package.py); it has no PyTorch index.
#
#   bash packaging/install_deps.sh [--dry-run | --check] [REQUIREMENTS]      (default: requirements.txt)
#
#   --dry-run   print the install commands, run nothing
#   --check     install nothing, only verify the current environment against the pins
# Environment:
#   PYTHON              interpreter to install into (default python3)
#   DERMA_VENV          if set, create this virtual environment with $PYTHON first and install into it
#   TORCH_INDEX_URL     default https://download.pytorch.org/whl/cpu
#   DERMA_TORCH_BUILD   cpu (default: torch and torchvision must be +cpu builds, no nvidia-* packages) or any
set -euo pipefail

mode=install
case "${1:-}" in
  --dry-run|--check) mode="${1#--}"; shift ;;
  -*) echo "install_deps.sh: unknown option $1" >&2; exit 2 ;;
esac
REQ="${1:-requirements.txt}"
PY="${PYTHON:-python3}"
INDEX="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
BUILD="${DERMA_TORCH_BUILD:-cpu}"

[ -f "$REQ" ] || { echo "install_deps.sh: requirements file $REQ not found" >&2; exit 1; }
pin() { sed -nE "s/^$1==([^ ;#]+).*/\1/p" "$REQ" | head -n 1; }
TORCH="$(pin torch)"
VISION="$(pin torchvision)"
if [ -z "$TORCH" ] || [ -z "$VISION" ]; then
  echo "install_deps.sh: $REQ must pin torch==X and torchvision==Y exactly" >&2
  exit 1
fi

run() { echo "+ $*"; if [ "$mode" = install ]; then "$@"; fi; }

if [ "$mode" != check ]; then
  if [ -n "${DERMA_VENV:-}" ]; then
    run "$PY" -m venv "$DERMA_VENV"
    PY="$DERMA_VENV/bin/python"
  fi
  # torch first, from the CPU index only: `pip install -r` then finds torch==X satisfied by X+cpu.
  run "$PY" -m pip install --no-cache-dir --index-url "$INDEX" "torch==${TORCH}+cpu" "torchvision==${VISION}+cpu"
  run "$PY" -m pip install --no-cache-dir -r "$REQ"
fi
[ "$mode" = dry-run ] && exit 0

echo "install_deps.sh: verifying $PY against $REQ (torch build: $BUILD)"
"$PY" - "$REQ" "$BUILD" <<'PYCHECK'
import importlib.metadata as md
import sys

from pip._vendor.packaging.requirements import Requirement  # pip is in every environment we install into

req_file, build = sys.argv[1], sys.argv[2]
problems, checked = [], 0
for line in open(req_file):
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        continue
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        continue
    pins = [s.version for s in req.specifier if s.operator == "=="]
    if not pins:
        problems.append(f"{req.name}: not pinned with == ({line})")
        continue
    try:
        have = md.version(req.name)
    except md.PackageNotFoundError:
        problems.append(f"{req.name}: not installed (want {pins[0]})")
        continue
    public, _, local = have.partition("+")
    checked += 1
    if public != pins[0]:
        problems.append(f"{req.name}: {have} installed, {pins[0]} pinned")
    elif req.name in ("torch", "torchvision") and build == "cpu" and local != "cpu":
        problems.append(f"{req.name}: {have} is not the CPU build ({pins[0]}+cpu)")
if build == "cpu":
    cuda = sorted(d.metadata["Name"] for d in md.distributions() if (d.metadata["Name"] or "").startswith("nvidia-"))
    if cuda:
        problems.append(f"CUDA libraries installed next to the CPU build: {', '.join(cuda[:5])}...")
if problems:
    print("install_deps.sh: the environment does not match the pins:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"install_deps.sh: {checked} pinned packages verified")
PYCHECK

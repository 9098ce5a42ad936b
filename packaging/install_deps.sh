#!/usr/bin/env bash
# Install the grading environment: the pinned CPU build of torch/torchvision (PyTorch's CPU index: no CUDA
# libraries, about 1/10 of the default build's size on disk), then every other pin in requirements.txt, then
# verify that exactly the pinned versions are installed. Fails loudly on any mismatch.
#
# Used by Gradescope's setup.sh, the Dockerfile and otter's setup.sh (embedded by `python -m instructor package`).
# CI runs the --dry-run and --check modes (instructor_tests/test_package.py) and, in images built by
# packaging/check_docker.sh, the install itself with a stand-in torch (it has no PyTorch index).
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
#   DERMA_GRADING_ONLY  1: leave out what grading never imports (otter-grader, pytest): Docker and Gradescope images
#   TORCH_STANDIN       e.g. "torch==2.13.0+cpu torchvision==0.28.0": install these instead of the pinned torch and
#                       torchvision, from PyPI (+ TORCH_FIND_LINKS), and verify them instead of the pins. For testing
#                       where PyTorch's CPU index is unreachable; every run says STAND-IN.
#   TORCH_FIND_LINKS    a folder or URL of wheels offered to pip next to PyPI (with TORCH_STANDIN)
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
STANDIN="${TORCH_STANDIN:-}"
SKIP='^(torch|torchvision)=='   # installed first, on their own
if [ "${DERMA_GRADING_ONLY:-}" = 1 ]; then SKIP='^(torch|torchvision|otter-grader(\[[^]]*\])?|pytest)([=<>!~; ]|$)'; fi

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
  if [ -n "$STANDIN" ]; then
    echo "install_deps.sh: STAND-IN torch build: $STANDIN instead of torch==$TORCH torchvision==$VISION"
    links=()
    if [ -n "${TORCH_FIND_LINKS:-}" ]; then
      links=(--find-links "$TORCH_FIND_LINKS")
      host="$(echo "$TORCH_FIND_LINKS" | sed -nE 's#^http://([^/:]+).*#\1#p')"
      if [ -n "$host" ]; then links+=(--trusted-host "$host"); fi
    fi
    # shellcheck disable=SC2086  # the stand-in is a list of requirements
    run "$PY" -m pip install --no-cache-dir "${links[@]}" $STANDIN
  else
    # torch first, from the CPU index only; the rest of the pins next (medmnist then finds torch installed).
    run "$PY" -m pip install --no-cache-dir --index-url "$INDEX" "torch==${TORCH}+cpu" "torchvision==${VISION}+cpu"
  fi
  REST="$(mktemp)"
  grep -vE "$SKIP" "$REQ" > "$REST" || true
  run "$PY" -m pip install --no-cache-dir -r "$REST"
  rm -f "$REST"
  if [ -n "$STANDIN" ] && [ "$mode" = install ] && ! "$PY" -c "import torchvision" 2>/dev/null; then
    # PyPI's torchvision links its C operators (nms, roi_align: unused here) against CUDA; let it import without.
    META="$("$PY" -c 'import importlib.util as u; print(u.find_spec("torchvision").submodule_search_locations[0])')"
    sed -i 's/^@torch.library.register_fake("torchvision::\(q\{0,1\}nms\)")/@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda f: f))/' \
      "$META/_meta_registrations.py"
    "$PY" -c "import torchvision" || { echo "install_deps.sh: FAILED: the stand-in torchvision does not import" >&2; exit 1; }
  fi
fi
[ "$mode" = dry-run ] && exit 0

echo "install_deps.sh: verifying $PY against $REQ (torch build: $BUILD)"
"$PY" - "$REQ" "$BUILD" "$SKIP" "$STANDIN" <<'PYCHECK'
import importlib.metadata as md
import re
import sys

from pip._vendor.packaging.requirements import Requirement  # pip is in every environment we install into

req_file, build, skip, standin = sys.argv[1:5]
standin = {r.name: r for r in map(Requirement, standin.split())}
skip = None if skip.startswith("^(torch|torchvision)==") else re.compile(skip.replace("torch|torchvision|", ""))
problems, checked = [], 0
for line in open(req_file):
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-") or (skip and skip.match(line)):
        continue
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        continue
    if req.name in standin:
        print(f"install_deps.sh: STAND-IN {req.name}: checking {standin[req.name]} instead of {line}")
        req = standin[req.name]
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
    if have != pins[0] and public != pins[0]:
        problems.append(f"{req.name}: {have} installed, {pins[0]} pinned")
    elif req.name in ("torch", "torchvision") and build == "cpu" and local != "cpu" and req.name not in standin:
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

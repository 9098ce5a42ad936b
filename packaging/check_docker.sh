#!/usr/bin/env bash
# Build and prove the deployment images for real: the project's Dockerfile, `otter grade` and Gradescope's setup.sh.
#
#   bash packaging/check_docker.sh [--only docker|otter|gradescope]... [--skip-if-no-engine]
#
# What it does (each step prints what it checked; any failure exits non-zero):
#   engine      uses the running Docker engine, or starts `dockerd --storage-driver=overlay2` (stopped again at the
#               end). No engine possible: says so loudly and exits 1, or 0 with --skip-if-no-engine
#               (or DERMA_SKIP_DOCKER=1).
#   base        BASE (default ubuntu:22.04 / python:3.11-slim-bookworm) if present; otherwise a stand-in built
#               once and cached as an image: `debootstrap --variant=minbase bookworm` + `docker import`, with this
#               machine's CA bundle (pip's `cert`) inside, so pip works where TLS is intercepted.
#   docker      builds ./Dockerfile (stand-in base, stand-in torch, synthetic data: build arguments), then runs it
#               as packaging/README.md says (--network none, --memory=768m, --cpus, read-only /submission) on
#               good, trap (Normalize), a background-process daemon and a memory bomb; checks results.json.
#   otter       `python -m instructor package --only otter`, then `otter grade` on good/trap/broken zips with the
#               stand-in base as --image; checks final_grades.csv.
#   gradescope  Gradescope's setup.sh as root in a stand-in /autograder container, then run_autograder on three
#               uploads (flat files, a zip of student/, a folder); checks results.json.
#
# Torch: PyTorch's CPU index is unreachable here, so a CPU wheel found in pip's find-links folder
# (`pip config list`) stands in, served to the builds over the bridge network (TORCH_STANDIN=... to choose, or
# TORCH_STANDIN=none to use the real index). Synthetic data at DERMA_SYNTHETIC_SCALE (default 0.2).
# Times are printed per step. Work files: $DERMA_CHECK_DIR (default /var/tmp/dermamnist-check).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${DERMA_CHECK_DIR:-/var/tmp/dermamnist-check}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SCALE="${DERMA_SYNTHETIC_SCALE:-0.2}"
CPUS="${DERMA_CHECK_CPUS:-0.5}"   # Gradescope's box, as README says; RESULTS.md has 0.5 and 1
STANDIN_BASE=dermamnist-standin:bookworm
STANDIN_PY=dermamnist-standin:bookworm-python3
IMAGE=dermamnist-grader:check
PY="${PYTHON:-python3}"
only=()
skip_ok="${DERMA_SKIP_DOCKER:-0}"
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only+=("$2"); shift 2 ;;
    --skip-if-no-engine) skip_ok=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "check_docker.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#only[@]} -gt 0 ] || only=(docker otter gradescope)
wants() { local s; for s in "${only[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
mkdir -p "$WORK"
T0=$SECONDS
step() { echo; echo "=== check_docker: $* (t=$((SECONDS - T0))s)"; }
fail() { echo "check_docker: FAILED: $*" >&2; exit 1; }
cleanup_pids=()
cleanup() { local p; for p in "${cleanup_pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# --- engine -----------------------------------------------------------------------------------------------------------
step "engine"
if ! docker info >/dev/null 2>&1; then
  if command -v dockerd >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "no engine running: starting dockerd --storage-driver=overlay2 (log: $WORK/dockerd.log)"
    dockerd --storage-driver=overlay2 >"$WORK/dockerd.log" 2>&1 &
    cleanup_pids+=($!)
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "#####################################################################################################" >&2
    echo "check_docker: NO DOCKER ENGINE: cannot build or run the images, nothing was checked." >&2
    echo "  Install one (Debian: apt-get install docker.io debootstrap) and run as root, or pass" >&2
    echo "  --skip-if-no-engine to accept that these deployment paths stay unchecked on this machine." >&2
    echo "#####################################################################################################" >&2
    [ "$skip_ok" = 1 ] && { echo "check_docker: SKIPPED (no engine), as asked"; exit 0; }
    exit 1
  fi
fi
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'

# --- stand-in bases ------------------------------------------------------------------------------------------------------
CA="$("$PY" -m pip config get global.cert 2>/dev/null || true)"
CA="${CA:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}"
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
if ! have_image "$STANDIN_BASE"; then
  step "stand-in base $STANDIN_BASE (debootstrap bookworm, CA bundle $CA)"
  command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || fail "debootstrap failed, see $WORK/debootstrap.log"
  cp "$CA" "$WORK/rootfs/usr/local/share/host-ca-bundle.pem"
  printf '[global]\ncert = /usr/local/share/host-ca-bundle.pem\n' > "$WORK/rootfs/etc/pip.conf"
  tar -C "$WORK/rootfs" -c . | docker import -c 'CMD ["bash"]' \
    -c 'ENV SSL_CERT_FILE=/usr/local/share/host-ca-bundle.pem' - "$STANDIN_BASE" >/dev/null
  rm -rf "$WORK/rootfs"
fi
if ! have_image "$STANDIN_PY"; then
  step "stand-in python base $STANDIN_PY (Debian's python3 3.11 + venv, in place of python:3.11-slim-bookworm)"
  printf 'FROM %s\nRUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*\n' \
    "$STANDIN_BASE" | docker build -q -t "$STANDIN_PY" - >/dev/null
fi
echo "bases: $STANDIN_BASE, $STANDIN_PY"

# --- stand-in torch, served over the bridge -------------------------------------------------------------------------------
STANDIN="${TORCH_STANDIN:-}"
LINKS=""
if [ "$STANDIN" != none ]; then
  WHEELS="$("$PY" -m pip config get global.find-links 2>/dev/null || true)"
  WHEELS="${WHEELS:-${PIP_FIND_LINKS:-}}"
  wheel="$(ls "$WHEELS"/torch-*+cpu-cp311-*.whl 2>/dev/null | sort | tail -n 1 || true)"
  if [ -z "$STANDIN" ] && [ -n "$wheel" ]; then
    v="$(basename "$wheel" | cut -d- -f2)"; minor="$(echo "$v" | cut -d. -f2)"
    STANDIN="torch==$v torchvision==0.$((minor + 15)).0"   # torchvision 0.N+15 pairs with torch 2.N
  fi
  if [ -n "$STANDIN" ] && [ -d "$WHEELS" ]; then
    GW="$(ip -4 -o addr show docker0 2>/dev/null | sed -nE 's/.* inet ([0-9.]+).*/\1/p' | head -n 1)"
    GW="${GW:-172.17.0.1}"
    PORT="${DERMA_WHEELS_PORT:-8765}"   # fixed, so that the images' layers stay cacheable
    "$PY" -m http.server "$PORT" --bind "$GW" --directory "$WHEELS" >"$WORK/wheels.log" 2>&1 &
    cleanup_pids+=($!)
    LINKS="http://$GW:$PORT/"
  fi
fi
[ "$STANDIN" = none ] && STANDIN=""
echo "torch: ${STANDIN:-the pinned +cpu build from the PyTorch CPU index}${LINKS:+ (wheels from $WHEELS at $LINKS)}"

check_results() {  # check_results RESULTS_DIR KIND: Gradescope's schema and the expected checks
  "$PY" "$REPO/packaging/check_results.py" "$@"
}

# --- the project's Dockerfile -----------------------------------------------------------------------------------------------
if wants docker; then
  step "docker build ($REPO/Dockerfile)"
  t=$SECONDS
  REV="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  docker build -t "$IMAGE" --build-arg "BASE_IMAGE=$STANDIN_PY" \
      --build-arg "TORCH_STANDIN=$STANDIN" --build-arg "TORCH_FIND_LINKS=$LINKS" \
      --build-arg DERMA_SYNTHETIC=1 --build-arg "DERMA_SYNTHETIC_SCALE=$SCALE" --build-arg "REVISION=$REV" \
      "$REPO" \
      >"$WORK/docker_build.log" 2>&1 || { tail -n 40 "$WORK/docker_build.log"; fail "docker build"; }
  echo "built $IMAGE in $((SECONDS - t)) s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
  docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.title"}}' "$IMAGE" | grep -qx dermamnist-grader \
    || fail "OCI labels missing"
  SUBS="$WORK/docker_subs"; rm -rf "$SUBS"; mkdir -p "$SUBS"
  cp -r "$REPO/instructor_tests/package_submissions/good" "$REPO/instructor_tests/package_submissions/trap" "$SUBS/"
  cp -r "$REPO/instructor_tests/grader_submissions/background_processes" "$SUBS/daemon"
  cp -r "$REPO/instructor_tests/grader_submissions/memory_blowup" "$SUBS/memory_bomb"
  for kind in good trap daemon memory_bomb; do
    SUB="$SUBS/$kind"
    OUT="$WORK/docker_results/$kind"
    rm -rf "$OUT"; mkdir -p "$OUT"; chown 65534:65534 "$OUT"   # owned by someone else: results must follow
    t=$SECONDS
    if [ "$kind" != daemon ]; then
      docker run --rm --cpus="$CPUS" --memory=768m --network none \
        -v "$SUB":/submission:ro -v "$OUT":/results "$IMAGE" >"$OUT/log.txt" 2>&1 || fail "docker run $kind"
    else   # the same run, then a look for processes that outlived it
      docker run --rm --cpus="$CPUS" --memory=768m --network none \
        -v "$SUB":/submission:ro -v "$OUT":/results "$IMAGE" bash -c \
        'mkdir -m 777 /tmp/dermagrade-daemon-test && bash packaging/docker_grade.sh && sleep 4 && echo "markers: $(ls /tmp/dermagrade-daemon-test | tr "\n" " ")"' \
        >"$OUT/log.txt" 2>&1 || fail "docker run $kind"
      markers="$(grep '^markers: ' "$OUT/log.txt")"
      case "$markers" in
        *daemon-started*) ;;
        *) tail -n 5 "$OUT/log.txt"; fail "daemon: the background process never started" ;;
      esac
      case "$markers" in
        *" marker "*|*chain-outlived*) fail "daemon: a background process outlived grading ($markers)" ;;
      esac
      echo "daemon: nothing outlived grading ($markers)"
    fi
    echo "graded $kind in $((SECONDS - t)) s"
    [ "$(stat -c %u "$OUT/results.json")" = 65534 ] || fail "$kind: results.json is not owned by the /results folder's owner"
    check_results "$OUT" "$kind"
  done
  # The VM's hostile cases (packaging/vm/cases.py: plain Python children, no torch) with the image's own sandbox, in
  # a container without added capabilities, as on Gradescope: one table, like check_vm.sh's.
  step "hostile cases in a container without added capabilities (packaging/vm/cases.py)"
  APP="$(docker image inspect -f '{{.Config.WorkingDir}}' "$IMAGE")"
  docker run --rm --memory=768m --network none -v "$REPO/packaging/vm/cases.py":/cases.py:ro "$IMAGE" \
    python3 /cases.py "$APP/grader/sandbox.py" "docker, no added capabilities" >"$WORK/container_cases.log" 2>&1 \
    || { tail -n 20 "$WORK/container_cases.log"; fail "the hostile cases did not run in the container"; }
  grep -a '^DERMA-VM|' "$WORK/container_cases.log" | cut -d'|' -f2- \
    | { echo "host|case|verdict|peak MB|child got to|memory limit held by"; cat; } | column -t -s'|'
  grep -a '^DERMA-NOTE|' "$WORK/container_cases.log" | cut -d'|' -f2- | sed 's/|/: /'
  grep -aq '^DERMA-VM|[^|]*|memory bomb|memory limit exceeded: the student.s|' "$WORK/container_cases.log" \
    || fail "the memory bomb in a container was not stopped as the student's"
fi

# --- otter grade -------------------------------------------------------------------------------------------------------------
if wants otter; then
  step "otter grade"
  command -v otter >/dev/null || fail "otter is not installed (pip install -r requirements.txt)"
  # otter builds with `docker buildx build`; engines without the buildx plugin (Debian's docker.io) get a shim that
  # hands the same build to the classic builder.
  if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_CONFIG="$WORK/docker-config"
    mkdir -p "$DOCKER_CONFIG/cli-plugins"
    cp "$REPO/packaging/docker-buildx-shim" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
    chmod +x "$DOCKER_CONFIG/cli-plugins/docker-buildx"
    echo "no buildx plugin: using packaging/docker-buildx-shim (classic builder)"
  fi
  OT="$WORK/otter"; rm -rf "$OT"; mkdir -p "$OT/submissions" "$OT/graded"
  (cd "$REPO" && "$PY" -m instructor package --out "$OT/dist" --only otter >/dev/null)
  for kind in good trap broken; do
    (cd "$REPO/instructor_tests/package_submissions" && "$PY" -c \
      'import sys, zipfile; z = zipfile.ZipFile(sys.argv[2], "w"); [z.write(f"{sys.argv[1]}/{n}", f"student/{n}") for n in ("model.py", "train_config.py")]' \
      "$kind" "$OT/submissions/$kind.zip")
  done
  # otter passes only BASE_IMAGE to its build: the test settings travel in the base image's environment.
  printf 'FROM %s\nENV TORCH_STANDIN="%s" TORCH_FIND_LINKS="%s" DERMA_SYNTHETIC=1 DERMA_SYNTHETIC_SCALE=%s\n' \
    "$STANDIN_BASE" "$STANDIN" "$LINKS" "$SCALE" | docker build -q -t dermamnist-standin:otter-test - >/dev/null
  t=$SECONDS
  (cd "$OT" && otter grade -a dist/otter_autograder.zip -o graded/ --ext zip -n dermamnist --timeout 900 \
      --image dermamnist-standin:otter-test submissions/) >"$OT/otter.log" 2>&1 || { tail -n 40 "$OT/otter.log"; fail "otter grade"; }
  echo "otter grade (image build + 3 submissions) in $((SECONDS - t)) s"
  "$PY" "$REPO/packaging/check_results.py" --otter "$OT/graded/final_grades.csv"
fi

# --- Gradescope's setup.sh ---------------------------------------------------------------------------------------------------
if wants gradescope; then
  step "Gradescope setup.sh in a stand-in /autograder container"
  GS="$WORK/gradescope"; rm -rf "$GS"; mkdir -p "$GS"
  (cd "$REPO" && "$PY" -m instructor package --out "$GS/dist" --only gradescope >/dev/null)
  "$PY" -c 'import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for i in z.infolist():
    z.extract(i, sys.argv[2]); m = (i.external_attr >> 16) & 0o777
    if m: os.chmod(os.path.join(sys.argv[2], i.filename), m)' "$GS/dist/gradescope_autograder.zip" "$GS/tree/autograder/source"
  docker rm -f dermamnist-gs-setup >/dev/null 2>&1 || true
  t=$SECONDS
  docker create --name dermamnist-gs-setup -e "TORCH_STANDIN=$STANDIN" -e "TORCH_FIND_LINKS=$LINKS" \
    -e DERMA_SYNTHETIC=1 "$STANDIN_BASE" bash -c \
    'mkdir -p /autograder/submission /autograder/results && cp /autograder/source/run_autograder /autograder/ && bash /autograder/source/setup.sh' >/dev/null
  docker cp "$GS/tree/autograder" dermamnist-gs-setup:/
  docker start -a dermamnist-gs-setup >"$GS/setup.log" 2>&1 || { tail -n 40 "$GS/setup.log"; fail "setup.sh"; }
  docker commit dermamnist-gs-setup dermamnist-gradescope:check >/dev/null
  docker rm dermamnist-gs-setup >/dev/null
  echo "setup.sh ran in $((SECONDS - t)) s"
  "$PY" - "$REPO" "$GS/uploads" <<'EOF'
import shutil, sys, zipfile
from pathlib import Path
repo, dest = Path(sys.argv[1]), Path(sys.argv[2])
subs = repo / "instructor_tests" / "package_submissions"
(dest / "good").mkdir(parents=True)
for n in ("model.py", "train_config.py"):  # good: the two files dragged in flat
    shutil.copyfile(subs / "good" / n, dest / "good" / n)
(dest / "trap").mkdir()
with zipfile.ZipFile(dest / "trap" / "submission.zip", "w") as z:  # trap: a zip of student/
    for n in ("model.py", "train_config.py"):
        z.write(subs / "trap" / n, f"student/{n}")
shutil.copytree(subs / "broken", dest / "broken" / "my-fork" / "student")  # broken: a folder upload
EOF
  for kind in good trap broken; do
    OUT="$GS/results/$kind"; mkdir -p "$OUT"
    t=$SECONDS
    docker run --rm --cpus="$CPUS" --memory=768m --network none -e DERMA_SYNTHETIC=1 \
      -e "DERMA_SYNTHETIC_SCALE=$SCALE" -v "$GS/uploads/$kind":/autograder/submission:ro \
      -v "$OUT":/autograder/results -w /autograder dermamnist-gradescope:check /autograder/run_autograder \
      >"$OUT/log.txt" 2>&1 || fail "run_autograder $kind"
    echo "graded $kind in $((SECONDS - t)) s"
    check_results "$OUT" "$kind"
  done
fi

step "all checks passed ($((SECONDS - T0)) s)"

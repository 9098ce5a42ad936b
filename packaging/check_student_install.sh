#!/usr/bin/env bash
# A student's install on a newer Python, for real: README's student steps under Debian trixie's Python 3.13.
#
#   bash packaging/check_student_install.sh
#
# What it does (each step prints what it checked; any failure exits non-zero):
#   rootfs   `debootstrap --variant=minbase trixie` with python3 and python3-venv, built once and cached under
#            $DERMA_CHECK_DIR/py313 (default /var/tmp/dermamnist-check/py313); rebuilt when the recipe changes.
#   3.13     in a chroot (its own mount namespace: /proc, /dev, /sys, a copy of the repository's tracked files and
#            a wheel folder bound in): python3 is $PYTHON or the check stops; README's version check, a fresh venv,
#            `pip download -r requirements-student.txt` from PyPI into the wheel folder (the default torch wheel,
#            CUDA and all, as a student's pip resolves it; files already there are not fetched again), then
#            README's `pip install -r requirements-student.txt` from that folder, then `pytest tests/`.
#   3.12     pip resolves requirements-student.txt for Python 3.12 with wheels only (--dry-run: metadata, no
#            install), so every pin and dependency has a cp312 or pure-Python wheel for Linux x86_64.
#
# The host's pip settings (find-links, constraints, extra indexes) stay outside: only the CA bundle goes in, so
# pip works where TLS is intercepted. The wheel folder keeps the downloads between runs (a warm run asks PyPI only
# for index pages); it is keyed on requirements-student.txt, so changed pins start an empty one. The venv (about
# 6 GB with torch's CUDA build) is removed after a passing run. Root only.
#
# Measured on a 2-core machine of CI's kind, December 2026, torch 2.14.1 (seconds):
#                   total  debootstrap  pip download         install  pytest tests/  3.12  venv removal
#   idle,   cold     187       43       60 wheels, 2995 MB: 21    78        5          21        10
#   idle,   warm     123        -       nothing fetched: 11       72        6          18         6
#   shared, cold     344       73       60 wheels, 2995 MB: 51   134        7          24        45
#   shared, warm     328        -       nothing fetched: 24      174       10          47        54
# ("shared": other work on the machine, load 5 to 7; a warm pip download still reads PyPI's index.) The install,
# not the download, is the cost: the cache saves debootstrap and the 3 GB, a minute here, more on a slower link.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${DERMA_CHECK_DIR:-/var/tmp/dermamnist-check}/py313"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=python3,python3-venv,ca-certificates
PYTHON=3.13   # trixie's python3; the newest version the READMEs claim (instructor_tests/test_student_install.py)
T0=$SECONDS
step() { echo; echo "=== check_student_install: $* (t=$((SECONDS - T0))s)"; }
fail() { echo "check_student_install: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot, mounts)"
command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
mkdir -p "$WORK"
WHEELS="$WORK/wheels-$(sha256sum "$REPO/requirements-student.txt" | cut -c1-12)"

# --- rootfs -------------------------------------------------------------------------------------------------------------
# Keyed on the recipe (suite, packages, mirror): the venv is rebuilt on every run, so requirements need no key here.
KEY="$(printf 'trixie minbase %s %s\n' "$PACKAGES" "$MIRROR" | sha256sum | cut -c1-12)"
ROOT="$WORK/rootfs-$KEY"
if [ ! -f "$ROOT/.complete" ]; then
  step "rootfs: debootstrap trixie ($PACKAGES) into $ROOT"
  t=$SECONDS
  rm -rf "$WORK"/rootfs-*   # older recipes
  debootstrap --variant=minbase --include="$PACKAGES" trixie "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || fail "debootstrap failed, see $WORK/debootstrap.log"
  touch "$ROOT/.complete"
  echo "built in $((SECONDS - t)) s"
else
  step "rootfs: cached $ROOT"
fi
# Refreshed every run: the host's CA bundle (pip's cert, as check_docker.sh finds it) and DNS.
CA="$(python3 -m pip config get global.cert 2>/dev/null || true)"
CA="${CA:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}"
cp "$CA" "$ROOT/usr/local/share/host-ca-bundle.pem"
printf '[global]\ncert = /usr/local/share/host-ca-bundle.pem\n' >"$ROOT/etc/pip.conf"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

# A clean copy: the tracked files as they are in the working tree, no caches, runs or venvs of this machine.
SRC="$WORK/src"
rm -rf "$SRC"; mkdir -p "$SRC" "$ROOT/src" "$ROOT/wheels"
[ -d "$WHEELS" ] || { rm -rf "$WORK"/wheels-*; mkdir -p "$WHEELS"; }   # older requirements' wheels go
git -C "$REPO" ls-files -z | tar -c -C "$REPO" --null -T - | tar -x -C "$SRC"
echo "repository: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD || echo ' + uncommitted changes'), $(git -C "$REPO" ls-files | wc -l) files"

# --- in the chroot ------------------------------------------------------------------------------------------------------------
# README's student steps, one by one; `env -i` keeps the host's pip settings and CI=1 out (a student has neither).
cat >"$ROOT/root/student_steps.sh" <<'EOF'
set -euo pipefail
cd /src
step() { echo; echo "=== in trixie: $*"; }
step "README's version check ($(python3 --version))"
python3 -c "import sys; v = '%d.%d' % sys.version_info[:2]; sys.exit(v != sys.argv[1] and f'trixie has Python {v}, not {sys.argv[1]}')" "$1"
python3 -c "import sys; sys.exit(sys.version_info < (3, 11) and 'Python 3.11+ needed, not ' + sys.version.split()[0])"
step "python3 -m venv /root/venv (Debian's python3 is externally managed: pip needs a venv)"
rm -rf /root/venv
python3 -m venv /root/venv
. /root/venv/bin/activate
step "pip download -r requirements-student.txt -d /wheels (from PyPI; $(ls /wheels | wc -l) files there already)"
t=$SECONDS
pip download -d /wheels -r requirements-student.txt >/tmp/download.log
echo "pip download took $((SECONDS - t)) s: fetched $(grep -cE '^\s*Saved ' /tmp/download.log || true)," \
  "$(grep -cE '^\s*File was already downloaded' /tmp/download.log || true) already there;" \
  "$(ls /wheels | wc -l) files, $(du -sm /wheels | cut -f1) MB"
step "pip install -r requirements-student.txt (from /wheels only: what pip download resolved above)"
t=$SECONDS
PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels pip install -q -r requirements-student.txt
echo "installed in $((SECONDS - t)) s: $(pip list 2>/dev/null | grep -cE '^nvidia-') nvidia-* packages, $(du -sm /root/venv | cut -f1) MB venv"
python -c "import sys, torch, torchvision; print('python', sys.version.split()[0], '| torch', torch.__version__, '| torchvision', torchvision.__version__, '| CUDA build', torch.version.cuda)"
step "pytest tests/"
t=$SECONDS
status=0
pytest tests/ >/tmp/pytest.log 2>&1 || status=$?
tail -n 30 /tmp/pytest.log
echo "pytest tests/ took $((SECONDS - t)) s; summary: $(tail -n 1 /tmp/pytest.log)"
[ "$status" = 0 ] || exit "$status"
step "Python 3.12: pip resolves requirements-student.txt with wheels only (dry run)"
t=$SECONDS
platforms=()
for x in $(seq 5 41); do platforms+=(--platform "manylinux_2_${x}_x86_64"); done   # glibc up to trixie's 2.41
platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
pip install -q --dry-run --ignore-installed --only-binary=:all: --python-version 3.12 "${platforms[@]}" \
  --target /tmp/py312 --report /tmp/py312.json -r requirements-student.txt
python - <<'PY'
import json
items = json.load(open("/tmp/py312.json"))["install"]
lines = [line.split("#", 1)[0].strip() for line in open("requirements-student.txt")]
pins = {line.split("==")[0].lower() for line in lines if line}
for item in items:
    name, file = item["metadata"]["name"], item["download_info"]["url"].rsplit("/", 1)[-1]
    if name.lower() in pins:
        print(f"  {name} {item['metadata']['version']}: {file}")
print(f"3.12: {len(items)} wheels resolve ({len(pins)} pins and their dependencies)")
PY
echo "3.12 resolved in $((SECONDS - t)) s"
deactivate
t=$SECONDS
rm -rf /root/venv   # about 6 GB; the wheels stay in /wheels
echo "venv removed in $((SECONDS - t)) s"
EOF
step "chroot: README's student steps under trixie's Python"
unshare --mount --propagation private bash -euc '
  ROOT="$1"; SRC="$2"; WHEELS="$3"
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"    # with /dev/shm: torch'"'"'s data loaders share memory there
  mount --rbind /sys "$ROOT/sys"
  mount --bind "$SRC" "$ROOT/src"
  mount --bind "$WHEELS" "$ROOT/wheels"
  exec chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin \
    PIP_DISABLE_PIP_VERSION_CHECK=1 bash /root/student_steps.sh "$4"
' _ "$ROOT" "$SRC" "$WHEELS" "$PYTHON" || fail "a student step failed under trixie's Python (above)"
echo
echo "check_student_install: OK in $((SECONDS - T0)) s (wheels kept in $WHEELS)"

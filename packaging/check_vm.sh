#!/usr/bin/env bash
# Prove the sandbox on a cgroup v2 kernel (this CI host is cgroup v1, so its own tests cannot): boot Debian
# bookworm under qemu and run grader/sandbox.py's Sandbox there on small hostile children (packaging/vm/cases.py).
#
#   bash packaging/check_vm.sh
#
#   image   a bookworm root filesystem (debootstrap, with the distribution kernel, python3 and bubblewrap) packed
#           into an ext4 image, built once and cached under $DERMA_CHECK_DIR/vm; rebuilt when its recipe (this
#           script's DEBOOTSTRAP line and packaging/vm/stub-init.sh) changes.
#   run     a second small ext4 disk per run with grader/sandbox.py (this tree's, and main's before the v2 fix
#           where git has it), the cases and the guest's init; the guest boots under TCG (a KVM guest hung on the
#           machine this was written on) with the image as a throwaway snapshot, mounts cgroup2, runs the cases
#           as root in a service's cgroup and (this tree only) as an unprivileged user in a cgroup delegated to it
#           (packaging/vm/init.sh), and prints one table on the serial console, which this script prints and checks.
#
# No torch in the guest: under TCG `import torch` does not finish in 9 minutes. The cases are plain Python.
# Fails (exit 1) unless the memory bomb under this tree's sandbox was stopped by the cgroup at its limit, with the
# student blamed, both as root and as the delegated user.
# Work files: $DERMA_CHECK_DIR (default /var/tmp/dermamnist-check)/vm.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VM="${DERMA_CHECK_DIR:-/var/tmp/dermamnist-check}/vm"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BEFORE=26540a9  # the last commit before the cgroup v2 fix: its sandbox.py is run too, to show what changed
DEBOOTSTRAP="--include=linux-image-amd64,systemd-sysv,udev,python3,kmod,bubblewrap bookworm"
T0=$(date +%s)
fail() { echo "check_vm: $*" >&2; exit 1; }
step() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap and mkfs.ext4 -d need it)"
for tool in debootstrap qemu-system-x86_64 mkfs.ext4 column; do
  command -v "$tool" >/dev/null \
    || fail "$tool is missing (apt-get install debootstrap qemu-system-x86 e2fsprogs bsdextrautils)"
done
mkdir -p "$VM"

recipe=$( { echo "$DEBOOTSTRAP"; cat "$REPO/packaging/vm/stub-init.sh"; } | sha256sum | cut -d' ' -f1)
if [ -f "$VM/base.ext4" ] && [ "$(cat "$VM/recipe.sha256" 2>/dev/null)" = "$recipe" ]; then
  step "image: cached ($VM/base.ext4)"
else
  step "image: debootstrap $DEBOOTSTRAP (a few minutes; log in $VM/debootstrap.log)"
  rm -rf "$VM/rootfs" "$VM/base.ext4" "$VM/recipe.sha256"
  # shellcheck disable=SC2086  # DEBOOTSTRAP is a list of arguments
  debootstrap $DEBOOTSTRAP "$VM/rootfs" "$MIRROR" >"$VM/debootstrap.log" 2>&1 \
    || fail "debootstrap failed, see $VM/debootstrap.log"
  install -m 0755 "$REPO/packaging/vm/stub-init.sh" "$VM/rootfs/sbin/derma-init"
  cp "$(ls "$VM"/rootfs/boot/vmlinuz-* | tail -1)" "$VM/vmlinuz"
  cp "$(ls "$VM"/rootfs/boot/initrd.img-* | tail -1)" "$VM/initrd.img"
  mkfs.ext4 -q -F -L derma-root -d "$VM/rootfs" "$VM/base.ext4" 2G >/dev/null || fail "mkfs.ext4 -d failed"
  rm -rf "$VM/rootfs"
  echo "$recipe" > "$VM/recipe.sha256"
fi

step "check disk: this tree's grader/sandbox.py, and $BEFORE's (before the cgroup v2 fix)"
rm -rf "$VM/stage" "$VM/check.ext4"
mkdir -p "$VM/stage/fixed"
cp "$REPO/packaging/vm/init.sh" "$REPO/packaging/vm/cases.py" "$VM/stage/"
cp "$REPO/grader/sandbox.py" "$VM/stage/fixed/"
echo "this tree ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'))" \
  > "$VM/stage/fixed/label"
if git -C "$REPO" cat-file -e "$BEFORE:grader/sandbox.py" 2>/dev/null; then
  mkdir -p "$VM/stage/before"
  git -C "$REPO" show "$BEFORE:grader/sandbox.py" > "$VM/stage/before/sandbox.py"
  echo "$BEFORE (before the fix)" > "$VM/stage/before/label"
fi
mkfs.ext4 -q -F -L derma-check -d "$VM/stage" "$VM/check.ext4" 16M >/dev/null \
  || fail "mkfs.ext4 -d failed for the check disk"

step "boot: qemu-system-x86_64 -accel tcg (serial console in $VM/console.log)"
# panic=1 with -no-reboot: the init exits right after asking for a power-off, and the kernel's "attempted to kill
# init" panic would otherwise leave qemu running until the timeout.
kernel_args="root=/dev/vda rw console=ttyS0 quiet panic=1 init=/sbin/derma-init"
timeout "${DERMA_VM_TIMEOUT:-900}" qemu-system-x86_64 -accel tcg -smp 2 -m 1536 -nographic -no-reboot \
  -kernel "$VM/vmlinuz" -initrd "$VM/initrd.img" -append "$kernel_args" \
  -drive "file=$VM/base.ext4,format=raw,if=virtio,snapshot=on" -drive "file=$VM/check.ext4,format=raw,if=virtio" \
  </dev/null >"$VM/console.log" 2>&1 || fail "qemu failed or timed out (exit $?), see $VM/console.log"
grep -q '^DERMA-VM-DONE' "$VM/console.log" || fail "the guest did not finish, see $VM/console.log"

# (grep -o, not ^: the guest's console writes terminal escapes before its first line)
step "results (guest: $(tr -d '\r' < "$VM/console.log" | grep -ao 'DERMA-KERNEL|.*' | cut -d'|' -f2-))"
tr -d '\r' < "$VM/console.log" | grep -a '^DERMA-VM|' | cut -d'|' -f2- \
  | { echo "host|case|verdict|peak MB|child got to|memory limit held by"; cat; } | column -t -s'|'
echo
tr -d '\r' < "$VM/console.log" | grep -a -e '^DERMA-DETAIL|' -e '^DERMA-NOTE|' -e '^DERMA-CGROUPS|' \
  | cut -d'|' -f2- | sed 's/|/: /g'
for host in "v2 root, grader in a service cgroup, this tree" "v2 uid 1000, delegated cgroup, this tree"; do
  tr -d '\r' < "$VM/console.log" | grep -aF "DERMA-VM|$host" \
    | grep '|memory bomb|memory limit exceeded: the student.s|' | grep -q '|cgroup (memory.events oom_kill)$' \
    || fail "the memory bomb under this tree's sandbox ($host) was not stopped by the cgroup at its limit"
done
step "done: the memory bomb under this tree's sandbox was stopped by the cgroup v2 limit, blamed on the student," \
  "as root and as an unprivileged user in a delegated cgroup"

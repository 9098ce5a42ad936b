#!/bin/sh
# The check VM's init (run by the image's stub, /sbin/derma-init, from the per-run disk at /check): mount what a
# booted system has, mount cgroup2, and run packaging/vm/cases.py for each sandbox.py found under /check (fixed/:
# this tree's; before/: the commit before the cgroup v2 fix) the two ways a grader runs on a systemd host:
#   root       as a service: the grader alone in a cgroup of its own (system.slice/<name>.service) whose parent
#              enables memory, pids and cpu, and which enables nothing itself;
#   delegated  as an unprivileged user (uid 1000) in a cgroup delegated to it, as systemd's Delegate=yes gives
#              (systemd-run --user --scope -p Delegate=yes): the folder and its cgroup.procs, cgroup.subtree_control
#              and cgroup.threads are chowned to the user; the parent enables the controllers, the cgroup none.
# The unprivileged run is for this tree only: before the fix a grader that is not root made no cgroup at all.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -o remount,rw /
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup || { echo "DERMA-VM-ERROR|no cgroup2"; exit 1; }
echo "DERMA-KERNEL|$(uname -r)|$(stat -fc %T /sys/fs/cgroup)|$(cat /sys/fs/cgroup/cgroup.controllers)"
echo "+cpu +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
for slice in system.slice user.slice; do
  mkdir /sys/fs/cgroup/$slice
  echo "+cpu +memory +pids" > /sys/fs/cgroup/$slice/cgroup.subtree_control
done
useradd -m -u 1000 -s /bin/sh grader || echo "DERMA-VM-ERROR|useradd failed"
for tree in before fixed; do
  [ -f "/check/$tree/sandbox.py" ] || continue
  unit=/sys/fs/cgroup/system.slice/grader-$tree.service
  mkdir "$unit"
  label="v2 root, grader in a service cgroup, $(cat "/check/$tree/label")"
  sh -c 'echo $$ > "$1/cgroup.procs"; exec python3 /check/cases.py "$2" "$3"' sh "$unit" "/check/$tree/sandbox.py" \
    "$label" 2>&1
  [ "$tree" = fixed ] || continue
  scope=/sys/fs/cgroup/user.slice/grader-delegated.scope
  mkdir "$scope"
  chown grader:grader "$scope" "$scope/cgroup.procs" "$scope/cgroup.subtree_control" "$scope/cgroup.threads"
  label="v2 uid 1000, delegated cgroup, $(cat "/check/$tree/label")"
  sh -c 'echo $$ > "$1/cgroup.procs"; cd /tmp; exec env -i HOME=/home/grader PATH="$PATH" \
    setpriv --reuid=grader --regid=grader --init-groups python3 /check/cases.py "$2" "$3"' \
    sh "$scope" "/check/$tree/sandbox.py" "$label" 2>&1
done
echo "DERMA-CGROUPS|after the runs|$(cd /sys/fs/cgroup && find system.slice user.slice -mindepth 1 -type d | sort \
  | tr '\n' ' ')"
echo "DERMA-VM-DONE"

#!/bin/sh
# PID 1 of the check VM (baked into the cached image): mount the per-run disk, which carries the code, the cases and
# the real init (init.sh), and hand over to it. Keeping the real init out of the image means editing it needs no
# rebuild. Power off whatever happens, so the host's qemu never waits on a guest that is done.
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /check
if mount -t ext4 /dev/vdb /check; then
  sh /check/init.sh
else
  echo "DERMA-VM: no check disk at /dev/vdb"
fi
echo o > /proc/sysrq-trigger

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Stage 2 of a run-guest.sh command guest, run as PID 1 by busybox sh in the
# overlay root. Mounts what a command expects (run, tmp dirs, devpts, cgroup2),
# brings loopback up, runs /.vmio/cmd (cwd and environment set there) with its
# output in /.vmio/out and its exit status in /.vmio/rc, then ends the guest.
B=/.vm/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

$B mount -t tmpfs -o mode=0755 tmpfs /run
$B mkdir -p /dev/pts /dev/shm /run/lock
$B mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
$B mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# pwvm.nocgroup2 on the kernel command line: no cgroup v2, so no cgroup BPF hooks.
if ! $B grep -q 'pwvm.nocgroup2' /proc/cmdline; then
	$B mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null ||
		echo "pwvm: no cgroup2 in this kernel" >/dev/console
fi
$B hostname pwvm
$B ip link set lo up 2>/dev/null || ip link set lo up
# The kernel's own modules, from the kernel cache seen through 9p.
rel=$($B uname -r)
PWVM_MODULES=$($B cat /.vmio/modules 2>/dev/null)
if [ -n "$PWVM_MODULES" ] && [ -d "$PWVM_MODULES" ]; then
	$B mkdir -p /lib/modules/$rel
	$B mount --bind "$PWVM_MODULES" /lib/modules/$rel
fi

$B sh /.vmio/cmd >/.vmio/out 2>&1 </dev/null
echo $? >/.vmio/rc.tmp
$B mv /.vmio/rc.tmp /.vmio/rc
$B sync
$B reboot -f

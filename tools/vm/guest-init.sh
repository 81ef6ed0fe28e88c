#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# /init of the run-guest.sh initramfs (busybox sh). Mounts the host's / (9p
# tag "hostroot", read-only) as the lower layer of an overlay on tmpfs, mounts
# the run's exchange directory (9p tag "vmio", writable) at /.vmio, then:
#   pwvm.mode=cmd      switch_root to busybox sh /.vmio/stage2.sh
#   pwvm.mode=systemd  prepare the overlay for systemd and switch_root to it
# On any failure it writes /.vmio/rc = 125 when it can and reboots (QEMU runs
# with -no-reboot, so that ends the guest).
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

die() {
	echo "pwvm-init: $*" >/dev/console
	[ -d /newroot/.vmio ] && echo 125 >/newroot/.vmio/rc
	reboot -f
	sleep 60
}

for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe "$m" 2>/dev/null
done

mode=cmd
for a in $(cat /proc/cmdline); do
	case $a in
	pwvm.mode=*) mode=${a#pwvm.mode=} ;;
	esac
done

opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro,cache=loose" hostroot /lower || die "cannot mount the host root"
mount -t tmpfs -o mode=0755 tmpfs /rw || die "tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	die "cannot mount the overlay"
mkdir -p /newroot/.vmio /newroot/.vm
mount -t 9p -o "$opts" vmio /newroot/.vmio || die "cannot mount the exchange directory"
cp /bin/busybox /newroot/.vm/busybox

for d in dev proc sys; do
	mount --move /$d /newroot/$d
done

if [ "$mode" = systemd ]; then
	n=/newroot
	# The host is a container: without this systemd believes it is one too.
	rm -f $n/.dockerenv $n/run/.containerenv
	# Debian's "D /tmp" would empty the overlay's /tmp, i.e. walk the host's over 9p.
	mkdir -p $n/etc/tmpfiles.d $n/etc/systemd/system-generators $n/etc/systemd/system
	echo 'd /tmp 1777 root root -' >$n/etc/tmpfiles.d/tmp.conf
	for g in $n/lib/systemd/system-generators/* $n/usr/lib/systemd/system-generators/*; do
		[ -e "$g" ] && ln -sf /dev/null "$n/etc/systemd/system-generators/$(basename "$g")"
	done
	# A machine-id of its own (an empty one would start first-boot prompts).
	sed "s/-//g" /newroot/proc/sys/kernel/random/uuid >$n/etc/machine-id
	if [ -d /newroot/.vmio/units ]; then
		cp /newroot/.vmio/units/* $n/etc/systemd/system/ 2>/dev/null
	fi
	cp /newroot/.vmio/vm-cmd.service /newroot/.vmio/vm.target $n/etc/systemd/system/ ||
		die "no unit for the command"
	exec switch_root /newroot /lib/systemd/systemd
fi
exec switch_root /newroot /.vm/busybox sh /.vmio/stage2.sh

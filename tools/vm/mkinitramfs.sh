#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Build the tiny initramfs of tools/vm/run-guest.sh: busybox-static, the 9p,
# virtio and overlay modules of one kernel (with their dependencies, from its
# modules.dep), and an /init that mounts the host's / (9p, read-only) under a
# tmpfs overlay and hands over to stage 2 (a command) or to systemd.
#
# Usage: mkinitramfs.sh KERNEL_DIR OUT.cpio.gz
#   KERNEL_DIR as made by fetch-kernel.sh (release, lib/modules/RELEASE/).
set -eu

kdir=$1
out=$2
rel=$(cat "$kdir/release")
mods=$kdir/lib/modules/$rel
here=$(dirname "$0")
# busybox-static's; the initramfs has no libc for a dynamic one
bb=/bin/busybox
[ -x "$bb" ] && ! ldd "$bb" >/dev/null 2>&1 ||
	{ echo "mkinitramfs: $bb is missing or not static (apt-get install busybox-static)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/lib/modules/$rel" \
	"$root/lower" "$root/rw" "$root/newroot"
cp "$bb" "$root/bin/busybox"
for a in sh mount umount mkdir modprobe insmod switch_root cat echo ln rm cp sleep reboot \
	ls sed grep basename chmod; do
	ln -s busybox "$root/bin/$a"
done

# Closure of the wanted modules over modules.dep ("path: dep dep ...").
want="virtio_pci 9pnet_virtio 9p overlay"
awk -v want="$want" '
	{ line[NR] = $0; p = $1; sub(/:$/, "", p); n = p; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n);
	  gsub(/-/, "_", n); path[n] = p; deps[p] = $0; sub(/^[^:]*: ?/, "", deps[p]) }
	END {
		split(want, w, " ")
		for (i in w) if (w[i] in path) q[path[w[i]]] = 1
		do { added = 0
			for (p in q) { k = split(deps[p], d, " ")
				for (j = 1; j <= k; j++) if (!(d[j] in q)) { q[d[j]] = 1; added = 1 } }
		} while (added)
		for (p in q) print p
	}' "$mods/modules.dep" >"$root/mods.list"
while read -r m; do
	mkdir -p "$root/lib/modules/$rel/$(dirname "$m")"
	cp "$mods/$m" "$root/lib/modules/$rel/$m"
	grep "^$m:" "$mods/modules.dep" >>"$root/lib/modules/$rel/modules.dep"
done <"$root/mods.list"
rm "$root/mods.list"
touch "$root/lib/modules/$rel/modules.dep"

cp "$here/guest-init.sh" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"

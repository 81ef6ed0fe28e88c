#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Fetch a Debian generic kernel (linux-image-*-amd64, not -cloud) for the QEMU
# guests of tools/vm/run-guest.sh, with a private apt state: its own
# sources.list, lists and archive cache under the kernel cache, so the host's
# apt sources and lists are never touched.
#
# Usage: fetch-kernel.sh NAME      NAME: 5.10 | 6.1 | 6.12 | sid
# Prints the kernel's directory: $PW_KERNEL_CACHE/NAME (default
# /var/cache/portwatch-kernels/NAME), holding vmlinuz, release (the uname -r
# string) and lib/modules/RELEASE/. Does nothing when it is already there.
set -eu

name=${1:?usage: fetch-kernel.sh 5.10|6.1|6.12|sid}
cache=${PW_KERNEL_CACHE:-/var/cache/portwatch-kernels}
dir=$cache/$name

if [ -s "$dir/release" ] && [ -f "$dir/vmlinuz" ]; then
	echo "$dir"
	exit 0
fi

case $name in
5.10)	uri=http://deb.debian.org/debian-security; suite=bullseye-security ;;
6.1)	uri=http://deb.debian.org/debian; suite=bookworm ;;
6.12)	uri=http://deb.debian.org/debian; suite=bookworm-backports ;;
sid)	uri=http://deb.debian.org/debian; suite=sid ;;
*)	echo "fetch-kernel: unknown kernel '$name' (5.10, 6.1, 6.12 or sid)" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "fetch-kernel: $dir is missing; run as root to download it" >&2
	exit 1
fi

apt=$cache/.apt-$name
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc" "$apt/dl"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" \
	>"$apt/etc/sources.list"
# Private sources, lists, caches and status; the host's apt.conf.d still applies
# (proxies, index options), its sources.list and lists are not read or written.
set -- -o Dir::Etc::SourceList="$apt/etc/sources.list" \
	-o Dir::Etc::SourceParts=/dev/null \
	-o Dir::State="$apt" -o Dir::State::Lists="$apt/lists" \
	-o Dir::State::status=/dev/null \
	-o Dir::Cache="$apt" -o Dir::Cache::Archives="$apt/archives" \
	-o Dir::Cache::pkgcache="" -o Dir::Cache::srcpkgcache="" \
	-o APT::Architecture=amd64 -o APT::Architectures::=amd64 \
	-o Debug::NoLocking=1 -o APT::Sandbox::User=root

echo "fetch-kernel: $name from $suite" >&2
apt-get "$@" -qq update >&2

# linux-image-amd64 (from this suite) names the current image package; follow
# its linux-* dependencies (sid splits an image into linux-binary-* and
# linux-modules-* packages).
want=linux-image-amd64
seen=""
todo=$want
while [ -n "$todo" ]; do
	next=""
	for p in $todo; do
		case " $seen " in *" $p "*) continue ;; esac
		seen="$seen $p"
		deps=$(apt-cache "$@" depends --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances "$p" 2>/dev/null |
			sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: //p' | tr -d '<>' |
			grep -E '^linux-(image|binary|modules)-' | grep -v -- '-cloud-' || true)
		next="$next $deps"
	done
	todo=$next
done
pkgs=$(echo "$seen" | tr ' ' '\n' | grep -v "^$want\$" | grep . || true)
[ -n "$pkgs" ] || { echo "fetch-kernel: no kernel package found in $suite" >&2; exit 1; }
echo "fetch-kernel: downloading" $pkgs >&2
rm -f "$apt/dl/"*.deb
# shellcheck disable=SC2086
(cd "$apt/dl" && apt-get "$@" -qq download $pkgs >&2)

tmp=$dir.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
for deb in "$apt/dl/"*.deb; do
	dpkg-deb -x "$deb" "$tmp"
done
# Keep what a guest needs: the kernel, its modules and config. Modules are
# decompressed so busybox insmod can load them.
rel=$(ls "$tmp/lib/modules" 2>/dev/null || ls "$tmp/usr/lib/modules")
[ -d "$tmp/lib/modules/$rel" ] || { mkdir -p "$tmp/lib/modules"; mv "$tmp/usr/lib/modules/$rel" "$tmp/lib/modules/"; }
if [ -f "$tmp/boot/vmlinuz-$rel" ]; then
	mv "$tmp/boot/vmlinuz-$rel" "$tmp/vmlinuz"
	cp "$tmp/boot/config-$rel" "$tmp/config" 2>/dev/null || true
else	# sid's split packages keep them beside the modules
	mv "$tmp/lib/modules/$rel/vmlinuz" "$tmp/vmlinuz"
	cp "$tmp/lib/modules/$rel/config" "$tmp/config" 2>/dev/null || true
fi
rm -rf "$tmp/boot" "$tmp/usr" "$tmp/etc" "$tmp/lib/modules/$rel/kernel/drivers/gpu" \
	"$tmp/lib/modules/$rel/kernel/sound" "$tmp/lib/modules/$rel/kernel/drivers/media" \
	"$tmp/lib/modules/$rel/kernel/drivers/infiniband" "$tmp/lib/modules/$rel/kernel/drivers/staging"
find "$tmp/lib/modules/$rel" -name '*.ko.xz' -exec xz -d {} + 2>/dev/null || true
find "$tmp/lib/modules/$rel" -name '*.ko.zst' -exec zstd -q --rm -d {} + 2>/dev/null || true
depmod -b "$tmp" "$rel"
echo "$rel" >"$tmp/release"
rm -rf "$dir"
mv "$tmp" "$dir"
rm -f "$apt/dl/"*.deb "$apt/archives/"*.deb
echo "$dir"

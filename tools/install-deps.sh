#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages portwatch needs to build, run and test, only the
# ones that are missing. Safe to run repeatedly; does nothing when all are there.
set -eu

PKGS="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
libcmocka-dev libjansson-dev libsqlite3-dev sqlite3 libmnl-dev libcurl4-openssl-dev \
libclang-rt-14-dev iproute2 util-linux mount e2fsprogs procps python3 bc valgrind libsystemd-dev jq \
qemu-system-x86 busybox-static cpio kmod xz-utils zstd \
mandoc bash-completion libcap-ng-dev prometheus curl \
libmicrohttpd-dev python3-portpicker"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Install the package built by `make deb` on this machine, check what dpkg did,
# then remove and purge it. Root; refuses when portwatch is installed already
# or /etc/portwatch exists. Usage: sh tools/debian/try-install.sh [DEB]
set -eu
deb=${1:-$(ls -t build/portwatch_*.deb 2>/dev/null | head -1)}
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
[ "$(id -u)" = 0 ] || fail "run as root"
[ -f "$deb" ] || fail "no package: run make deb"
dpkg-query -W portwatch >/dev/null 2>&1 && fail "portwatch is installed already"
[ -e /etc/portwatch ] && fail "/etc/portwatch exists: not touching it"
# purging removes /var/lib/portwatch: never somebody's real state
[ -e /var/lib/portwatch ] && fail "/var/lib/portwatch exists: not touching it"
running() {	# is a process of /usr/sbin/portwatchd running?
	for e in /proc/[0-9]*/exe; do
		[ "$(readlink "$e" 2>/dev/null)" = /usr/sbin/portwatchd ] && return 0
	done
	return 1
}
wants=/etc/systemd/system/multi-user.target.wants/portwatchd.service

dpkg -i "$deb"
dpkg-query -W -f='${Status}\n' portwatch | grep -q "install ok installed" || fail "not installed"
/usr/sbin/portwatchd --version
/usr/bin/portwatch --version
/usr/sbin/portwatchd --check-config -c /etc/portwatch/portwatch.json
[ -L "$wants" ] || fail "service not enabled ($wants missing)"
running && fail "the service was started"
man -w portwatchd portwatch portwatch.json >/dev/null || fail "man pages not found"
ok "installed: binaries, valid config, service enabled and not started, man pages"

dpkg -r portwatch
[ ! -e /usr/sbin/portwatchd ] && [ ! -e /lib/systemd/system/portwatchd.service ] || fail "files left after dpkg -r"
[ -f /etc/portwatch/portwatch.json ] || fail "dpkg -r removed the conffile"
ok "removed: binaries and unit gone, the conffile kept"

dpkg --purge portwatch
[ ! -e /etc/portwatch ] || fail "/etc/portwatch left after purge"
[ ! -e "$wants" ] || fail "$wants left after purge"
dpkg-query -W portwatch >/dev/null 2>&1 && fail "still known to dpkg after purge"
ok "purged: configuration and enablement gone"

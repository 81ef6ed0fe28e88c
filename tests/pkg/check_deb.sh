#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make deb builds a package that lintian passes without errors or warnings,
# with Depends from the shared libraries, the config as a conffile, the
# unit, man pages and completion. (Installing it: tools/debian/try-install.sh.)
. tests/pkg/lib.sh
command -v lintian >/dev/null || fail "lintian missing"
make -s --no-print-directory deb > "${TMPDIR:-/tmp}/pw-deb.$$.log" 2>&1 ||
	{ tail -20 "${TMPDIR:-/tmp}/pw-deb.$$.log" >&2; rm -f "${TMPDIR:-/tmp}/pw-deb.$$.log"; fail "make deb"; }
deb=$(tail -1 "${TMPDIR:-/tmp}/pw-deb.$$.log")
rm -f "${TMPDIR:-/tmp}/pw-deb.$$.log"
[ -f "$deb" ] || fail "no package ($deb)"
dep=$(dpkg-deb -f "$deb" Depends)
for l in libbpf1 libc6 libcap-ng0 libcurl4 libjansson4 libmnl0 libsqlite3-0 libsystemd0; do
	echo "$dep" | grep -q "$l" || fail "Depends lacks $l: $dep"
done
ok "Depends: $dep"
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/portwatch/portwatch.json ] ||
	fail "conffiles"
list=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/portwatchd ./usr/bin/portwatch ./lib/systemd/system/portwatchd.service \
	 ./usr/share/man/man8/portwatchd.8.gz ./etc/portwatch/portwatch.json \
	 ./usr/share/bash-completion/completions/portwatch ./usr/share/doc/portwatch/copyright; do
	echo "$list" | grep -q " $f\( \|$\)" || fail "$f not in the package"
done
ok "contents and conffiles"
out=$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges' || true)
if echo "$out" | grep -q "^[EW]: "; then fail "lintian: $out"; fi
ok "lintian: no errors, no warnings ($(lintian -I --tag-display-limit 0 "$deb" 2>/dev/null | grep -c '^I: ') info tags)"

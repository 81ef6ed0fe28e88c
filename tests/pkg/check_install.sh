#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make install DESTDIR=... lays out the expected tree, honours the directory
# variables, never overwrites an existing config; uninstall takes it back.
. tests/pkg/lib.sh
D=$(mktemp -d)
trap 'rm -rf "$D" "$D.log"' EXIT
m() { make -s --no-print-directory BUILD="$BUILD" DESTDIR="$D" "$@" >"$D.log" 2>&1 || { cat "$D.log" >&2; fail "make $*"; }; }

m install PREFIX=/usr SYSTEMDUNITDIR=/lib/systemd/system BASHCOMPDIR=/usr/share/bash-completion/completions
got=$(cd "$D" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
want="./etc/portwatch/portwatch.json ./lib/systemd/system/portwatch.socket \
./lib/systemd/system/portwatchd.service ./usr/bin/portwatch \
./usr/sbin/portwatchd ./usr/share/bash-completion/completions/portwatch \
./usr/share/bash-completion/completions/portwatchd ./usr/share/doc/portwatch/README.md \
./usr/share/doc/portwatch/portwatch.json.sample ./usr/share/man/man1/portwatch.1 \
./usr/share/man/man5/portwatch.json.5 ./usr/share/man/man8/portwatchd.8 "
[ "$got" = "$want" ] || fail "installed tree: $got"
[ -x "$D/usr/sbin/portwatchd" ] && [ -x "$D/usr/bin/portwatch" ] || fail "binaries not executable"
"$D/usr/sbin/portwatchd" --check-config -c "$D/etc/portwatch/portwatch.json" >/dev/null ||
	fail "installed config does not load"
grep -q '^ExecStart=/usr/sbin/portwatchd$' "$D/lib/systemd/system/portwatchd.service" ||
	fail "unit ExecStart"
ok "PREFIX=/usr tree"

echo '{"service_types": {"x": {"port_range": [40000, 40009]}}}' > "$D/etc/portwatch/portwatch.json"
m install PREFIX=/usr SYSTEMDUNITDIR=/lib/systemd/system BASHCOMPDIR=/usr/share/bash-completion/completions
grep -q 40000 "$D/etc/portwatch/portwatch.json" || fail "install overwrote an existing config"
ok "existing config kept"

m uninstall PREFIX=/usr SYSTEMDUNITDIR=/lib/systemd/system BASHCOMPDIR=/usr/share/bash-completion/completions
got=$(cd "$D" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
[ "$got" = "./etc/portwatch/portwatch.json " ] || fail "after uninstall: $got"
ok "uninstall leaves only the changed config"
rm -rf "${D:?}"/*

m install PREFIX=/opt/pw SBINDIR=/opt/pw/libexec MANDIR=/opt/pw/man SYSCONFDIR=/opt/pw/etc \
	SYSTEMDUNITDIR=/opt/pw/units BASHCOMPDIR=/opt/pw/bc
for f in opt/pw/libexec/portwatchd opt/pw/bin/portwatch opt/pw/man/man8/portwatchd.8 \
	 opt/pw/etc/portwatch/portwatch.json opt/pw/units/portwatchd.service opt/pw/bc/portwatch \
	 opt/pw/share/doc/portwatch/portwatch.json.sample; do
	[ -e "$D/$f" ] || fail "custom directories: no $f"
done
grep -q '^ExecStart=/opt/pw/libexec/portwatchd$' "$D/opt/pw/units/portwatchd.service" ||
	fail "unit ExecStart does not follow SBINDIR"
m uninstall PREFIX=/opt/pw SBINDIR=/opt/pw/libexec MANDIR=/opt/pw/man SYSCONFDIR=/opt/pw/etc \
	SYSTEMDUNITDIR=/opt/pw/units BASHCOMPDIR=/opt/pw/bc
[ -z "$(cd "$D" && find . \( -type f -o -type l \))" ] || fail "uninstall left files behind"
ok "custom directories, uninstall of an unchanged config"
rm -f "$D.log"

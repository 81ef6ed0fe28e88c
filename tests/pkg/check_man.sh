#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The man pages are clean for mandoc's linter (warnings and worse fail).
. tests/pkg/lib.sh
for p in tools/man/portwatchd.8 tools/man/portwatch.1 tools/man/portwatch.json.5; do
	out=$(mandoc -T lint -W warning "$p" 2>&1) || fail "$p: $out"
	mandoc -T utf8 "$p" >/dev/null || fail "$p does not render"
	ok "$p"
done
# every config key the loader knows is documented in portwatch.json(5)
for k in $(grep -o '\(PC\|CK\|SEP\)("[a-z_]*"' user/config_load.c | sed 's/.*("//; s/"$//' | sort -u); do
	grep -q "Ic $k\b\|Ic [a-z_ ,]*\b$k\b" tools/man/portwatch.json.5 || fail "config key $k undocumented"
done
ok "every config key in portwatch.json(5)"

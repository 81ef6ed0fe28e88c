#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The man pages are clean for mandoc's linter (warnings and worse fail).
. tests/pkg/lib.sh
for p in tools/man/portwatchd.8 tools/man/portwatch.1 tools/man/portwatch.json.5; do
	out=$(mandoc -T lint -W warning "$p" 2>&1) || fail "$p: $out"
	mandoc -T utf8 "$p" >/dev/null || fail "$p does not render"
	ok "$p"
done
# every config key the loader knows is documented in portwatch.json(5): the
# keys of the loader's macros (PC, CK, SEP, AA) and of its key tables
keys=$( { grep -ho '\(PC\|CK\|SEP\|AA\)("[a-z_]*"' user/core/config*.c |
	  sed 's/.*("//; s/"$//'
	  grep -ho '{ "[a-z_]*", PW_CFG_' user/core/config*.c | sed 's/{ "//; s/",.*//'
	} | sort -u)
n=$(echo "$keys" | grep -c .)
# a loader moved elsewhere must not leave this check with nothing to check
[ "$n" -ge 30 ] || fail "only $n config keys found in user/core/config*.c"
for k in $keys; do
	grep -q "Ic $k\b\|Ic [a-z_ ,]*\b$k\b" tools/man/portwatch.json.5 || fail "config key $k undocumented"
done
ok "every config key ($n) in portwatch.json(5)"

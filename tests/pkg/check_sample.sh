#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The sample configuration loads, and says the same as the built-in defaults.
. tests/pkg/lib.sh
out=$("$BUILD/portwatchd" --check-config -c tools/portwatch.json.sample) || fail "$out"
echo "$out" | grep -q "valid, 17 service types" || fail "unexpected verdict: $out"
ok "$out"
start_daemon
builtin=$("$BUILD/portwatch" -s "$SOCK" --json types)
kill $DPID; wait $DPID || true
"$BUILD/portwatchd" --no-bpf -s "$SOCK" -d "$TMPD/state" -c tools/portwatch.json.sample 2>"$TMPD/log" &
DPID=$!
i=0
until "$BUILD/portwatch" -s "$SOCK" status >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt $((600 * ${ITEST_SLOW:-1})) ] || fail "daemon with the sample did not start"; sleep 0.05
done
sample=$("$BUILD/portwatch" -s "$SOCK" --json types)
[ "$builtin" = "$sample" ] || fail "the sample's types differ from the built-in ones"
ok "sample = built-in types"

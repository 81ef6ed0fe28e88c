#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The metrics pass `promtool check metrics` (what `portwatch metrics` prints
# and what --metrics-listen serves), and carry portwatch_build_info with the
# version and mode. A private daemon in a network namespace of its own.
. tests/pkg/lib.sh
[ "$(id -u)" = 0 ] || exit 77
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus)"
if [ -z "${PW_IN_NETNS:-}" ]; then
	PW_IN_NETNS=1 exec unshare -n sh "$0" "$@"
fi
ip link set lo up
T=$(mktemp -d)
trap 'kill $DPID 2>/dev/null || true; wait $DPID 2>/dev/null || true; rm -rf "$T"' EXIT
for mode in bpf polling; do
	[ $mode = polling ] && extra=--no-bpf || extra=
	"$BUILD/portwatchd" $extra --metrics-listen 127.0.0.1:9477 -s "$T/s" -d "$T/d.$mode" 2>"$T/log" &
	DPID=$!
	i=0
	until "$BUILD/portwatch" -s "$T/s" status >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt $((600 * ${ITEST_SLOW:-1})) ] || fail "daemon did not start"
		sleep 0.05
	done
	# some content: an allocation (gauges with labels), events (histograms)
	"$BUILD/portwatch" -s "$T/s" allocate dev -q >/dev/null
	"$BUILD/tests/helper" churn 50 >/dev/null
	"$BUILD/portwatch" -s "$T/s" metrics > "$T/m"
	out=$(promtool check metrics < "$T/m" 2>&1) || fail "$mode, portwatch metrics: $out"
	want="portwatch_build_info{version=\"$("$BUILD/portwatchd" --version | cut -d' ' -f2)\",mode=\"$mode\"} 1"
	grep -qxF "$want" "$T/m" || fail "no $want"
	curl -sf http://127.0.0.1:9477/metrics > "$T/h" || fail "$mode: GET /metrics"
	out=$(promtool check metrics < "$T/h" 2>&1) || fail "$mode, /metrics: $out"
	grep -q '^portwatch_health_checks_healthy_total ' "$T/h" || fail "health counters not renamed"
	ok "$mode mode: promtool check metrics passes ($(grep -c '^portwatch' "$T/m") samples); $want"
	kill $DPID || { cat "$T/log" >&2; fail "$mode: the daemon died: see its log above"; }
	wait $DPID || true
done

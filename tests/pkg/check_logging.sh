#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Logs: sd-daemon priority prefixes when stderr is the journal (JOURNAL_STREAM
# names stderr's dev:ino), plain lines otherwise; ring-buffer drops and
# resyncs logged at warning/info. Runs in a network namespace of its own.
. tests/pkg/lib.sh
[ "$(id -u)" = 0 ] || exit 77
if [ -z "${PW_IN_NETNS:-}" ]; then
	PW_IN_NETNS=1 exec unshare -n sh "$0" "$@"
fi
ip link set lo up
T=$(mktemp -d)
trap 'kill $DPID 2>/dev/null || true; wait $DPID 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
waitsock() {
	i=0
	until "$BUILD/portwatch" -s "$T/s" status >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt $((600 * ${ITEST_SLOW:-1})) ] || fail "daemon did not start"
		sleep 0.05
	done
}

: > "$T/log"
js=$(stat -c '%d:%i' "$T/log")
JOURNAL_STREAM=$js "$BUILD/portwatchd" --no-bpf -s "$T/s" -d "$T/d" 2>>"$T/log" &
DPID=$!
waitsock
kill $DPID; wait $DPID || true
grep -q '^<6>ready: ' "$T/log" || fail "no <6> prefix with JOURNAL_STREAM=$js: $(head -3 "$T/log")"
grep -q '^<4>mode polling only' "$T/log" || fail "no <4> prefix on the polling warning"
grep -vq '^<[3467]>' "$T/log" && fail "a line without a priority prefix: $(grep -v '^<[3467]>' "$T/log" | head -1)"
ok "priority prefixes with JOURNAL_STREAM matching stderr"

: > "$T/log2"
JOURNAL_STREAM=$js "$BUILD/portwatchd" --no-bpf -s "$T/s" -d "$T/d" 2>>"$T/log2" &
DPID=$!
waitsock
kill $DPID; wait $DPID || true
grep -q '^<' "$T/log2" && fail "prefixes although stderr is another file"
grep -q ' portwatchd info: ready: ' "$T/log2" || fail "plain line format lost"
ok "plain lines when JOURNAL_STREAM names another stream"

# drops: a 4 KiB ring buffer and a burst of binds
: > "$T/log3"
"$BUILD/portwatchd" --ringbuf-size 4096 --wakeup-gap 100000 -s "$T/s" -d "$T/d" 2>>"$T/log3" &
DPID=$!
waitsock
grep -q 'mode bpf' "$T/log3" || { echo "no BPF here: skipping the drop check"; exit 0; }
i=0
until grep -q 'resync 1:' "$T/log3"; do
	"$BUILD/tests/helper" churn 2000 >/dev/null
	i=$((i + 1)); [ $i -lt 20 ] || fail "no resync logged after $i bursts: $(tail -3 "$T/log3")"
done
grep -q 'warning: ring buffer dropped [0-9]* events' "$T/log3" || fail "drops not logged"
ok "drops at warning, resyncs at info: $(grep -m1 'ring buffer dropped' "$T/log3" | sed 's/.*warning: //')"

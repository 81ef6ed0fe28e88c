# SPDX-License-Identifier: GPL-2.0
# Shared by the packaging checks: run from the repository root with BUILD set.
set -eu
BUILD=${BUILD:-build}
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# Start a polling-mode daemon on a private socket and state dir (never the
# host's); sets TMPD, SOCK and DPID, and stops it on exit.
start_daemon() {
	TMPD=$(mktemp -d)
	SOCK=$TMPD/pw.sock
	"$BUILD/portwatchd" --no-bpf -s "$SOCK" -d "$TMPD/state" "$@" 2>"$TMPD/log" &
	DPID=$!
	trap 'kill $DPID 2>/dev/null || true; wait $DPID 2>/dev/null || true; rm -rf "$TMPD"' EXIT
	i=0
	until "$BUILD/portwatch" -s "$SOCK" status >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt $((600 * ${ITEST_SLOW:-1})) ] || { cat "$TMPD/log" >&2; fail "daemon did not start"; }
		kill -0 $DPID 2>/dev/null || { cat "$TMPD/log" >&2; fail "daemon exited"; }
		sleep 0.05
	done
}

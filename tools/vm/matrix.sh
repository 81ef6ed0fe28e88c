#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The kernel matrix: run the integration suite (or the smoke test) of a built
# tree in a QEMU guest per kernel (tools/vm/run-guest.sh) and print one line
# per kernel: kernel, passed/failed/skipped, daemon mode and hooks, seconds.
#
#   matrix.sh [--smoke] KERNEL... [-- INTEGRATION_BIN...]
#
# BUILD (default build) is the tree's build directory; PW_VM_SLOW (default 80)
# the guests' ITEST_SLOW. Each guest's full
# output is kept in $BUILD/vm/NAME.log (printed when something failed).
# --smoke also appends "kernel-smoke P F 0" to $BUILD/tests/summary, for the
# total line of `make test`. Exit status 1 when anything failed.
set -u
here=$(dirname "$0")
build=${BUILD:-build}
smoke=0
[ "${1:-}" = --smoke ] && { smoke=1; shift; }
kernels=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	kernels="$kernels $1"
	shift
done
[ "${1:-}" = -- ] && shift
[ -n "$kernels" ] || { echo "usage: matrix.sh [--smoke] KERNEL... [-- BIN...]" >&2; exit 2; }
[ $smoke = 1 ] || [ $# -gt 0 ] || { echo "matrix.sh: no integration binaries" >&2; exit 2; }

mkdir -p "$build/vm" "$build/tests"
# Deadlines scale by ITEST_SLOW. TCG runs 10-20x slower than native on
# average, but CPU-bound bursts far more: itest_flood's 12,000 pipelined
# requests take 342 ms natively and 25-32 s in a guest (~80x), and a probe's
# answer during them 6 ms natively, up to 4.3 s in a guest (the bound is 100 ms
# x ITEST_SLOW). 30 failed there; 80 passed on 5.10 and sid: 80 by default.
# Only deadlines grow (and itest_health's check periods): passing runs are
# barely slower.
slow=${PW_VM_SLOW:-80}
# Fetch first (needs the network once per kernel), so download time is not
# counted against a kernel's run.
for k in $kernels; do
	sh "$here/fetch-kernel.sh" "$k" >/dev/null || exit 1
done

bad=0
tp=0
tf=0
lines=""
for k in $kernels; do
	log=$build/vm/$k.log
	start=$(date +%s)
	if [ $smoke = 1 ]; then
		bash "$here/run-guest.sh" --env ITEST_SLOW="$slow" --timeout 900 "$k" -- \
			sh "$here/guest-suite.sh" "$build" smoke \
			>"$log" 2>&1
	else
		bash "$here/run-guest.sh" --env ITEST_SLOW="$slow" --timeout 5400 "$k" -- \
			sh "$here/guest-suite.sh" "$build" suite "$@" >"$log" 2>&1
	fi
	rc=$?
	secs=$(($(date +%s) - start))
	rel=$(sed -n 's/^PWVM-KERNEL //p' "$log" | head -n 1)
	st=$(sed -n 's/^PWVM-STATUS //p' "$log" | head -n 1)
	modehooks=$(printf '%s' "$st" | /usr/bin/python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    print("no daemon status"); sys.exit()
h = [x for x in s["hooks"] if not x.startswith("cgroup/")]
m = s["mode"] + (" (" + s["mode_reason"] + ")" if s["mode_reason"] else "")
print("%s, cgroup/* + %s%s" % (m, ",".join(h) or "no tracepoint", ", degraded: %d" % len(s["degraded"]) if s["degraded"] else ""))')
	if [ $smoke = 1 ]; then
		counts=$(sed -n 's/^smoke: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2 0/p' "$log" | tail -n 1)
	else
		counts=$(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped.*/\1 \2 \3/p' \
			"$log" | tail -n 1)
	fi
	[ -n "$counts" ] || counts="0 1 0"
	p=$(echo "$counts" | cut -d' ' -f1)
	f=$(echo "$counts" | cut -d' ' -f2)
	s=$(echo "$counts" | cut -d' ' -f3)
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	tp=$((tp + p))
	tf=$((tf + f))
	line=$(printf '%-6s %-24s %3d passed %2d failed %2d skipped  %-60s %5ds' "$k" "${rel:-?}" \
		"$p" "$f" "$s" "$modehooks" "$secs")
	echo "$line"
	lines="$lines$line
"
	if [ "$f" -ne 0 ]; then
		bad=1
		echo "---- $log (failures) ----"
		grep -v '^PWVM-' "$log" |
			grep -E '^  FAIL|\[  (ERROR|FAILED) +\]|\[   LINE   \]|run-guest:|^smoke:|timed out' |
			head -n 60
		echo "----"
	fi
done
if [ $smoke = 1 ]; then
	echo "kernel-smoke $tp $tf 0" >>"$build/tests/summary"
fi
echo "kernels:"
printf '%s' "$lines"
exit $bad

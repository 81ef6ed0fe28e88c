#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run every benchmark in $BUILD/bench (as root, from the repo root), print
# their output, and collect their final "BENCH {...}" lines into
# $BUILD/bench/results.jsonl. Figures are ratios against baselines measured
# in the same run; the machine is noisy, so compare runs, not single numbers.
set -u
BUILD=${BUILD:-build}
out="$BUILD/bench/results.jsonl"
: > "$out"
status=0
for b in "$BUILD"/bench/bench_*; do
	[ -x "$b" ] || continue
	case "$b" in *.o | *.d) continue ;; esac
	echo "== $(basename "$b")"
	if ! "$b" 2>"$b.log" | tee "$b.out"; then
		echo "   FAILED (log: $b.log)"
		status=1
	fi
	grep '^BENCH ' "$b.out" | sed 's/^BENCH //' >> "$out"
done
echo "results: $out"
exit $status

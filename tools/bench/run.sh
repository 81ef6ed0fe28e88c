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
# ns per BPF program run, from the kernel's own accounting
echo "== hookcost"
if BUILD="$BUILD" sh tools/bench/hookcost.sh 100000 2>"$BUILD/bench/hookcost.log" | tee "$BUILD/bench/hookcost.out"; then
	grep '^BENCH ' "$BUILD/bench/hookcost.out" | sed 's/^BENCH //' >> "$out"
else
	echo "   FAILED (log: $BUILD/bench/hookcost.log)"
	status=1
fi
echo "results: $out"
exit $status

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Same-run comparison of two builds' daemons under bench_alloc: rounds of
# "before" and "after" interleaved, one bench_alloc binary (this tree's) for
# both, and each round's after/before ratio. As root, from the repo root:
#   sh tools/bench/compare_alloc.sh /path/to/before/build build [rounds]
# BENCH_ONLY (default pipelined) and BENCH_PAIRS (default 20000) pass through.
set -u
before=$1
after=$2
rounds=${3:-5}
mode=${BENCH_ONLY:-pipelined}
pairs=${BENCH_PAIRS:-20000}
bin=${BUILD:-build}/bench/bench_alloc
rate() {
	BUILD=$1 BENCH_ONLY=$mode BENCH_PAIRS=$pairs "$bin" 2>/dev/null |
		sed -n 's/^alloc: .*: \([0-9][0-9]*\) allocs\/s.*/\1/p' | tail -n 1
}
r=1
while [ "$r" -le "$rounds" ]; do
	b=$(rate "$before")
	a=$(rate "$after")
	echo "$mode round $r: before ${b:-?}/s after ${a:-?}/s ratio $(echo "scale=2; ${a:-0} / ${b:-1}" | bc)"
	r=$((r + 1))
done

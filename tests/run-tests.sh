#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run test binaries, each with a deadline; print a summary line
# "N passed, N failed" and exit non-zero when anything failed.
# Usage: run-tests.sh SUITE BIN...
set -u
suite=$1
shift
passed=0
failed=0
skipped=0
failed_names=""
for t in "$@"; do
	name=$(basename "$t")
	# the boot clock (/proc/uptime): never stepped, unlike the wall clock
	# of an emulated guest, whose steps made durations negative
	start=$(cut -d' ' -f1 /proc/uptime)
	timeout -k 10 600 "$t" >"$t.log" 2>&1
	rc=$?
	secs=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.2f", b - a }')
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf '  PASS  %-28s %ss\n' "$name" "$secs"
	elif [ $rc -eq 77 ]; then
		skipped=$((skipped + 1))
		printf '  SKIP  %-28s (needs root)\n' "$name"
	else
		failed=$((failed + 1))
		failed_names="$failed_names $name"
		printf '  FAIL  %-28s rc=%d, log follows\n' "$name" "$rc"
		sed 's/^/        /' "$t.log" | tail -n 60
	fi
done
echo "$suite: $passed passed, $failed failed, $skipped skipped"
echo "$suite $passed $failed $skipped" >> "${BUILD:-build}/tests/summary"
[ $failed -eq 0 ] || { echo "$suite: failed:$failed_names"; exit 1; }

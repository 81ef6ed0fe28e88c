#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run each unit test under valgrind: a read of uninitialised memory or a
# leak fails it, even where the plain run happened to pass (an unset pointer
# that was harmless on this build's stack).
# Usage (repo root, after make unit-bins): sh tools/valgrind-unit.sh BIN...
set -u
failed=0
for bin in "$@"; do
	log="$bin.valgrind.log"
	if valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
		--suppressions=tools/valgrind.supp "$bin" >"$log" 2>&1; then
		echo "  PASS  valgrind $(basename "$bin")"
	else
		echo "  FAIL  valgrind $(basename "$bin") (exit $?), log follows"
		grep '^==' "$log" | head -n 40 | sed 's/^/        /'
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ] || { echo "valgrind: $failed unit test(s) failed"; exit 1; }
echo "valgrind: unit tests clean"

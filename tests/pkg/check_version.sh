#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# --version on both programs: exit 0, one line with the build's version.
. tests/pkg/lib.sh
want=$(make -s --no-print-directory version)
for p in portwatchd portwatch; do
	out=$("$BUILD/$p" --version) || fail "$p --version exits $?"
	[ "$out" = "$p $want" ] || fail "$p --version says \"$out\", want \"$p $want\""
	ok "$out"
done

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run inside a run-guest.sh guest by matrix.sh: report the mode and hooks a
# daemon gets on this kernel (a PWVM-STATUS line from smoke.py), then either
# the integration suite or the smoke test.
#   guest-suite.sh BUILD suite BIN...     guest-suite.sh BUILD smoke
set -u
build=$1
what=$2
shift 2
echo "PWVM-KERNEL $(uname -r)"
if [ "$what" = smoke ]; then
	exec /usr/bin/python3 tools/vm/smoke.py "$build" --expect bpf
fi
/usr/bin/python3 tools/vm/smoke.py "$build" --status-only | grep -v '^smoke:'
mkdir -p "$build/tests"
BUILD=$build sh tests/run-tests.sh integration "$@"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Boot a guest with systemd as PID 1 (tools/vm/run-guest.sh --systemd, from the
# QEMU harness) and run tools/systemd/vm-unit-check.sh against the unit files
# of this tree, with ExecStart pointed at the built daemon. Slow (TCG): run it
# under nice, never beside timing-sensitive tests.
# Usage: sh tools/systemd/test-unit-vm.sh [KERNEL, default 6.1]
# PW_VM_HARNESS: run-guest.sh to use (default tools/vm/run-guest.sh).
set -eu
kernel=${1:-6.1}
harness=${PW_VM_HARNESS:-tools/vm/run-guest.sh}
[ -x "$harness" ] || [ -f "$harness" ] || { echo "no QEMU harness at $harness" >&2; exit 2; }
B=$(cd "${BUILD:-build}" && pwd)
U=$(mktemp -d)
trap 'rm -rf "$U"' EXIT
# the built daemon, not an installed one; a shorter watchdog so the test is
# quick. (Edited in a copy: the harness copies unit files, not drop-in dirs.)
sed -e "s|^ExecStart=/usr/sbin/portwatchd\$|ExecStart=$B/portwatchd|" \
    -e 's|^WatchdogSec=.*|WatchdogSec=20s|' tools/systemd/portwatchd.service > "$U/portwatchd.service"
cp tools/systemd/portwatch.socket "$U/"
grep -q "^ExecStart=$B/portwatchd$" "$U/portwatchd.service" || { echo "ExecStart not replaced" >&2; exit 2; }
exec nice -n 10 bash "$harness" --systemd --timeout 1500 \
	--unit "$U/portwatchd.service" --unit "$U/portwatch.socket" \
	--env PW_BUILD="$B" --env ITEST_SLOW=2 \
	--env PW_VM_MODULES="${PW_KERNEL_CACHE:-/var/cache/portwatch-kernels}/$kernel/lib/modules" \
	"$kernel" -- sh tools/systemd/vm-unit-check.sh

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run a command in a QEMU guest booted on a Debian kernel, against this host's
# userland and built tree.
#
#   run-guest.sh [OPTIONS] KERNEL [--] CMD [ARGS...]
#
# KERNEL is 5.10, 6.1, 6.12 or sid (fetched once by fetch-kernel.sh into
# $PW_KERNEL_CACHE, default /var/cache/portwatch-kernels) or a directory laid
# out like one of those. The guest runs under TCG (no KVM: -accel
# tcg,thread=multi -cpu max), with the host's / shared read-only over virtio-9p
# (multidevs=remap) under a tmpfs overlay: it sees every host file at the same
# path and writes nothing back. CMD runs as root in the host's current
# directory with a clean environment: PATH, HOME=/root, TERM=dumb,
# ITEST_SLOW (default 15), plus each --env. Loopback is up, cgroup2 is
# mounted at /sys/fs/cgroup, the kernel's modules are at /lib/modules/$(uname -r).
# CMD's output (stdout and stderr together) is printed as it comes; the exit
# status of run-guest.sh is CMD's, or 125 when the guest failed before CMD
# ended (the console log's tail is printed), or 124 on --timeout. A guest
# that ends before CMD starts (a kernel that oopsed while booting) is booted
# again, 3 boots in all, each failed boot's console tail printed.
#
# Options:
#   --env VAR=VALUE   set VAR in CMD's environment (repeatable)
#   --cmdline ARGS    append ARGS to the kernel command line (e.g. to disable
#                     a feature: "cgroup_no_v1=all", "bpf_jit_enable=0" ...)
#   --mem MB          guest memory (default 2048)
#   --timeout SECS    kill the guest after SECS (default 3600)
#   --console FILE    keep the guest's serial console log in FILE
#   --systemd         boot /lib/systemd/systemd as PID 1 instead (see below)
#   --unit FILE       with --systemd: install FILE into the guest's
#                     /etc/systemd/system before boot (repeatable; a
#                     FILE.d/ directory of drop-ins is copied too)
#   --journal FILE    with --systemd: write the guest's whole journal
#                     (journalctl -b -o short-monotonic) to FILE
#
# systemd mode: the overlay is prepared for a real boot (no /.dockerenv,
# Debian's "D /tmp" tmpfiles rule overridden, generators masked, a fresh
# machine-id), the units given are installed, and systemd starts vm.target =
# basic.target + vm-cmd.service, a Type=oneshot unit that runs CMD (same cwd
# and environment rules as above) and then reboots the guest whatever its
# result (SuccessAction/FailureAction=reboot-force). Nothing else is enabled:
# CMD uses systemctl to start the units it tests, e.g.
#   run-guest.sh --systemd --unit tools/pkg/portwatchd.service 6.1 -- \
#       sh -c 'systemctl start portwatchd && systemctl status portwatchd'
# The journal is printed after CMD's output only when CMD failed, unless
# --journal is given.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
envs=()
units=()
cmdline_extra=""
mem=2048
timeout_s=3600
console=""
journal=""
mode=cmd

usage() {
	sed -n '3,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--env) envs+=("$2"); shift 2 ;;
	--cmdline) cmdline_extra="$cmdline_extra $2"; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--console) console=$2; shift 2 ;;
	--systemd) mode=systemd; shift ;;
	--unit) units+=("$2"); shift 2 ;;
	--journal) journal=$2; shift 2 ;;
	-h|--help) usage ;;
	-*) echo "run-guest: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
kernel=$1
shift
[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || { echo "run-guest: no command given" >&2; usage; }
for e in "${envs[@]+"${envs[@]}"}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] ||
		{ echo "run-guest: --env wants VAR=VALUE, got '$e'" >&2; exit 2; }
done

if [ -d "$kernel" ]; then
	kdir=$(cd "$kernel" && pwd)
else
	kdir=$("$here/fetch-kernel.sh" "$kernel" | tail -n 1)
fi
rel=$(cat "$kdir/release")

io=$(mktemp -d /tmp/pwvm.XXXXXX)
qpid=""
tpid=""
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null
	rm -rf "$io"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sh "$here/mkinitramfs.sh" "$kdir" "$io/initrd.gz"
cp "$here/guest-stage2.sh" "$io/stage2.sh"
echo "$kdir/lib/modules/$rel" >"$io/modules"

# The command, with its cwd and environment, as a script for the guest's sh.
{
	# the command started: a guest that ends before this did not boot
	echo ": >/.vmio/started"
	echo "cd $(printf '%q' "$PWD") || exit 125"
	echo "unset \$(env | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p') 2>/dev/null"
	echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	echo "export HOME=/root TERM=dumb ITEST_SLOW=15 LANG=C.UTF-8"
	for e in "${envs[@]+"${envs[@]}"}"; do
		printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
	done
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$io/cmd"

# bash's %q may emit $'...' quoting, which busybox sh and dash do not read.
if grep -q "\\\$'" "$io/cmd"; then
	echo "run-guest: arguments with control characters are not supported" >&2
	exit 2
fi

cmdline="console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init pwvm.mode=$mode"
if [ "$mode" = systemd ]; then
	mkdir -p "$io/units"
	for u in "${units[@]+"${units[@]}"}"; do
		[ -f "$u" ] || { echo "run-guest: no unit file $u" >&2; exit 2; }
		cp "$u" "$io/units/"
		[ -d "$u.d" ] && cp -r "$u.d" "$io/units/"
	done
	cat >"$io/vm.target" <<-EOF
	[Unit]
	Description=run-guest command target
	Requires=basic.target
	Wants=vm-cmd.service
	After=basic.target
	EOF
	cat >"$io/vm-cmd.service" <<-EOF
	[Unit]
	Description=run-guest command
	After=basic.target
	SuccessAction=reboot-force
	FailureAction=reboot-force

	[Service]
	Type=oneshot
	TimeoutStartSec=infinity
	ExecStart=/bin/sh -c '/bin/sh /.vmio/cmd >/.vmio/out 2>&1 </dev/null; echo \$\$? >/.vmio/rc.tmp; mv /.vmio/rc.tmp /.vmio/rc'
	ExecStopPost=/bin/sh -c 'journalctl -b --no-pager -o short-monotonic >/.vmio/journal 2>&1; sync'
	EOF
	cmdline="$cmdline systemd.unit=vm.target systemd.show_status=0"
fi
cmdline="$cmdline$cmdline_extra"

nice_cmd=()
[ "$(nice)" -lt 10 ] && nice_cmd=(nice -n $((10 - $(nice))))
# A guest that dies before the command starts (seen: Debian's 7.2 kernel
# oopsing on an int3 in sched_clock_cpu while patching its own text under
# multi-threaded TCG, 1.9 s into boot) is booted again, up to 3 times in all;
# a failure once the command has started is the command's.
for attempt in 1 2 3; do
	: >"$io/out"
	rm -f "$io/started" "$io/rc" "$io/console" "$io/journal"
	"${nice_cmd[@]+"${nice_cmd[@]}"}" timeout -k 5 "$timeout_s" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -smp 2 -m "$mem" -machine q35 \
		-nodefaults -nographic -no-reboot \
		-serial "file:$io/console" -monitor none \
		-kernel "$kdir/vmlinuz" -initrd "$io/initrd.gz" -append "$cmdline" \
		-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
		-fsdev local,id=vmio,path="$io",security_model=none,multidevs=remap \
		-device virtio-9p-pci,fsdev=vmio,mount_tag=vmio &
	qpid=$!
	tail -n +1 -f --pid="$qpid" "$io/out" &
	tpid=$!
	set +e
	wait "$qpid"
	qrc=$?
	set -e
	qpid=""
	wait "$tpid" 2>/dev/null || true
	tpid=""
	if [ -s "$io/rc" ] || [ -e "$io/started" ] || [ "$qrc" -eq 124 ] || [ "$attempt" -eq 3 ]; then
		break
	fi
	echo "run-guest: the guest ended (qemu status $qrc) before the command started" \
		"(boot $attempt of 3); booting again. Its console's tail:" >&2
	tail -n 12 "$io/console" | tr -d '\r' | sed 's/^/run-guest:   /' >&2
done

[ -n "$console" ] && cp "$io/console" "$console"
[ -n "$journal" ] && [ -f "$io/journal" ] && cp "$io/journal" "$journal"
if [ -s "$io/rc" ]; then
	rc=$(cat "$io/rc")
	if [ "$mode" = systemd ] && [ "$rc" != 0 ] && [ -z "$journal" ] && [ -f "$io/journal" ]; then
		echo "run-guest: --- guest journal (command failed) ---"
		tail -n 200 "$io/journal"
	fi
	exit "$rc"
fi
if [ "$qrc" -eq 124 ]; then
	echo "run-guest: guest timed out after ${timeout_s}s" >&2
	rc=124
else
	echo "run-guest: guest ended (qemu status $qrc) without the command's exit status" >&2
	rc=125
fi
echo "run-guest: --- console tail ---" >&2
tail -n 40 "$io/console" | tr -d '\r' >&2
exit "$rc"

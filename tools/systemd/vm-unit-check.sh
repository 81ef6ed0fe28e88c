#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs INSIDE a guest booted with systemd as PID 1 (tools/systemd/test-unit-vm.sh
# starts it): portwatchd.service under a real service manager. Checks READY
# (active only after READY=1), the STATUS= line, capabilities after attach,
# reload of a changed and of an invalid config, journal priorities, the
# watchdog restarting a SIGSTOPped daemon, socket activation, and prints
# systemd-analyze security. Bounded polls throughout (ITEST_SLOW scales them).
set -u
B=${PW_BUILD:-build}
SLOW=${ITEST_SLOW:-1}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
prop() { systemctl show -P "$1" portwatchd.service; }
# wait_for SECONDS CMD...: poll CMD until it succeeds or SECONDS (times
# ITEST_SLOW) have passed; a deadline, since each poll is slow under TCG
wait_for() {
	end=$(($(date +%s) + $1 * SLOW)); shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}
pw() { "$B/portwatch" "$@"; }

# The harness binds the kernel's modules only in its plain command mode: bind
# them here, so that sock_diag's modules (inet_diag, tcp_diag, udp_diag) load.
rel=$(uname -r)
if [ ! -d "/lib/modules/$rel" ] && [ -n "${PW_VM_MODULES:-}" ] && [ -d "$PW_VM_MODULES/$rel" ]; then
	mkdir -p "/lib/modules/$rel" && mount --bind "$PW_VM_MODULES/$rel" "/lib/modules/$rel"
fi
modprobe -a inet_diag tcp_diag udp_diag 2>/dev/null || echo "note: sock_diag modules not loaded"

mkdir -p /etc/portwatch
cp tools/portwatch.json.sample /etc/portwatch/portwatch.json
t0=$(date +%s)
systemctl start portwatchd.service || fail "systemctl start"
echo "start took $(($(date +%s) - t0)) s (TCG)"
if [ "$(prop ActiveState)" != active ]; then
	fail "not active: $(prop ActiveState)/$(prop SubState)"
	journalctl -u portwatchd.service --no-pager | tail -40
	exit 1
fi
status=$(prop StatusText)
case $status in
"mode bpf, "*" sockets in the port map, "*" allocations") ok "READY; STATUS=$status" ;;
*) fail "STATUS=$status" ;;
esac
systemctl status --no-pager portwatchd.service | sed -n '1,6p'
pid=$(prop MainPID)
pw status >/dev/null || fail "portwatch status over /run/portwatch/portwatch.sock"
capeff=$(sed -n 's/^CapEff:\t//p' /proc/$pid/status)
[ "$capeff" = 0000000000280404 ] && ok "CapEff $capeff (sys_admin, sys_ptrace, dac_read_search, net_bind_service)" ||
	fail "CapEff $capeff"
# the unit lets the daemon run its event loop under SCHED_FIFO (LimitRTPRIO=1)
sched=$(chrt -p "$pid" 2>&1 | sed -n 's/.*scheduling policy: //p')
case $sched in
SCHED_FIFO*) ok "event loop under $sched" ;;
*) fail "scheduling policy \"$sched\": the unit refused SCHED_FIFO" ;;
esac
echo "watchdog: WatchdogUSec=$(prop WatchdogUSec)"

# journal priorities: ready at info (6), the polling-mode warning absent here
p=$(journalctl -u portwatchd.service -o verbose --no-pager | grep -B30 'MESSAGE=ready:' | sed -n 's/^ *PRIORITY=//p' | tail -1)
[ "$p" = 6 ] && ok "journal: 'ready' at priority 6" || fail "journal priority of 'ready': '$p'"

# reload: a changed file applies
sed 's/"dev": {/"vmtest": { "port_range": [45000, 45009] },\n    "dev": {/' \
	tools/portwatch.json.sample > /etc/portwatch/portwatch.json
systemctl reload portwatchd.service || fail "systemctl reload"
if wait_for 30 sh -c "'$B/portwatch' types | grep -q '^vmtest'"; then
	ok "reload applied: type vmtest present; last_reload $(pw --json status | sed -n 's/.*"last_reload": "\([^"]*\)".*/\1/p')"
else
	fail "reload: vmtest not there"
fi
echo '{"service_types": {"bad": {"port_range": [2, 1]}}}' > /etc/portwatch/portwatch.json
systemctl reload portwatchd.service || fail "systemctl reload (invalid)"
wait_for 30 sh -c "'$B/portwatch' --json status | grep -q '\"last_reload\": \"error'" &&
	ok "invalid config refused: $(pw --json status | sed -n 's/.*"last_reload": "\([^"]*\)".*/\1/p')" ||
	fail "invalid config not refused"
pw types | grep -q '^vmtest' || fail "the old config did not stay"
[ "$(prop ActiveState)" = active ] || fail "not active after the refused reload"
journalctl -u portwatchd.service -p err --no-pager | grep -q 'config reload refused' &&
	ok "refusal in the journal at priority err" || fail "refusal not logged at err"
# a valid file again: the restarts below must be able to start
cp tools/portwatch.json.sample /etc/portwatch/portwatch.json

# watchdog: a stopped daemon is killed and restarted
restarts=$(prop NRestarts)
t0=$(date +%s)
kill -STOP "$pid"
if wait_for 60 sh -c "[ \"\$(systemctl show -P MainPID portwatchd.service)\" != $pid ] && [ \"\$(systemctl show -P ActiveState portwatchd.service)\" = active ] && [ \"\$(systemctl show -P MainPID portwatchd.service)\" != 0 ]"; then
	ok "watchdog: SIGSTOPped pid $pid replaced by $(prop MainPID) after $(($(date +%s) - t0)) s, NRestarts $restarts -> $(prop NRestarts)"
else
	fail "no restart after SIGSTOP ($(prop ActiveState)/$(prop SubState), NRestarts $(prop NRestarts))"
	kill -CONT "$pid" 2>/dev/null
fi
journalctl -u portwatchd.service --no-pager | grep -i 'watchdog' | tail -2

# socket activation
systemctl stop portwatchd.service
systemctl start portwatch.socket || fail "start portwatch.socket"
[ "$(prop ActiveState)" = inactive ] || fail "service running before a client came"
if pw status >/dev/null 2>&1; then
	ok "socket activation: a client started the service ($(prop ActiveState)); $(journalctl -u portwatchd.service --no-pager | grep -o 'control socket [^ ]* passed by systemd' | tail -1)"
else
	fail "socket activation: status failed"
fi
systemctl stop portwatchd.service portwatch.socket

echo "--- systemd-analyze security portwatchd.service"
systemd-analyze security --no-pager portwatchd.service | tail -1
[ $fails = 0 ] && echo "vm-unit-check: all passed" || echo "vm-unit-check: $fails failed"
exit $fails

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The unit's hardening holds: systemd-analyze security rates it 4.0 or better
# ("OK"), and the pieces the daemon relies on are there.
. tests/pkg/lib.sh
u=tools/systemd/portwatchd.service
out=$(systemd-analyze security --offline=true --threshold=40 "$u" 2>&1) ||
	fail "$(echo "$out" | tail -1)"
ok "$(echo "$out" | tail -1 | sed 's/^→ //')"
for k in Type=notify WatchdogSec= StateDirectory=portwatch RuntimeDirectory=portwatch \
	 Restart=on-failure ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	 NoNewPrivileges=yes "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6" \
	 SystemCallArchitectures=native LockPersonality=yes MemoryDenyWriteExecute=yes \
	 CapabilityBoundingSet= ExecReload=; do
	grep -q "^$k" "$u" || fail "$u: no $k"
done
ok "notify, watchdog, directories, hardening present"
# the socket unit listens where the service serves by default
grep -q "^ListenStream=/run/portwatch/portwatch.sock$" tools/systemd/portwatch.socket ||
	fail "portwatch.socket: ListenStream"
ok "portwatch.socket"

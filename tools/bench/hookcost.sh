#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ns per invocation of each portwatch BPF program, from the kernel's own
# accounting (kernel.bpf_stats_enabled: run_time_ns / run_cnt), over N
# bind+close cycles of a UDP socket on 127.0.0.1:0 with a fresh daemon.
# Usage (root, repo root): BUILD=build sh tools/bench/hookcost.sh [N]
set -eu
BUILD=${BUILD:-build}
N=${1:-200000}
dir=$(mktemp -d /tmp/pw-hookcost.XXXXXX)
old=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled="$old"
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
"$BUILD/portwatchd" --socket "$dir/sock" --state-dir "$dir" ${PW_ARGS:-} >"$dir/log" 2>&1 &
pid=$!
i=0
while [ ! -S "$dir/sock" ]; do
	i=$((i + 1)); [ $i -lt 500 ] || { cat "$dir/log"; exit 1; }
	sleep 0.01
done
grep -o 'bound sockets tracked .*' "$dir/log" || true
sysctl -qw kernel.bpf_stats_enabled=1
snap() {
	# only this daemon's programs (others may be attached on the host):
	# the prog_id lines of its file descriptors
	bpftool -j prog show | python3 -c '
import glob, json, sys
mine = set()
for f in glob.glob("/proc/%s/fdinfo/*" % sys.argv[1]):
    try:
        for line in open(f):
            if line.startswith("prog_id:"):
                mine.add(int(line.split()[1]))
    except OSError:
        pass
for p in json.load(sys.stdin):
    if p["id"] in mine:
        print(p["id"], p["name"], p.get("run_time_ns", 0), p.get("run_cnt", 0))' "$pid"
}
snap >"$dir/a"
python3 - "$N" <<'PY'
import socket, sys
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.close()
PY
snap >"$dir/b"
join "$dir/a" "$dir/b" | awk '{ n = $7 - $4; t = $6 - $3;
	if ($2 == $5 && n > 0) { printf "hookcost: %-14s %8d runs %7.1f ns/run\n", $2, n, t / n;
		js = js sprintf("%s\"%s_ns\":%.1f", js ? "," : "", $2, t / n) } }
	END { print "BENCH {\"name\":\"hookcost\"," js "}" }'

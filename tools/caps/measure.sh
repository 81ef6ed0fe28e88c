#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# How the capabilities portwatchd keeps (user/caps.c) were measured: a
# polling-mode daemon (no BPF to load) started without one of them, in a
# network namespace of its own, must still report a socket of user nobody
# with its owner pid, a socket in another network namespace, and hand out a
# port below 1024. Prints one line per capability. Root only; touches only
# processes and sockets it creates. Usage: BUILD=build sh tools/caps/measure.sh
set -eu
BUILD=${BUILD:-build}
B=$(cd "$BUILD" && pwd)
LISTEN='import socket,sys
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); sys.stdin.read()'

probe() {	# $1: setpriv bounding-set argument ("" for none)
	T=$(mktemp -d)
	echo '{"service_types": {"low": {"port_range": [900, 909]}}}' > "$T/cfg.json"
	mkfifo "$T/in1" "$T/in2"
	unshare -n sh -c '
		ip link set lo up
		set -- "$@"
		if [ -n "$1" ]; then bs="--bounding-set=$1"; else bs="--bounding-set=+all"; fi
		setpriv "$bs" "$2/portwatchd" --no-bpf --poll-interval 100 -s "$3/s" -d "$3/d" \
			-c "$3/cfg.json" 2>"$3/log" &
		echo $! > "$3/dpid"
		setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c "$4" < "$3/in1" > "$3/p1" &
		echo $! > "$3/pid1"
		unshare -n /usr/bin/python3 -c "$4" < "$3/in2" > "$3/p2" &
		echo $! > "$3/pid2"
		exec 7>"$3/in1" 8>"$3/in2"
		i=0
		until [ -s "$3/p1" ] && [ -s "$3/p2" ] && "$2/portwatch" -s "$3/s" status >/dev/null 2>&1; do
			i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05
		done
		"$2/portwatch" -s "$3/s" status >/dev/null 2>&1 || true
		# a few polls
		i=0; until [ $i -ge 10 ]; do i=$((i + 1)); "$2/portwatch" -s "$3/s" status >/dev/null 2>&1; sleep 0.05; done
		p1=$(cat "$3/p1"); p2=$(cat "$3/p2")
		"$2/portwatch" -s "$3/s" --json ports > "$3/ports" 2>/dev/null || true
		owner=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print([s[\"pid\"] for s in d if s[\"port\"]==int(sys.argv[2])])" "$3/ports" "$p1")
		other=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len([s for s in d if s[\"port\"]==int(sys.argv[2])]))" "$3/ports" "$p2")
		low=$("$2/portwatch" -s "$3/s" allocate low -q --pid $$ 2>&1 | head -1)
		echo "nobody'"'"'s socket owner pids $owner (real $(cat "$3/pid1")); other-netns socket seen $other time(s); allocate below 1024: $low"
		exec 7>&- 8>&-
		kill $(cat "$3/dpid") 2>/dev/null; wait
	' sh "$1" "$B" "$T" "$LISTEN"
	rm -rf "$T"
}

for c in "" -sys_admin -sys_ptrace -dac_read_search -net_bind_service; do
	printf '%-22s ' "${c:-(all kept)}"
	probe "$c"
done

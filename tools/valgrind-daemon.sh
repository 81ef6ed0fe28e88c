#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run portwatchd under valgrind (BPF mode, HTTP and command checks), drive
# every command and an allocation life cycle through it, stop it with
# SIGTERM, and fail unless valgrind reports no leak and no error.
# Usage (root, after make): sh tools/valgrind-daemon.sh
set -eu
BUILD=${BUILD:-build}
dir=$(mktemp -d /tmp/pw-valgrind-XXXXXX)
vg=
# a failed step must not leave the daemon (and its BPF programs) behind
owner=
trap '[ -z "$vg" ] || kill -KILL "$vg" 2>/dev/null; [ -z "$owner" ] || kill "$owner" 2>/dev/null || true
      rm -rf "$dir"' EXIT
cat > "$dir/cfg.json" <<'JSON'
{"service_types": {
  "web": {"port_range": [47800, 47899],
          "health_check": {"type": "http", "interval_ms": 200, "timeout_ms": 150}},
  "cmd": {"port_range": [47900, 47949],
          "health_check": {"type": "command", "command": "true", "interval_ms": 200}},
  "tiny": {"port_range": [47950, 47999]}},
 "recovery": {"port_conflict": {"backoff_ms": 60000, "max_retries": 3}}}
JSON
valgrind --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
	--suppressions=tools/valgrind.supp --log-file="$dir/valgrind.log" \
	"$BUILD/portwatchd" --socket "$dir/sock" --state-dir "$dir/state" \
	--config "$dir/cfg.json" >"$dir/daemon.log" 2>&1 &
vg=$!
i=0
until [ -S "$dir/sock" ]; do
	i=$((i + 1)); [ $i -lt 1200 ] || { echo "daemon did not start"; cat "$dir/daemon.log"; exit 1; }
	sleep 0.1	# valgrind start-up; polled with a bound
done
export PORTWATCH_SOCKET="$dir/sock"
pw="$BUILD/portwatch"
sleep 600 & owner=$!
"$pw" status >/dev/null
"$pw" ports --json >/dev/null
"$pw" ports >/dev/null
p1=$("$pw" allocate web --pid $owner -q)
p2=$("$pw" allocate cmd --pid $owner -q)
timeout 3 "$pw" watch --json >/dev/null &
# filters: compiled per request, and per watcher until it leaves
timeout 3 "$pw" watch --json --event bind,allocation "sport = :$p1 or netns 1" >/dev/null &
"$pw" ports --summary 'tcp and not ( src 10.0.0.0/8 or comm x* )' >/dev/null
"$pw" ports --netns 1 -H -4 >/dev/null
"$pw" ports 'sport = (' >/dev/null 2>&1 || true
"$pw" check "$p1" >/dev/null
python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', $p1)); s.listen(); s.close()"
"$pw" health >/dev/null
"$pw" metrics >/dev/null
"$pw" list >/dev/null
"$pw" release "$p2" >/dev/null
"$pw" audit --limit 3 >/dev/null
"$pw" recover --dry-run >/dev/null
kill $owner
i=0
until [ "$("$pw" list --json)" = "[]" ]; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "owner's allocation not released"; exit 1; }
	sleep 0.1
done
# a request waiting in backoff at SIGTERM is answered and freed: the port it
# asks for has a TIME-WAIT connection (no socket in the map, yet a bind
# fails), so it conflicts and backs off for a minute. A port of tiny's
# range without one from an earlier run:
tw=$(python3 -c "import socket
for p in range(47950, 48000):
    l = socket.socket()
    try:
        l.bind(('127.0.0.1', p))
    except OSError:
        continue
    l.listen(); c = socket.create_connection(('127.0.0.1', p)); a, _ = l.accept()
    a.close(); c.close(); l.close(); print(p); break")
sleep 600 & owner=$!
"$pw" allocate tiny --port "$tw" --pid $owner >/dev/null 2>&1 & waiter=$!
i=0
until "$pw" audit --json --limit 20 | grep -q "\"action\":\"conflict\".*\"port\":$tw"; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "allocation did not back off"; exit 1; }
	sleep 0.1
done
kill -TERM $vg
rc=0
wait $vg || rc=$?
vg=
kill $owner 2>/dev/null || true
wait $waiter 2>/dev/null || true
grep -E "in use at exit|definitely lost|indirectly lost|ERROR SUMMARY" "$dir/valgrind.log"
[ $rc -eq 0 ] || { echo "valgrind: daemon exit $rc"; cat "$dir/valgrind.log"; exit 1; }
echo "valgrind: no leaks, no errors"

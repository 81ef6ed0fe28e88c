#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The layers of user/ depend one way: cli -> common; daemon -> core ->
# kernel -> common -> include/. The build enforces it with per-folder include
# paths; this check says it in words and also finds #include cycles between
# files (tsort reports any loop). Run from the repository root.
set -eu
allowed() {
	case $1 in
	common) echo "common" ;;
	kernel) echo "kernel common" ;;
	core) echo "core kernel common" ;;
	daemon) echo "daemon core kernel common" ;;
	cli) echo "cli common" ;;
	esac
}
status=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for dir in user/*/; do
	layer=$(basename "$dir")
	for f in "$dir"*.[ch]; do
		for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
			found=""
			for l in $(allowed "$layer"); do
				if [ -f "user/$l/$h" ]; then
					found="user/$l/$h"
					break
				fi
			done
			if [ -z "$found" ]; then
				[ -f "include/$h" ] && continue
				case $h in *.skel.h) continue ;; esac
				owner=$(ls user/*/"$h" 2>/dev/null | head -n 1)
				echo "check-layers: $f includes \"$h\" ($owner): not allowed for $layer/"
				status=1
				continue
			fi
			echo "$f $found" >> "$edges"
		done
	done
done
if ! tsort "$edges" > /dev/null 2> "$edges.err"; then
	echo "check-layers: #include cycle:"
	sed 's/^/  /' "$edges.err"
	status=1
fi
rm -f "$edges.err"
[ $status -eq 0 ] && echo "check-layers: user/ depends one way, no #include cycle"
exit $status

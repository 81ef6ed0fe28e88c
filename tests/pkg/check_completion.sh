#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Bash completion: commands, options, service types and allocated ports from a
# running daemon (a private polling-mode one).
. tests/pkg/lib.sh
[ -r /usr/share/bash-completion/bash_completion ] || fail "bash-completion is not installed"
start_daemon
port=$("$BUILD/portwatch" -s "$SOCK" allocate dev -q)
out=$(PATH="$PWD/$BUILD:$PATH" bash -c '
	. /usr/share/bash-completion/bash_completion
	. tools/completion/portwatch
	c() {
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
		_portwatch; echo "${COMPREPLY[*]}"
	}
	c portwatch al
	c portwatch -s "$1" allocate d
	c portwatch -s "$1" release ""
	c portwatch -s "$1" ports --li
	c portwatch --vers
' sh "$SOCK" 2>&1)
expect() {
	line=$(echo "$out" | sed -n "$1p")
	[ "$line" = "$2" ] || fail "completion $1: got \"$line\", want \"$2\""
}
expect 1 "allocate"
expect 2 "dev database docs"
expect 3 "$port"
expect 4 "--listening"
expect 5 "--version"
ok "commands, types from the daemon, allocated ports, options"

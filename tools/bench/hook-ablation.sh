#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Where the hooks' time goes, in place: the daemon built several times with
# its BPF programs cut short in one way each, and every build's programs
# timed by hookcost.sh (kernel.bpf_stats_enabled: ns per run) over the same
# bind+close loop, the builds interleaved round by round. A cut is the
# difference between its build and the full one; each build's figure is
# the median of its rounds.
#
# Not part of `make bench`: it builds the daemon's BPF side once per variant.
# A variant whose edit no longer matches bpf/portwatch.bpf.c stops the
# script (the cuts are text edits of a copy of the tree, never of the tree).
#
# Usage (root, repo root): sh tools/bench/hook-ablation.sh [ROUNDS] [CYCLES]
# (KEEP=1 keeps the scratch tree, builds and make logs in /tmp/pw-ablation.*)
set -eu
ROUNDS=${1:-5}
CYCLES=${2:-200000}
top=$(pwd)
[ -f bpf/portwatch.bpf.c ] || { echo "hook-ablation: run from the repo root" >&2; exit 2; }
case "$ROUNDS$CYCLES" in
*[!0-9]*) echo "hook-ablation: ROUNDS and CYCLES are whole numbers (got '$ROUNDS' '$CYCLES')" >&2; exit 2 ;;
esac
[ "$ROUNDS" -ge 1 ] && [ "$CYCLES" -ge 1000 ] ||
	{ echo "hook-ablation: ROUNDS >= 1, CYCLES >= 1000" >&2; exit 2; }
work=$(mktemp -d /tmp/pw-ablation.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT INT TERM

# the builds; edit() below makes each one's cut ("full" is the tree as it is)
variants='full
empty
no-bind-record
small-bind-record
bind-record-no-helpers
no-release-record'

edit() {
	python3 - "$1" "$2" <<'PY'
import sys
name, path = sys.argv[1], sys.argv[2]
s = open(path).read()

def cut(old, new):
    global s
    if s.count(old) != 1:
        sys.exit("hook-ablation: %s: the text to cut is not in bpf/portwatch.bpf.c once: %r"
                 % (name, old[:60]))
    s = s.replace(old, new)

bind_reserve = """	e = ring_reserve(sizeof(*e));
	if (!e)
		return SK_PASS;
	/* every byte"""
if name == "empty":
    # both programs return at once: the cost of being attached
    cut("""	struct pw_event *e;
	__u16 port = ctx->src_port;""", """	struct pw_event *e;
	__u16 port = ctx->src_port;
	if (proto)
		return SK_PASS;""")
    cut("""	bool flagged = false;
""", """	bool flagged = false;
	if (proto)
		return SK_PASS;
""")
elif name == "no-bind-record":
    # tracking only: no ring record at bind
    cut(bind_reserve, "	if (proto)\n		return SK_PASS;\n" + bind_reserve)
elif name == "small-bind-record":
    # the ring's reserve and commit for an 8-byte record, no fields
    cut(bind_reserve, """	{
		__u64 *x = ring_reserve(8);

		if (x) {
			*x = cookie;
			bpf_ringbuf_submit(x, BPF_RB_NO_WAKEUP);
		}
		if (proto)
			return SK_PASS;
	}
""" + bind_reserve)
elif name == "bind-record-no-helpers":
    # the whole record, written with constants: no clock, netns, uid, comm
    cut("""	e->ts_ns = bpf_ktime_get_ns();
	e->cookie = cookie;
	e->netns = ctx_netns(ctx);""", """	e->ts_ns = 0;
	e->cookie = cookie;
	e->netns = proto ? 2 : ctx_netns(ctx);""")
    cut("""	e->uid = (__u32)bpf_get_current_uid_gid();
	e->port = port;""", """	e->uid = 0;
	e->port = port;""")
    cut("	bpf_get_current_comm(e->comm, sizeof(e->comm));",
        "	__builtin_memset(e->comm, 0, sizeof(e->comm));")
    cut("""	e->heir = 0;
	submit(e);""", """	e->heir = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);""")
elif name == "no-release-record":
    # the release's lookups only: no ring record
    cut("""	emit_release(ctx, cookie, PW_EV_CLOSE, port);
	return SK_PASS;""", """	if (!proto)
		emit_release(ctx, cookie, PW_EV_CLOSE, port);
	return SK_PASS;""")
open(path, "w").write(s)
PY
}

# One copy of the tree, built once in full; each variant starts from a copy
# of that build (times kept), so only its BPF object, the skeleton and what
# includes it are built again.
src="$work/src"
mkdir -p "$src"
git ls-files -z | (cd "$top" && xargs -0 cp --parents -t "$src")
cp "$src/bpf/portwatch.bpf.c" "$work/portwatch.bpf.c.orig"
for v in $variants; do
	if [ "$v" != full ]; then
		cp -a "$work/build-full" "$work/build-$v"
		# the dependency files name the build they were made in
		find "$work/build-$v" -name '*.d' -exec sed -i "s|$work/build-full/|$work/build-$v/|g" {} +
		cp "$work/portwatch.bpf.c.orig" "$src/bpf/portwatch.bpf.c"
		edit "$v" "$src/bpf/portwatch.bpf.c"
	fi
	echo "hook-ablation: building $v" >&2
	make -C "$src" -j2 BUILD="$work/build-$v" "$work/build-$v/portwatchd" >"$work/make-$v.log" 2>&1 || {
		tail -20 "$work/make-$v.log" >&2
		exit 1
	}
	if [ "$v" != full ] && cmp -s "$work/build-full/portwatchd" "$work/build-$v/portwatchd"; then
		echo "hook-ablation: $v built the same daemon as full" >&2
		exit 1
	fi
done

for r in $(seq "$ROUNDS"); do
	for v in $variants; do
		BUILD="$work/build-$v" sh "$top/tools/bench/hookcost.sh" "$CYCLES" |
			awk -v v="$v" '/^hookcost: pw_(bind4|release) / { print v, $2, $5 }'
	done
done >"$work/runs"

python3 - "$work/runs" "$ROUNDS" "$CYCLES" <<'PY'
import json, statistics, sys
runs, rounds, cycles = sys.argv[1], sys.argv[2], sys.argv[3]
ns = {}
for line in open(runs):
    v, prog, t = line.split()
    ns.setdefault(v, {}).setdefault(prog, []).append(float(t))
med = {v: {p: statistics.median(t) for p, t in d.items()} for v, d in ns.items()}
full = med["full"]
print("hook-ablation: ns per program run (bpf_stats, its own ~50 ns included), "
      "median of %s rounds of %s bind+close cycles" % (rounds, cycles))
out = {"name": "hook_ablation"}
for v, d in med.items():
    parts = []
    for p in ("pw_bind4", "pw_release"):
        if p in d:
            parts.append("%s %.0f ns (%+.0f)" % (p, d[p], d[p] - full[p]))
            out["%s_%s_ns" % (v.replace("-", "_"), p[3:])] = round(d[p], 1)
    print("hook-ablation: %-24s %s" % (v, ", ".join(parts)))
print("BENCH " + json.dumps(out, separators=(",", ":")))
PY

// SPDX-License-Identifier: GPL-2.0
/*
 * Load, probe and attach the BPF programs of bpf/portwatch.bpf.c, and drain
 * their ring buffer.
 *
 * The cgroup socket hooks are essential: without them there is nothing to
 * watch and the caller falls back to polling. The process-exit and TCP-state
 * tracepoints each have a BTF (tp_btf) and a raw (raw_tp) variant; we load the
 * first one this kernel accepts, or run without that hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfwatch.h"
#include "log.h"
#include "snapshot.h"
#include "portwatch.skel.h"

_Static_assert(sizeof(struct pw_event) == 80, "struct pw_event is shared with the BPF side");
_Static_assert(sizeof(struct pw_iter_sock) == 72, "struct pw_iter_sock is shared with the BPF side");

#define RINGBUF_DEFAULT	(2UL << 20)	/* ~26k events; doubly mapped: 4 MiB of RSS */
#define RINGBUF_MAX	(1UL << 30)

enum variant { V_TP_BTF, V_RAW_TP, V_NONE, V_NR };

/* Optional hooks: tracepoints with a BTF and a raw variant. */
enum opt_hook { HOOK_EXIT, HOOK_STATE, HOOK_NR };

static const char *const variant_name[V_NR] = { "tp_btf", "raw_tp", "none" };
static const char *const hook_tp[HOOK_NR] = { "sched_process_exit", "inet_sock_set_state" };
static const char *const hook_what[HOOK_NR] = { "process exits", "TCP listen/unlisten" };
/* What stands in for a hook this kernel lacks. */
static const char *const hook_fallback[HOOK_NR] = {
	"owners' deaths found by the periodic /proc liveness poll",
	"listen()/shutdown() of a bound TCP socket not reported until a resync",
};

struct pw_bpf {
	struct portwatch_bpf *skel;
	struct ring_buffer *rb;
	pw_bpf_event_fn fn;
	void *ctx;
	int cgroup_fd;
	char *cgroup;
	size_t ringbuf_bytes;
	__u64 wakeup_gap_ns;
	/* Releases decide their wakeup by the coarse clock, which lags the
	 * precise one by up to coarse_lag_ns (0: they read the precise one). */
	__u64 coarse_lag_ns;
	enum variant hook[HOOK_NR];
	/* Snapshots from the socket iterator (iter/task_file); cleared when
	 * this kernel refuses it. */
	bool use_iter;
	char why_not_iter[560];
	/* The holders' iterator (pw_holders) in the object; cleared when the
	 * load fails on it. */
	bool use_holders;
	char why_not_holders[560];
	/* Pinned sockets tracked by their sk_userlocks, not in the hash
	 * (track_by_userlocks); cleared when this kernel refuses it. */
	bool by_userlocks;
	char why_not_userlocks[560];
	/* The pid pw_bpf_track_pid() tracked last and the events consumed
	 * then: the same pid again with no event read since is still in the
	 * map (its exit would have been an event), so no syscall. */
	__u64 user_track_full;	/* pw_bpf_track_socket/_pid inserts refused */
	__u32 last_pid;
	__u64 consumed_at_last_pid;
	__u64 consumed;
	char hooks[256];
	/* Why tp_btf was not used, per hook ("" when it was). */
	char why_not[HOOK_NR][560];
	/* "; "-separated: each missing hook or feature and what replaces it. */
	char degraded[2048];
};

static struct bpf_program *hook_prog(struct portwatch_bpf *s, enum opt_hook h, enum variant v)
{
	if (h == HOOK_EXIT)
		return v == V_TP_BTF ? s->progs.pw_exit_btf : s->progs.pw_exit_raw;
	return v == V_TP_BTF ? s->progs.pw_state_btf : s->progs.pw_state_raw;
}

static struct bpf_link **hook_link(struct portwatch_bpf *s, enum opt_hook h, enum variant v)
{
	if (h == HOOK_EXIT)
		return v == V_TP_BTF ? &s->links.pw_exit_btf : &s->links.pw_exit_raw;
	return v == V_TP_BTF ? &s->links.pw_state_btf : &s->links.pw_state_raw;
}

/*
 * libbpf reports why a load failed only through its print callback, which
 * has no context argument: while loading, keep the first warning (it names
 * the program and the error) and the verifier's last word.
 */
struct capture {
	char first[200];
	char verdict[200];
};

static struct capture *capture;
static libbpf_print_fn_t capture_next;

static void copy_line(char *dst, size_t len, const char *src)
{
	size_t n = strcspn(src, "\n");

	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool verifier_noise(const char *line)
{
	return !*line || *line == '\n' || !strncmp(line, "processed ", 10) ||
	       !strncmp(line, "verification time", 17) || !strncmp(line, "stack depth", 11) ||
	       !strncmp(line, "-- END PROG LOAD LOG", 20);
}

static void capture_msg(struct capture *c, const char *msg)
{
	const char *log, *line;

	if (!strncmp(msg, "libbpf: ", 8))
		msg += 8;
	if (!c->first[0])
		copy_line(c->first, sizeof(c->first), msg);
	log = strstr(msg, "-- BEGIN PROG LOAD LOG --\n");
	if (!log)
		return;
	for (line = strchr(log, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
		if (!verifier_noise(line))
			copy_line(c->verdict, sizeof(c->verdict), line);
		if (!strchr(line, '\n'))
			break;
	}
}

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list copy;
	char *msg;

	if (capture && level == LIBBPF_WARN) {
		va_copy(copy, ap);
		if (vasprintf(&msg, fmt, copy) >= 0) {
			capture_msg(capture, msg);
			free(msg);
		}
		va_end(copy);
	}
	return capture_next ? capture_next(level, fmt, ap) : 0;
}

static int load_captured(struct portwatch_bpf *s, char *why, size_t len)
{
	struct capture c = {};
	int err;

	capture = &c;
	capture_next = libbpf_set_print(capture_print);
	err = portwatch_bpf__load(s);
	libbpf_set_print(capture_next);
	capture = NULL;
	if (err)
		snprintf(why, len, "%s%s%s", c.first[0] ? c.first : strerror(-err),
			 c.verdict[0] ? ": " : "", c.verdict);
	return err;
}

/*
 * Open and load with the given variants. A probe uses minimal maps and is
 * destroyed again; otherwise the loaded skeleton is kept in b->skel.
 */
static int load(struct pw_bpf *b, const enum variant v[HOOK_NR], bool probe, char *why,
		size_t len)
{
	struct portwatch_bpf *s;
	long page = sysconf(_SC_PAGESIZE);
	int h, err;

	s = portwatch_bpf__open();
	if (!s) {
		err = -errno;
		snprintf(why, len, "cannot open BPF object: %s", strerror(-err));
		return err;
	}
	for (h = 0; h < HOOK_NR; h++) {
		bpf_program__set_autoload(hook_prog(s, h, V_TP_BTF), v[h] == V_TP_BTF);
		bpf_program__set_autoload(hook_prog(s, h, V_RAW_TP), v[h] == V_RAW_TP);
	}
	s->rodata->wakeup_gap_ns = b->wakeup_gap_ns;
	s->rodata->coarse_wakeup = !probe && b->coarse_lag_ns;
	s->rodata->track_by_userlocks = !probe && b->by_userlocks;
	bpf_program__set_autoload(s->progs.pw_iter_files, !probe && b->use_iter);
	bpf_program__set_autoload(s->progs.pw_holders, !probe && b->use_holders);
	/* the snapshot's netns ids and the events' must agree (before 5.14: inodes) */
	s->rodata->netns_by_inum = pw_netns_by_inode();
	err = bpf_map__set_max_entries(s->maps.events, probe ? (size_t)page : b->ringbuf_bytes);
	if (!err && probe)
		err = bpf_map__set_max_entries(s->maps.tracked_socks, 1);
	if (!err && probe)
		err = bpf_map__set_max_entries(s->maps.tracked_pids, 1);
	if (!err && probe)
		err = bpf_map__set_max_entries(s->maps.holders_wanted, 1);
	if (err) {
		snprintf(why, len, "cannot size maps: %s", strerror(-err));
		goto cleanup;
	}
	err = load_captured(s, why, len);
	if (err)
		goto cleanup;
	if (!probe) {
		b->skel = s;
		return 0;
	}
cleanup:
	portwatch_bpf__destroy(s);
	return err;
}

/*
 * Find the variant of each optional hook that loads, after a load of the
 * preferred set failed. Fails only if the essential programs do not load.
 */
static int probe_hooks(struct pw_bpf *b, char *why, size_t len)
{
	enum variant v[HOOK_NR] = { V_NONE, V_NONE };
	char reason[V_NONE][256];
	int h, err;

	err = load(b, v, true, why, len);
	if (err)
		return err;
	for (h = 0; h < HOOK_NR; h++) {
		for (v[h] = V_TP_BTF; v[h] < V_NONE; v[h]++) {
			if (!load(b, v, true, reason[v[h]], sizeof(reason[0])))
				break;
			pw_debug("bpf: %s/%s does not load: %s", variant_name[v[h]], hook_tp[h],
				 reason[v[h]]);
		}
		if (v[h] == V_NONE)
			pw_warn("bpf: no hook for %s, not reported (tp_btf: %s; raw_tp: %s)",
				hook_what[h], reason[V_TP_BTF], reason[V_RAW_TP]);
		else if (v[h] != V_TP_BTF)
			pw_info("bpf: tp_btf/%s does not load (%s), using %s", hook_tp[h],
				reason[V_TP_BTF], variant_name[v[h]]);
		if (v[h] != V_TP_BTF)
			snprintf(b->why_not[h], sizeof(b->why_not[h]), "%s", reason[V_TP_BTF]);
		b->hook[h] = v[h];
		v[h] = V_NONE;	/* probe each optional hook on its own */
	}
	return 0;
}

static int attach_cgroup(struct pw_bpf *b, struct bpf_program *prog, struct bpf_link **link,
			 char *why, size_t len)
{
	int err;

	*link = bpf_program__attach_cgroup(prog, b->cgroup_fd);
	if (*link)
		return 0;
	err = -errno;
	snprintf(why, len, "cannot attach %s to cgroup %s: %s", bpf_program__section_name(prog),
		 b->cgroup, strerror(-err));
	*link = NULL;
	return err;
}

/*
 * Tracepoints first, then release before bind: a socket is tracked only once
 * its release is watched. Sets *bad to the optional hook that failed, or -1.
 */
static int attach(struct pw_bpf *b, int *bad, char *why, size_t len)
{
	struct portwatch_bpf *s = b->skel;
	struct bpf_link **link;
	int h, err;

	*bad = -1;
	for (h = 0; h < HOOK_NR; h++) {
		if (b->hook[h] == V_NONE)
			continue;
		link = hook_link(s, h, b->hook[h]);
		*link = bpf_program__attach(hook_prog(s, h, b->hook[h]));
		if (!*link) {
			err = -errno;
			*link = NULL;
			*bad = h;
			snprintf(why, len, "%s", strerror(-err));
			return err;
		}
	}
	err = attach_cgroup(b, s->progs.pw_release, &s->links.pw_release, why, len);
	if (!err)
		err = attach_cgroup(b, s->progs.pw_bind4, &s->links.pw_bind4, why, len);
	if (!err)
		err = attach_cgroup(b, s->progs.pw_bind6, &s->links.pw_bind6, why, len);
	if (!err && b->use_iter) {
		s->links.pw_iter_files = bpf_program__attach_iter(s->progs.pw_iter_files, NULL);
		if (!s->links.pw_iter_files) {
			snprintf(b->why_not_iter, sizeof(b->why_not_iter), "does not attach: %s",
				 strerror(errno));
			pw_info("bpf: the socket iterator %s: snapshots dump every netns with "
				"sock_diag", b->why_not_iter);
			b->use_iter = false;
		}
	}
	return err;
}

/* Every optional hook and feature but the holders iterator, as first tried. */
static void want_everything(struct pw_bpf *b)
{
	b->hook[HOOK_EXIT] = V_TP_BTF;
	b->hook[HOOK_STATE] = V_TP_BTF;
	b->by_userlocks = true;
	b->use_iter = true;
}

/* Logs what it chose and, on failure, why. */
static int load_and_attach(struct pw_bpf *b)
{
	char why[512];
	bool probed = false;
	int bad, err;

	want_everything(b);
	b->use_holders = true;
	for (;;) {
		err = load(b, b->hook, false, why, sizeof(why));
		if (err && b->use_holders && strstr(why, "prog 'pw_holders'")) {
			/* libbpf names the program it could not load */
			b->use_holders = false;
			snprintf(b->why_not_holders, sizeof(b->why_not_holders), "%s", why);
			pw_info("bpf: the holders iterator does not load (%s): holders of sockets "
				"whose binder exited come from snapshots", why);
			continue;
		}
		if (err && b->use_iter) {
			/* the socket iterator refused (bpf_sock_from_file is
			 * 5.11+, bpf_get_socket_cookie in tracing programs
			 * 5.12+)? snapshots use sock_diag */
			char plain[512];

			b->use_iter = false;
			if (!load(b, b->hook, false, plain, sizeof(plain))) {
				snprintf(b->why_not_iter, sizeof(b->why_not_iter), "%s", why);
				pw_info("bpf: no socket iterator (%s): snapshots dump every "
					"netns with sock_diag", why);
				err = 0;
			} else {
				b->use_iter = true;
			}
		}
		if (err && b->use_iter && b->by_userlocks) {
			/* both features off at once */
			char plain[512];

			b->use_iter = b->by_userlocks = false;
			if (!load(b, b->hook, false, plain, sizeof(plain))) {
				snprintf(b->why_not_userlocks, sizeof(b->why_not_userlocks), "%s",
					 why);
				snprintf(b->why_not_iter, sizeof(b->why_not_iter), "%s", why);
				pw_info("bpf: socket iterators and reading sockets refused (%s)",
					why);
				err = 0;
			} else {
				/* neither alone, nor both: put both back (reading
				 * sockets stayed off here, without a reason, and
				 * 5.10 tracked every socket in the hash) */
				b->use_iter = b->by_userlocks = true;
			}
		}
		if (err && b->by_userlocks) {
			/* reading the socket (bpf_probe_read_kernel, CO-RE of
			 * sk_userlocks) refused? the same hooks over the hash */
			char plain[512];

			b->by_userlocks = false;
			if (!load(b, b->hook, false, plain, sizeof(plain))) {
				snprintf(b->why_not_userlocks, sizeof(b->why_not_userlocks), "%s",
					 why);
				pw_info("bpf: sockets cannot be read at release (%s): every bound "
					"socket tracked in a hash", why);
				err = 0;
			} else {
				/* not (only) that: probe the hooks, then try again */
				b->by_userlocks = true;
			}
		}
		if (err && !probed) {
			pw_debug("bpf: preferred hooks do not load (%s), probing", why);
			probed = true;
			err = probe_hooks(b, why, sizeof(why));
			if (err) {
				pw_warn("bpf: cgroup socket hooks do not load: %s", why);
				return err;
			}
			continue;
		}
		if (err && b->use_holders) {
			/* The first check relies on libbpf's wording. If a
			 * libbpf words it differently, everything above was tried
			 * with the holders iterator still in: try it all once more
			 * without it before giving up. */
			pw_info("bpf: programs do not load (%s): trying again without the holders "
				"iterator", why);
			b->use_holders = false;
			snprintf(b->why_not_holders, sizeof(b->why_not_holders),
				 "the programs loaded only without it");
			want_everything(b);
			probed = false;
			continue;
		}
		if (err) {
			pw_warn("bpf: programs do not load: %s", why);
			return err;
		}
		err = attach(b, &bad, why, sizeof(why));
		if (!err)
			return 0;
		portwatch_bpf__destroy(b->skel);
		b->skel = NULL;
		if (bad < 0) {
			pw_warn("bpf: %s", why);
			return err;
		}
		/* Loaded but would not attach: try the next variant. */
		pw_info("bpf: %s/%s does not attach (%s)", variant_name[b->hook[bad]],
			hook_tp[bad], why);
		if (b->hook[bad] == V_TP_BTF)
			snprintf(b->why_not[bad], sizeof(b->why_not[bad]), "does not attach: %s",
				 why);
		b->hook[bad]++;
		if (b->hook[bad] == V_NONE)
			pw_warn("bpf: no hook for %s, not reported", hook_what[bad]);
	}
}

/* Undo the octal escapes (\040 for a space) of /proc/self/mountinfo. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

int pw_bpf_find_cgroup2(char **ret)
{
	char *line = NULL, *mnt = NULL, *sep;
	size_t cap = 0;
	FILE *f;
	int err = -ENOENT;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	/* 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw */
	while (getline(&line, &cap, f) > 0) {
		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %ms", &mnt) != 1) {
			err = -EINVAL;
			continue;
		}
		unescape(mnt);
		*ret = mnt;
		err = 0;
		break;
	}
	free(line);
	fclose(f);
	return err;
}

static int ringbuf_size(size_t want, size_t *ret)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t sz = page > 0 ? (size_t)page : 4096;

	if (!want)
		want = RINGBUF_DEFAULT;
	if (want > RINGBUF_MAX)
		return -E2BIG;
	while (sz < want)
		sz <<= 1;
	*ret = sz;
	return 0;
}

/*
 * How far behind the precise clock the coarse one a release reads may be:
 * two of its ticks (its resolution is the tick), for a margin. The daemon
 * lingers that much longer after a batch of events. 0 where cgroup programs
 * cannot read it (before 5.11), or where the lag is over 4 gaps (a gap set
 * far below the tick: lingering 5 times as long would cost the daemon more
 * than the precise clock costs the releases).
 */
static __u64 coarse_lag(__u64 gap_ns)
{
	struct timespec res;
	__u64 lag;

	if (!gap_ns || clock_getres(CLOCK_MONOTONIC_COARSE, &res))
		return 0;
	lag = 2 * ((__u64)res.tv_sec * 1000000000ull + (__u64)res.tv_nsec);
	if (lag > 4 * gap_ns)
		return 0;
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK, BPF_FUNC_ktime_get_coarse_ns,
				    NULL) != 1)
		return 0;
	return lag;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct pw_bpf *b = ctx;
	struct pw_event ev;

	if (size == sizeof(struct pw_event_release)) {
		const struct pw_event_release *r = data;

		memset(&ev, 0, sizeof(ev));
		ev.ts_ns = r->ts_ns;
		ev.cookie = r->cookie;
		ev.port = r->port;
		ev.kind = r->kind;
		ev.proto = r->proto;
		ev.family = r->family;
	} else if (size >= sizeof(ev)) {
		memcpy(&ev, data, sizeof(ev));
	} else {
		/* a BPF/userspace mismatch: skip it rather than read past its end */
		return 0;
	}
	if (ev.kind == 0 || ev.kind >= PW_EV_KIND_MAX)
		return 0;
	ev.comm[PW_COMM_LEN - 1] = '\0';
	b->consumed++;
	return b->fn(b->ctx, &ev);
}

/* Short form of a libbpf load failure: the verifier's last words. */
static const char *short_reason(const char *why)
{
	const char *p = strstr(why, "failed: ");

	return p ? p + 8 : why;
}

/* Append one "; "-separated entry to b->degraded; false once it is full. */
static bool __attribute__((format(printf, 3, 4)))
degraded_add(struct pw_bpf *b, size_t *n, const char *fmt, ...)
{
	size_t len = sizeof(b->degraded);
	va_list ap;

	if (*n >= len)
		return false;
	if (*n)
		*n += (size_t)snprintf(b->degraded + *n, len - *n, "; ");
	if (*n >= len)
		return false;
	va_start(ap, fmt);
	*n += (size_t)vsnprintf(b->degraded + *n, len - *n, fmt, ap);
	va_end(ap);
	return *n < len;
}

static void format_degraded(struct pw_bpf *b)
{
	size_t n = 0;
	bool room = true;
	int h;

	b->degraded[0] = '\0';
	for (h = 0; room && h < HOOK_NR; h++) {
		if (b->hook[h] == V_RAW_TP)
			room = degraded_add(b, &n, "tp_btf/%s refused (%s): raw_tp/%s used instead",
					    hook_tp[h], short_reason(b->why_not[h]), hook_tp[h]);
		else if (b->hook[h] == V_NONE)
			room = degraded_add(b, &n, "tp_btf,raw_tp/%s missing (%s): %s", hook_tp[h],
					    short_reason(b->why_not[h]), hook_fallback[h]);
	}
	if (room && !b->by_userlocks)
		room = degraded_add(b, &n, "reading sockets at release refused (%s): every bound "
				    "socket tracked in a hash (insert and delete per bind)",
				    short_reason(b->why_not_userlocks));
	if (room && !b->use_iter)
		room = degraded_add(b, &n, "socket iterator refused (%s): snapshots dump every "
				    "netns with sock_diag", short_reason(b->why_not_iter));
	if (room && !b->use_holders)
		room = degraded_add(b, &n, "holders iterator refused (%s): holders of sockets "
				    "whose binder exited come from a snapshot",
				    short_reason(b->why_not_holders));
	if (room && pw_netns_by_inode())
		(void) degraded_add(b, &n, "SO_NETNS_COOKIE missing (before 5.14): network "
				    "namespaces named by inode number");
}

static void format_hooks(struct pw_bpf *b)
{
	int h, n;

	n = snprintf(b->hooks, sizeof(b->hooks),
		     "cgroup/post_bind4,cgroup/post_bind6,cgroup/sock_release");
	for (h = 0; h < HOOK_NR; h++)
		if (b->hook[h] != V_NONE)
			n += snprintf(b->hooks + n, sizeof(b->hooks) - n, ",%s/%s",
				      variant_name[b->hook[h]], hook_tp[h]);
}

/* Read one iterator's records: a seq_file may end a read() inside one. */
static int read_iter(struct bpf_link *link, pw_snapshot_iter_cb cb, void *ctx)
{
	enum { REC = sizeof(struct pw_iter_sock) };
	static char buf[REC * 1024];
	size_t have = 0;
	ssize_t n;
	int fd, err = 0;

	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0 || (n < 0 && errno == EINTR)) {
		size_t off = 0;

		if (n < 0)
			continue;
		have += (size_t)n;
		for (; have - off >= REC && !err; off += REC) {
			struct pw_iter_sock r;

			memcpy(&r, buf + off, REC);
			err = cb(ctx, &r);
		}
		if (err)
			break;
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (n < 0 && !err)
		err = -errno;	/* EAGAIN: the tables changed under a restart */
	close(fd);
	return err;
}

static int iter_socks(void *src, pw_snapshot_iter_cb cb, void *ctx)
{
	struct pw_bpf *b = src;

	return read_iter(b->skel->links.pw_iter_files, cb, ctx);
}

int pw_bpf_new(struct pw_bpf **ret, const struct pw_bpf_opts *opts, pw_bpf_event_fn fn, void *ctx)
{
	struct pw_bpf *b;
	int err;

	if (!ret || !fn)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fn = fn;
	b->ctx = ctx;
	b->cgroup_fd = -1;
	b->wakeup_gap_ns = opts && opts->wakeup_gap_us != (unsigned)-1 ? opts->wakeup_gap_us * 1000ull
									 : 5000000;

	err = ringbuf_size(opts ? opts->ringbuf_bytes : 0, &b->ringbuf_bytes);
	if (err) {
		pw_warn("bpf: ring buffer of %zu bytes is too large (max %lu)",
			opts->ringbuf_bytes, RINGBUF_MAX);
		goto cleanup;
	}
	if (opts && opts->cgroup_path) {
		b->cgroup = strdup(opts->cgroup_path);
		err = b->cgroup ? 0 : -ENOMEM;
	} else {
		err = pw_bpf_find_cgroup2(&b->cgroup);
		if (err)
			pw_warn("bpf: no cgroup v2 mount in /proc/self/mountinfo: %s",
				strerror(-err));
	}
	if (err)
		goto cleanup;
	b->cgroup_fd = open(b->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->cgroup_fd < 0) {
		err = -errno;
		pw_warn("bpf: cannot open cgroup %s: %s", b->cgroup, strerror(-err));
		goto cleanup;
	}

	b->coarse_lag_ns = coarse_lag(b->wakeup_gap_ns);
	err = load_and_attach(b);
	if (err)
		goto cleanup;

	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_sample, b, NULL);
	if (!b->rb) {
		err = -errno;
		pw_warn("bpf: cannot map the ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	format_hooks(b);
	format_degraded(b);
	if (b->use_iter)
		pw_snapshot_set_iter(iter_socks, b);
	pw_info("bpf: attached %s on %s, ring buffer %zu KiB, bound sockets tracked %s", b->hooks,
		b->cgroup, b->ringbuf_bytes >> 10,
		b->by_userlocks ? "by their bind flags" : "in a hash");
	*ret = b;
	return 0;

cleanup:
	pw_bpf_free(b);
	return err;
}

void pw_bpf_free(struct pw_bpf *b)
{
	if (!b)
		return;
	if (b->use_iter)
		pw_snapshot_set_iter(NULL, NULL);
	ring_buffer__free(b->rb);
	/* Destroying the links detaches every program. */
	portwatch_bpf__destroy(b->skel);
	if (b->cgroup_fd >= 0)
		(void) close(b->cgroup_fd);
	free(b->cgroup);
	free(b);
}

int pw_bpf_fd(const struct pw_bpf *b)
{
	return ring_buffer__epoll_fd(b->rb);
}

int pw_bpf_consume(struct pw_bpf *b)
{
	return ring_buffer__consume(b->rb);
}

__u64 pw_bpf_wakeup_gap_ns(const struct pw_bpf *b)
{
	__u64 gap = b->skel->rodata->wakeup_gap_ns;

	return gap && b->skel->rodata->coarse_wakeup ? gap + b->coarse_lag_ns : gap;
}

struct bpf_program *pw_bpf_holders_prog(const struct pw_bpf *b)
{
	return b->use_holders ? b->skel->progs.pw_holders : NULL;
}

int pw_bpf_holders_map_fd(const struct pw_bpf *b)
{
	return b->use_holders ? bpf_map__fd(b->skel->maps.holders_wanted) : -1;
}

void pw_bpf_quiet(struct pw_bpf *b, bool on)
{
	__atomic_store_n(&b->skel->bss->quiet_tgid, on ? (__u32)getpid() : 0, __ATOMIC_RELEASE);
}

void pw_bpf_report_all_releases(struct pw_bpf *b, bool on)
{
	__atomic_store_n(&b->skel->bss->report_all_releases, on ? 1 : 0, __ATOMIC_RELAXED);
}

__u64 pw_bpf_dropped(const struct pw_bpf *b)
{
	return __atomic_load_n(&b->skel->bss->dropped, __ATOMIC_RELAXED);
}

__u64 pw_bpf_track_full(const struct pw_bpf *b)
{
	return __atomic_load_n(&b->skel->bss->track_full, __ATOMIC_RELAXED) + b->user_track_full;
}

const char *pw_bpf_degraded(const struct pw_bpf *b)
{
	return b->degraded;
}

const char *pw_bpf_hooks(const struct pw_bpf *b)
{
	return b->hooks;
}

const char *pw_bpf_cgroup(const struct pw_bpf *b)
{
	return b->cgroup;
}

static int track(struct pw_bpf *b, struct bpf_map *map, const void *key, size_t key_sz,
		 const void *val, size_t val_sz)
{
	int err;

	err = bpf_map__update_elem(map, key, key_sz, val, val_sz, BPF_NOEXIST);
	if (err == -EEXIST)
		return 0;
	if (err == -E2BIG || err == -ENOMEM)
		b->user_track_full++;	/* counted as the BPF side counts its own */
	return err;
}

int pw_bpf_untrack_socket(struct pw_bpf *b, __u64 cookie)
{
	int r = bpf_map__delete_elem(b->skel->maps.tracked_socks, &cookie, sizeof(cookie), 0);

	return r == -ENOENT ? 0 : r;
}

int pw_bpf_track_socket(struct pw_bpf *b, __u64 cookie)
{
	__u16 port = 0;	/* unknown: its CLOSE carries port 0 */

	if (!cookie)
		return -EINVAL;
	/* releases of flagged sockets look up cookies up to this one (raised
	 * before the insert) */
	if (cookie > __atomic_load_n(&b->skel->bss->hash_max_cookie, __ATOMIC_RELAXED))
		__atomic_store_n(&b->skel->bss->hash_max_cookie, cookie, __ATOMIC_SEQ_CST);
	return track(b, b->skel->maps.tracked_socks, &cookie, sizeof(cookie), &port, sizeof(port));
}

int pw_bpf_track_pid(struct pw_bpf *b, __u32 pid)
{
	__u8 one = 1;
	int err;

	if (!pid)
		return -EINVAL;
	/* start-up tracks every allocation's owner: most are repeats */
	if (pid == b->last_pid && b->consumed == b->consumed_at_last_pid)
		return 0;
	err = track(b, b->skel->maps.tracked_pids, &pid, sizeof(pid), &one, sizeof(one));
	if (!err) {
		b->last_pid = pid;
		b->consumed_at_last_pid = b->consumed;
	}
	return err;
}

int pw_bpf_consumer_realtime(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0) {
		int err = -errno;

		pw_info("events: cannot run under SCHED_FIFO (%s): under CPU contention events "
			"wait for the scheduler", strerror(-err));
		return err;
	}
	pw_info("events: SCHED_FIFO priority 1, not inherited by children");
	return 0;
}

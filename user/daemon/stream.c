// SPDX-License-Identifier: GPL-2.0
/* Streamed answers: ports and audit (see stream.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "netns_names.h"
#include "proto.h"
#include "allocs.h"
#include "journal.h"
#include "stream.h"
#include "wire.h"

/* Write a piece until it is about this large, then wait for the reader. */
#define PIECE_BYTES (32 << 10)
#define AUDIT_PAGE 256
/* Up to this many ports' sockets are prefetched ahead of the one written:
 * enough to overlap the misses, few enough for the CPU's fill buffers. */
#define PREFETCH_AHEAD 8

struct ports_stream {
	struct pw_portmap *map;
	struct pw_ports_filter f;
	uid_t viewer;
	__u64 self_netns;
	unsigned next_port;	/* 65536: done */
	unsigned fetched;	/* ports below it are prefetched */
	unsigned ahead;		/* ports with sockets prefetched, not yet written */
	bool started, any;	/* the head, a socket was written: commas */
	const struct pw_sock **v;	/* the sockets of one port */
	size_t cap;
	/* text reused from one socket to the next: most share a namespace */
	struct pw_sock_memo memo;
	bool have_ns;
	__u64 ns_key;
	struct pw_strbuf ns_text;	/* ,"netns_inode":N,"netns_name":... */
};

/* The filter's view of a port-map socket; the namespace's inode and name
 * only when the filter asks (resolve). */
static void sock_rec(struct pw_netns_names *names, const struct pw_sock *s,
		     struct pw_filter_rec *r, bool resolve)
{
	memset(r, 0, sizeof(*r));
	r->proto = s->proto;
	r->family = s->family;
	r->state = s->state == PW_SOCK_LISTENING ? PW_FSTATE_LISTENING : PW_FSTATE_BOUND;
	r->sport = s->port;
	memcpy(r->saddr, s->addr, sizeof(r->saddr));
	r->pid = s->pid;
	r->uid = s->uid;
	r->comm = s->comm;	/* NUL-padded to PW_COMM_LEN by the kernel and snapshot */
	r->netns_cookie = s->netns;
	if (resolve)
		pw_netns_names_lookup(names, s->netns, &r->netns_ino, &r->netns_name);
}

static bool match(const struct pw_ports_filter *f, const struct pw_sock *s)
{
	struct pw_filter_rec r;

	if (f->proto && s->proto != f->proto)
		return false;
	if (f->listening && s->state != PW_SOCK_LISTENING)
		return false;
	if (f->port && s->port != f->port)
		return false;
	if (f->pid && s->pid != f->pid)
		return false;
	if (f->netns && s->netns != f->netns)
		return false;
	if (!f->expr)
		return true;
	sock_rec(f->names, s, &r, pw_filter_uses_netns(f->expr));
	return pw_filter_match(f->expr, &r);
}

static int cmp_sock(const void *a, const void *b)
{
	const struct pw_sock *x = *(const struct pw_sock *const *)a;
	const struct pw_sock *y = *(const struct pw_sock *const *)b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

/* The namespace's fields as text in ps->ns_text, written once per
 * namespace met in a row. 0 or -ENOMEM. */
static int ns_text(struct ports_stream *ps, __u64 netns)
{
	const char *name;
	uint64_t inode;

	if (ps->have_ns && ps->ns_key == netns)
		return 0;
	pw_netns_names_lookup(ps->f.names, netns, &inode, &name);
	ps->ns_text.len = 0;
	pw_proto_write_netns(&ps->ns_text, inode, name);
	if (ps->ns_text.oom)
		return -ENOMEM;
	ps->ns_key = netns;
	ps->have_ns = true;
	return 0;
}

/* The next port to list, 65536 when done: only the filter's port, or the
 * next one with sockets. */
static unsigned next_port(const struct ports_stream *ps)
{
	if (ps->f.port)
		return ps->next_port <= ps->f.port ? ps->f.port : 65536;
	return pw_portmap_next_port(ps->map, ps->next_port);
}

/* port is about to be written: keep about PREFETCH_AHEAD ports with
 * sockets prefetched beyond it, topped up half that many at a time. */
static void prefetch_ahead(struct ports_stream *ps, unsigned port)
{
	if (ps->fetched <= port) {	/* the first: not prefetched */
		ps->fetched = port + 1;
		ps->ahead = 0;
	} else if (ps->ahead) {
		ps->ahead--;
	}
	if (ps->ahead < PREFETCH_AHEAD / 2)
		ps->ahead += pw_portmap_prefetch_ports(ps->map, &ps->fetched,
						       PREFETCH_AHEAD - ps->ahead);
}

static int ports_fill(void *ctx, struct pw_strbuf *sb)
{
	struct ports_stream *ps = ctx;
	size_t start = sb->len;

	if (!ps->started) {
		ps->started = true;
		pw_sb_puts(sb, PW_PROTO_OK_PREFIX "[");
	}
	while (sb->len - start < PIECE_BYTES && (ps->next_port = next_port(ps)) < 65536) {
		__u16 port = (__u16)ps->next_port++;
		const struct pw_sock *s;
		size_t n = 0;

		if (!ps->f.port)
			prefetch_ahead(ps, port);
		for (s = pw_portmap_port_first(ps->map, port); s;
		     s = pw_portmap_port_next(ps->map, s)) {
			if (!match(&ps->f, s))
				continue;
			if (n == ps->cap) {
				size_t ncap = ps->cap ? ps->cap * 2 : 64;
				const struct pw_sock **nv = realloc(ps->v, ncap * sizeof(*nv));

				if (!nv)
					return -ENOMEM;
				ps->v = nv;
				ps->cap = ncap;
			}
			ps->v[n++] = s;
		}
		if (n > 1)
			qsort(ps->v, n, sizeof(*ps->v), cmp_sock);
		for (size_t i = 0; i < n; i++) {
			const struct pw_sock *seen;
			struct pw_sock scratch;

			/* as ss would show them to this caller */
			seen = pw_wire_sock_visible(ps->v[i], ps->viewer, ps->self_netns, &scratch);
			if (!seen)
				continue;
			if (ns_text(ps, seen->netns))
				return -ENOMEM;
			if (ps->any)
				pw_sb_put(sb, ",", 1);
			ps->any = true;
			pw_wire_sock_write(sb, seen, ps->ns_text.buf, ps->ns_text.len, &ps->memo);
		}
	}
	if (ps->next_port < 65536)
		return 1;
	pw_sb_puts(sb, "]}\n");
	return 0;
}

static void ports_free(void *ctx)
{
	struct ports_stream *ps = ctx;

	pw_filter_free(ps->f.expr);
	free(ps->v);
	free(ps->ns_text.buf);
	free(ps);
}

void pw_stream_ports(struct pw_daemon *d, struct pw_client *c, const struct pw_ports_filter *f)
{
	struct ports_stream *ps = calloc(1, sizeof(*ps));

	if (!ps) {
		pw_filter_free(f->expr);
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	ps->map = d->map;
	ps->f = *f;
	ps->viewer = pw_client_cred(c)->uid;
	ps->self_netns = d->self_netns;
	ps->next_port = f->port;
	pw_client_stream(c, ports_fill, ports_free, ps);
}

/* The audit trail, a page at a time from the storage thread: the loop
 * never reads the database itself. */
struct audit_stream {
	struct pw_journal *j;
	struct pw_client *c;
	int64_t after;		/* < 0: the tail is not placed yet */
	size_t tail;		/* the limit the tail was asked with */
	size_t left;		/* records still to write; SIZE_MAX: all */
	bool started, any, asked;
	/* the page at hand */
	bool have;
	int err;
	char msg[256];
	struct pw_audit *recs;
	size_t n, asked_n;
};

static void audit_page(void *ctx, const struct pw_journal_audit_page *p)
{
	struct audit_stream *as = ctx;

	as->asked = false;
	as->have = true;
	as->err = p->err;
	snprintf(as->msg, sizeof(as->msg), "%s", p->msg ? p->msg : "");
	as->after = p->after;
	as->n = 0;
	if (!p->err && p->n) {
		as->recs = malloc(p->n * sizeof(*as->recs));
		if (as->recs) {
			memcpy(as->recs, p->recs, p->n * sizeof(*as->recs));
			as->n = p->n;
		} else {
			as->err = -ENOMEM;
			snprintf(as->msg, sizeof(as->msg), "out of memory");
		}
	}
	pw_client_stream_resume(as->c);
}

static int audit_fill(void *ctx, struct pw_strbuf *sb)
{
	struct audit_stream *as = ctx;
	size_t start = sb->len;
	char *line;

	while (as->left && sb->len - start < PIECE_BYTES) {
		size_t page = as->left < AUDIT_PAGE ? as->left : AUDIT_PAGE;

		if (!as->have) {
			if (as->asked)
				return PW_STREAM_PAUSE;
			as->asked = true;
			as->asked_n = page;
			if (pw_journal_audit_read(as->j, as->after, as->tail, page, audit_page, as))
				return -ENOMEM;
			continue;	/* direct: answered already */
		}
		as->have = false;
		if (as->err) {
			free(as->recs);
			as->recs = NULL;
			/* not begun: an error line; else it cannot be one */
			if (as->started)
				return -EIO;
			line = pw_proto_error(PW_E_STORAGE, "audit trail unreadable: %s", as->msg);
			if (!line)
				return -ENOMEM;
			pw_sb_puts(sb, line);
			free(line);
			return 0;
		}
		if (!as->started) {
			as->started = true;
			pw_sb_puts(sb, PW_PROTO_OK_PREFIX "[");
		}
		for (size_t i = 0; i < as->n; i++) {
			if (as->any)
				pw_sb_put(sb, ",", 1);
			as->any = true;
			pw_wire_audit_write(sb, &as->recs[i], pw_client_cred(as->c)->uid);
		}
		if (as->n)
			as->after = as->recs[as->n - 1].id;
		free(as->recs);
		as->recs = NULL;
		as->left = as->n < as->asked_n ? 0 : as->left - as->n;
	}
	if (as->left)
		return 1;
	if (!as->started)
		pw_sb_puts(sb, PW_PROTO_OK_PREFIX "[");
	pw_sb_puts(sb, "]}\n");
	return 0;
}

static void audit_free(void *ctx)
{
	struct audit_stream *as = ctx;

	if (as->asked)
		pw_journal_cancel(as->j, as);
	free(as->recs);
	free(as);
}

void pw_stream_audit(struct pw_daemon *d, struct pw_client *c, int64_t after_id, size_t limit)
{
	struct audit_stream *as = calloc(1, sizeof(*as));

	if (!as) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	as->j = d->allocs->journal;
	as->c = c;
	as->left = limit ? limit : SIZE_MAX;
	as->after = after_id >= 0 ? after_id : -1;
	as->tail = limit;
	pw_client_stream(c, audit_fill, audit_free, as);
}

// SPDX-License-Identifier: GPL-2.0
/* Streamed answers: ports and audit (see stream.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "netns_names.h"
#include "proto.h"
#include "store.h"
#include "stream.h"
#include "wire.h"

/* Write a piece until it is about this large, then wait for the reader. */
#define PIECE_BYTES (32 << 10)
#define AUDIT_PAGE 256

struct ports_stream {
	struct pw_portmap *map;
	struct pw_ports_filter f;
	uid_t viewer;
	__u64 self_netns;
	unsigned next_port;	/* 65536: done */
	bool started, any;	/* the head, a socket was written: commas */
	const struct pw_sock **v;	/* the sockets of one port */
	size_t cap;
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

static int ports_fill(void *ctx, struct pw_strbuf *sb)
{
	struct ports_stream *ps = ctx;

	if (!ps->started) {
		ps->started = true;
		pw_sb_puts(sb, PW_PROTO_OK_PREFIX "[");
	}
	while (ps->next_port < 65536 && sb->len < PIECE_BYTES) {
		__u16 port = (__u16)ps->next_port++;
		const struct pw_sock *s;
		size_t n = 0;

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
			struct pw_sock seen;

			/* as ss would show them to this caller */
			if (!pw_wire_sock_visible(ps->v[i], ps->viewer, ps->self_netns, &seen))
				continue;
			struct pw_wire_netns ns = { 0 };

			if (ps->any)
				pw_sb_put(sb, ",", 1);
			ps->any = true;
			pw_netns_names_lookup(ps->f.names, seen.netns, &ns.inode, &ns.name);
			pw_wire_sock_write(sb, &seen, &ns);
		}
		if (ps->f.port)
			ps->next_port = 65536;
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

struct audit_stream {
	struct pw_store *store;
	int64_t after;
	size_t left;		/* records still to write; SIZE_MAX: all */
	bool started, any;
};

static int audit_fill(void *ctx, struct pw_strbuf *sb)
{
	struct audit_stream *as = ctx;
	struct pw_audit *recs = NULL;
	size_t n = 0;

	if (!as->started) {
		as->started = true;
		pw_sb_puts(sb, PW_PROTO_OK_PREFIX "[");
	}
	while (as->left && sb->len < PIECE_BYTES) {
		size_t page = as->left < AUDIT_PAGE ? as->left : AUDIT_PAGE;

		/* an error now cannot be an error line: the answer has begun */
		if (pw_store_audit_list(as->store, as->after, page, &recs, &n))
			return -EIO;
		for (size_t i = 0; i < n; i++) {
			if (as->any)
				pw_sb_put(sb, ",", 1);
			as->any = true;
			pw_wire_audit_write(sb, &recs[i]);
		}
		if (n)
			as->after = recs[n - 1].id;
		free(recs);
		recs = NULL;
		as->left = n < page ? 0 : as->left - n;
	}
	if (as->left)
		return 1;
	pw_sb_puts(sb, "]}\n");
	return 0;
}

void pw_stream_audit(struct pw_daemon *d, struct pw_client *c, int64_t after_id, size_t limit)
{
	struct audit_stream *as = calloc(1, sizeof(*as));

	if (!as) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	as->store = d->store;
	as->left = limit ? limit : SIZE_MAX;
	if (after_id >= 0) {
		as->after = after_id;
	} else if (pw_store_audit_tail_start(d->store, limit, &as->after)) {
		free(as);
		pw_client_send(c, pw_proto_error(PW_E_STORAGE, "audit trail unreadable: %s",
						 pw_store_errmsg(d->store)));
		return;
	}
	pw_client_stream(c, audit_fill, free, as);
}

// SPDX-License-Identifier: GPL-2.0
/* Process exits settled against the kernel's file tables (see exits.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "allocs.h"
#include "array.h"
#include "bpfwatch.h"
#include "daemon.h"
#include "exits.h"
#include "holders.h"
#include "log.h"
#include "proc.h"

void pw_exits_add(struct pw_daemon *d, pid_t pid, pid_t heir, uint64_t ts_ns)
{
	struct pw_exits *x = &d->exits;

	if (pw_array_grow((void **)&x->v, &x->cap, x->n + 1, sizeof(*x->v))) {
		/* cannot queue: settle it blind, as before holders were known */
		pw_lease_owner_exited(d->allocs, pid, heir, ts_ns);
		return;
	}
	x->v[x->n++] = (struct pw_exit_pending){ .pid = pid, .heir = heir, .ts_ns = ts_ns };
}

/* Its files are closed: a zombie, or gone (reaped). */
static bool files_closed(pid_t pid)
{
	struct pw_proc p;
	int st = pw_proc_state(pid, &p);

	return st < 0 || st == 'Z' || st == 'X';
}

/* How long an exit waits for its sockets in flight to be received, and the
 * first and longest pause between looks (each pause as long as the wait so
 * far: looks 1, 2, 4 ... ms after the first). */
#define IN_FLIGHT_MAX_NS	1000000000ull
#define IN_FLIGHT_FIRST_NS	1000000ull
#define IN_FLIGHT_STEP_MAX_NS	128000000ull
/* Exits that came while settling, whose processes are closing their files
 * right now. */
#define EXIT_AGAIN_NS		100000ull

struct lookup {
	struct pw_daemon *d;
	struct pw_exit_pending *v;	/* the exits looked up */
	__u64 *cookies;
	size_t *of;			/* per cookie, its exit in v */
	size_t n;
	/* records sorted by arrival; per cookie the holders are gathered */
	struct pw_holder_rec *recs;
	size_t n_recs, cap_recs;
};

static void collect(void *ctx, const struct pw_holder_rec *r)
{
	struct lookup *l = ctx;

	if (pw_array_grow((void **)&l->recs, &l->cap_recs, l->n_recs + 1, sizeof(*l->recs)))
		return;
	l->recs[l->n_recs++] = *r;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct pw_holder_rec *x = a, *y = b;

	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* Give each looked-up socket its holders now (one entry per process). */
static void apply(struct lookup *l)
{
	struct pw_daemon *d = l->d;
	struct pw_sock_holder h[16];
	const struct pw_sock *s;

	if (l->n_recs > 1)
		qsort(l->recs, l->n_recs, sizeof(*l->recs), cmp_rec);
	for (size_t c = 0; c < l->n; c++) {
		size_t nh = 0;

		for (size_t i = 0; i < l->n_recs; i++) {
			const struct pw_holder_rec *r = &l->recs[i];

			if (r->cookie != l->cookies[c] || nh == 16 ||
			    (nh && h[nh - 1].pid == r->tgid))
				continue;
			h[nh] = (struct pw_sock_holder){ .pid = r->tgid, .fd = (__s32)r->fd,
							 .uid = r->uid };
			memcpy(h[nh].comm, r->comm, sizeof(h[nh].comm));
			h[nh].comm[sizeof(h[nh].comm) - 1] = '\0';
			nh++;
			if (d->bpf)
				(void) pw_bpf_track_pid(d->bpf, r->tgid);
		}
		s = pw_portmap_find(d->map, l->cookies[c]);
		/* open and held by nobody: in flight, unless it waited enough */
		if (s && !nh && !l->v[l->of[c]].waited) {
			l->v[l->of[c]].in_flight = true;
			continue;
		}
		if (s)
			pw_allocs_port_changed(d->allocs, s->port);
		if (!pw_portmap_set_holders(d->map, l->cookies[c], h, nh) && nh)
			d->exits.handed++;
	}
}

/* The sockets the exited pids held first that are still open. */
static void find_holders(struct pw_daemon *d, struct pw_exit_pending *v, size_t n)
{
	struct lookup l = { .d = d, .v = v };
	size_t cap = 0, cap_of = 0;

	for (size_t i = 0; i < n; i++) {
		const struct pw_sock *s;

		v[i].in_flight = false;
		v[i].waited = v[i].first_ns && pw_now_ns() - v[i].first_ns >= IN_FLIGHT_MAX_NS;
		for (s = pw_portmap_pid_first(d->map, (__u32)v[i].pid); s;
		     s = pw_portmap_pid_next(d->map, s)) {
			if (l.n == PW_HOLDER_QUERY_MAX ||
			    pw_array_grow((void **)&l.cookies, &cap, l.n + 1, sizeof(*l.cookies)) ||
			    pw_array_grow((void **)&l.of, &cap_of, l.n + 1, sizeof(*l.of)))
				break;
			l.of[l.n] = i;
			l.cookies[l.n++] = s->cookie;
		}
	}
	if (!l.n)
		goto out;
	d->exits.lookups++;
	if (d->holders && !pw_holders_lookup(d->holders, l.cookies, l.n, collect, &l)) {
		apply(&l);
	} else {
		/* no iterator here: a snapshot names the holders (a full rescan) */
		int err = pw_daemon_resync(d, false);

		if (err)
			pw_warn("holders of %zu sockets: snapshot failed: %s", l.n, strerror(-err));
	}
out:
	free(l.cookies);
	free(l.of);
	free(l.recs);
}

/* Queue an exit again, to be looked at from due_ns. */
static void requeue(struct pw_daemon *d, const struct pw_exit_pending *e)
{
	struct pw_exits *x = &d->exits;

	if (pw_array_grow((void **)&x->v, &x->cap, x->n + 1, sizeof(*x->v)))
		pw_lease_owner_exited(d->allocs, e->pid, e->heir, e->ts_ns);
	else
		x->v[x->n++] = *e;
}

uint64_t pw_exits_settle(struct pw_daemon *d)
{
	struct pw_exits *x = &d->exits;
	struct pw_exit_pending *batch;
	uint64_t now = pw_now_ns(), next = 0;
	size_t n = 0, due = 0;
	bool closed = true;

	for (size_t i = 0; i < x->n; i++)
		due += x->v[i].due_ns <= now;
	if (!due)
		goto out;
	/* Files already closed (zombie or gone): the releases that caused are in
	 * the ring, drained now, and fewer sockets need a lookup. Not closed
	 * yet: no waiting, the lookup skips exiting tasks, so what it finds
	 * holds the socket beyond this exit. */
	for (size_t i = 0; i < x->n && closed; i++)
		closed = x->v[i].due_ns > now || files_closed(x->v[i].pid);
	if (closed && d->bpf)
		(void) pw_bpf_consume(d->bpf);
	batch = x->v;
	n = x->n;
	*x = (struct pw_exits){ .lookups = x->lookups, .handed = x->handed };
	/* the ones not due yet wait; the others are looked up at once */
	due = 0;
	for (size_t i = 0; i < n; i++) {
		if (batch[i].due_ns > now)
			requeue(d, &batch[i]);
		else
			batch[due++] = batch[i];
	}
	find_holders(d, batch, due);
	for (size_t i = 0; i < due; i++) {
		struct pw_exit_pending *e = &batch[i];

		if (e->in_flight) {
			uint64_t step = e->first_ns ? now - e->first_ns : 0;

			if (!e->first_ns)
				e->first_ns = now;
			step = step < IN_FLIGHT_FIRST_NS ? IN_FLIGHT_FIRST_NS : step;
			step = step > IN_FLIGHT_STEP_MAX_NS ? IN_FLIGHT_STEP_MAX_NS : step;
			e->due_ns = now + step;
			requeue(d, e);
			continue;
		}
		pw_lease_owner_exited(d->allocs, e->pid, e->heir, e->ts_ns);
	}
	free(batch);
out:
	for (size_t i = 0; i < x->n; i++) {
		/* exits drained meanwhile: very soon; in flight: when due */
		uint64_t wait = x->v[i].due_ns > now ? x->v[i].due_ns - now : EXIT_AGAIN_NS;

		if (!next || wait < next)
			next = wait;
	}
	return next;
}

void pw_exits_fini(struct pw_exits *x)
{
	free(x->v);
	*x = (struct pw_exits){ 0 };
}

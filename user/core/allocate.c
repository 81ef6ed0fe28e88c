// SPDX-License-Identifier: GPL-2.0
/*
 * Recovery layer 1: allocate with test binds, conflict marks and backoff.
 * A request waiting in backoff is on the index's pending list, so shutdown
 * ends it (and frees it) instead of leaking it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_policy.h"
#include "allocate.h"
#include "allocs.h"
#include "array.h"
#include "config.h"
#include "log.h"
#include "journal.h"
#include "testbind.h"

#define CANDIDATE_SCAN 1

struct pw_allocate {
	struct pw_allocs *as;
	struct pw_allocate *next;	/* pending list, while in backoff */
	struct pw_io timer;
	struct pw_allocate_req rq;
	pw_allocate_done_fn done;
	void *ctx;
	unsigned attempt;
	struct pw_conflict *conflicts;
	size_t n_conflicts, cap_conflicts;
};

static bool view_allocated(void *ctx, uint16_t port)
{
	return pw_allocs_by_port(ctx, port) != NULL;
}

static bool view_bound(void *ctx, uint16_t port)
{
	return pw_allocs_port_bound(ctx, port, NULL);
}

static bool view_conflicted(void *ctx, uint16_t port)
{
	return pw_allocs_conflicted(ctx, port);
}

struct pw_port_view pw_allocate_view(struct pw_allocs *as)
{
	return (struct pw_port_view){ .ctx = as, .allocated = view_allocated,
				      .bound = view_bound, .conflicted = view_conflicted };
}

void pw_allocate_refused(struct pw_allocs *as, uid_t uid, pid_t pid, const char *outcome,
			 uint16_t port, const char *type, const char *msg)
{
	as->m.refused_total++;
	pw_allocs_audit(as, uid, pid, "allocate", outcome, port, 0, type ? type : "", "%s", msg);
}

enum pw_errcode pw_allocate_limits(struct pw_allocs *as, uid_t uid, const char *type, char *err,
				   size_t errlen)
{
	const struct pw_config *cfg = as->env.cfg;
	unsigned total = 0, of_type = 0;

	if (uid == 0)
		return PW_E_OK;
	for (size_t i = 0; i < as->n; i++) {
		if (as->v[i].a.uid != uid)
			continue;
		total++;
		of_type += !strcmp(as->v[i].a.service_type, type);
	}
	if (total >= (unsigned)cfg->leases.max_per_uid) {
		snprintf(err, errlen, "uid %u holds %u allocations: the limit is "
			 "leases.max_per_uid = %d", uid, total, cfg->leases.max_per_uid);
		return PW_E_DENIED;
	}
	if (of_type >= (unsigned)cfg->leases.max_per_uid_per_type) {
		snprintf(err, errlen, "uid %u holds %u allocations of %s: the limit is "
			 "leases.max_per_uid_per_type = %d", uid, of_type, type,
			 cfg->leases.max_per_uid_per_type);
		return PW_E_DENIED;
	}
	return PW_E_OK;
}

struct pw_alloc_rt *pw_allocate_singleton(struct pw_allocs *as, const char *type)
{
	for (size_t i = 0; i < as->n; i++) {
		struct pw_alloc_rt *r = &as->v[i];

		if (!strcmp(r->a.service_type, type) && r->a.state != PW_ALLOC_STALE)
			return r;
	}
	return NULL;
}

static void unlink_pending(struct pw_allocate *q)
{
	struct pw_allocate **pp;

	for (pp = &q->as->pending; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			return;
		}
	}
}

/* The one way out: tell the caller, free the request. */
static void finish(struct pw_allocate *q, enum pw_errcode code, const char *msg,
		   struct pw_alloc_rt *r)
{
	struct pw_allocate_result res = { .code = code, .message = msg, .r = r,
					  .conflicts = q->conflicts,
					  .n_conflicts = q->n_conflicts };

	if (code != PW_E_OK && code != PW_E_INTERNAL)
		pw_allocate_refused(q->as, q->rq.caller_uid, q->rq.caller_pid, "error",
				    q->rq.requested, q->rq.t->name, msg);
	q->done(q->ctx, &res);
	unlink_pending(q);
	pw_loop_close_io(q->as->env.loop, &q->timer);
	free(q->conflicts);
	free(q);
}

static void exhausted(struct pw_allocate *q)
{
	struct pw_allocs *as = q->as;
	const struct pw_service_type *t = q->rq.t;
	struct pw_port_view v = pw_allocate_view(as);
	struct pw_range_stats st;
	char msg[1024], who[512] = "";
	size_t off = 0;

	pw_alloc_range_stats(as->env.cfg, t, &v, &st);
	/* name a few of the processes holding unallocated ports */
	for (unsigned p = t->range_lo; p <= t->range_hi && off < sizeof(who) - 64; p++) {
		const struct pw_sock *s;
		char comm[PW_COMM_LEN + 1];

		if (pw_allocs_by_port(as, (uint16_t)p) || !pw_allocs_port_bound(as, (uint16_t)p, &s))
			continue;
		pw_comm_sanitize(s->comm, comm);
		off += (size_t)snprintf(who + off, sizeof(who) - off, "%s%u by pid %u (%s)",
					off ? ", " : " (", p, s->pid, comm);
	}
	if (off)
		snprintf(who + off, sizeof(who) - off, ")");
	snprintf(msg, sizeof(msg),
		 "service type %s: range %u-%u exhausted: %u of %u ports allocated, %u held by "
		 "unallocated sockets%s, %u reserved, %u recently conflicted",
		 t->name, t->range_lo, t->range_hi, st.allocated, st.total,
		 st.bound_unallocated, who, st.reserved, st.conflicted);
	finish(q, PW_E_EXHAUSTED, msg, NULL);
}

/* Probe the port with the kernel side quiet: these binds are no one's. */
static int test_bind(struct pw_allocs *as, uint16_t port, char *why, size_t len)
{
	const struct pw_allocs_hooks *h = &as->env.hooks;
	int r;

	if (h->quiet)
		h->quiet(h->ctx, true);
	r = pw_test_bind(port, why, len);
	if (h->quiet)
		h->quiet(h->ctx, false);
	return r;
}

static void audit_port_in_use(struct pw_allocate *q, uint16_t port)
{
	struct pw_allocs *as = q->as;
	const struct pw_sock *s;
	char comm[PW_COMM_LEN + 1];

	if (pw_allocs_by_port(as, port) || !pw_allocs_port_bound(as, port, &s))
		return;
	/* once per holder: a port held for days must not add a record (and an
	 * fsync) to every allocation of its type */
	if (as->skip_audited[port] == s->pid + 1)
		return;
	as->skip_audited[port] = s->pid + 1;
	pw_comm_sanitize(s->comm, comm);
	pw_allocs_audit(as, q->rq.caller_uid, q->rq.caller_pid, "conflict", "skipped", port, 0,
			q->rq.t->name, "in use by pid %u (%s), not allocated", s->pid, comm);
}

/* Ports the policy passed over because an unallocated socket holds them:
 * the conflicts the kernel showed us before any test bind. */
static void audit_skipped(struct pw_allocate *q, uint16_t chosen)
{
	const struct pw_service_type *t = q->rq.t;

	if (q->rq.requested && q->rq.requested != chosen)
		audit_port_in_use(q, q->rq.requested);
	for (size_t i = 0; i < t->n_preferred; i++) {
		if (t->preferred[i] == chosen)
			return;
		audit_port_in_use(q, t->preferred[i]);
	}
	for (unsigned p = t->range_lo; p < chosen; p++)
		audit_port_in_use(q, (uint16_t)p);
}

static void try_allocate(struct pw_allocate *q);

static int on_backoff(struct pw_io *io, uint32_t events)
{
	struct pw_allocate *q = io->data;

	(void) events;
	pw_timerfd_ack(io->fd);
	unlink_pending(q);
	try_allocate(q);
	return 0;
}

/* The candidate conflicts: mark it, and either give up (1) or back off (0). */
static int conflict(struct pw_allocate *q, uint16_t cand, const char *why)
{
	struct pw_allocs *as = q->as;
	const typeof(as->env.cfg->port_conflict) *pc = &as->env.cfg->port_conflict;
	char msg[1024];
	size_t off;

	as->conflicted_until[cand] = pw_now_ms() + (uint64_t)pc->conflict_hold_ms;
	as->m.conflicts_total++;
	if (!pw_array_grow((void **)&q->conflicts, &q->cap_conflicts, q->n_conflicts + 1,
			   sizeof(*q->conflicts))) {
		q->conflicts[q->n_conflicts].port = cand;
		snprintf(q->conflicts[q->n_conflicts].reason,
			 sizeof(q->conflicts[q->n_conflicts].reason), "%s", why);
		q->n_conflicts++;
	}
	pw_info("allocate %s: port %u conflicts (%s), marked for %d ms", q->rq.t->name, cand, why,
		pc->conflict_hold_ms);
	pw_allocs_audit(as, q->rq.caller_uid, q->rq.caller_pid, "conflict", "marked", cand, 0,
			q->rq.t->name, "test bind failed: %s", why);
	if (q->attempt >= (unsigned)pc->max_retries) {
		/* a sentence; the list as data is in the answer and the audit trail */
		off = (size_t)snprintf(msg, sizeof(msg), "service type %s: gave up after %u "
				       "conflicting port%s:", q->rq.t->name, q->attempt + 1,
				       q->attempt ? "s" : "");
		for (size_t i = 0; i < q->n_conflicts && off < sizeof(msg) - 1; i++)
			off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s port %u (%s)",
						i ? ";" : "", q->conflicts[i].port,
						q->conflicts[i].reason);
		finish(q, PW_E_CONFLICT, msg, NULL);
		return 1;
	}
	if (!q->rq.requested || cand != q->rq.requested)
		q->attempt++;
	q->rq.requested = 0;
	/* back off before the next candidate: whatever raced us may be grabbing
	 * ports in this range right now */
	if (q->timer.fd < 0 && pw_loop_add_timer(as->env.loop, &q->timer, on_backoff, q))
		return -1;	/* no timer: retry at once */
	/* a requested port that conflicts costs no retry, and no backoff beyond
	 * the first step */
	(void) pw_timerfd_arm(q->timer.fd,
			      pw_backoff_ms(as->env.cfg, q->attempt ? q->attempt - 1 : 0), 0);
	q->next = as->pending;
	as->pending = q;
	return 0;
}

/* Returns with q finished, or with a backoff timer armed. */
static void try_allocate(struct pw_allocate *q)
{
	struct pw_allocs *as = q->as;
	const typeof(as->env.cfg->port_conflict) *pc = &as->env.cfg->port_conflict;
	struct pw_port_view v = pw_allocate_view(as);
	struct pw_audit au = { .uid = q->rq.caller_uid, .pid = q->rq.caller_pid };
	struct pw_alloc *a = &q->rq.a;
	char msg_stall[256];
	uint16_t cand;
	char why[128];
	int err;

	/* the disk holds the last commit: the answer could not be made durable
	 * in time, so say so now rather than after the timeout */
	if (pw_allocs_storage_stalled(as, msg_stall, sizeof(msg_stall))) {
		char msg[320];

		snprintf(msg, sizeof(msg), "allocation not made: %s", msg_stall);
		finish(q, PW_E_STORAGE, msg, NULL);
		return;
	}
	snprintf(au.action, sizeof(au.action), "allocate");
	snprintf(au.outcome, sizeof(au.outcome), "ok");
	snprintf(au.service_type, sizeof(au.service_type), "%s", q->rq.t->name);
	snprintf(au.detail, sizeof(au.detail), "owner pid %d (%.16s) uid %u%s%.128s", a->pid,
		 a->comm, a->uid, a->name[0] ? " name " : "", a->name);
	for (;;) {
		if (!pw_alloc_candidates(as->env.cfg, q->rq.t, q->rq.requested, &v, &cand,
					 CANDIDATE_SCAN)) {
			exhausted(q);
			return;
		}
		if (pc->enabled && pc->check_availability && test_bind(as, cand, why, sizeof(why))) {
			err = conflict(q, cand, why);
			if (err >= 0)
				return;
			continue;
		}
		a->port = cand;
		a->created_at = pw_wall_ms();
		audit_skipped(q, cand);
		/* joins the next group commit; the reply waits for it */
		err = pw_allocs_add(as, a, &au);
		if (err == -EEXIST) {
			/* the database holds the port though the index does not: keep
			 * clear of it as of a conflict, and try the next one */
			as->conflicted_until[cand] = pw_now_ms() + (uint64_t)pc->conflict_hold_ms;
			pw_warn("allocate %s: port %u is in the state but not in the index",
				q->rq.t->name, cand);
			continue;
		}
		if (err) {
			char msg[512];

			snprintf(msg, sizeof(msg), "state storage failed, allocation not made: %s (%s)",
				 strerror(-err), pw_journal_errmsg(as->journal));
			finish(q, PW_E_STORAGE, msg, NULL);
			return;
		}
		if (a->hold_until)
			pw_lease_arm_holds(as);
		finish(q, PW_E_OK, NULL, pw_allocs_by_port(as, cand));
		return;
	}
}

void pw_allocate(struct pw_allocs *as, const struct pw_allocate_req *rq,
		 pw_allocate_done_fn done, void *ctx)
{
	struct pw_allocate *q = calloc(1, sizeof(*q));

	if (!q) {
		struct pw_allocate_result res = { .code = PW_E_INTERNAL,
						  .message = "out of memory" };

		done(ctx, &res);
		return;
	}
	*q = (struct pw_allocate){ .as = as, .rq = *rq, .done = done, .ctx = ctx,
				   .timer = { .fd = -1 } };
	q->rq.a.state = PW_ALLOC_RESERVED;
	q->rq.a.hold_until = rq->hold_ms ? pw_wall_ms() + (int64_t)rq->hold_ms : 0;
	try_allocate(q);
}

void pw_allocate_cancel_all(struct pw_allocs *as)
{
	while (as && as->pending)
		finish(as->pending, PW_E_INTERNAL, "the daemon is shutting down", NULL);
}

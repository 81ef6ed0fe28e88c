// SPDX-License-Identifier: GPL-2.0
/*
 * The allocation index: memory and the store kept in agreement, one way
 * into a transaction, the group commit, and verdicts applied.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocs.h"
#include "array.h"
#include "checks.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "store.h"

struct pw_alloc_rt *pw_allocs_by_port(struct pw_allocs *as, uint16_t port)
{
	int32_t i = as->by_port[port];

	return i < 0 ? NULL : &as->v[i];
}

void pw_allocs_each(struct pw_allocs *as, pw_alloc_visit_fn fn, void *ctx)
{
	for (size_t i = 0; i < as->n;) {
		int64_t id = as->v[i].a.id;

		fn(as, &as->v[i], ctx);
		/* released: slot i now holds the last allocation, not yet visited */
		if (i < as->n && as->v[i].a.id == id)
			i++;
	}
}

struct pw_alloc_rt *pw_allocs_by_id(struct pw_allocs *as, int64_t id)
{
	for (size_t i = 0; i < as->n; i++)
		if (as->v[i].a.id == id)
			return &as->v[i];
	return NULL;
}

void pw_allocs_count(const struct pw_allocs *as, const char *type,
		     unsigned by_state[PW_ALLOC_STATE_MAX])
{
	memset(by_state, 0, PW_ALLOC_STATE_MAX * sizeof(*by_state));
	for (size_t i = 0; as && i < as->n; i++)
		if (!type || !strcmp(as->v[i].a.service_type, type))
			by_state[as->v[i].a.state]++;
}

bool pw_allocs_conflicted(const struct pw_allocs *as, uint16_t port)
{
	return as->conflicted_until[port] > pw_now_ms();
}

void pw_allocs_audit(struct pw_allocs *as, uid_t uid, pid_t pid, const char *action,
		     const char *outcome, uint16_t port, int64_t alloc_id, const char *type,
		     const char *fmt, ...)
{
	struct pw_audit a = { .uid = uid, .pid = pid, .port = port, .alloc_id = alloc_id };
	va_list ap;

	snprintf(a.action, sizeof(a.action), "%s", action);
	snprintf(a.outcome, sizeof(a.outcome), "%s", outcome);
	snprintf(a.service_type, sizeof(a.service_type), "%s", type ? type : "");
	va_start(ap, fmt);
	vsnprintf(a.detail, sizeof(a.detail), fmt, ap);
	va_end(ap);
	/* while serving, a record rides on the loop batch's group commit rather
	 * than paying an fsync of its own (refusals, conflicts); at start-up
	 * there is no batch to end it, so it commits alone */
	if (as->serving)
		(void) pw_allocs_group(as);
	if (pw_store_audit_add(as->env.store, &a))
		as->m.storage_errors_total++;
}

static int index_add(struct pw_allocs *as, const struct pw_alloc *a)
{
	struct pw_alloc_rt *r;

	if (pw_array_grow((void **)&as->v, &as->cap, as->n + 1, sizeof(*as->v)))
		return -ENOMEM;
	r = &as->v[as->n];
	memset(r, 0, sizeof(*r));
	r->a = *a;
	r->tag_gen = ++as->next_tag_gen;
	pw_sm_init(&r->sm, a->state);
	as->by_port[a->port] = (int32_t)as->n;
	as->n++;
	return 0;
}

static void index_remove(struct pw_allocs *as, struct pw_alloc_rt *r)
{
	size_t i = (size_t)(r - as->v);

	pw_check_free(r->check);
	as->by_port[r->a.port] = -1;
	if (i != as->n - 1) {
		as->v[i] = as->v[as->n - 1];
		as->by_port[as->v[i].a.port] = (int32_t)i;
	}
	as->n--;
}

static int reload_index(struct pw_allocs *as);

static void tell_changed(struct pw_allocs *as, const struct pw_alloc *a, const char *old_state,
			 const char *state, const char *why)
{
	struct pw_alloc_change ch = { .id = a->id, .port = a->port,
				      .service_type = a->service_type, .old_state = old_state,
				      .state = state, .reason = why };

	if (as->env.hooks.changed)
		as->env.hooks.changed(as->env.hooks.ctx, &ch);
}

/*
 * Writes go into the transaction already open (the loop batch's group, or a
 * caller's) or into one of their own; fsync false: without an fsync of its
 * own (what a crash loses, recovery derives again). *own: the caller ends it
 * with txn_leave.
 */
static int txn_enter(struct pw_allocs *as, bool fsync, bool *own)
{
	int r;

	*own = false;
	/* -EBUSY inside a transaction: that one's setting stands */
	if (!fsync)
		(void) pw_store_set_sync(as->env.store, false);
	r = pw_store_begin(as->env.store);
	if (r == -EALREADY)
		return 0;
	if (r) {
		if (!fsync)
			(void) pw_store_set_sync(as->env.store, true);
		return r;
	}
	*own = true;
	return 0;
}

/* End an own transaction: commit when err is 0, else roll back. Returns the
 * first error; a caller whose memory changed inside reloads it on failure. */
static int txn_leave(struct pw_allocs *as, bool own, bool fsync, int err)
{
	if (!own)
		return err;
	if (err)
		pw_store_rollback(as->env.store);
	else
		err = pw_store_commit(as->env.store);
	if (!fsync)
		(void) pw_store_set_sync(as->env.store, true);
	return err;
}

int pw_allocs_add(struct pw_allocs *as, struct pw_alloc *a, const struct pw_audit *audit)
{
	struct pw_audit rec;
	bool own;
	int r;

	if (as->by_port[a->port] >= 0)
		return -EEXIST;
	/* the allocation and its audit record are one durable transaction:
	 * the batch's group when one is open, else their own */
	r = txn_enter(as, true, &own);
	if (!r)
		r = pw_store_insert(as->env.store, a);
	if (!r && audit) {
		rec = *audit;
		rec.port = a->port;
		rec.alloc_id = a->id;
		r = pw_store_audit_add(as->env.store, &rec);
	}
	r = txn_leave(as, own, true, r);
	if (r) {
		if (r != -EEXIST) {
			as->m.storage_errors_total++;
			as->storage_failing = true;
		}
		return r;
	}
	as->storage_failing = false;
	r = index_add(as, a);
	if (r) {
		/* keep memory and disk in agreement */
		(void) pw_store_delete(as->env.store, a->id);
		return r;
	}
	pw_checks_attach(as, &as->v[as->by_port[a->port]]);
	as->m.allocated_total++;
	if (as->env.hooks.track_pid)
		as->env.hooks.track_pid(as->env.hooks.ctx, a->pid);
	pw_allocs_observe(as, &as->v[as->by_port[a->port]], PW_SM_EV_EVENT);
	return 0;
}

int pw_allocs_release(struct pw_allocs *as, struct pw_alloc_rt *r, uid_t uid, pid_t pid,
		      const char *why)
{
	struct pw_alloc a = r->a;
	bool own;
	int err;

	err = txn_enter(as, true, &own);
	if (!err) {
		err = pw_store_delete(as->env.store, a.id);
		if (err == -ENOENT)
			err = 0;
	}
	if (!err)
		pw_allocs_audit(as, uid, pid, "release", "ok", a.port, a.id, a.service_type, "%s",
				why);
	err = txn_leave(as, own, true, err);
	if (err) {
		as->m.storage_errors_total++;
		return err;
	}
	index_remove(as, r);
	as->m.released_total++;
	tell_changed(as, &a, pw_alloc_state_name(a.state), "released", why);
	return 0;
}

bool pw_allocs_port_bound(struct pw_allocs *as, uint16_t port, const struct pw_sock **by)
{
	const struct pw_sock *s;

	for (s = pw_portmap_port_first(as->env.map, port); s;
	     s = pw_portmap_port_next(as->env.map, s)) {
		if (as->env.self_netns && s->netns != as->env.self_netns)
			continue;
		if (by)
			*by = s;
		return true;
	}
	return false;
}

enum pw_alloc_live pw_allocs_live(struct pw_allocs *as, const struct pw_alloc_rt *r,
				  const struct pw_sock **by)
{
	const struct pw_sock *s = NULL;

	if (by)
		*by = NULL;
	if (!pw_allocs_port_bound(as, r->a.port, &s))
		return PW_LIVE_FREE;
	if (by)
		*by = s;
	return s->pid && pw_proc_is_ancestor(r->a.pid, (pid_t)s->pid) ? PW_LIVE_OWNER
								       : PW_LIVE_OTHER;
}

void pw_allocs_apply(struct pw_allocs *as, struct pw_alloc_rt *r, const struct pw_sm_verdict *v)
{
	bool own;

	if (!v->changed)
		return;
	as->m.state_changes_total++;
	r->a.state = v->state;
	if (v->state == PW_ALLOC_CONFLICT)
		as->m.conflicts_total++;
	/*
	 * State, audit and a release are one commit, without an fsync that
	 * would stall the loop: what a crash loses here, start-up recovery
	 * derives again (owner gone -> released, ports re-observed). Client
	 * acknowledged allocations stay fsync'd.
	 */
	if (txn_enter(as, false, &own))
		as->m.storage_errors_total++;
	if (pw_store_set_state(as->env.store, r->a.id, v->state))
		as->m.storage_errors_total++;
	pw_allocs_audit(as, 0, 0, v->state == PW_ALLOC_CONFLICT ? "conflict" : "state", "ok",
			r->a.port, r->a.id, r->a.service_type, "%s -> %s: %s",
			pw_alloc_state_name(v->old_state), pw_alloc_state_name(v->state), v->reason);
	tell_changed(as, &r->a, pw_alloc_state_name(v->old_state), pw_alloc_state_name(v->state),
		     v->reason);
	pw_info("allocation %lld port %u (%s): %s -> %s, %s", (long long)r->a.id, r->a.port,
		r->a.service_type, pw_alloc_state_name(v->old_state),
		pw_alloc_state_name(v->state), v->reason);
	if (v->release) {
		as->m.stale_cleaned_total++;
		(void) pw_allocs_release(as, r, 0, 0, v->reason);
	}
	/* r is not to be used past here: released, or reloaded on failure */
	if (txn_leave(as, own, false, 0)) {
		as->m.storage_errors_total++;
		if (reload_index(as))
			pw_err("state: cannot reload allocations: %s", pw_store_errmsg(as->env.store));
	}
}

/* Memory must say what the disk says: after a failed commit. */
static int reload_index(struct pw_allocs *as)
{
	struct pw_alloc *all = NULL;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < as->n; i++)
		pw_check_free(as->v[i].check);
	as->n = 0;
	memset(as->by_port, 0xff, sizeof(as->by_port));
	r = pw_store_load_all(as->env.store, &all, &n);
	for (size_t i = 0; i < n && !r; i++) {
		r = index_add(as, &all[i]);
		if (!r)
			pw_checks_attach(as, &as->v[as->n - 1]);
	}
	free(all);
	for (size_t i = 0; i < as->n; i++)
		pw_allocs_observe(as, &as->v[i], PW_SM_EV_POLL);
	return r;
}

int pw_allocs_new(struct pw_allocs **ret, const struct pw_allocs_env *env)
{
	const struct pw_config *cfg = env->cfg;
	struct pw_allocs *as;
	struct pw_alloc *all = NULL;
	size_t n = 0;
	int r;

	as = calloc(1, sizeof(*as));
	if (!as)
		return -ENOMEM;
	as->env = *env;
	memset(as->by_port, 0xff, sizeof(as->by_port));
	as->self_pid = getpid();
	as->grace_io.fd = as->health_io.fd = as->hold_io.fd = -1;
	as->smp = (struct pw_sm_params){
		.grace_ms = (uint32_t)cfg->health.grace_period_ms,
		.max_failures = (uint32_t)cfg->health.max_failures,
		.cleanup_stale = cfg->health.cleanup_stale_allocations,
	};
	r = pw_store_load_all(env->store, &all, &n);
	if (r)
		pw_err("state: cannot load allocations: %s", pw_store_errmsg(env->store));
	for (size_t i = 0; i < n && !r; i++) {
		if (as->by_port[all[i].port] >= 0)
			continue;	/* the store's UNIQUE(port) makes this impossible */
		r = index_add(as, &all[i]);
		if (!r && env->hooks.track_pid)
			env->hooks.track_pid(env->hooks.ctx, all[i].pid);
	}
	free(all);
	if (!r)
		r = pw_health_start(as);
	if (r) {
		pw_allocs_free(as);
		return r;
	}
	*ret = as;
	return 0;
}

int pw_allocs_group(struct pw_allocs *as)
{
	int r;

	if (as->group)
		return 0;
	r = pw_store_begin(as->env.store);
	if (r)
		return r;
	as->group = true;
	return 0;
}

bool pw_allocs_in_group(const struct pw_allocs *as)
{
	return as->group;
}

int pw_allocs_group_end(struct pw_allocs *as, char *why, size_t len)
{
	int r;

	if (!as->group)
		return 0;
	as->group = false;
	r = pw_store_commit(as->env.store);
	if (!r) {
		as->storage_failing = false;
		return 0;
	}
	as->m.storage_errors_total++;
	as->storage_failing = true;
	snprintf(why, len, "%s (%s)", strerror(-r), pw_store_errmsg(as->env.store));
	if (reload_index(as))
		pw_err("state: cannot reload allocations after a failed commit: %s",
		       pw_store_errmsg(as->env.store));
	return r;
}

void pw_allocs_free(struct pw_allocs *as)
{
	char why[384];

	if (!as)
		return;
	pw_checks_fini(as);
	pw_health_stop(as);
	(void) pw_allocs_group_end(as, why, sizeof(why));
	free(as->v);
	free(as);
}

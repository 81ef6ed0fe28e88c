// SPDX-License-Identifier: GPL-2.0
/*
 * The allocation index: memory and the store kept in agreement through the
 * journal (its writes, their group commit), and verdicts applied.
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
#include "journal.h"
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
	/* while serving, a record rides on the next group commit rather than
	 * paying an fsync of its own (refusals, conflicts) */
	if (pw_journal_audit(as->journal, &a))
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

/* A write the store refused (direct) or could not queue (threaded). */
static void storage_failed(struct pw_allocs *as)
{
	as->m.storage_errors_total++;
	as->storage_failing = true;
}

int pw_allocs_add(struct pw_allocs *as, struct pw_alloc *a, const struct pw_audit *audit)
{
	struct pw_audit rec;
	int r;

	if (as->by_port[a->port] >= 0)
		return -EEXIST;
	r = pw_journal_insert(as->journal, a);
	if (r) {
		if (r != -EEXIST)
			storage_failed(as);
		return r;
	}
	if (!as->serving)
		as->storage_failing = false;
	if (audit) {
		rec = *audit;
		rec.port = a->port;
		rec.alloc_id = a->id;
		if (pw_journal_audit(as->journal, &rec))
			as->m.storage_errors_total++;
	}
	r = index_add(as, a);
	if (r) {
		/* keep memory and disk in agreement */
		(void) pw_journal_delete(as->journal, a->id);
		return r;
	}
	pw_checks_attach(as, &as->v[as->by_port[a->port]]);
	as->m.allocated_total++;
	/* its first event, before any change its sockets make */
	tell_changed(as, a, "none", pw_alloc_state_name(a->state),
		     a->adopted ? "adopted from a live socket"
		     : a->hold_until ? "allocated, held for its binder" : "allocated");
	if (as->env.hooks.track_pid)
		as->env.hooks.track_pid(as->env.hooks.ctx, a->pid);
	pw_allocs_observe(as, &as->v[as->by_port[a->port]], PW_SM_EV_EVENT);
	return 0;
}

int pw_allocs_release(struct pw_allocs *as, struct pw_alloc_rt *r, uid_t uid, pid_t pid,
		      const char *why)
{
	struct pw_alloc a = r->a;
	int err;

	err = pw_journal_delete(as->journal, a.id);
	if (err) {
		storage_failed(as);
		return err;
	}
	pw_allocs_audit(as, uid, pid, "release", "ok", a.port, a.id, a.service_type, "%s", why);
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
	int err;

	if (!v->changed)
		return;
	as->m.state_changes_total++;
	r->a.state = v->state;
	if (v->state == PW_ALLOC_CONFLICT)
		as->m.conflicts_total++;
	/*
	 * State, audit and a release share a commit. A state change alone does
	 * not ask for an fsync: what a crash loses here, start-up recovery
	 * derives again (owner gone -> released, ports re-observed).
	 */
	err = pw_journal_set_state(as->journal, r->a.id, v->state);
	if (err)
		storage_failed(as);
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
	if (err && !as->serving && reload_index(as))
		pw_err("state: cannot reload allocations: %s", pw_journal_errmsg(as->journal));
}

/* Memory must say what the disk says: rows as the store has them. */
static int reload_rows(struct pw_allocs *as, const struct pw_alloc *all, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < as->n; i++)
		pw_check_free(as->v[i].check);
	as->n = 0;
	memset(as->by_port, 0xff, sizeof(as->by_port));
	for (size_t i = 0; i < n && !r; i++) {
		r = index_add(as, &all[i]);
		if (!r)
			pw_checks_attach(as, &as->v[as->n - 1]);
	}
	for (size_t i = 0; i < as->n; i++)
		pw_allocs_observe(as, &as->v[i], PW_SM_EV_POLL);
	return r;
}

/* After a failed write in direct mode (start-up): read the store again. */
static int reload_index(struct pw_allocs *as)
{
	struct pw_alloc *all = NULL;
	size_t n = 0;
	int r;

	r = pw_store_load_all(as->env.store, &all, &n);
	if (!r)
		r = reload_rows(as, all, n);
	free(all);
	return r;
}

int pw_allocs_new(struct pw_allocs **ret, const struct pw_allocs_env *env,
		  const struct pw_alloc *all, size_t n)
{
	const struct pw_config *cfg = env->cfg;
	struct pw_allocs *as;
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
	r = pw_journal_new(&as->journal, env->store);
	for (size_t i = 0; i < n && !r; i++) {
		if (as->by_port[all[i].port] >= 0)
			continue;	/* the store's UNIQUE(port) makes this impossible */
		r = index_add(as, &all[i]);
		if (!r && env->hooks.track_pid)
			env->hooks.track_pid(env->hooks.ctx, all[i].pid);
	}
	if (!r)
		r = pw_health_start(as);
	if (r) {
		pw_allocs_free(as);
		return r;
	}
	*ret = as;
	return 0;
}

/* A batch of the storage thread ended, on the loop. */
static void on_journal_done(void *ctx, const struct pw_journal_done *d)
{
	struct pw_allocs *as = ctx;

	if (d->err) {
		storage_failed(as);
		pw_err("state: a group commit failed, its changes were not stored: %s", d->why);
		if (d->reloaded) {
			if (reload_rows(as, d->rows, d->n_rows))
				pw_err("state: out of memory reloading the allocations");
		} else {
			pw_err("state: the allocations could not be read back either: memory "
			       "keeps what it has");
		}
	} else if (d->writes) {
		/* only a write that was stored says the disk takes writes again:
		 * a prune of nothing commits on a full disk too */
		as->storage_failing = false;
	}
	if (as->env.hooks.committed)
		as->env.hooks.committed(as->env.hooks.ctx, d);
}

int pw_allocs_serve(struct pw_allocs *as)
{
	int r = pw_journal_start(as->journal, as->env.loop, on_journal_done, as);

	if (!r)
		as->serving = true;
	return r;
}

uint64_t pw_allocs_pending(const struct pw_allocs *as)
{
	return pw_journal_pending(as->journal);
}

void pw_allocs_kick(struct pw_allocs *as)
{
	pw_journal_kick(as->journal);
}

bool pw_allocs_flush(struct pw_allocs *as)
{
	return !pw_journal_flush(as->journal, PW_JOURNAL_FLUSH_MS);
}

bool pw_allocs_storage_stalled(const struct pw_allocs *as, char *why, size_t len)
{
	uint64_t ms = pw_journal_busy_ms(as->journal);

	if (ms < PW_STORAGE_TIMEOUT_MS)
		return false;
	if (why)
		snprintf(why, len, "state storage stalled: a commit has waited on the disk for "
			 "%llu ms (is the state filesystem frozen, full of dirty pages or "
			 "failing?)", (unsigned long long)ms);
	return true;
}

void pw_allocs_free(struct pw_allocs *as)
{
	if (!as)
		return;
	pw_checks_fini(as);
	pw_health_stop(as);
	pw_journal_free(as->journal);	/* stuck: left to the process's end */
	free(as->v);
	free(as);
}

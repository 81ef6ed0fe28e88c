// SPDX-License-Identifier: GPL-2.0
/*
 * Allocations in the daemon: config and state loading, the in-memory index,
 * and the event path from the port map into the state machine.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "allocs.h"
#include "bpfwatch.h"
#include "checks.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "store.h"

int pw_allocs_load_config(struct pw_daemon *d)
{
	char err[512];
	int r;

	if (d->opts.config_path)
		r = pw_config_load_file(d->opts.config_path, &d->cfg, err, sizeof(err));
	else
		r = pw_config_default(&d->cfg);
	if (r) {
		d->config_failed = true;
		pw_err("config %s: %s", d->opts.config_path ? d->opts.config_path : "(built-in)",
		       d->opts.config_path ? err : strerror(-r));
		return r == -ENOMEM ? r : -EINVAL;
	}
	pw_info("config: %s, %zu service types",
		d->opts.config_path ? d->opts.config_path : "built-in defaults", d->cfg->n_types);
	return 0;
}

int pw_allocs_check_config(const struct pw_daemon_opts *o)
{
	struct pw_config *cfg = NULL;
	char err[512];
	int r;

	r = o->config_path ? pw_config_load_file(o->config_path, &cfg, err, sizeof(err))
			   : pw_config_default(&cfg);
	if (r) {
		fprintf(stderr, "portwatchd: config %s: %s\n", o->config_path ? o->config_path : "",
			o->config_path ? err : strerror(-r));
		return -EINVAL;
	}
	printf("%s: valid, %zu service types\n", o->config_path ? o->config_path : "built-in defaults",
	       cfg->n_types);
	pw_config_free(cfg);
	return 0;
}

struct pw_alloc_rt *pw_allocs_by_port(struct pw_daemon *d, uint16_t port)
{
	int32_t i = d->allocs->by_port[port];

	return i < 0 ? NULL : &d->allocs->v[i];
}

void pw_allocs_each(struct pw_daemon *d, pw_alloc_visit_fn fn, void *ctx)
{
	struct pw_allocs *as = d->allocs;

	for (size_t i = 0; i < as->n;) {
		int64_t id = as->v[i].a.id;

		fn(d, &as->v[i], ctx);
		/* released: slot i now holds the last allocation, not yet visited */
		if (i < as->n && as->v[i].a.id == id)
			i++;
	}
}

struct pw_alloc_rt *pw_allocs_by_id(struct pw_daemon *d, int64_t id)
{
	for (size_t i = 0; i < d->allocs->n; i++)
		if (d->allocs->v[i].a.id == id)
			return &d->allocs->v[i];
	return NULL;
}

void pw_allocs_audit(struct pw_daemon *d, uid_t uid, pid_t pid, const char *action,
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
	if (d->server)
		(void) pw_allocs_group(d);
	if (pw_store_audit_add(d->store, &a))
		d->allocs->m.storage_errors_total++;
}

static int index_add(struct pw_allocs *as, const struct pw_alloc *a)
{
	struct pw_alloc_rt *r;

	if (as->n == as->cap) {
		size_t ncap = as->cap ? as->cap * 2 : 64;
		struct pw_alloc_rt *nv = realloc(as->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		as->v = nv;
		as->cap = ncap;
	}
	r = &as->v[as->n];
	memset(r, 0, sizeof(*r));
	r->a = *a;
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

static int reload_index(struct pw_daemon *d);

/*
 * Writes go into the transaction already open (the loop batch's group, or a
 * caller's) or into one of their own; fsync false: without an fsync of its
 * own (what a crash loses, recovery derives again). *own: the caller ends it
 * with txn_leave.
 */
static int txn_enter(struct pw_daemon *d, bool fsync, bool *own)
{
	int r;

	*own = false;
	/* -EBUSY inside a transaction: that one's setting stands */
	if (!fsync)
		(void) pw_store_set_sync(d->store, false);
	r = pw_store_begin(d->store);
	if (r == -EALREADY)
		return 0;
	if (r) {
		if (!fsync)
			(void) pw_store_set_sync(d->store, true);
		return r;
	}
	*own = true;
	return 0;
}

/* End an own transaction: commit when err is 0, else roll back. Returns the
 * first error; a caller whose memory changed inside reloads it on failure. */
static int txn_leave(struct pw_daemon *d, bool own, bool fsync, int err)
{
	if (!own)
		return err;
	if (err)
		pw_store_rollback(d->store);
	else
		err = pw_store_commit(d->store);
	if (!fsync)
		(void) pw_store_set_sync(d->store, true);
	return err;
}

int pw_allocs_add(struct pw_daemon *d, struct pw_alloc *a, const struct pw_audit *audit)
{
	struct pw_allocs *as = d->allocs;
	struct pw_audit rec;
	bool own;
	int r;

	if (as->by_port[a->port] >= 0)
		return -EEXIST;
	/* the allocation and its audit record are one durable transaction:
	 * the batch's group when one is open, else their own */
	r = txn_enter(d, true, &own);
	if (!r)
		r = pw_store_insert(d->store, a);
	if (!r && audit) {
		rec = *audit;
		rec.port = a->port;
		rec.alloc_id = a->id;
		r = pw_store_audit_add(d->store, &rec);
	}
	r = txn_leave(d, own, true, r);
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
		(void) pw_store_delete(d->store, a->id);
		return r;
	}
	pw_checks_attach(d, &as->v[as->by_port[a->port]]);
	as->m.allocated_total++;
	if (d->bpf)
		(void) pw_bpf_track_pid(d->bpf, (__u32)a->pid);
	pw_allocs_observe(d, &as->v[as->by_port[a->port]], PW_SM_EV_EVENT);
	return 0;
}

int pw_allocs_release(struct pw_daemon *d, struct pw_alloc_rt *r, uid_t uid, pid_t pid,
		      const char *why)
{
	struct pw_alloc a = r->a;
	bool own;
	int err;

	err = txn_enter(d, true, &own);
	if (!err) {
		err = pw_store_delete(d->store, a.id);
		if (err == -ENOENT)
			err = 0;
	}
	if (!err)
		pw_allocs_audit(d, uid, pid, "release", "ok", a.port, a.id, a.service_type, "%s",
				why);
	err = txn_leave(d, own, true, err);
	if (err) {
		d->allocs->m.storage_errors_total++;
		return err;
	}
	index_remove(d->allocs, r);
	d->allocs->m.released_total++;
	pw_daemon_broadcast(d, json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:I}", "event",
					 "allocation", "id", (json_int_t)a.id, "port", a.port,
					 "service_type", a.service_type, "old_state",
					 pw_alloc_state_name(a.state), "state", "released", "reason",
					 why, "ts_ns", (json_int_t)pw_now_ns()));
	return 0;
}

bool pw_allocs_port_bound(struct pw_daemon *d, uint16_t port, const struct pw_sock **by)
{
	const struct pw_sock *s;

	for (s = pw_portmap_port_first(d->map, port); s; s = pw_portmap_port_next(d->map, s)) {
		if (s->netns != d->self_netns && d->self_netns)
			continue;
		if (by)
			*by = s;
		return true;
	}
	return false;
}

void pw_allocs_apply(struct pw_daemon *d, struct pw_alloc_rt *r, const struct pw_sm_verdict *v)
{
	struct pw_allocs *as = d->allocs;
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
	if (txn_enter(d, false, &own))
		as->m.storage_errors_total++;
	if (pw_store_set_state(d->store, r->a.id, v->state))
		as->m.storage_errors_total++;
	pw_allocs_audit(d, 0, 0, v->state == PW_ALLOC_CONFLICT ? "conflict" : "state", "ok",
			r->a.port, r->a.id, r->a.service_type, "%s -> %s: %s",
			pw_alloc_state_name(v->old_state), pw_alloc_state_name(v->state), v->reason);
	pw_daemon_broadcast(d, json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:I}", "event",
					 "allocation", "id", (json_int_t)r->a.id, "port", r->a.port,
					 "service_type", r->a.service_type, "old_state",
					 pw_alloc_state_name(v->old_state), "state",
					 pw_alloc_state_name(v->state), "reason", v->reason, "ts_ns",
					 (json_int_t)pw_now_ns()));
	pw_info("allocation %lld port %u (%s): %s -> %s, %s", (long long)r->a.id, r->a.port,
		r->a.service_type, pw_alloc_state_name(v->old_state),
		pw_alloc_state_name(v->state), v->reason);
	if (v->release) {
		as->m.stale_cleaned_total++;
		(void) pw_allocs_release(d, r, 0, 0, v->reason);
	}
	/* r is not to be used past here: released, or reloaded on failure */
	if (txn_leave(d, own, false, 0)) {
		as->m.storage_errors_total++;
		if (reload_index(d))
			pw_err("state: cannot reload allocations: %s", pw_store_errmsg(d->store));
	}
}

/* Arm the grace timer for the earliest pending deadline. */
static void arm_grace(struct pw_daemon *d)
{
	struct pw_allocs *as = d->allocs;
	uint64_t first = 0, now = pw_now_ms();

	for (size_t i = 0; i < as->n; i++) {
		uint64_t dl = as->v[i].sm.grace_deadline_ms;

		if (dl && (!first || dl < first))
			first = dl;
	}
	if (first)
		(void) pw_timerfd_arm(as->grace_io.fd, first > now ? first - now : 1, 0);
}

void pw_allocs_observe(struct pw_daemon *d, struct pw_alloc_rt *r, enum pw_sm_evidence how)
{
	struct pw_sm_obs o = { 0 };
	struct pw_sm_verdict v;
	const struct pw_sock *s;
	uint64_t had_deadline = r->sm.grace_deadline_ms;

	for (s = pw_portmap_port_first(d->map, r->a.port); s; s = pw_portmap_port_next(d->map, s)) {
		if (d->self_netns && s->netns != d->self_netns)
			continue;
		if (!s->pid || (pid_t)s->pid == d->allocs->self_pid)
			continue;
		if (pw_proc_is_ancestor(r->a.pid, (pid_t)s->pid)) {
			o.owner_socks++;
			if (s->state == PW_SOCK_LISTENING)
				o.owner_listening = true;
		} else if (!o.foreign_pid) {
			o.foreign_pid = s->pid;
		}
	}
	pw_sm_observe(&r->sm, &d->allocs->smp, &o, how, pw_now_ms(), &v);
	if (r->sm.grace_deadline_ms && !had_deadline)
		arm_grace(d);
	pw_allocs_apply(d, r, &v);
}

/* An owner's exit, from a kernel event: definitive evidence. */
static void owner_exited(struct pw_daemon *d, struct pw_alloc_rt *r, void *ctx)
{
	const struct pw_event *ev = ctx;
	struct pw_sm_verdict v;
	uint64_t now;

	if (r->a.pid != (pid_t)ev->pid)
		return;
	pw_sm_owner_gone(&r->sm, &d->allocs->smp, true, pw_now_ms(), &v);
	now = pw_now_ns();
	if (v.changed && now > ev->ts_ns)
		pw_hist_record(&d->allocs->m.detect_latency, now - ev->ts_ns);
	pw_allocs_apply(d, r, &v);
}

void pw_allocs_on_event(struct pw_daemon *d, const struct pw_event *ev, bool from_kernel)
{
	struct pw_alloc_rt *r;

	if (ev->kind == PW_EV_EXIT) {
		/* exits come only from the kernel; every allocation of the pid */
		pw_allocs_each(d, owner_exited, (void *)ev);
		return;
	}
	if (d->self_netns && ev->netns != d->self_netns)
		return;
	r = pw_allocs_by_port(d, ev->port);
	if (r)
		pw_allocs_observe(d, r, from_kernel ? PW_SM_EV_EVENT : PW_SM_EV_POLL);
}

static void observe_polled(struct pw_daemon *d, struct pw_alloc_rt *r, void *ctx)
{
	(void) ctx;
	pw_allocs_observe(d, r, PW_SM_EV_POLL);
}

void pw_allocs_after_snapshot(struct pw_daemon *d)
{
	pw_allocs_each(d, observe_polled, NULL);
}

static void grace_tick(struct pw_daemon *d, struct pw_alloc_rt *r, void *ctx)
{
	struct pw_sm_verdict v;

	pw_sm_tick(&r->sm, &d->allocs->smp, *(uint64_t *)ctx, &v);
	pw_allocs_apply(d, r, &v);
}

static int on_grace(struct pw_io *io, uint32_t events)
{
	struct pw_daemon *d = io->data;
	uint64_t now = pw_now_ms();

	(void) events;
	pw_timerfd_ack(io->fd);
	pw_allocs_each(d, grace_tick, &now);
	arm_grace(d);
	return 0;
}

/* Polling fallback: owners by pid + start time, counted against max_failures. */
/* How long polling stays primary after drops: a few fast rounds past
 * max_failures, so a dropped exit is detected on polled evidence. */
#define FAST_AFTER_DROPS_ROUNDS 10

static void arm_health(struct pw_daemon *d, unsigned interval_ms)
{
	struct pw_allocs *as = d->allocs;

	if (as->health_interval_ms == interval_ms)
		return;
	as->health_interval_ms = interval_ms;
	(void) pw_timerfd_arm(as->health_io.fd, interval_ms, interval_ms);
}

void pw_allocs_on_drops(struct pw_daemon *d)
{
	struct pw_allocs *as = d->allocs;
	unsigned fast = (unsigned)d->cfg->health.fast_interval_ms;

	if (!as)
		return;
	as->fast_until_ms = pw_now_ms() +
		(uint64_t)fast * (FAST_AFTER_DROPS_ROUNDS + (uint64_t)d->cfg->health.max_failures);
	arm_health(d, fast);
}

/* Polled evidence: counted against max_failures by the state machine. */
static void poll_owner(struct pw_daemon *d, struct pw_alloc_rt *r, void *ctx)
{
	uint64_t now = *(uint64_t *)ctx;
	struct pw_sm_verdict v = { 0 };

	if (pw_proc_alive(r->a.pid, r->a.start_time))
		pw_sm_owner_alive(&r->sm, now);
	else
		pw_sm_owner_gone(&r->sm, &d->allocs->smp, false, now, &v);
	pw_allocs_apply(d, r, &v);
}

static int on_health_poll(struct pw_io *io, uint32_t events)
{
	struct pw_daemon *d = io->data;
	struct pw_allocs *as = d->allocs;
	uint64_t now = pw_now_ms();

	(void) events;
	pw_timerfd_ack(io->fd);
	as->m.health_polls_total++;
	/* drops are behind us: events are the primary source again */
	if (as->fast_until_ms && now >= as->fast_until_ms && d->mode == PW_MODE_BPF) {
		as->fast_until_ms = 0;
		if (d->cfg->health.enabled) {
			arm_health(d, (unsigned)d->cfg->health.check_interval_ms);
		} else {
			(void) pw_timerfd_arm(io->fd, 0, 0);
			as->health_interval_ms = 0;
		}
	}
	pw_allocs_each(d, poll_owner, &now);
	return 0;
}

static int add_timer(struct pw_daemon *d, struct pw_io *io, pw_io_fn fn)
{
	int fd = pw_timerfd_new();

	if (fd < 0)
		return fd;
	*io = (struct pw_io){ .fd = fd, .fn = fn, .data = d };
	return pw_loop_add(d->loop, io, EPOLLIN);
}

/* Recovery step 1: open the state database, moving a corrupt one aside. */
static int open_store(struct pw_daemon *d, bool *reset)
{
	struct pw_store_info info = { 0 };
	char aside[4096];
	int r;

	*reset = false;
	r = pw_store_open(d->opts.state_dir, &d->store, &info);
	if (r == -EBADMSG) {
		if (!d->cfg->system_recovery.backup_corrupted_state) {
			pw_err("state %s/%s is corrupt (%s) and backup_corrupted_state is off: "
			       "refusing to start", d->opts.state_dir, PW_STORE_DB_NAME, info.message);
			return r;
		}
		r = pw_store_move_aside(d->opts.state_dir, aside, sizeof(aside));
		if (r) {
			pw_err("state is corrupt (%s) and could not be moved aside: %s",
			       info.message, strerror(-r));
			return r;
		}
		pw_warn("state database corrupt (%s): moved to %s, starting a new one",
			info.message, aside);
		d->allocs->recovery = json_pack("{s:s, s:s}", "corrupt", info.message, "moved_to",
						aside);
		*reset = true;
		r = pw_store_open(d->opts.state_dir, &d->store, &info);
	}
	if (r) {
		pw_err("state %s: %s (%s)", d->opts.state_dir, strerror(-r), info.message);
		return r;
	}
	return 0;
}

int pw_allocs_init(struct pw_daemon *d)
{
	struct pw_allocs *as;
	struct pw_alloc *all = NULL;
	size_t n = 0;
	bool reset;
	json_t *report;
	int r;

	as = calloc(1, sizeof(*as));
	if (!as)
		return -ENOMEM;
	d->allocs = as;
	memset(as->by_port, 0xff, sizeof(as->by_port));
	as->self_pid = getpid();
	as->grace_io.fd = as->health_io.fd = -1;
	as->smp = (struct pw_sm_params){
		.grace_ms = (uint32_t)d->cfg->health.grace_period_ms,
		.max_failures = (uint32_t)d->cfg->health.max_failures,
		.cleanup_stale = d->cfg->health.cleanup_stale_allocations,
	};
	r = open_store(d, &reset);
	if (r)
		return r;
	r = pw_store_load_all(d->store, &all, &n);
	if (r) {
		pw_err("state: cannot load allocations: %s", pw_store_errmsg(d->store));
		return r;
	}
	for (size_t i = 0; i < n && !r; i++) {
		if (as->by_port[all[i].port] >= 0)
			continue;	/* the store's UNIQUE(port) makes this impossible */
		r = index_add(as, &all[i]);
		if (!r && d->bpf)
			(void) pw_bpf_track_pid(d->bpf, (__u32)all[i].pid);
	}
	free(all);
	if (r)
		return r;
	pw_info("state: %zu allocations loaded from %s", as->n, d->opts.state_dir);

	pw_loop_set_after_batch(d->loop, pw_allocs_after_batch, d);
	r = add_timer(d, &as->grace_io, on_grace);
	if (!r)
		r = add_timer(d, &as->health_io, on_health_poll);
	if (r)
		return r;

	report = pw_recovery_run(d, false, reset);
	if (as->recovery && report)
		json_object_set_new(report, "database", as->recovery);
	else if (as->recovery)
		json_decref(as->recovery);
	as->recovery = report;

	/* event evidence is primary; polls are the fallback, faster without BPF */
	if (d->mode == PW_MODE_POLLING)
		arm_health(d, (unsigned)d->cfg->health.fast_interval_ms);
	else if (d->cfg->health.enabled)
		arm_health(d, (unsigned)d->cfg->health.check_interval_ms);
	return pw_checks_init(d);
}

void pw_allocs_config_changed(struct pw_daemon *d)
{
	struct pw_allocs *as = d->allocs;

	if (!as)
		return;
	as->smp.grace_ms = (uint32_t)d->cfg->health.grace_period_ms;
	as->smp.max_failures = (uint32_t)d->cfg->health.max_failures;
	as->smp.cleanup_stale = d->cfg->health.cleanup_stale_allocations;
	if (d->mode == PW_MODE_POLLING || as->fast_until_ms) {
		arm_health(d, (unsigned)d->cfg->health.fast_interval_ms);
	} else if (d->cfg->health.enabled) {
		arm_health(d, (unsigned)d->cfg->health.check_interval_ms);
	} else {
		(void) pw_timerfd_arm(as->health_io.fd, 0, 0);
		as->health_interval_ms = 0;
	}
}

int pw_allocs_group(struct pw_daemon *d)
{
	struct pw_allocs *as = d->allocs;
	int r;

	if (as->group)
		return 0;
	r = pw_store_begin(d->store);
	if (r)
		return r;
	as->group = true;
	return 0;
}

void pw_allocs_reply_durable(struct pw_daemon *d, struct pw_client *c, char *line,
			     const char *what_if_failed)
{
	struct pw_allocs *as = d->allocs;

	if (!as->group) {
		pw_client_send(c, line);
		return;
	}
	if (as->n_settle == as->cap_settle) {
		size_t ncap = as->cap_settle ? as->cap_settle * 2 : 16;
		struct pw_settle *n = realloc(as->settle, ncap * sizeof(*n));

		if (!n) {
			free(line);
			pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
			return;
		}
		as->settle = n;
		as->cap_settle = ncap;
	}
	as->settle[as->n_settle].c = pw_client_ref(c);
	as->settle[as->n_settle++].what = what_if_failed;
	pw_client_send_tentative(c, line);
}

/* After a failed group commit: memory must say what the disk says. */
static int reload_index(struct pw_daemon *d)
{
	struct pw_allocs *as = d->allocs;
	struct pw_alloc *all = NULL;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < as->n; i++)
		pw_check_free(as->v[i].check);
	as->n = 0;
	memset(as->by_port, 0xff, sizeof(as->by_port));
	r = pw_store_load_all(d->store, &all, &n);
	for (size_t i = 0; i < n && !r; i++) {
		r = index_add(as, &all[i]);
		if (!r)
			pw_checks_attach(d, &as->v[as->n - 1]);
	}
	free(all);
	for (size_t i = 0; i < as->n; i++)
		pw_allocs_observe(d, &as->v[i], PW_SM_EV_POLL);
	return r;
}

void pw_allocs_after_batch(void *daemon)
{
	struct pw_daemon *d = daemon;
	struct pw_allocs *as = d->allocs;
	char why[384] = "";
	int r;

	if (!as || !as->group)
		return;
	as->group = false;
	r = pw_store_commit(d->store);
	if (r) {
		as->m.storage_errors_total++;
		as->storage_failing = true;
		snprintf(why, sizeof(why), "%s (%s)", strerror(-r), pw_store_errmsg(d->store));
		if (reload_index(d))
			pw_err("state: cannot reload allocations after a failed commit: %s",
			       pw_store_errmsg(d->store));
	} else if (as->n_settle) {
		as->storage_failing = false;
	}
	for (size_t i = 0; i < as->n_settle; i++) {
		char *fail = r ? pw_proto_error(PW_E_STORAGE, "state storage failed, %s: %s",
						as->settle[i].what, why) : NULL;

		pw_client_settle(as->settle[i].c, fail);
		pw_client_unref(as->settle[i].c);
		free(fail);
	}
	as->n_settle = 0;
}

void pw_allocs_fini(struct pw_daemon *d)
{
	struct pw_allocs *as = d->allocs;

	if (as) {
		pw_checks_fini(d);
		if (as->grace_io.fd >= 0) {
			pw_loop_del(d->loop, &as->grace_io);
			close(as->grace_io.fd);
		}
		if (as->health_io.fd >= 0) {
			pw_loop_del(d->loop, &as->health_io);
			close(as->health_io.fd);
		}
		pw_allocs_after_batch(d);
		json_decref(as->recovery);
		free(as->settle);
		free(as->v);
		free(as);
		d->allocs = NULL;
	}
	pw_store_close(d->store);
	d->store = NULL;
	pw_config_free(d->cfg);
	d->cfg = NULL;
}

void pw_allocs_status(struct pw_daemon *d, json_t *status)
{
	struct pw_allocs *as = d->allocs;
	unsigned by_state[PW_ALLOC_STATE_MAX] = { 0 };
	json_t *st = json_object();

	for (size_t i = 0; i < as->n; i++)
		by_state[as->v[i].a.state]++;
	for (int s = 0; s < PW_ALLOC_STATE_MAX; s++)
		json_object_set_new(st, pw_alloc_state_name(s), json_integer(by_state[s]));
	json_object_set_new(status, "allocations", json_pack("{s:I, s:o, s:b, s:i}", "total",
		(json_int_t)as->n, "by_state", st, "storage_ok", !as->storage_failing,
		"health_poll_interval_ms", (int)as->health_interval_ms));
	json_object_set_new(status, "recovery", as->recovery ? json_incref(as->recovery)
							     : json_null());
	json_object_set_new(status, "detection_latency_ns", json_pack("{s:I, s:I, s:I}",
		"p50", (json_int_t)pw_hist_quantile(&as->m.detect_latency, 0.5),
		"p99", (json_int_t)pw_hist_quantile(&as->m.detect_latency, 0.99),
		"count", (json_int_t)as->m.detect_latency.count));
}

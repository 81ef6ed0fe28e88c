// SPDX-License-Identifier: GPL-2.0
/*
 * Start-up recovery (recovery layer 3), run after the port map is built from
 * the kernel and before the control socket accepts requests:
 *   daemon   the daemon's own allocations (Styxy's for no instance)
 *            become this daemon's, on every start, whatever the config says;
 *   adopt    after a state reset, live sockets inside configured ranges
 *            become allocations so no port in use is handed out again;
 *   orphans  allocations whose owner is gone (pid absent or start time
 *            differs) pass to a live holder of the port of the allocation's
 *            uid, else are released; ports held outside the owner tree are
 *            marked conflict;
 *   singletons  a single-instance type keeps its newest live allocation.
 * With dry_run, the same checks report what they would do and change nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocs.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "store.h"
#include "utf8.h"

static json_t *step(json_t *report, const char *name)
{
	json_t *s = json_pack("{s:s, s:i, s:[]}", "step", name, "count", 0, "actions");

	json_array_append_new(json_object_get(report, "steps"), s);
	return s;
}

static void note(json_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(json_t *s, const char *fmt, ...)
{
	char buf[256], safe[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* comms are any bytes: valid UTF-8, or json_string drops the line */
	json_array_append_new(json_object_get(s, "actions"),
			      json_string(pw_utf8_safe(buf, safe, sizeof(safe))));
	json_object_set_new(s, "count", json_integer((json_int_t)json_array_size(
		json_object_get(s, "actions"))));
}

static const struct pw_service_type *type_of_port(const struct pw_config *c, uint16_t port)
{
	for (size_t i = 0; i < c->n_types; i++)
		if (port >= c->types[i].range_lo && port <= c->types[i].range_hi)
			return &c->types[i];
	return NULL;
}

static void adopt(struct pw_allocs *as, bool dry_run, json_t *s)
{
	const struct pw_sock *sk;
	size_t it = 0;

	while ((sk = pw_portmap_next(as->env.map, &it))) {
		const struct pw_service_type *t;
		struct pw_alloc a = { 0 };
		struct pw_proc p;

		if ((as->env.self_netns && sk->netns != as->env.self_netns) || !sk->pid)
			continue;
		t = type_of_port(as->env.cfg, sk->port);
		if (!t || pw_allocs_by_port(as, sk->port))
			continue;
		if (pw_proc_read((pid_t)sk->pid, &p))
			continue;
		note(s, "adopt port %u (%s) held by pid %u (%s)", sk->port, t->name, sk->pid, p.comm);
		if (dry_run)
			continue;
		snprintf(a.service_type, sizeof(a.service_type), "%s", t->name);
		snprintf(a.comm, sizeof(a.comm), "%s", p.comm);
		a.port = sk->port;
		a.pid = p.pid;
		a.start_time = p.start_time;
		a.uid = p.uid;
		a.state = PW_ALLOC_ADOPTED;
		a.adopted = true;
		a.created_at = pw_wall_ms();
		struct pw_audit au = { .uid = 0 };

		snprintf(au.action, sizeof(au.action), "recover");
		snprintf(au.outcome, sizeof(au.outcome), "ok");
		snprintf(au.service_type, sizeof(au.service_type), "%s", t->name);
		snprintf(au.detail, sizeof(au.detail), "adopted from a live socket of pid %d (%s)",
			 a.pid, a.comm);
		(void) pw_allocs_add(as, &a, &au);
	}
}

/* Owners' liveness, read once per (pid, start time) in a run: an owner of
 * many allocations costs one /proc read, not one per allocation (which was
 * most of start-up with 10,000 allocations). Direct-mapped by pid. */
#define ALIVE_SLOTS 1024
struct alive_memo {
	pid_t pid;
	bool alive;
	uint64_t start_time;
};

struct visit {
	bool dry_run;
	json_t *step, *step2;
	const struct pw_service_type *type;
	int64_t keep_id;
	struct alive_memo *alive;	/* ALIVE_SLOTS, or NULL: no memo */
};

static bool owner_alive(struct visit *vi, pid_t pid, uint64_t start_time)
{
	struct alive_memo *m = vi->alive ? &vi->alive[(unsigned)pid % ALIVE_SLOTS] : NULL;

	if (m && m->pid == pid && m->start_time == start_time && pid)
		return m->alive;
	if (!m)
		return pw_proc_alive(pid, start_time);
	m->pid = pid;
	m->start_time = start_time;
	m->alive = pw_proc_alive(pid, start_time);
	return m->alive;
}

/* Owner gone (pid absent or start time differs): release. Otherwise the
 * state machine decides bound / listening / conflict. */
static void orphan(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	struct visit *vi = ctx;
	enum pw_alloc_state before = r->a.state;

	/* the daemon's own, of an earlier daemon: see take_over() */
	if (r->a.daemon_owned && r->a.pid != as->self_pid)
		return;
	/* held for a binder: the hold decides, not the requester's exit; it
	 * changes nothing, so it is no action (recover --dry-run and doctor
	 * listed a legitimate hold as something to clean up) */
	if (r->a.hold_until > pw_wall_ms())
		return;
	if (!owner_alive(vi, r->a.pid, r->a.start_time)) {
		/* the owner died while we were down: a live holder of its uid
		 * (root's: root) that still has a socket on the port is where it
		 * went; another user's socket there is no heir, and the
		 * allocation is released below */
		pid_t h = pw_lease_holder_of_uid(as, r);

		if (h) {
			note(vi->step, "hand port %u (%s, id %lld) to pid %d: owner pid %d is "
			     "gone", r->a.port, r->a.service_type, (long long)r->a.id, h, r->a.pid);
			if (!vi->dry_run &&
			    !pw_lease_set_owner(as, r, h, "previous owner is gone (recovery)"))
				pw_allocs_observe(as, r, PW_SM_EV_POLL);
			return;
		}
		note(vi->step, "release port %u (%s, id %lld): owner pid %d is gone", r->a.port,
		     r->a.service_type, (long long)r->a.id, r->a.pid);
		if (!vi->dry_run)
			(void) pw_allocs_release(as, r, 0, 0, "recovery: owner gone");
		return;
	}
	if (vi->dry_run) {
		if (before == PW_ALLOC_CONFLICT)
			note(vi->step2, "port %u (%s, id %lld) in conflict", r->a.port,
			     r->a.service_type, (long long)r->a.id);
		return;
	}
	pw_allocs_observe(as, r, PW_SM_EV_POLL);
	if (r->a.state == PW_ALLOC_CONFLICT && before != PW_ALLOC_CONFLICT)
		note(vi->step2, "port %u (%s, id %lld) held outside the owner tree", r->a.port,
		     r->a.service_type, (long long)r->a.id);
}

/* The daemon's own (Styxy's, for no live instance) of an earlier daemon: this
 * one owns them now, a hold included; they go only by DELETE, Styxy's
 * cleanup, or a binder that claims them. */
static void take_over(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	struct visit *vi = ctx;

	if (!r->a.daemon_owned || r->a.pid == as->self_pid)
		return;
	note(vi->step, "keep port %u (%s, id %lld): owned by the daemon, now pid %d", r->a.port,
	     r->a.service_type, (long long)r->a.id, as->self_pid);
	if (!vi->dry_run && pw_lease_daemon_takes_over(as, r))
		pw_warn("recovery: allocation %lld port %u: the daemon could not take it over",
			(long long)r->a.id, r->a.port);
}

static void orphans(struct pw_allocs *as, bool dry_run, json_t *s_orphan, json_t *s_conflict)
{
	struct visit vi = { .dry_run = dry_run, .step = s_orphan, .step2 = s_conflict };

	vi.alive = calloc(ALIVE_SLOTS, sizeof(*vi.alive));
	pw_allocs_each(as, orphan, &vi);
	free(vi.alive);
}

/* The newest live allocation of the type is kept, the others released. */
static void newest(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	struct visit *vi = ctx;
	struct pw_alloc_rt *keep = vi->keep_id ? pw_allocs_by_id(as, vi->keep_id) : NULL;

	if (strcmp(r->a.service_type, vi->type->name) || r->a.state == PW_ALLOC_STALE)
		return;
	if (!keep || r->a.created_at > keep->a.created_at ||
	    (r->a.created_at == keep->a.created_at && r->a.id > keep->a.id))
		vi->keep_id = r->a.id;
}

static void duplicate(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	struct visit *vi = ctx;

	if (strcmp(r->a.service_type, vi->type->name) || r->a.id == vi->keep_id)
		return;
	note(vi->step, "release port %u (id %lld): singleton %s keeps id %lld", r->a.port,
	     (long long)r->a.id, vi->type->name, (long long)vi->keep_id);
	if (!vi->dry_run)
		(void) pw_allocs_release(as, r, 0, 0, "recovery: duplicate singleton");
}

static void singletons(struct pw_allocs *as, bool dry_run, json_t *s)
{
	const struct pw_config *cfg = as->env.cfg;

	for (size_t t = 0; t < cfg->n_types; t++) {
		struct visit vi = { .dry_run = dry_run, .step = s, .type = &cfg->types[t] };

		if (!vi.type->single)
			continue;
		pw_allocs_each(as, newest, &vi);
		if (vi.keep_id)
			pw_allocs_each(as, duplicate, &vi);
	}
}

json_t *pw_recovery_run(struct pw_allocs *as, bool dry_run, bool store_was_reset)
{
	const typeof(as->env.cfg->system_recovery) *sr = &as->env.cfg->system_recovery;
	json_t *report, *s;
	char msg[256];
	int r;

	report = json_pack("{s:b, s:b, s:I, s:[]}", "dry_run", dry_run, "enabled",
			   sr->enabled && sr->run_on_startup, "ts_ms", (json_int_t)pw_wall_ms(),
			   "steps");
	if (!report)
		return NULL;
	s = step(report, "database");
	/* a dry run is asked for over the socket: whoever asked checks the
	 * whole database off the event loop and fills this in */
	if (dry_run) {
		json_object_set_new(s, "result", json_string("pending"));
	} else if (as->serving) {
		/* the store is the storage thread's and the loop never reads it */
		json_object_set_new(s, "result", json_string("not checked here: start-up and "
					"`recover --dry-run` check the database"));
	} else {
		r = pw_store_integrity_check(as->env.store, msg, sizeof(msg));
		json_object_set_new(s, "result", json_string(r ? msg : "ok"));
	}
	if (store_was_reset)
		note(s, "corrupt database moved aside, new one created");
	/* on every start, whatever the config says of recovery: nothing else
	 * could own these */
	{
		struct visit vi = { .dry_run = dry_run, .step = step(report, "daemon") };

		pw_allocs_each(as, take_over, &vi);
	}
	if (!dry_run && !(sr->enabled && sr->run_on_startup) && !store_was_reset) {
		pw_info("recovery: disabled by recovery.system_recovery");
		return report;
	}
	/* on every start, not only after a corrupt database: a state that
	 * lost commits silently (a deleted WAL, a truncated file) must not
	 * hand out a port whose owner still listens */
	s = step(report, "adopt");
	adopt(as, dry_run, s);
	/* one statement each: argument evaluation order would pick the steps' order */
	s = step(report, "orphans");
	orphans(as, dry_run, s, step(report, "conflicts"));
	singletons(as, dry_run, step(report, "singletons"));
	if (!dry_run) {
		size_t n = json_array_size(json_object_get(report, "steps"));

		for (size_t i = 0; i < n; i++) {
			json_t *st = json_array_get(json_object_get(report, "steps"), i);

			json_t *a;
			size_t k;

			pw_info("recovery: %s: %lld action(s)",
				json_string_value(json_object_get(st, "step")),
				(long long)json_integer_value(json_object_get(st, "count")));
			json_array_foreach(json_object_get(st, "actions"), k, a)
				pw_warn("recovery: %s: %s", json_string_value(json_object_get(st, "step")),
					json_string_value(a));
		}
	}
	return report;
}

int pw_recovery_open_store(const char *dir, const struct pw_config *cfg, struct pw_store **ret,
			   bool *reset, json_t **report)
{
	struct pw_store_info info = { 0 };
	char aside[4096];
	int r;

	*reset = false;
	*report = NULL;
	r = pw_store_open(dir, ret, &info);
	if (r == -EBADMSG) {
		if (!cfg->system_recovery.backup_corrupted_state) {
			pw_err("state %s/%s is corrupt (%s) and backup_corrupted_state is off: "
			       "refusing to start", dir, PW_STORE_DB_NAME, info.message);
			return r;
		}
		r = pw_store_move_aside(dir, aside, sizeof(aside));
		if (r) {
			pw_err("state is corrupt (%s) and could not be moved aside: %s",
			       info.message, strerror(-r));
			return r;
		}
		pw_warn("state database corrupt (%s): moved to %s, starting a new one",
			info.message, aside);
		*report = json_pack("{s:s, s:s}", "corrupt", info.message, "moved_to", aside);
		*reset = true;
		r = pw_store_open(dir, ret, &info);
	}
	if (r) {
		pw_err("state %s: %s (%s)", dir, strerror(-r), info.message);
		json_decref(*report);
		*report = NULL;
		return r;
	}
	if (info.regressed) {
		pw_warn("state went backwards: the database has %lld commits, %s/generation says "
			"%lld were acknowledged: some allocations were lost (WAL deleted or damaged, "
			"database truncated or replaced); live sockets in managed ranges are adopted",
			(long long)info.gen_db, dir, (long long)info.gen_file);
		if (!*report)
			*report = json_object();
		json_object_set_new(*report, "regressed", json_pack("{s:I, s:I, s:s}",
			"db_generation", (json_int_t)info.gen_db,
			"acknowledged_generation", (json_int_t)info.gen_file,
			"message", "acknowledged commits were lost: the state went backwards"));
	}
	return 0;
}

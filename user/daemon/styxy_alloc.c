// SPDX-License-Identifier: GPL-2.0
/*
 * The Styxy API's allocation endpoints: POST /allocate, DELETE
 * /allocate/:lockId, GET /check/:port, /allocations, /scan, /suggest/:type
 * and POST /cleanup, with Styxy's request and answer shapes, on portwatch's
 * allocation index (core/allocate.c chooses the port) and live port map.
 *
 * Ownership. Styxy keeps an allocation until DELETE or cleanup, whoever asked
 * (its hooks are short-lived curl calls). Here an allocation is owned by the
 * registered instance's process when /instance/register gave a live pid (it
 * is released when that process exits), else by the daemon itself, so that
 * it lives until DELETE /allocate/:lockId or POST /cleanup, as in Styxy, and
 * with a hold-until-bind lease (leases.hold_default_ms): the first bind of
 * the port by a process of the token user's uid (the allocation's uid, which
 * core/health.c checks exactly, root's included) makes that process the
 * owner, so the port is freed when the server dies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocate.h"
#include "allocs.h"
#include "autotypes.h"
#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "owner.h"
#include "proc.h"
#include "styxy_int.h"

#define HOUR_MS (3600 * 1000)

struct styxy_call {
	struct pw_styxy *s;
	struct pw_http_req *rq;
	char instance[128];
	bool auto_allocated;
	uint16_t auto_lo, auto_hi;
};

static bool charset(const char *s, const char *extra)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");

	while (s[n] && strchr(extra, s[n]))
		n += 1 + strspn(s + n + 1,
				"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	return !s[n];
}

/* Styxy's Validator.validatePort: parseInt() of a number or a string. */
static int parse_port(json_t *v, const char *s, uint16_t *out)
{
	long long p;
	char *end;

	if (v && json_is_integer(v)) {
		p = json_integer_value(v);
	} else {
		if (v)
			s = json_string_value(v);
		if (!s)
			return -EINVAL;
		p = strtoll(s, &end, 10);
		if (end == s)
			return -EINVAL;
	}
	if (p < 1 || p > 65535)
		return -EINVAL;
	*out = (uint16_t)p;
	return 0;
}

/* The owner: a registered instance's live process, else the daemon (see top). */
/* The registered instance's process; else the daemon, with the port held for
 * its binder (a hook allocates, the dev server binds seconds later). */
static pid_t owner_for(struct pw_styxy *s, const char *instance, bool *hold)
{
	struct styxy_instance *in = instance ? styxy_instance_find(s, instance) : NULL;

	*hold = false;
	if (in && in->pid && pw_proc_alive(in->pid, in->start_time))
		return in->pid;
	*hold = true;
	return getpid();
}

static void allocate_done(void *ctx, const struct pw_allocate_result *res)
{
	struct styxy_call *k = ctx;
	struct pw_styxy *s = k->s;
	json_t *o;
	char lock[37], msg[160];

	if (res->code != PW_E_OK) {
		styxy_error(k->rq, 400, "%s", res->message);
		free(k);
		return;
	}
	(void) styxy_meta_set(s, res->r->a.id, k->instance);
	styxy_lock_id(res->r, lock);
	snprintf(msg, sizeof(msg), "Port %u allocated for %s service", res->r->a.port,
		 res->r->a.service_type);
	o = json_pack("{s:b, s:i, s:s, s:s, s:I}", "success", 1, "port", res->r->a.port, "lock_id",
		      lock, "message", msg, "id", (json_int_t)res->r->a.id);
	if (o && k->auto_allocated) {
		json_object_set_new(o, "auto_allocated", json_true());
		json_object_set_new(o, "allocated_range", json_pack("[i,i]", k->auto_lo, k->auto_hi));
		json_object_set_new(o, "chunk_size", json_integer(k->auto_hi - k->auto_lo + 1));
		json_object_set_new(o, "placement", json_string(
			s->d->cfg->auto_alloc.placement == PW_PLACE_BEFORE ? "before" :
			s->d->cfg->auto_alloc.placement == PW_PLACE_SMART ? "smart" : "after"));
	}
	styxy_reply_settled(s, k->rq, 200, o, res->r->a.id);
	free(k);
}

static void existing_singleton(struct pw_styxy *s, struct pw_http_req *rq,
			       const struct pw_alloc_rt *r)
{
	const char *inst = styxy_meta_instance(s, r->a.id);
	char lock[37], msg[160];

	styxy_lock_id(r, lock);
	snprintf(msg, sizeof(msg), "Service '%s' only allows single instance", r->a.service_type);
	/* Styxy's answer lacks "success", which its own CLI then reports as a
	 * failure; portwatch adds success: true */
	styxy_reply_settled(s, rq, 200, json_pack(
		"{s:b, s:i, s:s, s:s, s:s, s:b, s:s?, s:i, s:I}", "success", 1, "port", r->a.port,
		"lock_id", lock, "lockId", lock, "message", msg, "existing", 1, "existingInstanceId",
		inst, "existingPid", (int)r->a.pid, "allocatedAt", (json_int_t)r->a.created_at), 0);
}

void styxy_allocate(struct pw_styxy *s, struct pw_http_req *rq)
{
	struct pw_daemon *d = s->d;
	struct pw_allocate_req arq = { 0 };
	struct ucred cred = { .pid = getpid(), .uid = 0, .gid = 0 };
	const char *type, *name, *inst, *proj;
	enum pw_errcode code;
	struct styxy_call *k;
	json_t *b = styxy_body_object(rq), *jp;
	uint16_t port = 0;
	bool hold = false;
	char err[512];

	if (!b)
		return;
	type = json_string_value(json_object_get(b, "service_type"));
	name = json_string_value(json_object_get(b, "service_name"));
	inst = json_string_value(json_object_get(b, "instance_id"));
	proj = json_string_value(json_object_get(b, "project_path"));
	jp = json_object_get(b, "preferred_port");
	if (!type) {
		styxy_error(rq, 400, "service_type is required and must be a string");
		goto out;
	}
	if (!charset(type, "-")) {
		styxy_error(rq, 400, "service_type can only contain letters, numbers, and hyphens");
		goto out;
	}
	if (name && strlen(name) >= PW_NAME_MAX) {
		styxy_error(rq, 400, "service_name is longer than %d characters", PW_NAME_MAX - 1);
		goto out;
	}
	if (json_object_get(b, "service_name") && (!name || !*name || !charset(name, "-_."))) {
		styxy_error(rq, 400, "service_name can only contain letters, numbers, hyphens, "
			    "underscores, and dots");
		goto out;
	}
	if (inst && strlen(inst) >= 128) {
		styxy_error(rq, 400, "instance_id is longer than 127 characters");
		goto out;
	}
	if (json_object_get(b, "instance_id") && (!inst || !*inst || !charset(inst, "-_"))) {
		styxy_error(rq, 400, "instance_id can only contain letters, numbers, hyphens, and "
			    "underscores");
		goto out;
	}
	if (proj && strlen(proj) >= PW_PROJECT_MAX) {
		styxy_error(rq, 400, "project_path is longer than %d bytes", PW_PROJECT_MAX - 1);
		goto out;
	}
	if (jp && !json_is_null(jp) && parse_port(jp, NULL, &port)) {
		styxy_error(rq, 400, "Invalid port number: must be 1-65535");
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		styxy_error(rq, 500, "out of memory");
		goto out;
	}
	k->s = s;
	k->rq = rq;
	snprintf(k->instance, sizeof(k->instance), "%s", inst ? inst : "default");
	arq.t = pw_config_find_type(d->cfg, type);
	if (!arq.t) {
		int r = pw_config_auto_type(d->cfg, type, &arq.t, err, sizeof(err));

		if (r) {
			styxy_error(rq, 400, "Unknown service type '%s': %s", type, err);
			free(k);
			goto out;
		}
		k->auto_allocated = true;
		k->auto_lo = arq.t->range_lo;
		k->auto_hi = arq.t->range_hi;
		pw_allocs_audit(d->allocs, s->token_uid, 0, "auto_type", "ok", 0, 0, type,
				"auto-allocated range %u-%u over the Styxy API", k->auto_lo,
				k->auto_hi);
		pw_info("styxy: service type %s auto-allocated %u-%u", type, k->auto_lo, k->auto_hi);
		pw_autotypes_save(d);
	}
	if (arq.t->single) {
		struct pw_alloc_rt *r = pw_allocate_singleton(d->allocs, arq.t->name);

		if (r) {
			existing_singleton(s, rq, r);
			free(k);
			goto out;
		}
	}
	/* Styxy tries a preferred port outside the range too; portwatch's
	 * policy keeps to the range, so such a preference is dropped */
	if (port && pw_alloc_check_request(arq.t, port, NULL, 0))
		port = 0;
	if (pw_owner_resolve((uint32_t)owner_for(s, inst, &hold), false, &cred, &arq.a, &code, err,
			     sizeof(err))) {
		styxy_error(rq, 400, "%s", err);
		free(k);
		goto out;
	}
	arq.a.uid = s->token_uid;
	/* the daemon's: kept across restarts, as Styxy keeps its state */
	arq.a.daemon_owned = hold;
	snprintf(arq.a.service_type, sizeof(arq.a.service_type), "%s", arq.t->name);
	snprintf(arq.a.name, sizeof(arq.a.name), "%s", name ? name : "unnamed-service");
	snprintf(arq.a.project, sizeof(arq.a.project), "%s", proj ? proj : "");
	arq.requested = port;
	/* the first bind by the token's user makes the binder the owner */
	if (hold)
		arq.hold_ms = (uint32_t)d->cfg->leases.hold_default_ms;
	arq.caller_uid = s->token_uid;
	arq.caller_pid = 0;
	pw_allocate(d->allocs, &arq, allocate_done, k);
out:
	json_decref(b);
}

void styxy_release(struct pw_styxy *s, struct pw_http_req *rq, const char *lock)
{
	struct pw_allocs *as = s->d->allocs;
	struct pw_alloc_rt *r;
	uint16_t port;
	char msg[64], why[256];
	int err;

	if (styxy_lock_lookup(s, lock, &r)) {
		styxy_error(rq, 400, "lock_id must be a valid UUID v4");
		return;
	}
	if (!r) {
		styxy_error(rq, 400, "Lock ID %s not found", lock);
		return;
	}
	port = r->a.port;
	if (pw_allocs_storage_stalled(as, why, sizeof(why))) {
		styxy_error(rq, 503, "release not made: %s", why);
		return;
	}
	err = pw_allocs_release(as, r, s->token_uid, 0, "released over the Styxy API");
	if (err) {
		styxy_error(rq, 500, "release not stored: %s", strerror(-err));
		return;
	}
	snprintf(msg, sizeof(msg), "Port %u released", port);
	styxy_reply_settled(s, rq, 200, json_pack("{s:b, s:i, s:s}", "success", 1, "port", port,
						  "message", msg), 0);
}

/* Styxy's system_usage: who has the port, as its lsof/netstat scanner says. */
static json_t *system_usage(struct pw_daemon *d, uint16_t port)
{
	const struct pw_sock *k = pw_portmap_port_first(d->map, port);
	char addr[64], local[80];

	/* the daemon's own network namespace only, as pw_allocs_port_bound */
	while (k && d->self_netns && k->netns != d->self_netns)
		k = pw_portmap_port_next(d->map, k);
	if (!k)
		return json_null();
	pw_addr_str(k->family, k->addr, addr, sizeof(addr));
	snprintf(local, sizeof(local), "%s%s%s:%u", k->family == 10 ? "[" : "", addr,
		 k->family == 10 ? "]" : "", port);
	return json_pack("{s:i, s:s, s:{s:s, s:i, s:i}, s:s, s:s, s:s}", "port", port, "protocol",
			 pw_proto_name(k->proto), "process", "name", k->comm, "pid", (int)k->pid,
			 "uid", (int)k->uid, "local_address", local, "state",
			 k->state == 2 ? "LISTEN" : "BOUND", "tool", "portwatch");
}

void styxy_check(struct pw_styxy *s, struct pw_http_req *rq, const char *ps)
{
	struct pw_alloc_rt *r;
	uint16_t port;
	json_t *use;

	if (parse_port(NULL, ps, &port)) {
		styxy_error(rq, 500, "Invalid port number: must be 1-65535");
		return;
	}
	r = pw_allocs_by_port(s->d->allocs, port);
	use = system_usage(s->d, port);
	pw_http_reply_json(rq, 200, json_pack("{s:i, s:b, s:o, s:o}", "port", port, "available",
					      !r && json_is_null(use), "allocated_to",
					      r ? styxy_alloc_json(s, r) : json_null(),
					      "system_usage", use));
}

void styxy_allocations(struct pw_styxy *s, struct pw_http_req *rq)
{
	json_t *arr = json_array();

	for (unsigned p = 1; p <= 65535; p++) {
		struct pw_alloc_rt *r = pw_allocs_by_port(s->d->allocs, (uint16_t)p);

		if (r)
			json_array_append_new(arr, styxy_alloc_json(s, r));
	}
	pw_http_reply_json(rq, 200, json_pack("{s:o}", "allocations", arr));
}

void styxy_scan(struct pw_styxy *s, struct pw_http_req *rq)
{
	uint16_t lo = 3000, hi = 9999;
	json_t *arr = json_array();
	char range[16];

	/* parseInt(...) || default, as Styxy */
	(void) parse_port(NULL, pw_http_query(rq, "start"), &lo);
	(void) parse_port(NULL, pw_http_query(rq, "end"), &hi);
	if (lo > hi) {
		json_decref(arr);
		styxy_error(rq, 500, "Start port must be less than or equal to end port");
		return;
	}
	/* the live map makes the whole range cheap: no 100-port cap here */
	for (unsigned p = lo; p <= hi; p++) {
		struct pw_alloc_rt *r = pw_allocs_by_port(s->d->allocs, (uint16_t)p);
		json_t *use = system_usage(s->d, (uint16_t)p);

		if (!r && json_is_null(use))
			continue;
		json_array_append_new(arr, json_pack("{s:i, s:o, s:o}", "port", p, "allocated_to",
						     r ? styxy_alloc_json(s, r) : json_null(),
						     "system_usage", r ? json_null() : use));
		if (r)
			json_decref(use);
	}
	snprintf(range, sizeof(range), "%u-%u", lo, hi);
	pw_http_reply_json(rq, 200, json_pack("{s:s, s:o}", "scan_range", range, "ports_in_use",
					      arr));
}

void styxy_suggest(struct pw_styxy *s, struct pw_http_req *rq, const char *type)
{
	const struct pw_service_type *t = pw_config_find_type(s->d->cfg, type);
	struct pw_port_view v = pw_allocate_view(s->d->allocs);
	const char *cs = pw_http_query(rq, "count");
	uint16_t cand[100];
	long count = cs ? strtol(cs, NULL, 10) : 5;
	json_t *arr = json_array();
	char msg[96];
	size_t n;

	/* unknown types fall back to the dev range, as Styxy */
	if (!t)
		t = pw_config_find_type(s->d->cfg, "dev");
	if (!t) {
		json_decref(arr);
		styxy_error(rq, 500, "Failed to suggest ports: no type %s and no dev type", type);
		return;
	}
	if (count <= 0)
		count = 5;
	if (count > (long)(sizeof(cand) / sizeof(cand[0])))
		count = sizeof(cand) / sizeof(cand[0]);
	n = pw_alloc_candidates(s->d->cfg, t, 0, &v, cand, (size_t)count);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_integer(cand[i]));
	if (!n)
		snprintf(msg, sizeof(msg), "No available ports found in %s range", t->name);
	else
		snprintf(msg, sizeof(msg), "Found %zu available port(s)", n);
	pw_http_reply_json(rq, 200, json_pack("{s:s, s:o, s:i, s:s}", "service_type", t->name,
					      "suggestions", arr, "count", (int)n, "message", msg));
}

struct sweep {
	struct pw_styxy *s;
	bool force;
	int64_t now;
	unsigned cleaned;
};

/* Styxy's cleanup: allocations older than an hour (all with force). Only
 * those the daemon owns on Styxy's behalf: a process-owned allocation is
 * released when its owner exits. */
static void sweep_one(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	struct sweep *w = ctx;

	if (r->a.pid != getpid())
		return;
	if (!w->force && (w->now - r->a.created_at < HOUR_MS ||
			  pw_allocs_live(as, r, NULL) != PW_LIVE_FREE))
		return;
	if (!pw_allocs_release(as, r, w->s->token_uid, 0, w->force ? "Styxy cleanup (force)"
								    : "Styxy cleanup: older than an hour"))
		w->cleaned++;
}

void styxy_cleanup(struct pw_styxy *s, struct pw_http_req *rq)
{
	json_t *b = styxy_body_object(rq), *rep = NULL;
	struct sweep w = { .s = s, .now = pw_wall_ms() };
	unsigned recovered;
	char msg[128], why[256];

	if (!b)
		return;
	w.force = json_is_true(json_object_get(b, "force"));
	json_decref(b);
	if (pw_allocs_storage_stalled(s->d->allocs, why, sizeof(why))) {
		styxy_error(rq, 503, "cleanup not made: %s", why);
		return;
	}
	recovered = pw_recovery_now(s->d, false, &rep);
	pw_allocs_each(s->d->allocs, sweep_one, &w);
	s->last_cleanup_ms = w.now;
	snprintf(msg, sizeof(msg), w.force ? "Force cleanup completed"
					   : "Cleaned up %u stale allocations", w.cleaned + recovered);
	styxy_reply_settled(s, rq, 200, json_pack("{s:b, s:i, s:s, s:o}", "success", 1, "cleaned",
						  (int)(w.cleaned + recovered), "message", msg,
						  "recovery", rep ? rep : json_null()), 0);
}

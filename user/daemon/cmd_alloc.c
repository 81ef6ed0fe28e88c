// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation commands: allocate, release, list, check, types, audit. Each
 * parses its arguments, calls the core and formats the answer; recovery
 * layer 1 is core/allocate.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "allocate.h"
#include "allocs.h"
#include "autotypes.h"
#include "cmd.h"
#include "guard.h"
#include "stream.h"
#include "config.h"
#include "log.h"
#include "owner.h"
#include "proccache.h"
#include "journal.h"
#include "wire.h"

/* An allocate request in flight: the core's done() answers the client. */
struct alloc_call {
	struct pw_daemon *d;
	struct pw_client *c;
};

static void allocate_done(void *ctx, const struct pw_allocate_result *ar)
{
	struct alloc_call *k = ctx;
	struct pw_strbuf sb = { 0 };

	if (ar->code != PW_E_OK) {
		pw_client_send(k->c, pw_proto_error(ar->code, "%s", ar->message));
	} else {
		/* the reply line as text (pw_proto_ok's shape, no object tree) */
		pw_sb_puts(&sb, PW_PROTO_OK_PREFIX);
		pw_wire_alloc_open(&sb, k->d->allocs, ar->r, NULL, pw_client_cred(k->c)->uid,
				   k->d->cfg->access.show_other_users_names);
		pw_sb_puts(&sb, ",\"existing\":false,\"conflicts\":[");
		for (size_t i = 0; i < ar->n_conflicts; i++) {
			pw_sb_printf(&sb, "%s{\"port\":%d,\"reason\":", i ? "," : "",
				     ar->conflicts[i].port);
			pw_sb_json_str(&sb, ar->conflicts[i].reason);
			pw_sb_put(&sb, "}", 1);
		}
		pw_sb_puts(&sb, "]}}\n");
		pw_settle_reply(&k->d->settle, k->c, pw_sb_steal(&sb), ar->r->a.id,
				"allocation not made");
	}
	pw_client_unref(k->c);
	free(k);
}

/* Parse and check the request; the port is chosen by the core. */
static enum pw_errcode parse_allocate(struct pw_daemon *d, json_t *args, const struct ucred *cred,
				      struct pw_allocate_req *rq, bool *exclusive, bool *run,
				      char *err, size_t errlen)
{
	const char *type = NULL, *name = NULL, *project = NULL;
	bool is_parent = false, hold_default = false;
	__u32 port = 0, pid = 0, hold = 0;
	enum pw_errcode code = PW_E_BAD_REQUEST;

	if (pw_args_str(args, "service_type", &type, err, errlen) < 0 ||
	    pw_args_str(args, "name", &name, err, errlen) < 0 ||
	    pw_args_str(args, "project", &project, err, errlen) < 0 ||
	    pw_args_bool(args, "exclusive", exclusive, err, errlen) < 0 ||
	    pw_args_u32(args, "port", 65535, &port, err, errlen) < 0 ||
	    pw_args_u32(args, "pid", INT32_MAX, &pid, err, errlen) < 0 ||
	    pw_args_bool(args, "pid_is_parent", &is_parent, err, errlen) < 0 ||
	    pw_args_bool(args, "run", run, err, errlen) < 0 ||
	    pw_args_u32(args, "hold_ms", UINT32_MAX, &hold, err, errlen) < 0 ||
	    pw_args_bool(args, "hold", &hold_default, err, errlen) < 0)
		return PW_E_BAD_REQUEST;
	if (hold_default && !hold)
		hold = (__u32)d->cfg->leases.hold_default_ms;
	if (hold > (__u32)d->cfg->leases.hold_max_ms) {
		snprintf(err, errlen, "args.hold_ms: %u is longer than leases.hold_max_ms (%d)", hold,
			 d->cfg->leases.hold_max_ms);
		return PW_E_BAD_REQUEST;
	}
	rq->hold_ms = hold;
	if (!type) {
		snprintf(err, errlen, "args.service_type: required");
		return PW_E_BAD_REQUEST;
	}
	rq->t = pw_config_find_type(d->cfg, type);
	/* Styxy's auto_allocation: an unknown type gets a range of its own;
	 * a user makes a few at most, and never takes root's last slots */
	if (!rq->t && d->cfg->auto_alloc.enabled) {
		if (pw_config_runtime_room(d->cfg, cred->uid, err, errlen))
			return PW_E_DENIED;
		if (pw_config_auto_type(d->cfg, type, &rq->t, err, errlen))
			return PW_E_UNKNOWN_TYPE;
		d->cfg->types[d->cfg->n_types - 1].created_by = cred->uid;
		pw_info("service type %s auto-allocated %u-%u", type, rq->t->range_lo,
			rq->t->range_hi);
		pw_autotypes_save(d);
	}
	if (!rq->t) {
		size_t off = (size_t)snprintf(err, errlen,
					      "unknown service type \"%.64s\"; known types:", type);

		for (size_t i = 0; i < d->cfg->n_types && off < errlen - 1; i++)
			off += (size_t)snprintf(err + off, errlen - off, " %s",
						d->cfg->types[i].name);
		return PW_E_UNKNOWN_TYPE;
	}
	if ((name && strlen(name) >= PW_NAME_MAX) || (project && strlen(project) >= PW_PROJECT_MAX)) {
		snprintf(err, errlen, "args.%s: longer than %d bytes",
			 name && strlen(name) >= PW_NAME_MAX ? "name" : "project",
			 name && strlen(name) >= PW_NAME_MAX ? PW_NAME_MAX - 1 : PW_PROJECT_MAX - 1);
		return PW_E_BAD_REQUEST;
	}
	if (port && pw_alloc_check_request(rq->t, (uint16_t)port, err, errlen))
		return PW_E_INVALID_PORT;
	if (pw_owner_resolve(pid, is_parent, cred, &rq->a, &code, err, errlen))
		return code;
	code = pw_allocate_limits(d->allocs, rq->a.uid, rq->t->name, err, errlen);
	if (code != PW_E_OK)
		return code;
	snprintf(rq->a.service_type, sizeof(rq->a.service_type), "%s", rq->t->name);
	snprintf(rq->a.name, sizeof(rq->a.name), "%s", name ? name : "");
	snprintf(rq->a.project, sizeof(rq->a.project), "%s", project ? project : "");
	rq->requested = (uint16_t)port;
	rq->caller_uid = cred->uid;
	rq->caller_pid = cred->pid;
	return PW_E_OK;
}

void pw_cmd_allocate(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	const struct ucred *cred = pw_client_cred(c);
	struct pw_allocate_req rq = { 0 };
	enum pw_errcode code;
	struct alloc_call *k;
	bool exclusive = false, run = false;
	char err[512];

	code = parse_allocate(d, args, cred, &rq, &exclusive, &run, err, sizeof(err));
	if (code == PW_E_OK && rq.t->single) {
		struct pw_alloc_rt *r = pw_allocate_singleton(d->allocs, rq.t->name);
		/* another uid's owner: no pid or comm for a user (see wire.h) */
		bool others = r && cred->uid != 0 && cred->uid != r->a.uid;
		char owner[64];

		if (r && others)
			snprintf(owner, sizeof(owner), "a process of uid %u", r->a.uid);
		else if (r)
			snprintf(owner, sizeof(owner), "pid %d (%.16s)", r->a.pid, r->a.comm);
		/* run hands the port to a command: only the owner's own tree may */
		if (r && run && !pw_proc_cached_is_ancestor(r->a.pid, rq.a.pid)) {
			snprintf(err, sizeof(err), "service type %s is single-instance and allocated "
				 "to %s: port %u (id %lld)", rq.t->name, owner, r->a.port,
				 (long long)r->a.id);
			code = PW_E_EXISTS;
		} else if (r && exclusive) {
			snprintf(err, sizeof(err), "service type %s is single-instance and already "
				 "allocated to %s: port %u (id %lld)", rq.t->name, owner, r->a.port,
				 (long long)r->a.id);
			code = PW_E_EXISTS;
		} else if (r) {
			json_t *res = pw_wire_alloc_for(d->allocs, r, cred->uid,
							d->cfg->access.show_other_users_names);

			json_object_set_new(res, "existing", json_true());
			/* it may not be durable yet: the answer waits as its own did */
			pw_settle_reply(&d->settle, c, pw_proto_ok(res), 0, "allocation not stored");
			return;
		}
	}
	if (code != PW_E_OK) {
		char note[128];

		/* refusals past parsing are audited: who was refused what, at a
		 * bounded rate per uid (the rest are counted in the next one) */
		if (code != PW_E_BAD_REQUEST && pw_guard_refusal(d->guard, cred->uid, note,
								  sizeof(note))) {
			char detail[sizeof(err) + sizeof(note)];

			snprintf(detail, sizeof(detail), "%s%s", err, note);
			pw_allocate_refused(d->allocs, cred->uid, cred->pid,
					    code == PW_E_DENIED ? "denied" : "error", rq.requested,
					    rq.t ? rq.t->name : "", detail);
		}
		pw_client_send(c, pw_proto_error(code, "%s", err));
		return;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	k->d = d;
	k->c = pw_client_ref(c);
	pw_allocate(d->allocs, &rq, allocate_done, k);
}

static struct pw_alloc_rt *find_target(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct pw_alloc_rt *r = NULL;
	__u32 port = 0;
	__u64 id = 0;
	char err[256];

	if (pw_args_u32(args, "port", 65535, &port, err, sizeof(err)) < 0 ||
	    pw_args_u64(args, "id", &id, err, sizeof(err)) < 0) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "%s", err));
		return NULL;
	}
	if (!port && !id) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "args.port or args.id: required"));
		return NULL;
	}
	r = port ? pw_allocs_by_port(d->allocs, (uint16_t)port)
		 : pw_allocs_by_id(d->allocs, (int64_t)id);
	if (!r)
		pw_client_send(c, port ? pw_proto_error(PW_E_NOT_FOUND, "port %u is not allocated", port)
				       : pw_proto_error(PW_E_NOT_FOUND, "no allocation with id %llu",
							(unsigned long long)id));
	return r;
}

void pw_cmd_release(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	const struct ucred *cred = pw_client_cred(c);
	struct pw_alloc_rt *r = find_target(d, c, args);
	char why[256];
	struct pw_strbuf sb = { 0 };
	int err;

	if (!r)
		return;
	if (cred->uid != 0 && cred->uid != r->a.uid) {
		char note[128];

		d->allocs->m.refused_total++;
		if (pw_guard_refusal(d->guard, cred->uid, note, sizeof(note)))
			pw_allocs_audit(d->allocs, cred->uid, cred->pid, "release", "denied", r->a.port,
					r->a.id, r->a.service_type, "allocation belongs to uid %u%s",
					r->a.uid, note);
		pw_client_send(c, pw_proto_error(PW_E_DENIED,
			"allocation %lld (port %u) belongs to uid %u: only root or uid %u may release it",
			(long long)r->a.id, r->a.port, r->a.uid, r->a.uid));
		return;
	}
	if (pw_allocs_storage_stalled(d->allocs, why, sizeof(why))) {
		pw_client_send(c, pw_proto_error(PW_E_STORAGE, "release not made: %s", why));
		return;
	}
	/* the reply as text, written before r goes */
	pw_sb_puts(&sb, PW_PROTO_OK_PREFIX);
	pw_wire_alloc_open(&sb, d->allocs, r, "released", cred->uid,
			   d->cfg->access.show_other_users_names);
	pw_sb_puts(&sb, "}}\n");
	err = pw_allocs_release(d->allocs, r, cred->uid, cred->pid, "released by request");
	if (err) {
		free(sb.buf);
		pw_client_send(c, pw_proto_error(PW_E_STORAGE, "release not stored: %s (%s)",
						 strerror(-err), pw_journal_errmsg(d->allocs->journal)));
		return;
	}
	pw_settle_reply(&d->settle, c, pw_sb_steal(&sb), 0, "release not stored");
}

void pw_cmd_list(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	const char *type = NULL;
	json_t *arr = json_array();
	char err[256];

	if (pw_args_str(args, "service_type", &type, err, sizeof(err)) < 0) {
		json_decref(arr);
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "%s", err));
		return;
	}
	if (type && !pw_config_find_type(d->cfg, type)) {
		size_t off = (size_t)snprintf(err, sizeof(err),
					      "unknown service type \"%.64s\"; known types:", type);

		/* the same words and exit code as allocate */
		for (size_t i = 0; i < d->cfg->n_types && off < sizeof(err) - 1; i++)
			off += (size_t)snprintf(err + off, sizeof(err) - off, " %s",
						d->cfg->types[i].name);
		json_decref(arr);
		pw_client_send(c, pw_proto_error(PW_E_UNKNOWN_TYPE, "%s", err));
		return;
	}
	/* in port order, for stable output */
	for (unsigned p = 1; p <= 65535; p++) {
		struct pw_alloc_rt *r = pw_allocs_by_port(d->allocs, (uint16_t)p);

		if (r && (!type || !strcmp(type, r->a.service_type)))
			json_array_append_new(arr, pw_wire_alloc_for(d->allocs, r,
				pw_client_cred(c)->uid, d->cfg->access.show_other_users_names));
	}
	pw_client_send(c, pw_proto_ok(arr));
}

void pw_cmd_check(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct pw_alloc_rt *r;
	const struct pw_sock *s;
	const char *reserved = NULL, *in_type = NULL;
	json_t *socks = json_array(), *o;
	__u32 port = 0;
	char err[256];

	if (pw_args_u32(args, "port", 65535, &port, err, sizeof(err)) < 0 || !port) {
		json_decref(socks);
		pw_client_send(c, pw_proto_error(PW_E_INVALID_PORT, "%s",
						 port ? err : "args.port: a port 1-65535 is required"));
		return;
	}
	for (s = pw_portmap_port_first(d->map, (__u16)port); s;
	     s = pw_portmap_port_next(d->map, s)) {
		struct pw_sock scratch;
		const struct pw_sock *seen;
		json_t *sj;

		/* as ss would show them to this caller */
		seen = pw_wire_sock_visible(s, pw_client_cred(c)->uid, d->self_netns, &scratch);
		if (!seen)
			continue;
		sj = pw_wire_sock(seen);
		pw_cmd_netns_json(d, sj, s->netns);
		json_array_append_new(socks, sj);
	}
	for (size_t i = 0; i < d->cfg->n_types; i++)
		if (port >= d->cfg->types[i].range_lo && port <= d->cfg->types[i].range_hi)
			in_type = d->cfg->types[i].name;
	(void) pw_config_port_reserved(d->cfg, (uint16_t)port, &reserved);
	r = pw_allocs_by_port(d->allocs, (uint16_t)port);
	o = json_pack("{s:i, s:o, s:o, s:b, s:o, s:o, s:b}", "port", port, "allocation",
		      r ? pw_wire_alloc_for(d->allocs, r, pw_client_cred(c)->uid,
					    d->cfg->access.show_other_users_names) : json_null(),
		      "sockets", socks, "bound",
		      json_array_size(socks) > 0, "reserved",
		      reserved ? json_string(reserved) : json_null(), "service_type",
		      in_type ? json_string(in_type) : json_null(), "conflicted",
		      pw_allocs_conflicted(d->allocs, (uint16_t)port));
	pw_client_send(c, pw_proto_ok(o));
}

void pw_cmd_types(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct pw_port_view v = pw_allocate_view(d->allocs);
	json_t *arr = json_array();

	(void) args;
	for (size_t i = 0; i < d->cfg->n_types; i++) {
		const struct pw_service_type *t = &d->cfg->types[i];
		struct pw_range_stats st;
		json_t *pref = json_array();

		for (size_t k = 0; k < t->n_preferred; k++)
			json_array_append_new(pref, json_integer(t->preferred[k]));
		pw_alloc_range_stats(d->cfg, t, &v, &st);
		json_array_append_new(arr, json_pack(
			"{s:s, s:s, s:[i,i], s:o, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:b}",
			"name", t->name, "description", t->description, "port_range", t->range_lo,
			t->range_hi, "preferred_ports", pref, "single", t->single, "total", st.total,
			"used", st.allocated, "free", st.free, "reserved", st.reserved,
			"bound_unallocated", st.bound_unallocated, "conflicted", st.conflicted,
			"health_check", t->check != NULL));
	}
	pw_client_send(c, pw_proto_ok(arr));
}

void pw_cmd_audit(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	__u32 limit = 50;
	__u64 after = 0;
	char err[256];

	if (pw_args_u32(args, "limit", 100000, &limit, err, sizeof(err)) < 0 ||
	    pw_args_u64(args, "after_id", &after, err, sizeof(err)) < 0) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "%s", err));
		return;
	}
	/* streamed a page at a time: 100,000 records never sit in one buffer */
	pw_stream_audit(d, c, after ? (int64_t)after : -1, limit);
}

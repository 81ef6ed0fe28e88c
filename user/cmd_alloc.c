// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation commands: allocate (with recovery layer 1: test-bind, mark
 * conflicts, retry with backoff, never blocking the loop), release, list,
 * check, types, audit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "alloc_policy.h"
#include "bpfwatch.h"
#include "allocs.h"
#include "cmd.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "store.h"
#include "testbind.h"

#define CANDIDATE_SCAN 1

struct alloc_req {
	struct pw_daemon *d;
	struct pw_client *c;
	struct pw_io timer;
	const struct pw_service_type *t;
	struct pw_alloc a;
	struct ucred cred;
	uint16_t requested;
	unsigned attempt;
	json_t *conflicts;
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
	struct pw_daemon *d = ctx;

	return d->allocs->conflicted_until[port] > pw_now_ms();
}

static struct pw_port_view make_view(struct pw_daemon *d)
{
	return (struct pw_port_view){ .ctx = d, .allocated = view_allocated, .bound = view_bound,
				      .conflicted = view_conflicted };
}

json_t *pw_alloc_json(struct pw_daemon *d, const struct pw_alloc_rt *r)
{
	const struct pw_sock *s = NULL;
	const char *live = "free";
	char comm[PW_COMM_LEN + 1] = "";
	struct pw_proc p;
	const char *owner_comm = r->a.comm;
	json_t *o;

	/* the owner may have exec'd since (portwatch run): show what runs now */
	if (!pw_proc_read(r->a.pid, &p) && p.start_time == r->a.start_time)
		owner_comm = p.comm;

	if (pw_allocs_port_bound(d, r->a.port, &s)) {
		live = s->pid && pw_proc_is_ancestor(r->a.pid, (pid_t)s->pid) ? "bound_by_owner"
									      : "bound_by_other";
		pw_comm_sanitize(s->comm, comm);
	}
	o = json_pack("{s:I, s:s, s:s, s:i, s:i, s:s, s:I, s:s, s:I, s:s, s:b, s:{s:s, s:I, s:s}}",
		      "id", (json_int_t)r->a.id, "service_type", r->a.service_type, "name",
		      r->a.name, "port", r->a.port, "pid", (int)r->a.pid, "comm", owner_comm, "uid",
		      (json_int_t)r->a.uid, "state", pw_alloc_state_name(r->a.state), "created_at",
		      (json_int_t)r->a.created_at, "project", r->a.project, "adopted", r->a.adopted,
		      "live", "status", live, "pid", (json_int_t)(s ? s->pid : 0), "comm", comm);
	return o;
}

static void req_free(struct alloc_req *q)
{
	if (q->timer.fd >= 0) {
		pw_loop_del(q->d->loop, &q->timer);
		close(q->timer.fd);
	}
	json_decref(q->conflicts);
	pw_client_unref(q->c);
	free(q);
}

static void req_fail(struct alloc_req *q, enum pw_errcode code, const char *outcome,
		     const char *msg)
{
	struct pw_daemon *d = q->d;

	d->allocs->m.refused_total++;
	pw_allocs_audit(d, q->cred.uid, q->cred.pid, "allocate", outcome, q->requested, 0,
			q->t ? q->t->name : "", "%s", msg);
	pw_client_send(q->c, pw_proto_error(code, "%s", msg));
}

static void exhausted(struct alloc_req *q)
{
	struct pw_daemon *d = q->d;
	struct pw_port_view v = make_view(d);
	struct pw_range_stats st;
	char msg[1024], who[512] = "";
	size_t off = 0;

	pw_alloc_range_stats(d->cfg, q->t, &v, &st);
	/* name a few of the processes holding unallocated ports */
	for (unsigned p = q->t->range_lo; p <= q->t->range_hi && off < sizeof(who) - 64; p++) {
		const struct pw_sock *s;
		char comm[PW_COMM_LEN + 1];

		if (pw_allocs_by_port(d, (uint16_t)p) || !pw_allocs_port_bound(d, (uint16_t)p, &s))
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
		 q->t->name, q->t->range_lo, q->t->range_hi, st.allocated, st.total,
		 st.bound_unallocated, who, st.reserved, st.conflicted);
	req_fail(q, PW_E_EXHAUSTED, "error", msg);
}

static void try_allocate(struct alloc_req *q);

/* Probe the port with the BPF side quiet: these binds are no one's. */
static int test_bind(struct pw_daemon *d, uint16_t port, char *why, size_t len)
{
	int r;

	if (d->bpf)
		pw_bpf_quiet(d->bpf, true);
	r = pw_test_bind(port, why, len);
	if (d->bpf)
		pw_bpf_quiet(d->bpf, false);
	return r;
}

static void audit_port_in_use(struct alloc_req *q, uint16_t port)
{
	const struct pw_sock *s;
	char comm[PW_COMM_LEN + 1];

	if (pw_allocs_by_port(q->d, port) || !pw_allocs_port_bound(q->d, port, &s))
		return;
	/* once per holder: a port held for days must not add a record (and an
	 * fsync) to every allocation of its type */
	if (q->d->allocs->skip_audited[port] == s->pid + 1)
		return;
	q->d->allocs->skip_audited[port] = s->pid + 1;
	pw_comm_sanitize(s->comm, comm);
	pw_allocs_audit(q->d, q->cred.uid, q->cred.pid, "conflict", "skipped", port, 0, q->t->name,
			"in use by pid %u (%s), not allocated", s->pid, comm);
}

/* Ports the policy passed over because an unallocated socket holds them:
 * the conflicts the kernel showed us before any test bind. */
static void audit_skipped(struct alloc_req *q, uint16_t chosen)
{
	const struct pw_service_type *t = q->t;

	if (q->requested && q->requested != chosen)
		audit_port_in_use(q, q->requested);
	for (size_t i = 0; i < t->n_preferred; i++) {
		if (t->preferred[i] == chosen)
			return;
		audit_port_in_use(q, t->preferred[i]);
	}
	for (unsigned p = t->range_lo; p < chosen; p++)
		audit_port_in_use(q, (uint16_t)p);
}

static int on_backoff(struct pw_io *io, uint32_t events)
{
	struct alloc_req *q = io->data;

	(void) events;
	pw_timerfd_ack(io->fd);
	try_allocate(q);
	return 0;
}

/* Recovery layer 1. Returns with q freed, or with a backoff timer armed. */
static void try_allocate(struct alloc_req *q)
{
	struct pw_daemon *d = q->d;
	const typeof(d->cfg->port_conflict) *pc = &d->cfg->port_conflict;
	struct pw_port_view v = make_view(d);
	json_t *res;
	struct pw_audit au = { .uid = q->cred.uid, .pid = q->cred.pid };
	uint16_t cand;
	char why[128];
	int err;

	snprintf(au.action, sizeof(au.action), "allocate");
	snprintf(au.outcome, sizeof(au.outcome), "ok");
	snprintf(au.service_type, sizeof(au.service_type), "%s", q->t->name);
	snprintf(au.detail, sizeof(au.detail), "owner pid %d (%.16s) uid %u%s%.128s", q->a.pid,
		 q->a.comm, q->a.uid, q->a.name[0] ? " name " : "", q->a.name);
	for (;;) {
		if (!pw_alloc_candidates(d->cfg, q->t, q->requested, &v, &cand, CANDIDATE_SCAN)) {
			exhausted(q);
			break;
		}
		if (pc->enabled && pc->check_availability && test_bind(d, cand, why, sizeof(why))) {
			d->allocs->conflicted_until[cand] = pw_now_ms() + (uint64_t)pc->conflict_hold_ms;
			d->allocs->m.conflicts_total++;
			json_array_append_new(q->conflicts, json_pack("{s:i, s:s}", "port", cand,
								      "reason", why));
			pw_info("allocate %s: port %u conflicts (%s), marked for %d ms", q->t->name,
				cand, why, pc->conflict_hold_ms);
			pw_allocs_audit(d, q->cred.uid, q->cred.pid, "conflict", "marked", cand, 0,
					q->t->name, "test bind failed: %s", why);
			if (q->attempt >= (unsigned)pc->max_retries) {
				char msg[1024];
				size_t off, k;
				json_t *cf;

				/* a sentence; the list as data is in the audit trail */
				off = (size_t)snprintf(msg, sizeof(msg), "service type %s: gave up after "
						       "%u conflicting port%s:", q->t->name,
						       q->attempt + 1, q->attempt ? "s" : "");
				json_array_foreach(q->conflicts, k, cf)
					if (off < sizeof(msg))
						off += (size_t)snprintf(msg + off, sizeof(msg) - off,
							"%s port %lld (%s)", k ? ";" : "",
							(long long)json_integer_value(
								json_object_get(cf, "port")),
							json_string_value(json_object_get(cf, "reason")));
				req_fail(q, PW_E_CONFLICT, "error", msg);
				break;
			}
			if (!q->requested || cand != q->requested)
				q->attempt++;
			q->requested = 0;
			/* back off before the next candidate: whatever raced us may be
			 * grabbing ports in this range right now */
			if (q->timer.fd < 0) {
				q->timer = (struct pw_io){ .fd = pw_timerfd_new(), .fn = on_backoff,
							   .data = q };
				if (q->timer.fd < 0 || pw_loop_add(d->loop, &q->timer, EPOLLIN)) {
					if (q->timer.fd >= 0)
						close(q->timer.fd);
					q->timer.fd = -1;
					continue;	/* no timer: retry at once */
				}
			}
			/* a requested port that conflicts costs no retry, and no backoff
			 * beyond the first step */
			(void) pw_timerfd_arm(q->timer.fd,
					      pw_backoff_ms(d->cfg, q->attempt ? q->attempt - 1 : 0), 0);
			return;
		}
		q->a.port = cand;
		q->a.created_at = pw_wall_ms();
		audit_skipped(q, cand);
		/* joins this loop batch's group commit; the reply waits for it */
		err = pw_allocs_group(d);
		if (!err)
			err = pw_allocs_add(d, &q->a, &au);
		if (err == -EEXIST) {
			/* the database holds the port though the index does not: keep
			 * clear of it as of a conflict, and try the next one */
			d->allocs->conflicted_until[cand] = pw_now_ms() + (uint64_t)pc->conflict_hold_ms;
			pw_warn("allocate %s: port %u is in the state but not in the index", q->t->name,
				cand);
			continue;
		} else if (err) {
			char msg[512];

			snprintf(msg, sizeof(msg), "state storage failed, allocation not made: %s (%s)",
				 strerror(-err), pw_store_errmsg(d->store));
			req_fail(q, PW_E_STORAGE, "error", msg);
			break;
		}
		res = pw_alloc_json(d, pw_allocs_by_port(d, q->a.port));
		json_object_set_new(res, "existing", json_false());
		json_object_set(res, "conflicts", q->conflicts);
		pw_allocs_reply_durable(d, q->c, pw_proto_ok(res), "allocation not made");
		break;
	}
	req_free(q);
}

/* The owner and the uid the allocation belongs to, checked against the caller. */
static int resolve_owner(struct pw_daemon *d, json_t *args, const struct ucred *cred,
			 struct pw_alloc *a, char *err, size_t errlen, enum pw_errcode *code)
{
	struct pw_proc p;
	__u32 pid = 0;
	bool is_parent = false;
	int r;

	*code = PW_E_BAD_REQUEST;
	if (pw_args_u32(args, "pid", INT32_MAX, &pid, err, errlen) < 0 ||
	    pw_args_bool(args, "pid_is_parent", &is_parent, err, errlen) < 0)
		return -EINVAL;
	if (!pid)
		pid = (__u32)cred->pid;
	r = pw_proc_read((pid_t)pid, &p);
	if (r) {
		*code = PW_E_NOT_FOUND;
		snprintf(err, errlen, "owner pid %u: no such process", pid);
		return r;
	}
	/* the CLI's parent must really be the caller's ancestor; another named
	 * owner needs root or the same uid */
	if (cred->uid != 0) {
		bool ok = is_parent ? pw_proc_is_ancestor((pid_t)pid, cred->pid) : p.uid == cred->uid;

		if (!ok) {
			*code = PW_E_DENIED;
			snprintf(err, errlen, is_parent
				 ? "owner pid %u is not an ancestor of the caller (pid %d)"
				 : "owner pid %u belongs to uid %u: only root or uid %u may name it",
				 pid, is_parent ? cred->pid : (int)p.uid, p.uid);
			return -EPERM;
		}
	}
	(void) d;
	a->pid = p.pid;
	a->start_time = p.start_time;
	snprintf(a->comm, sizeof(a->comm), "%s", p.comm);
	a->uid = cred->uid == 0 ? p.uid : cred->uid;
	return 0;
}

static struct pw_alloc_rt *live_singleton(struct pw_daemon *d, const char *type)
{
	for (size_t i = 0; i < d->allocs->n; i++) {
		struct pw_alloc_rt *r = &d->allocs->v[i];

		if (!strcmp(r->a.service_type, type) && r->a.state != PW_ALLOC_STALE)
			return r;
	}
	return NULL;
}

void pw_cmd_allocate(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	const struct ucred *cred = pw_client_cred(c);
	const char *type = NULL, *name = NULL, *project = NULL;
	enum pw_errcode code = PW_E_BAD_REQUEST;
	struct alloc_req *q;
	bool exclusive = false;
	__u32 port = 0;
	char err[512];

	q = calloc(1, sizeof(*q));
	if (!q) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	q->d = d;
	q->c = pw_client_ref(c);
	q->cred = *cred;
	q->timer.fd = -1;
	q->conflicts = json_array();
	if (pw_args_str(args, "service_type", &type, err, sizeof(err)) < 0 ||
	    pw_args_str(args, "name", &name, err, sizeof(err)) < 0 ||
	    pw_args_str(args, "project", &project, err, sizeof(err)) < 0 ||
	    pw_args_bool(args, "exclusive", &exclusive, err, sizeof(err)) < 0 ||
	    pw_args_u32(args, "port", 65535, &port, err, sizeof(err)) < 0)
		goto fail;
	if (!type) {
		snprintf(err, sizeof(err), "args.service_type: required");
		goto fail;
	}
	q->t = pw_config_find_type(d->cfg, type);
	if (!q->t) {
		size_t off = (size_t)snprintf(err, sizeof(err),
					      "unknown service type \"%.64s\"; known types:", type);

		for (size_t i = 0; i < d->cfg->n_types && off < sizeof(err) - 1; i++)
			off += (size_t)snprintf(err + off, sizeof(err) - off, " %s",
						d->cfg->types[i].name);
		code = PW_E_UNKNOWN_TYPE;
		goto fail;
	}
	if ((name && strlen(name) >= PW_NAME_MAX) || (project && strlen(project) >= PW_PROJECT_MAX)) {
		snprintf(err, sizeof(err), "args.%s: longer than %d bytes",
			 name && strlen(name) >= PW_NAME_MAX ? "name" : "project",
			 name && strlen(name) >= PW_NAME_MAX ? PW_NAME_MAX - 1 : PW_PROJECT_MAX - 1);
		goto fail;
	}
	if (port && pw_alloc_check_request(q->t, (uint16_t)port, err, sizeof(err))) {
		code = PW_E_INVALID_PORT;
		goto fail;
	}
	if (resolve_owner(d, args, cred, &q->a, err, sizeof(err), &code))
		goto fail;
	snprintf(q->a.service_type, sizeof(q->a.service_type), "%s", q->t->name);
	snprintf(q->a.name, sizeof(q->a.name), "%s", name ? name : "");
	snprintf(q->a.project, sizeof(q->a.project), "%s", project ? project : "");
	q->a.state = PW_ALLOC_RESERVED;
	q->requested = (uint16_t)port;
	if (q->t->single) {
		struct pw_alloc_rt *r = live_singleton(d, q->t->name);

		if (r && exclusive) {
			snprintf(err, sizeof(err), "service type %s is single-instance and already "
				 "allocated: port %u (id %lld, pid %d)", q->t->name, r->a.port,
				 (long long)r->a.id, r->a.pid);
			code = PW_E_EXISTS;
			goto fail;
		}
		if (r) {
			json_t *res = pw_alloc_json(d, r);

			json_object_set_new(res, "existing", json_true());
			pw_client_send(c, pw_proto_ok(res));
			req_free(q);
			return;
		}
	}
	try_allocate(q);
	return;
fail:
	if (code == PW_E_DENIED || code == PW_E_NOT_FOUND || code == PW_E_UNKNOWN_TYPE ||
	    code == PW_E_INVALID_PORT || code == PW_E_EXISTS)
		req_fail(q, code, code == PW_E_DENIED ? "denied" : "error", err);
	else
		pw_client_send(c, pw_proto_error(code, "%s", err));
	req_free(q);
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
	r = port ? pw_allocs_by_port(d, (uint16_t)port) : pw_allocs_by_id(d, (int64_t)id);
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
	json_t *res;
	int err;

	if (!r)
		return;
	if (cred->uid != 0 && cred->uid != r->a.uid) {
		d->allocs->m.refused_total++;
		pw_allocs_audit(d, cred->uid, cred->pid, "release", "denied", r->a.port, r->a.id,
				r->a.service_type, "allocation belongs to uid %u", r->a.uid);
		pw_client_send(c, pw_proto_error(PW_E_DENIED,
			"allocation %lld (port %u) belongs to uid %u: only root or uid %u may release it",
			(long long)r->a.id, r->a.port, r->a.uid, r->a.uid));
		return;
	}
	res = pw_alloc_json(d, r);
	err = pw_allocs_group(d);
	if (!err)
		err = pw_allocs_release(d, r, cred->uid, cred->pid, "released by request");
	if (err) {
		json_decref(res);
		pw_client_send(c, pw_proto_error(PW_E_STORAGE, "release not stored: %s (%s)",
						 strerror(-err), pw_store_errmsg(d->store)));
		return;
	}
	json_object_set_new(res, "state", json_string("released"));
	pw_allocs_reply_durable(d, c, pw_proto_ok(res), "release not stored");
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
		struct pw_alloc_rt *r = pw_allocs_by_port(d, (uint16_t)p);

		if (r && (!type || !strcmp(type, r->a.service_type)))
			json_array_append_new(arr, pw_alloc_json(d, r));
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
	for (s = pw_portmap_port_first(d->map, (__u16)port); s; s = pw_portmap_port_next(d->map, s)) {
		json_t *sj = pw_sock_json(s);

		pw_cmd_netns_json(d, sj, s->netns);
		json_array_append_new(socks, sj);
	}
	for (size_t i = 0; i < d->cfg->n_types; i++)
		if (port >= d->cfg->types[i].range_lo && port <= d->cfg->types[i].range_hi)
			in_type = d->cfg->types[i].name;
	(void) pw_config_port_reserved(d->cfg, (uint16_t)port, &reserved);
	r = pw_allocs_by_port(d, (uint16_t)port);
	o = json_pack("{s:i, s:o, s:o, s:b, s:o, s:o, s:b}", "port", port, "allocation",
		      r ? pw_alloc_json(d, r) : json_null(), "sockets", socks, "bound",
		      json_array_size(socks) > 0, "reserved",
		      reserved ? json_string(reserved) : json_null(), "service_type",
		      in_type ? json_string(in_type) : json_null(), "conflicted",
		      d->allocs->conflicted_until[port] > pw_now_ms());
	pw_client_send(c, pw_proto_ok(o));
}

void pw_cmd_types(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct pw_port_view v = make_view(d);
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
	struct pw_audit *recs = NULL;
	__u32 limit = 50;
	__u64 after = 0;
	size_t n = 0;
	char err[256];
	json_t *arr;
	int r;

	if (pw_args_u32(args, "limit", 100000, &limit, err, sizeof(err)) < 0 ||
	    pw_args_u64(args, "after_id", &after, err, sizeof(err)) < 0) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "%s", err));
		return;
	}
	r = pw_store_audit_list(d->store, after ? (int64_t)after : -1, limit, &recs, &n);
	if (r) {
		pw_client_send(c, pw_proto_error(PW_E_STORAGE, "audit trail unreadable: %s",
						 pw_store_errmsg(d->store)));
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack(
			"{s:I, s:I, s:I, s:i, s:s, s:s, s:i, s:I, s:s, s:s}", "id",
			(json_int_t)recs[i].id, "ts_ms", (json_int_t)recs[i].ts_ms, "uid",
			(json_int_t)recs[i].uid, "pid", (int)recs[i].pid, "action", recs[i].action,
			"outcome", recs[i].outcome, "port", recs[i].port, "alloc_id",
			(json_int_t)recs[i].alloc_id, "service_type", recs[i].service_type,
			"detail", recs[i].detail));
	free(recs);
	pw_client_send(c, pw_proto_ok(arr));
}

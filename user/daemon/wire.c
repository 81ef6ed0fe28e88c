// SPDX-License-Identifier: GPL-2.0
/* Wire shapes of sockets, events and allocations (see wire.h). */
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "journal.h"
#include "proccache.h"
#include "proto.h"
#include "utf8.h"
#include "wire.h"

/* One holder: keys (about 24 bytes), two numbers, a comm escaped. */
#define HOLDER_MAX 96

static char *holder(char *p, bool first, __u32 pid, const char *raw_comm, __s32 fd)
{
	p = first ? pw_raw_lit(p, "{\"pid\":") : pw_raw_lit(p, ",{\"pid\":");
	p = pw_raw_u64(p, pid);
	p = pw_raw_lit(p, ",\"comm\":");
	p = pw_raw_comm(p, raw_comm);
	p = pw_raw_lit(p, ",\"fd\":");
	p = pw_raw_i64(p, fd);
	return pw_raw_lit(p, "}");
}

void pw_wire_sock_write(struct pw_strbuf *sb, const struct pw_sock *s, const char *ns_text,
			size_t ns_len, struct pw_sock_memo *m)
{
	struct pw_event ev;
	char *p, *fd;
	size_t fd_len;

	pw_sock_to_event(s, PW_EV_BIND, &ev);
	pw_sb_put(sb, "{", 1);
	pw_proto_write_sock_memo(sb, &ev, m);
	if (ns_text)
		pw_sb_put(sb, ns_text, ns_len);
	/* every process holding it now, as ss -p's users: the first is pid/comm;
	 * 64 bytes of slack for the copies of constant size */
	p = pw_sb_room(sb, 128 + ((size_t)s->n_more + 1) * HOLDER_MAX);
	if (!p)
		return;
	p = pw_raw_lit(p, ",\"fd\":");
	fd = p;
	p = pw_raw_i64(p, s->fd);
	fd_len = (size_t)(p - fd);
	p = pw_raw_lit(p, ",\"holders\":[");
	if (s->pid) {
		/* the first holder is the socket's pid, comm and fd: their text
		 * is in the buffer already, with more of the row after it */
		p = pw_raw_lit(p, "{\"pid\":");
		p = pw_raw_put_upto(p, sb->buf + m->pid_off, m->pid_len, 16);
		p = pw_raw_lit(p, ",\"comm\":");
		p = pw_raw_put_upto(p, sb->buf + m->comm_off, m->comm_len, 40);
		p = pw_raw_lit(p, ",\"fd\":");
		p = pw_raw_put_upto(p, fd, fd_len, 16);
		p = pw_raw_lit(p, "}");
	}
	for (__u32 i = 0; i < s->n_more; i++)
		p = holder(p, !s->pid && !i, s->more[i].pid, s->more[i].comm, s->more[i].fd);
	p = pw_raw_lit(p, "]}");
	pw_sb_commit(sb, p);
}

json_t *pw_wire_sock(const struct pw_sock *s)
{
	struct pw_strbuf sb = { 0 };
	struct pw_sock_memo m = { .have_netns = false };

	pw_wire_sock_write(&sb, s, NULL, 0, &m);
	return pw_proto_json_of(&sb);
}

void pw_wire_alloc_open(struct pw_strbuf *sb, struct pw_allocs *as, const struct pw_alloc_rt *r,
			const char *state, uid_t viewer, bool show_names)
{
	static const char *const live_names[] = {
		[PW_LIVE_FREE] = "free",
		[PW_LIVE_OWNER] = "bound_by_owner",
		[PW_LIVE_OTHER] = "bound_by_other",
	};
	const struct pw_sock *s = NULL;
	enum pw_alloc_live live;
	char comm[PW_COMM_LEN + 1] = "";
	/* any bytes a process or user chose: valid UTF-8 for JSON */
	char name[PW_NAME_MAX * 4], project[PW_PROJECT_MAX * 4], ocomm[sizeof(r->a.comm) * 4 + 1];
	char now_comm[PW_COMM_LEN];
	const char *owner_comm = r->a.comm;
	/* a user sees no pid or comm of another uid's process (as ss shows
	 * sockets), and another uid's names only if the config says so */
	bool others = viewer != 0 && viewer != r->a.uid;
	bool blank_names = others && !show_names;
	bool live_hidden;

	/* the owner may have exec'd since (portwatch run): show what runs now,
	 * as of the cache (at most PW_PROC_CACHE_TTL_NS old) when it holds the
	 * owner, which owner resolution put there: no /proc read per reply */
	if (pw_proc_cached_comm(r->a.pid, r->a.start_time, now_comm))
		owner_comm = now_comm;
	pw_utf8_safe(others ? "" : owner_comm, ocomm, sizeof(ocomm));
	pw_utf8_safe(blank_names ? "" : r->a.name, name, sizeof(name));
	pw_utf8_safe(blank_names ? "" : r->a.project, project, sizeof(project));
	live = pw_allocs_live(as, r, &s);
	live_hidden = s && viewer != 0 && s->uid != viewer;
	if (s && !live_hidden)
		pw_comm_sanitize(s->comm, comm);
	/* written as text: a pipelined client's replies are a good part of the
	 * daemon's work, and an object tree per reply doubled it */
	pw_sb_printf(sb, "{\"id\":%lld,\"service_type\":", (long long)r->a.id);
	pw_sb_json_str(sb, r->a.service_type);
	pw_sb_puts(sb, ",\"name\":");
	pw_sb_json_str(sb, name);
	pw_sb_printf(sb, ",\"port\":%d,\"pid\":%d,\"comm\":", (int)r->a.port,
		     others ? 0 : (int)r->a.pid);
	pw_sb_json_str(sb, ocomm);
	pw_sb_printf(sb, ",\"uid\":%lld,\"state\":", (long long)r->a.uid);
	pw_sb_json_str(sb, state ? state : pw_alloc_state_name(r->a.state));
	pw_sb_printf(sb, ",\"created_at\":%lld,\"project\":", (long long)r->a.created_at);
	pw_sb_json_str(sb, project);
	pw_sb_printf(sb, ",\"adopted\":%s,\"live\":{\"status\":\"%s\",\"pid\":%lld,\"comm\":",
		     r->a.adopted ? "true" : "false", live_names[live],
		     (long long)(s && !live_hidden ? s->pid : 0));
	pw_sb_json_str(sb, comm);
	pw_sb_put(sb, "}", 1);
}

json_t *pw_wire_alloc(struct pw_allocs *as, const struct pw_alloc_rt *r)
{
	return pw_wire_alloc_for(as, r, 0, true);
}

json_t *pw_wire_alloc_for(struct pw_allocs *as, const struct pw_alloc_rt *r, uid_t viewer,
			  bool show_names)
{
	struct pw_strbuf sb = { 0 };

	pw_wire_alloc_open(&sb, as, r, NULL, viewer, show_names);
	pw_sb_put(&sb, "}", 1);
	return pw_proto_json_of(&sb);
}

json_t *pw_wire_alloc_event(const struct pw_alloc_change *ch)
{
	return json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:I}", "event", "allocation", "id",
			 (json_int_t)ch->id, "port", ch->port, "service_type", ch->service_type,
			 "old_state", ch->old_state, "state", ch->state, "reason", ch->reason,
			 "ts_ns", (json_int_t)pw_now_ns());
}

void pw_wire_allocs_status(struct pw_allocs *as, json_t *recovery, json_t *status)
{
	unsigned by_state[PW_ALLOC_STATE_MAX];
	json_t *st = json_object();

	pw_allocs_count(as, NULL, by_state);
	for (int s = 0; s < PW_ALLOC_STATE_MAX; s++)
		json_object_set_new(st, pw_alloc_state_name(s), json_integer(by_state[s]));
	json_object_set_new(status, "allocations", json_pack("{s:I, s:o, s:b, s:i}", "total",
		(json_int_t)as->n, "by_state", st, "storage_ok", !as->storage_failing,
		"health_poll_interval_ms", (int)as->health_interval_ms));
	/* the storage thread: how long the disk has held the batch on it */
	json_object_set_new(status, "storage", json_pack("{s:b, s:I, s:I, s:I, s:I}", "ok",
		!as->storage_failing && !pw_allocs_storage_stalled(as, NULL, 0),
		"busy_ms", (json_int_t)pw_journal_busy_ms(as->journal),
		"pending_batch", (json_int_t)pw_allocs_pending(as),
		"dropped_writes", (json_int_t)pw_journal_dropped(as->journal),
		"generation", (json_int_t)pw_journal_generation(as->journal)));
	json_object_set_new(status, "recovery", recovery ? json_incref(recovery) : json_null());
	json_object_set_new(status, "detection_latency_ns", json_pack("{s:I, s:I, s:I}",
		"p50", (json_int_t)pw_hist_quantile(&as->m.detect_latency, 0.5),
		"p99", (json_int_t)pw_hist_quantile(&as->m.detect_latency, 0.99),
		"count", (json_int_t)as->m.detect_latency.count));
}

void pw_wire_server_status(const struct pw_server_stats *st, json_t *status)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "clients", (json_int_t)st->clients,
			      "watchers", (json_int_t)st->watchers,
			      "max_clients", (json_int_t)st->max_clients,
			      "accepted", (json_int_t)st->accepted,
			      "refused", (json_int_t)st->refused,
			      "refused_per_uid", (json_int_t)st->refused_uid,
			      "accept_paused", (json_int_t)st->accept_paused,
			      "timed_out", (json_int_t)st->timed_out,
			      "oversized", (json_int_t)st->oversized,
			      "malformed", (json_int_t)st->malformed,
			      "dropped_slow", (json_int_t)st->lagged);

	if (o) {
		json_object_set_new(o, "out_bytes", json_integer((json_int_t)st->out_bytes));
		json_object_set_new(o, "too_large", json_integer((json_int_t)st->too_large));
		json_object_set_new(o, "busy", json_integer((json_int_t)st->busy));
	}

	if (o)
		json_object_set_new(status, "server", o);
}

void pw_wire_audit_write(struct pw_strbuf *sb, const struct pw_audit *a, uid_t viewer)
{
	/* another uid's record: what happened, not who or with what names
	 * (its detail names processes, comms, allocation names) */
	bool others = viewer != 0 && viewer != (uid_t)a->uid;

	pw_sb_printf(sb, "{\"id\":%lld,\"ts_ms\":%lld,\"uid\":%lld,\"pid\":%d,\"action\":",
		     (long long)a->id, (long long)a->ts_ms, (long long)a->uid,
		     others ? 0 : (int)a->pid);
	pw_sb_json_str(sb, a->action);
	pw_sb_puts(sb, ",\"outcome\":");
	pw_sb_json_str(sb, a->outcome);
	pw_sb_printf(sb, ",\"port\":%u,\"alloc_id\":%lld,\"service_type\":", a->port,
		     (long long)a->alloc_id);
	pw_sb_json_str(sb, a->service_type);
	pw_sb_puts(sb, ",\"detail\":");
	pw_sb_json_str(sb, others ? "" : a->detail);
	pw_sb_put(sb, "}", 1);
}

void pw_wire_guard_status(const struct pw_guard *g, json_t *status)
{
	struct pw_guard_stats st;

	pw_guard_stats(g, &st);
	json_object_set_new(status, "audit", json_pack("{s:I, s:I, s:I}",
		"refusals_unrecorded", (json_int_t)st.refusals_unrecorded,
		"pruned", (json_int_t)st.audit_pruned,
		"integrity_checks", (json_int_t)st.checks));
}

const struct pw_sock *pw_wire_sock_visible(const struct pw_sock *s, uid_t viewer,
					   __u64 self_netns, struct pw_sock *scratch)
{
	if (viewer == 0)
		return s;
	if (self_netns && s->netns != self_netns)
		return NULL;
	if (s->uid == viewer)
		return s;
	*scratch = *s;
	scratch->pid = 0;
	memset(scratch->comm, 0, sizeof(scratch->comm));
	return scratch;
}

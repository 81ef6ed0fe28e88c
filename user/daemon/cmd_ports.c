// SPDX-License-Identifier: GPL-2.0
/* The port-map commands: ports, watch, status. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "allocs.h"
#include "bpfwatch.h"
#include "cmd.h"
#include "filter.h"
#include "netns_names.h"
#include "reload.h"
#include "listeners.h"
#include "strbuf.h"
#include "stream.h"
#include "wire.h"

static struct pw_netns_names *netns_names(struct pw_daemon *d)
{
	if (!d->netns_names && pw_netns_names_new(&d->netns_names))
		return NULL;
	return d->netns_names;
}

void pw_cmd_netns_json(struct pw_daemon *d, json_t *o, uint64_t cookie)
{
	const char *name;
	uint64_t ino;

	pw_netns_names_lookup(netns_names(d), cookie, &ino, &name);
	json_object_set_new(o, "netns_inode", json_integer((json_int_t)ino));
	json_object_set_new(o, "netns_name", name ? json_string(name) : json_null());
}

/* Compile args.filter; NULL filter when absent. Sends the error and returns
 * -1 when it does not parse. */
static int args_filter(struct pw_client *c, json_t *args, struct pw_filter **f)
{
	struct pw_filter_error fe;
	const char *expr = NULL;
	char err[256];
	int r;

	*f = NULL;
	if (pw_args_str(args, "filter", &expr, err, sizeof(err)) < 0) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "%s", err));
		return -1;
	}
	if (!expr)
		return 0;
	r = pw_filter_parse(expr, f, &fe);
	if (r == -ENOMEM) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return -1;
	}
	if (r) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "args.filter: column %u: %s",
						 fe.col, fe.msg));
		return -1;
	}
	return 0;
}

void pw_cmd_ports(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct pw_ports_filter f = { 0 };
	const char *proto = NULL;
	char err[256];

	if (pw_args_str(args, "proto", &proto, err, sizeof(err)) < 0 ||
	    pw_args_bool(args, "listening", &f.listening, err, sizeof(err)) < 0 ||
	    pw_args_u32(args, "port", 65535, &f.port, err, sizeof(err)) < 0 ||
	    pw_args_u32(args, "pid", UINT32_MAX, &f.pid, err, sizeof(err)) < 0 ||
	    pw_args_u64(args, "netns", &f.netns, err, sizeof(err)) < 0) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "%s", err));
		return;
	}
	if (proto) {
		if (!strcmp(proto, "tcp")) {
			f.proto = IPPROTO_TCP;
		} else if (!strcmp(proto, "udp")) {
			f.proto = IPPROTO_UDP;
		} else {
			pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST,
							 "args.proto: expected \"tcp\" or \"udp\""));
			return;
		}
	}
	/* compiled once, evaluated per socket as the stream goes */
	if (args_filter(c, args, &f.expr))
		return;
	f.names = netns_names(d);
	if (pw_filter_uses_netns(f.expr) && f.names)
		pw_netns_names_expire(f.names);
	/* streamed in port order: no listing sits in one buffer */
	pw_stream_ports(d, c, &f);
}

/* --- watch ----------------------------------------------------------------- */

static const char *const watch_kinds[] = { "bind", "close", "listen", "unlisten", "exit",
					   "allocation", "drops", "resync" };
#define N_WATCH_KINDS (sizeof(watch_kinds) / sizeof(watch_kinds[0]))

/* What one watcher asked for. */
struct watch_sel {
	struct pw_filter *expr;		/* NULL: every event */
	unsigned kinds;			/* bits of watch_kinds; 0: every kind */
};

/* One event as the watchers' predicates see it. */
struct watch_ev {
	unsigned kind;			/* bit of watch_kinds, 0 unknown */
	bool has_sock;			/* the record describes a socket or a process */
	struct pw_filter_rec rec;
};

static void watch_sel_free(void *p)
{
	struct watch_sel *w = p;

	if (w)
		pw_filter_free(w->expr);
	free(w);
}

static bool watch_pred(void *data, const void *arg)
{
	const struct watch_sel *w = data;
	const struct watch_ev *e = arg;

	if (w->kinds && !(w->kinds & e->kind))
		return false;
	/* drops and resyncs say the stream may have gaps: every watcher gets
	 * them unless it chose kinds without them */
	if (!e->has_sock)
		return true;
	return pw_filter_match(w->expr, &e->rec);
}

static unsigned kind_bit(const char *k)
{
	for (size_t i = 0; k && i < N_WATCH_KINDS; i++)
		if (!strcmp(k, watch_kinds[i]))
			return 1u << i;
	return 0;
}

/* args.events: an array of event kinds. */
static int args_kinds(struct pw_client *c, json_t *args, unsigned *kinds)
{
	json_t *a = json_object_get(args, "events"), *v;
	size_t i;

	*kinds = 0;
	if (!a)
		return 0;
	if (!json_is_array(a)) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST,
						 "args.events: expected an array of event kinds"));
		return -1;
	}
	json_array_foreach(a, i, v) {
		unsigned b = kind_bit(json_string_value(v));

		if (!b) {
			pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST,
				"args.events[%zu]: expected one of bind, close, listen, unlisten, exit,"
				" allocation, drops, resync", i));
			return -1;
		}
		*kinds |= b;
	}
	return 0;
}

void pw_cmd_watch(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct watch_sel *w;
	struct pw_filter *expr;
	unsigned kinds;

	if (args_filter(c, args, &expr))
		return;
	if (args_kinds(c, args, &kinds)) {
		pw_filter_free(expr);
		return;
	}
	if (expr || kinds) {
		w = calloc(1, sizeof(*w));
		if (!w) {
			pw_filter_free(expr);
			pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
			return;
		}
		w->expr = expr;
		w->kinds = kinds;
		pw_client_set_watch_data(c, w, watch_sel_free);
	}
	pw_client_send(c, pw_proto_ok(json_pack("{s:b, s:s}", "subscribed", 1, "mode",
						d->mode == PW_MODE_BPF ? "bpf" : "polling")));
	pw_client_set_watch(c, true);
}

/* RFC 3339 local time with the UTC offset, microseconds, of a CLOCK_MONOTONIC
 * timestamp. */
static void rfc3339(uint64_t mono_ns, char *buf, size_t len)
{
	struct timespec now_r;
	uint64_t now_m = pw_now_ns(), real_ns;
	time_t sec;
	struct tm tm;
	char tz[8];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now_r);
	real_ns = (uint64_t)now_r.tv_sec * 1000000000ull + (uint64_t)now_r.tv_nsec;
	real_ns -= now_m > mono_ns ? now_m - mono_ns : 0;
	sec = (time_t)(real_ns / 1000000000ull);
	localtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(tz, sizeof(tz), "%z", &tm);	/* +0100 -> +01:00 */
	snprintf(buf + n, len - n, ".%06llu%.3s:%s", (unsigned long long)(real_ns % 1000000000ull) / 1000,
		 tz, tz + 3);
}

/* Fill the filter record from an event object (the watch schema). */
static void event_rec(struct pw_daemon *d, json_t *o, struct watch_ev *e)
{
	struct pw_filter_rec *r = &e->rec;
	const char *v;

	memset(e, 0, sizeof(*e));
	e->kind = kind_bit(json_string_value(json_object_get(o, "event")));
	e->has_sock = json_object_get(o, "port") || json_object_get(o, "pid");
	v = json_string_value(json_object_get(o, "proto"));
	r->proto = !v ? 0 : !strcmp(v, "tcp") ? IPPROTO_TCP : !strcmp(v, "udp") ? IPPROTO_UDP : 0;
	v = json_string_value(json_object_get(o, "family"));
	r->family = !v ? 0 : !strcmp(v, "ipv4") ? AF_INET : !strcmp(v, "ipv6") ? AF_INET6 : 0;
	v = json_string_value(json_object_get(o, "addr"));
	if (v && r->family)
		(void) inet_pton(r->family, v, r->saddr);
	v = json_string_value(json_object_get(o, "state"));
	r->state = !v ? 0 : !strcmp(v, "listening") ? PW_FSTATE_LISTENING :
		   !strcmp(v, "bound") ? PW_FSTATE_BOUND : 0;
	r->sport = (uint16_t)json_integer_value(json_object_get(o, "port"));
	r->pid = (uint32_t)json_integer_value(json_object_get(o, "pid"));
	r->uid = (uint32_t)json_integer_value(json_object_get(o, "uid"));
	r->comm = json_string_value(json_object_get(o, "comm"));
	r->netns_cookie = (uint64_t)json_integer_value(json_object_get(o, "netns"));
	if (r->netns_cookie) {
		pw_netns_names_lookup(netns_names(d), r->netns_cookie, &r->netns_ino, &r->netns_name);
		json_object_set_new(o, "netns_inode", json_integer((json_int_t)r->netns_ino));
		json_object_set_new(o, "netns_name", r->netns_name ? json_string(r->netns_name) :
				    json_null());
		/* the name is used below, after the object is serialised */
	}
}

/* A kernel or snapshot event to the watchers, without a JSON tree: one line
 * for root's watchers, a redacted one for other users' (no pid or comm,
 * nothing from other namespaces, no exits), each watcher's filter applied. */
void pw_cmd_watch_event(struct pw_daemon *d, const struct pw_event *ev)
{
	struct pw_proto_event_extra x = { .netns = ev->kind != PW_EV_EXIT };
	struct pw_strbuf sb = { 0 }, pb = { 0 };
	struct pw_filter_rec *r;
	struct watch_ev e = { 0 };
	char when[48];
	bool root, others;

	if (!d->server)
		return;
	root = pw_server_has_watchers(d->server, false);
	others = pw_server_has_watchers(d->server, true);
	if (!root && !others)
		return;
	rfc3339(ev->ts_ns, when, sizeof(when));
	x.ts = when;
	r = &e.rec;
	e.kind = kind_bit(ev->kind == PW_EV_EXIT ? "exit" : pw_event_kind_name(ev->kind));
	e.has_sock = true;
	r->proto = ev->proto;
	r->family = ev->family;
	memcpy(r->saddr, ev->addr, sizeof(r->saddr));
	r->state = ev->state == PW_SOCK_LISTENING ? PW_FSTATE_LISTENING : PW_FSTATE_BOUND;
	r->sport = ev->port;
	r->pid = ev->pid;
	r->uid = ev->uid;
	r->comm = ev->comm;
	r->netns_cookie = ev->netns;
	if (x.netns && ev->netns) {
		pw_netns_names_lookup(netns_names(d), ev->netns, &r->netns_ino, &r->netns_name);
		x.netns_inode = r->netns_ino;
		x.netns_name = r->netns_name;
	}
	if (root) {
		pw_sb_grow(&sb, 320);
		pw_proto_write_event_ex(&sb, ev, &x);
		pw_sb_put(&sb, "\n", 1);
	}
	if (others && ev->kind != PW_EV_EXIT &&
	    (!ev->netns || !d->self_netns || ev->netns == d->self_netns)) {
		struct pw_event pub = *ev;

		pub.pid = 0;
		memset(pub.comm, 0, sizeof(pub.comm));
		pw_sb_grow(&pb, 320);
		pw_proto_write_event_ex(&pb, &pub, &x);
		pw_sb_put(&pb, "\n", 1);
	}
	pw_server_broadcast_if(d->server, sb.oom ? NULL : sb.buf, sb.len,
			       pb.oom ? NULL : pb.buf, pb.len, watch_pred, &e);
	free(sb.buf);
	free(pb.buf);
}

/* One line of obj (malloc'd, ends in \n), NULL on ENOMEM. */
static char *dump_line(json_t *obj, size_t *len)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	if (!s)
		return NULL;
	*len = strlen(s);
	s[(*len)++] = '\n';	/* json_dumps allocated len + 1 bytes: replace the NUL */
	return s;
}

/* What users other than root may see of an event, as ss shows sockets to
 * them: nothing from other network namespaces, no pids or process names,
 * no exits. NULL: nothing. */
static char *redacted_line(struct pw_daemon *d, json_t *obj, size_t *len)
{
	const char *kind = json_string_value(json_object_get(obj, "event"));
	json_t *netns = json_object_get(obj, "netns"), *copy;
	char *s;

	if (!kind || !strcmp(kind, "exit"))
		return NULL;
	if (!json_object_get(obj, "cookie"))
		return dump_line(obj, len);	/* allocation, drops, resync */
	if (json_is_integer(netns) && json_integer_value(netns) && d->self_netns &&
	    (uint64_t)json_integer_value(netns) != d->self_netns)
		return NULL;
	copy = json_deep_copy(obj);
	if (!copy)
		return NULL;
	json_object_set_new(copy, "pid", json_integer(0));
	json_object_set_new(copy, "comm", json_string(""));
	s = dump_line(copy, len);
	json_decref(copy);
	return s;
}

void pw_cmd_watch_broadcast(struct pw_daemon *d, json_t *obj)
{
	struct watch_ev e;
	json_t *ts;
	char when[48], *s, *pub;
	size_t n = 0, pn = 0;

	if (!obj)
		return;
	/* start-up recovery releases before the control socket exists */
	if (!d->server) {
		json_decref(obj);
		return;
	}
	ts = json_object_get(obj, "ts_ns");
	if (json_is_integer(ts)) {
		rfc3339((uint64_t)json_integer_value(ts), when, sizeof(when));
		json_object_set_new(obj, "ts", json_string(when));
	}
	event_rec(d, obj, &e);
	s = pw_server_has_watchers(d->server, false) ? dump_line(obj, &n) : NULL;
	pub = pw_server_has_watchers(d->server, true) ? redacted_line(d, obj, &pn) : NULL;
	pw_server_broadcast_if(d->server, s, n, pub, pn, watch_pred, &e);
	free(s);
	free(pub);
	/* e.rec.comm points into obj */
	json_decref(obj);
}

static json_t *hooks_json(struct pw_daemon *d)
{
	json_t *arr = json_array();
	char *dup, *tok, *save = NULL;

	if (!d->bpf || !arr)
		return arr;
	dup = strdup(pw_bpf_hooks(d->bpf));
	for (tok = dup ? strtok_r(dup, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(tok));
	free(dup);
	return arr;
}

void pw_cmd_status(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct pw_server_stats st;
	json_t *o, *ev;

	(void) args;
	pw_server_stats(d->server, &st);
	ev = json_object();
	for (int k = 1; k < PW_EV_KIND_MAX; k++)
		json_object_set_new(ev, pw_event_kind_name((__u8)k), json_integer((json_int_t)d->events[k]));
	o = json_pack("{s:s, s:s, s:o, s:s, s:o, s:I, s:I, s:I, s:I, s:f, s:{s:I, s:I, s:I, s:I},"
		      " s:I, s:I, s:i}",
		      "mode", d->mode == PW_MODE_BPF ? "bpf" : "polling",
		      "mode_reason", d->mode == PW_MODE_BPF ? "" : d->mode_reason,
		      "hooks", hooks_json(d),
		      "cgroup", d->bpf ? pw_bpf_cgroup(d->bpf) : "",
		      "events", ev,
		      "dropped", (json_int_t)(d->bpf ? pw_bpf_dropped(d->bpf) : 0),
		      "resyncs", (json_int_t)d->resyncs,
		      "snapshots", (json_int_t)d->snapshots,
		      "map_size", (json_int_t)pw_portmap_size(d->map),
		      "uptime_s", (double)(pw_now_ns() - d->started_ns) / 1e9,
		      "latency_ns",
		      "p50", (json_int_t)pw_hist_quantile(&d->latency, 0.50),
		      "p99", (json_int_t)pw_hist_quantile(&d->latency, 0.99),
		      "max", (json_int_t)d->latency.max_ns,
		      "count", (json_int_t)d->latency.count,
		      "clients", (json_int_t)st.clients,
		      "watchers", (json_int_t)st.watchers,
		      "poll_interval_ms", d->mode == PW_MODE_POLLING ? (int)d->opts.poll_interval_ms : 0);
	if (o) {
		/* each missing hook and its fallback, for `status` */
		json_t *dg = json_array();
		char *dup = d->bpf ? strdup(pw_bpf_degraded(d->bpf)) : NULL;
		char *tok, *save = NULL;

		for (tok = dup ? strtok_r(dup, ";", &save) : NULL; tok && dg;
		     tok = strtok_r(NULL, ";", &save))
			json_array_append_new(dg, json_string(tok + strspn(tok, " ")));
		free(dup);
		json_object_set_new(o, "degraded", dg ? dg : json_array());
	}
	if (o)
		json_object_set_new(o, "track_full", json_integer((json_int_t)(d->bpf ?
					pw_bpf_track_full(d->bpf) : 0)));
	if (o)
		pw_wire_server_status(&st, o);
	if (o && d->guard)
		pw_wire_guard_status(d->guard, o);
	if (o && d->allocs)
		pw_wire_allocs_status(d->allocs, d->recovery, o);
	if (o) {
		pw_reload_status(d, o);
		pw_listeners_status(d, o);
	}
	if (!o) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	pw_client_send(c, pw_proto_ok(o));
}

// SPDX-License-Identifier: GPL-2.0
/* The port-map commands: ports, watch, status. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "allocs.h"
#include "bpfwatch.h"
#include "cmd.h"
#include "strbuf.h"
#include "wire.h"

struct ports_filter {
	__u8 proto;		/* 0 = any */
	bool listening;
	__u32 port;		/* 0 = any */
	__u32 pid;		/* 0 = any */
	__u64 netns;		/* 0 = any */
};

static bool match(const struct ports_filter *f, const struct pw_sock *s)
{
	if (f->proto && s->proto != f->proto)
		return false;
	if (f->listening && s->state != PW_SOCK_LISTENING)
		return false;
	if (f->port && s->port != f->port)
		return false;
	if (f->pid && s->pid != f->pid)
		return false;
	if (f->netns && s->netns != f->netns)
		return false;
	return true;
}

static int cmp_sock(const void *a, const void *b)
{
	const struct pw_sock *x = *(const struct pw_sock *const *)a;
	const struct pw_sock *y = *(const struct pw_sock *const *)b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

void pw_cmd_ports(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct ports_filter f = { 0 };
	const struct pw_sock *s, **v;
	const char *proto = NULL;
	struct pw_strbuf sb = { 0 };
	size_t n = 0, it = 0;
	char err[256], *line;

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
	/* narrow by the per-port index when a port is given */
	v = malloc((pw_portmap_size(d->map) + 1) * sizeof(*v));
	if (!v) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	if (f.port) {
		for (s = pw_portmap_port_first(d->map, (__u16)f.port); s;
		     s = pw_portmap_port_next(d->map, s))
			if (match(&f, s))
				v[n++] = s;
	} else {
		while ((s = pw_portmap_next(d->map, &it)))
			if (match(&f, s))
				v[n++] = s;
	}
	qsort(v, n, sizeof(*v), cmp_sock);
	/* 100,000 sockets: ~15 MB of JSON, built without an object tree */
	pw_sb_grow(&sb, n * 180 + 64);
	pw_sb_puts(&sb, PW_PROTO_OK_PREFIX "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			pw_sb_put(&sb, ",", 1);
		pw_wire_sock_write(&sb, v[i]);
	}
	pw_sb_puts(&sb, "]}\n");
	free(v);
	line = pw_sb_steal(&sb);
	pw_client_send(c, line ? line : pw_proto_error(PW_E_INTERNAL, "out of memory"));
}

void pw_cmd_watch(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	(void) args;
	pw_client_send(c, pw_proto_ok(json_pack("{s:b, s:s}", "subscribed", 1, "mode",
						d->mode == PW_MODE_BPF ? "bpf" : "polling")));
	pw_client_set_watch(c, true);
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
	if (o)
		json_object_set_new(o, "track_full", json_integer((json_int_t)(d->bpf ?
					pw_bpf_track_full(d->bpf) : 0)));
	if (o)
		pw_wire_server_status(&st, o);
	if (o && d->allocs)
		pw_wire_allocs_status(d->allocs, d->recovery, o);
	if (!o) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	pw_client_send(c, pw_proto_ok(o));
}

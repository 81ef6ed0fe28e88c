// SPDX-License-Identifier: GPL-2.0
/* The port-map commands: ports, watch, status. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "allocs.h"
#include "bpfwatch.h"
#include "cmd.h"
#include "stream.h"
#include "wire.h"

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
	/* streamed in port order: no listing sits in one buffer */
	pw_stream_ports(d, c, &f);
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
	if (o && d->guard)
		pw_wire_guard_status(d->guard, o);
	if (o && d->allocs)
		pw_wire_allocs_status(d->allocs, d->recovery, o);
	if (!o) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	pw_client_send(c, pw_proto_ok(o));
}

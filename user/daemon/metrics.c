// SPDX-License-Identifier: GPL-2.0
/*
 * Metrics in the Prometheus text exposition format 0.0.4, and their HTTP
 * listener (--metrics-listen) on libmicrohttpd, driven by the event loop
 * (http.c), as the Styxy-compatible API is.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allocs.h"
#include "bpfwatch.h"
#include "config.h"
#include "http.h"
#include "listeners.h"
#include "log.h"
#include "metrics.h"
#include "version.h"

#define HTTP_MAX_CONNS 16
#define HTTP_TIMEOUT_S 5

/* --- rendering ----------------------------------------------------------------- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escape backslash, double quote and newline. */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void histogram(FILE *f, const char *name, const char *help, const struct pw_hist *h)
{
	static const struct {
		const char *le;
		uint64_t ns;
	} b[] = {
		{ "0.0001", 100000 }, { "0.00025", 250000 }, { "0.0005", 500000 },
		{ "0.001", 1000000 }, { "0.0025", 2500000 }, { "0.005", 5000000 },
		{ "0.01", 10000000 }, { "0.025", 25000000 }, { "0.05", 50000000 },
		{ "0.1", 100000000 }, { "0.25", 250000000 }, { "0.5", 500000000 },
		{ "1", 1000000000 },
	};

	family(f, name, "histogram", help);
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		fprintf(f, "%s_bucket{le=\"%s\"} %llu\n", name, b[i].le,
			(unsigned long long)pw_hist_count_le(h, b[i].ns));
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
	fprintf(f, "%s_sum %llu.%09llu\n", name, (unsigned long long)(h->sum_ns / 1000000000u),
		(unsigned long long)(h->sum_ns % 1000000000u));
	fprintf(f, "%s_count %llu\n", name, (unsigned long long)h->count);
}

/* Configured types first, then types only existing allocations still name. */
static size_t type_names(struct pw_daemon *d, const char ***ret)
{
	size_t n = 0, max = d->cfg->n_types + (d->allocs ? d->allocs->n : 0);
	const char **v = calloc(max ? max : 1, sizeof(*v));

	if (!v)
		return 0;
	for (size_t i = 0; i < d->cfg->n_types; i++)
		v[n++] = d->cfg->types[i].name;
	for (size_t i = 0; d->allocs && i < d->allocs->n; i++) {
		const char *t = d->allocs->v[i].a.service_type;
		size_t k;

		for (k = 0; k < n && strcmp(v[k], t); k++)
			;
		if (k == n)
			v[n++] = t;
	}
	*ret = v;
	return n;
}

static void allocations(FILE *f, struct pw_daemon *d)
{
	const char **types = NULL;
	size_t nt = type_names(d, &types);

	family(f, "portwatch_allocations", "gauge",
	       "Allocations by state and service type.");
	for (size_t t = 0; t < nt; t++) {
		unsigned by_state[PW_ALLOC_STATE_MAX];

		pw_allocs_count(d->allocs, types[t], by_state);
		for (int s = 0; s < PW_ALLOC_STATE_MAX; s++) {
			fprintf(f, "portwatch_allocations{state=\"%s\",service_type=\"",
				pw_alloc_state_name(s));
			label_value(f, types[t]);
			fprintf(f, "\"} %u\n", by_state[s]);
		}
	}
	free(types);
}

char *pw_metrics_render(struct pw_daemon *d)
{
	static const char *const kinds[PW_EV_KIND_MAX] = {
		[PW_EV_BIND] = "bind", [PW_EV_CLOSE] = "close", [PW_EV_LISTEN] = "listen",
		[PW_EV_UNLISTEN] = "unlisten", [PW_EV_EXIT] = "exit",
	};
	static const struct pw_allocs_metrics none;
	const struct pw_allocs_metrics *m = d->allocs ? &d->allocs->m : &none;
	uint64_t up_ms = (pw_now_ns() - d->started_ns) / 1000000u;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	family(f, "portwatch_events_total", "counter",
	       "Socket and process events applied to the port map, by kind.");
	for (int k = 0; k < PW_EV_KIND_MAX; k++)
		if (kinds[k])
			fprintf(f, "portwatch_events_total{kind=\"%s\"} %llu\n", kinds[k],
				(unsigned long long)d->events[k]);
	counter(f, "portwatch_ringbuf_dropped_total",
		"Events the BPF programs could not put in the ring buffer.",
		d->bpf ? pw_bpf_dropped(d->bpf) : 0);
	counter(f, "portwatch_bpf_track_full_total",
		"Sockets or processes the BPF maps had no room to track (their close or exit unseen).",
		d->bpf ? pw_bpf_track_full(d->bpf) : 0);
	counter(f, "portwatch_resyncs_total", "Snapshot resyncs after ring buffer drops.",
		d->resyncs);
	counter(f, "portwatch_snapshots_total", "Socket snapshots taken.", d->snapshots);
	family(f, "portwatch_portmap_sockets", "gauge", "Sockets in the port map.");
	fprintf(f, "portwatch_portmap_sockets %zu\n", d->map ? pw_portmap_size(d->map) : 0);
	family(f, "portwatch_mode", "gauge",
	       "How the kernel is watched: 1 for the mode in use, 0 for the other.");
	fprintf(f, "portwatch_mode{mode=\"bpf\"} %d\nportwatch_mode{mode=\"polling\"} %d\n",
		d->mode == PW_MODE_BPF, d->mode == PW_MODE_POLLING);
	family(f, "portwatch_build_info", "gauge", "The daemon's version and watch mode; always 1.");
	fprintf(f, "portwatch_build_info{version=\"%s\",mode=\"%s\"} 1\n", pw_version,
		d->mode == PW_MODE_BPF ? "bpf" : "polling");
	family(f, "portwatch_uptime_seconds", "gauge", "Seconds since the daemon started.");
	fprintf(f, "portwatch_uptime_seconds %llu.%03llu\n", (unsigned long long)(up_ms / 1000),
		(unsigned long long)(up_ms % 1000));
	if (d->cfg)
		allocations(f, d);
	counter(f, "portwatch_allocations_total", "Allocations made.", m->allocated_total);
	counter(f, "portwatch_releases_total", "Allocations released.", m->released_total);
	counter(f, "portwatch_refusals_total", "Allocation requests refused.", m->refused_total);
	counter(f, "portwatch_conflicts_total",
		"Port conflicts: test binds that failed and allocations found conflicted.",
		m->conflicts_total);
	counter(f, "portwatch_health_checks_total", "Active health check results.",
		m->health_checks_total);
	counter(f, "portwatch_health_checks_healthy_total", "Active health check results: healthy.",
		m->health_checks_healthy);
	counter(f, "portwatch_health_checks_unhealthy_total",
		"Active health check results: unhealthy.",
		m->health_checks_unhealthy);
	counter(f, "portwatch_stale_allocations_cleaned_total",
		"Stale allocations released automatically.", m->stale_cleaned_total);
	counter(f, "portwatch_storage_errors_total", "State database writes that failed.",
		m->storage_errors_total);
	histogram(f, "portwatch_detection_latency_seconds",
		  "Owner exit (kernel timestamp) to the allocation marked stale.",
		  &m->detect_latency);
	histogram(f, "portwatch_event_latency_seconds",
		  "Kernel event timestamp to the port map updated (binds, listens and exits: a release carries no timestamp).", &d->latency);
	pw_listeners_metrics(d, f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* --- HTTP (http.c: libmicrohttpd on the loop) ------------------------------------ */

static void serve(void *ctx, struct pw_http_req *rq)
{
	struct pw_daemon *d = ctx;
	char *text;

	if (strcmp(pw_http_path(rq), "/metrics")) {
		pw_http_reply(rq, 404, "text/plain; charset=utf-8",
			      strdup("not found: try GET /metrics\n"));
		return;
	}
	if (strcmp(pw_http_method(rq), "GET") && strcmp(pw_http_method(rq), "HEAD")) {
		pw_http_reply(rq, 405, "text/plain; charset=utf-8",
			      strdup("method not allowed: try GET /metrics\n"));
		return;
	}
	text = pw_metrics_render(d);
	if (!text)
		pw_http_reply(rq, 500, "text/plain; charset=utf-8", strdup("out of memory\n"));
	else
		pw_http_reply(rq, 200, PW_METRICS_CTYPE, text);
}

int pw_metrics_http_start(struct pw_daemon *d, const char *addr)
{
	static const struct pw_http_opts o = { .max_body = 4096, .max_conns = HTTP_MAX_CONNS,
					       .timeout_s = HTTP_TIMEOUT_S, .mem_limit = 4096,
					       .what = "--metrics-listen" };
	int err = pw_http_new(&d->metrics_http, d->loop, addr, &o, serve, d);

	if (!err)
		pw_info("metrics: serving http://%s/metrics (port %u)", addr,
			pw_http_port(d->metrics_http));
	return err;
}

void pw_metrics_http_stop(struct pw_daemon *d)
{
	pw_http_free(d->metrics_http);
	d->metrics_http = NULL;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Metrics in the Prometheus text exposition format 0.0.4, and a tiny
 * HTTP/1.0 server on the event loop that serves them (--metrics-listen):
 * nonblocking accept, a bounded request buffer and a deadline per
 * connection, one response, close.
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
#include "listeners.h"
#include "log.h"
#include "metrics.h"

#define HTTP_MAX_CONNS 16
#define HTTP_REQ_MAX 4096
#define HTTP_TIMEOUT_MS 5000

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
	counter(f, "portwatch_health_checks_healthy", "Active health check results: healthy.",
		m->health_checks_healthy);
	counter(f, "portwatch_health_checks_unhealthy", "Active health check results: unhealthy.",
		m->health_checks_unhealthy);
	counter(f, "portwatch_stale_allocations_cleaned_total",
		"Stale allocations released automatically.", m->stale_cleaned_total);
	counter(f, "portwatch_storage_errors_total", "State database writes that failed.",
		m->storage_errors_total);
	histogram(f, "portwatch_detection_latency_seconds",
		  "Owner exit (kernel timestamp) to the allocation marked stale.",
		  &m->detect_latency);
	histogram(f, "portwatch_event_latency_seconds",
		  "Kernel event timestamp to the port map updated.", &d->latency);
	pw_listeners_metrics(d, f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* --- HTTP -------------------------------------------------------------------- */

struct mconn {
	struct pw_metrics_http *h;
	struct pw_io io;
	struct mconn *next;
	uint64_t deadline_ms;
	char *out;			/* the response, once the request is in */
	size_t out_len, out_off;
	size_t req_len;
	char req[HTTP_REQ_MAX];
};

struct pw_metrics_http {
	struct pw_daemon *d;
	struct pw_io lio;
	struct pw_io timer;		/* the earliest connection deadline */
	struct mconn *conns;
	unsigned n;
};

static void arm_timer(struct pw_metrics_http *h)
{
	uint64_t first = 0, now = pw_now_ms();

	for (struct mconn *m = h->conns; m; m = m->next)
		if (!first || m->deadline_ms < first)
			first = m->deadline_ms;
	(void) pw_timerfd_arm(h->timer.fd, !first ? 0 : first > now ? first - now : 1, 0);
}

static void conn_close(struct mconn *m)
{
	struct pw_metrics_http *h = m->h;
	struct mconn **p;

	for (p = &h->conns; *p && *p != m; p = &(*p)->next)
		;
	if (*p)
		*p = m->next;
	h->n--;
	pw_loop_del(h->d->loop, &m->io);
	close(m->io.fd);
	free(m->out);
	m->out = NULL;
	/* cannot defer: leak rather than free memory an event may point at */
	(void) pw_loop_defer_free(h->d->loop, free, m);
}

/* Send what is left; the connection closes once all is out. */
static void conn_flush(struct mconn *m)
{
	while (m->out_off < m->out_len) {
		ssize_t r = send(m->io.fd, m->out + m->out_off, m->out_len - m->out_off,
				 MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0)
			break;
		m->out_off += (size_t)r;
	}
	conn_close(m);
}

static void respond(struct mconn *m, int status, const char *reason, const char *body)
{
	int n = asprintf(&m->out, "HTTP/1.0 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s", status, reason,
			 status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
				       : "text/plain; charset=utf-8", strlen(body), body);

	if (n < 0) {
		m->out = NULL;
		conn_close(m);
		return;
	}
	m->out_len = (size_t)n;
	if (pw_loop_mod(m->h->d->loop, &m->io, EPOLLOUT)) {
		conn_close(m);
		return;
	}
	conn_flush(m);
}

/* The request line: "GET /metrics HTTP/1.x"; headers are read, not used. */
static void handle_request(struct mconn *m)
{
	char *line = m->req, *sp1, *sp2, *end = line + strcspn(line, "\r\n");
	char *text;

	*end = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/", 5)) {
		respond(m, 400, "Bad Request", "bad request\n");
		return;
	}
	*sp1 = *sp2 = '\0';
	sp1[1 + strcspn(sp1 + 1, "?")] = '\0';	/* the query string is ignored */
	if (strcmp(line, "GET") || strcmp(sp1 + 1, "/metrics")) {
		respond(m, 404, "Not Found", "not found: try GET /metrics\n");
		return;
	}
	text = pw_metrics_render(m->h->d);
	if (!text) {
		respond(m, 500, "Internal Server Error", "out of memory\n");
		return;
	}
	respond(m, 200, "OK", text);
	free(text);
}

static int on_conn(struct pw_io *io, uint32_t events)
{
	struct mconn *m = io->data;
	ssize_t r;

	if (m->out) {
		conn_flush(m);
		return 0;
	}
	r = read(io->fd, m->req + m->req_len, sizeof(m->req) - 1 - m->req_len);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		if (events & (EPOLLERR | EPOLLHUP))
			conn_close(m);
		return 0;
	}
	if (r <= 0) {
		conn_close(m);	/* the client went away before asking */
		return 0;
	}
	m->req_len += (size_t)r;
	m->req[m->req_len] = '\0';
	if (strstr(m->req, "\r\n\r\n") || strstr(m->req, "\n\n"))
		handle_request(m);
	else if (m->req_len == sizeof(m->req) - 1)
		respond(m, 400, "Bad Request", "request too long\n");
	return 0;
}

static int on_accept(struct pw_io *io, uint32_t events)
{
	struct pw_metrics_http *h = io->data;
	bool added = false;

	(void) events;
	for (;;) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct mconn *m;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pw_debug("metrics: accept: %s", strerror(errno));
			break;
		}
		/* bounded: a scraper needs one connection at a time */
		m = h->n < HTTP_MAX_CONNS ? calloc(1, sizeof(*m)) : NULL;
		if (!m) {
			close(fd);
			continue;
		}
		m->h = h;
		m->io = (struct pw_io){ .fd = fd, .fn = on_conn, .data = m };
		m->deadline_ms = pw_now_ms() + HTTP_TIMEOUT_MS;
		if (pw_loop_add(h->d->loop, &m->io, EPOLLIN)) {
			close(fd);
			free(m);
			continue;
		}
		m->next = h->conns;
		h->conns = m;
		h->n++;
		added = true;
	}
	if (added)
		arm_timer(h);
	return 0;
}

static int on_timer(struct pw_io *io, uint32_t events)
{
	struct pw_metrics_http *h = io->data;
	uint64_t now = pw_now_ms();
	struct mconn *m, *next;

	(void) events;
	pw_timerfd_ack(io->fd);
	for (m = h->conns; m; m = next) {
		next = m->next;
		if (m->deadline_ms <= now)
			conn_close(m);
	}
	arm_timer(h);
	return 0;
}

/* "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT" (loopback). 0 or -EINVAL. */
static int split_addr(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon, *h = s;
	size_t hl;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl >= hostlen || strlen(colon + 1) >= portlen || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -EINVAL;
	if (hl)
		snprintf(host, hostlen, "%.*s", (int)hl, h);
	else
		snprintf(host, hostlen, "127.0.0.1");
	snprintf(port, portlen, "%s", colon + 1);
	return atoi(port) >= 1 && atoi(port) <= 65535 ? 0 : -EINVAL;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static int listen_on(const struct addrinfo *ai)
{
	int fd, one = 1, err;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, HTTP_MAX_CONNS)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void http_free(struct pw_metrics_http *h)
{
	while (h->conns)
		conn_close(h->conns);
	if (h->lio.fd >= 0) {
		pw_loop_del(h->d->loop, &h->lio);
		close(h->lio.fd);
	}
	if (h->timer.fd >= 0) {
		pw_loop_del(h->d->loop, &h->timer);
		close(h->timer.fd);
	}
	/* called outside event dispatch (start-up, shutdown): free now */
	free(h);
}

int pw_metrics_http_start(struct pw_daemon *d, const char *addr)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct pw_metrics_http *h;
	struct addrinfo *ai = NULL;
	char host[256], port[8];
	int err, fd;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port))) {
		pw_err("--metrics-listen %s: expected ADDR:PORT, [ADDR]:PORT or :PORT", addr);
		return -EINVAL;
	}
	err = getaddrinfo(host, port, &hints, &ai);
	if (err) {
		pw_err("--metrics-listen %s: %s", addr, gai_strerror(err));
		return -EINVAL;
	}
	fd = listen_on(ai);
	if (fd < 0) {
		freeaddrinfo(ai);
		pw_err("--metrics-listen %s: %s", addr, strerror(-fd));
		return fd;
	}
	if (!is_loopback(ai->ai_addr))
		pw_warn("--metrics-listen %s is not a loopback address: metrics are readable "
			"from the network", addr);
	freeaddrinfo(ai);
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		pw_err("--metrics-listen: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	h->d = d;
	h->lio = (struct pw_io){ .fd = fd, .fn = on_accept, .data = h };
	h->timer = (struct pw_io){ .fd = pw_timerfd_new(), .fn = on_timer, .data = h };
	err = h->timer.fd < 0 ? h->timer.fd : 0;
	if (!err)
		err = pw_loop_add(d->loop, &h->timer, EPOLLIN);
	if (!err)
		err = pw_loop_add(d->loop, &h->lio, EPOLLIN);
	if (err) {
		http_free(h);
		pw_err("--metrics-listen %s: %s", addr, strerror(-err));
		return err;
	}
	d->metrics_http = h;
	pw_info("metrics: serving http://%s%s%s:%s/metrics", strchr(host, ':') ? "[" : "", host,
		strchr(host, ':') ? "]" : "", port);
	return 0;
}

void pw_metrics_http_stop(struct pw_daemon *d)
{
	if (!d->metrics_http)
		return;
	http_free(d->metrics_http);
	d->metrics_http = NULL;
}

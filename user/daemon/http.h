/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP listeners on the event loop, by libmicrohttpd in external-select mode:
 * MHD's epoll fd and a timerfd for its timeouts are sources of our loop, so
 * every handler runs on the loop thread and may touch the daemon's state.
 * One handler per listener sees whole requests (headers, query, body up to a
 * limit) and answers once, at once or later (the connection is suspended
 * meanwhile). Serves /metrics and the Styxy-compatible API.
 */
#ifndef PW_HTTP_H
#define PW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct pw_loop;
struct pw_http;
struct pw_http_req;

/* Called once per complete request; must lead to exactly one
 * pw_http_reply(), during the call or later. */
typedef void (*pw_http_fn)(void *ctx, struct pw_http_req *rq);

struct pw_http_opts {
	size_t max_body;		/* larger bodies get 413 without the handler */
	unsigned max_conns;
	unsigned timeout_s;		/* idle connections */
	size_t mem_limit;		/* per connection (headers, request line); 0: 16 KiB */
	const char *what;		/* for log lines: "--metrics-listen" */
};

/* Listen on addr ("ADDR:PORT", "[V6]:PORT", ":PORT" = loopback). 0 or
 * -errno, logged (naming opts->what and addr). */
int pw_http_new(struct pw_http **ret, struct pw_loop *loop, const char *addr,
		const struct pw_http_opts *opts, pw_http_fn fn, void *ctx);
/* Pending replies are answered 503 first. NULL ok. */
void pw_http_free(struct pw_http *h);
/* The bound port (for ":0"). */
unsigned pw_http_port(const struct pw_http *h);

const char *pw_http_method(const struct pw_http_req *rq);
const char *pw_http_path(const struct pw_http_req *rq);		/* without the query */
const char *pw_http_query(const struct pw_http_req *rq, const char *key);	/* NULL if absent */
const char *pw_http_header(const struct pw_http_req *rq, const char *name);	/* NULL if absent */
const char *pw_http_body(const struct pw_http_req *rq, size_t *len);	/* NUL-terminated */
/* The peer's credentials are not known over TCP: its address, for logs. */
const char *pw_http_peer(const struct pw_http_req *rq);

/* Answer (takes body, malloc'd, may be NULL for empty). */
void pw_http_reply(struct pw_http_req *rq, unsigned status, const char *ctype, char *body);
/* Answer with a JSON document (steals obj; NULL: 500). */
void pw_http_reply_json(struct pw_http_req *rq, unsigned status, json_t *obj);

/* "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT" (loopback). 0 or -EINVAL. */
int pw_http_split_addr(const char *s, char *host, size_t hostlen, char *port, size_t portlen);

#endif

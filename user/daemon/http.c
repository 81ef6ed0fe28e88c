// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP listeners (see http.h): libmicrohttpd with MHD_USE_EPOLL and no
 * thread of its own. Its epoll fd is a source of our loop; after each
 * MHD_run() the timerfd is armed with MHD_get_timeout(). A reply given after
 * the handler returned resumes the suspended connection, which MHD's
 * inter-thread channel (in its epoll set) reports on the loop.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "loop.h"

struct pw_http_req {
	struct pw_http *h;
	struct MHD_Connection *conn;
	struct pw_http_req *prev, *next;	/* requests waiting for a late reply */
	const char *method;
	char *path;
	char *body;
	size_t body_len;
	bool too_big;
	bool handled;		/* the handler has been called */
	bool suspended;
	bool replied;
	unsigned status;
	struct MHD_Response *resp;
	char peer[64];
};

struct pw_http {
	struct MHD_Daemon *mhd;
	struct pw_loop *loop;
	struct pw_io epoll_io;
	struct pw_io timer_io;
	struct pw_http_opts o;
	pw_http_fn fn;
	void *ctx;
	struct pw_http_req *waiting;
	unsigned port;
	bool stopping;
};

/* --- the loop side ---------------------------------------------------------- */

static void run_mhd(struct pw_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	(void) MHD_run(h->mhd);
	if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
		(void) pw_timerfd_arm(h->timer_io.fd, ms ? ms : 1, 0);
	else
		(void) pw_timerfd_arm(h->timer_io.fd, 0, 0);
}

static int on_epoll(struct pw_io *io, uint32_t events)
{
	(void) events;
	run_mhd(io->data);
	return 0;
}

static int on_timer(struct pw_io *io, uint32_t events)
{
	(void) events;
	(void) pw_timerfd_ack(io->fd);
	run_mhd(io->data);
	return 0;
}

/* --- requests ------------------------------------------------------------------ */

const char *pw_http_method(const struct pw_http_req *rq)
{
	return rq->method;
}

const char *pw_http_path(const struct pw_http_req *rq)
{
	return rq->path;
}

const char *pw_http_query(const struct pw_http_req *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *pw_http_header(const struct pw_http_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *pw_http_body(const struct pw_http_req *rq, size_t *len)
{
	if (len)
		*len = rq->body_len;
	return rq->body ? rq->body : "";
}

const char *pw_http_peer(const struct pw_http_req *rq)
{
	return rq->peer;
}

void pw_http_reply(struct pw_http_req *rq, unsigned status, const char *ctype, char *body)
{
	size_t len = body ? strlen(body) : 0;

	if (rq->replied) {
		free(body);
		return;
	}
	rq->replied = true;
	rq->status = status;
	rq->resp = MHD_create_response_from_buffer(len, body ? body : (void *)"",
						   body ? MHD_RESPMEM_MUST_FREE
							: MHD_RESPMEM_PERSISTENT);
	if (!rq->resp)
		free(body);
	else if (ctype)
		(void) MHD_add_response_header(rq->resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	pw_debug("http: reply %u to %s %s%s", status, rq->method, rq->path,
		 rq->suspended ? " (resuming)" : "");
	if (rq->suspended) {
		struct pw_http *h = rq->h;

		rq->suspended = false;
		if (rq->prev)
			rq->prev->next = rq->next;
		else
			h->waiting = rq->next;
		if (rq->next)
			rq->next->prev = rq->prev;
		rq->prev = rq->next = NULL;
		MHD_resume_connection(rq->conn);
		/* MHD's own wake-up does not reach its epoll fd reliably in
		 * this mode: run it on the next loop turn ourselves */
		(void) pw_timerfd_arm(h->timer_io.fd, 1, 0);
	}
}

void pw_http_reply_json(struct pw_http_req *rq, unsigned status, json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (!s) {
		pw_http_reply(rq, 500, "application/json",
			      strdup("{\"success\":false,\"error\":\"out of memory\"}"));
		return;
	}
	pw_http_reply(rq, status, "application/json; charset=utf-8", s);
}

static enum MHD_Result queue(struct pw_http_req *rq)
{
	enum MHD_Result r;

	if (!rq->resp)
		return MHD_NO;	/* out of memory: MHD closes the connection */
	r = MHD_queue_response(rq->conn, rq->status, rq->resp);
	MHD_destroy_response(rq->resp);
	rq->resp = NULL;
	return r;
}

static void peer_name(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
			  sizeof(host));
	snprintf(buf, len, "%s", host);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct pw_http *h = cls;
	struct pw_http_req *rq = *con_cls;

	(void) version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->h = h;
		rq->conn = conn;
		rq->method = method;
		rq->path = strdup(url);
		if (!rq->path) {
			free(rq);
			return MHD_NO;
		}
		peer_name(conn, rq->peer, sizeof(rq->peer));
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (rq->too_big || rq->body_len + n > h->o.max_body) {
			rq->too_big = true;
			return MHD_YES;
		}
		{
			char *b = realloc(rq->body, rq->body_len + n + 1);

			if (!b)
				return MHD_NO;
			memcpy(b + rq->body_len, upload, n);
			rq->body = b;
			rq->body_len += n;
			b[rq->body_len] = '\0';
		}
		return MHD_YES;
	}
	if (rq->replied)
		return queue(rq);	/* resumed after a late reply */
	if (rq->handled)
		return MHD_YES;		/* still waiting (should not be called) */
	rq->handled = true;
	if (rq->too_big) {
		pw_http_reply_json(rq, 413, json_pack("{s:b, s:s}", "success", 0, "error",
						      "request body too large"));
		return queue(rq);
	}
	if (h->stopping) {
		pw_http_reply(rq, 503, "text/plain", strdup("shutting down\n"));
		return queue(rq);
	}
	pw_debug("http: %s %s from %s", method, rq->path, rq->peer);
	h->fn(h->ctx, rq);
	if (rq->replied)
		return queue(rq);
	rq->suspended = true;
	rq->next = h->waiting;
	if (h->waiting)
		h->waiting->prev = rq;
	h->waiting = rq;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct pw_http_req *rq = *con_cls;

	(void) cls;
	(void) conn;
	(void) toe;
	if (!rq)
		return;
	if (rq->resp)
		MHD_destroy_response(rq->resp);
	free(rq->path);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	pw_debug("%s: libmicrohttpd: %s", ((struct pw_http *)cls)->o.what, buf);
}

/* --- set-up -------------------------------------------------------------------- */

int pw_http_split_addr(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
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
	return atoi(port) >= 0 && atoi(port) <= 65535 ? 0 : -EINVAL;
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

static int listen_on(const struct addrinfo *ai, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1, err;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int pw_http_new(struct pw_http **ret, struct pw_loop *loop, const char *addr,
		const struct pw_http_opts *opts, pw_http_fn fn, void *ctx)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	const union MHD_DaemonInfo *di;
	struct addrinfo *ai = NULL;
	struct pw_http *h;
	char host[256], port[8];
	int err, fd;

	if (pw_http_split_addr(addr, host, sizeof(host), port, sizeof(port))) {
		pw_err("%s %s: expected ADDR:PORT, [ADDR]:PORT or :PORT", opts->what, addr);
		return -EINVAL;
	}
	err = getaddrinfo(host, port, &hints, &ai);
	if (err) {
		pw_err("%s %s: %s", opts->what, addr, gai_strerror(err));
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	fd = listen_on(ai, &h->port);
	if (fd < 0) {
		freeaddrinfo(ai);
		free(h);
		pw_err("%s %s: %s", opts->what, addr, strerror(-fd));
		return fd;
	}
	if (!is_loopback(ai->ai_addr))
		pw_warn("%s %s is not a loopback address: reachable from the network", opts->what,
			addr);
	freeaddrinfo(ai);
	h->loop = loop;
	h->o = *opts;
	h->fn = fn;
	h->ctx = ctx;
	h->epoll_io.fd = h->timer_io.fd = -1;
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, on_request, h,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, opts->max_conns,
				  MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				  (size_t)(opts->mem_limit ? opts->mem_limit : 16384),
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				  MHD_OPTION_END);
	if (!h->mhd) {
		close(fd);
		free(h);
		pw_err("%s %s: libmicrohttpd did not start", opts->what, addr);
		return -EIO;
	}
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	h->epoll_io = (struct pw_io){ .fd = di ? di->epoll_fd : -1, .fn = on_epoll, .data = h };
	err = h->epoll_io.fd < 0 ? -EIO : pw_loop_add(loop, &h->epoll_io, EPOLLIN);
	if (!err)
		err = pw_loop_add_timer(loop, &h->timer_io, on_timer, h);
	if (err) {
		pw_http_free(h);
		pw_err("%s %s: %s", opts->what, addr, strerror(-err));
		return err;
	}
	*ret = h;
	return 0;
}

unsigned pw_http_port(const struct pw_http *h)
{
	return h->port;
}

void pw_http_free(struct pw_http *h)
{
	if (!h)
		return;
	h->stopping = true;
	/* MHD wants every suspended connection resumed before it stops */
	while (h->waiting)
		pw_http_reply(h->waiting, 503, "text/plain", strdup("shutting down\n"));
	if (h->epoll_io.fd >= 0)
		pw_loop_del(h->loop, &h->epoll_io);	/* MHD owns and closes it */
	pw_loop_close_io(h->loop, &h->timer_io);
	if (h->mhd) {
		(void) MHD_run(h->mhd);
		MHD_stop_daemon(h->mhd);
	}
	free(h);
}

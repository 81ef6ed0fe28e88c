// SPDX-License-Identifier: GPL-2.0
/*
 * Active health checks. Every checked allocation has one timerfd: while idle
 * it is armed for the next round, while an attempt is in flight for that
 * attempt's deadline. A round is one attempt plus up to `retries` more, run
 * back to back; only its final result reaches the state machine.
 *
 * Nothing here blocks: TCP connects are nonblocking sockets on the loop,
 * HTTP goes through one curl multi handle driven by the loop (socket and
 * timer callbacks), commands are spawned children reaped from SIGCHLD.
 *
 * Allocations move in memory, so a check knows its allocation by id. Every
 * struct holding a struct pw_io is freed with pw_loop_defer_free(): events
 * of the current batch may still point at it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>

#include "allocs.h"
#include "checks.h"
#include "config.h"
#include "log.h"

extern char **environ;

/* curl enforces timeout_ms itself; our timer only catches a stuck transfer */
#define HTTP_BACKSTOP_MS 100

struct pw_checks {
	struct pw_allocs *as;
	CURLM *multi;			/* NULL when no service type checks over HTTP */
	struct pw_io curl_timer;
	bool curl_global;
};

/* A socket curl asked the loop to watch. */
struct curl_sock {
	struct pw_checks *k;
	struct pw_io io;
};

/* A TCP connect in flight: its own allocation, so a stale event of a closed
 * attempt can never be taken for the next attempt's. */
struct tcp_conn {
	struct pw_check_rt *c;
	struct pw_io io;
	bool v6;
};

struct pw_check_rt {
	struct pw_allocs *as;
	int64_t id;			/* the allocation */
	uint16_t port;
	int kind;			/* PW_CHECK_* */
	char *target;			/* http: the URL; command: the command line */
	int interval_ms, timeout_ms, retries;
	struct pw_io timer;

	/* the round in flight */
	bool running;
	int attempt;			/* 0 for the first, up to retries */
	uint64_t round_start_ms;
	uint64_t attempt_start_ns;
	struct tcp_conn *tcp;
	CURL *easy;			/* kept between attempts */
	bool easy_added;
	pid_t child;			/* process group leader, 0 when none */
	bool ok;			/* result of the last attempt */
	char msg[96];
	char errbuf[CURL_ERROR_SIZE];
};

static int set_result(struct pw_check_rt *c, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int set_result(struct pw_check_rt *c, bool ok, const char *fmt, ...)
{
	va_list ap;

	c->ok = ok;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return 0;
}

static unsigned long long elapsed_ms(const struct pw_check_rt *c)
{
	return (unsigned long long)((pw_now_ns() - c->attempt_start_ns) / 1000000u);
}

static void defer_free(struct pw_allocs *as, void *p)
{
	/* cannot defer: leak rather than free memory an event may point at */
	(void) pw_loop_defer_free(as->env.loop, free, p);
}

static void tcp_close(struct pw_check_rt *c)
{
	struct tcp_conn *t = c->tcp;

	if (!t)
		return;
	pw_loop_del(c->as->env.loop, &t->io);
	close(t->io.fd);
	c->tcp = NULL;
	defer_free(c->as, t);
}

/* Release what the attempt in flight holds. A child is killed with its
 * whole group and left for the SIGCHLD handler, which no longer matches it. */
static void stop_attempt(struct pw_check_rt *c)
{
	tcp_close(c);
	if (c->easy_added) {
		curl_multi_remove_handle(c->as->checks->multi, c->easy);
		c->easy_added = false;
	}
	if (c->child > 0) {
		(void) kill(-c->child, SIGKILL);
		c->child = 0;
	}
}

/* The round's final result: schedule the next round, then tell the state
 * machine. c is not touched once pw_allocs_apply() ran: it may release
 * allocations, and with them checks. */
static void round_done(struct pw_check_rt *c)
{
	struct pw_allocs *as = c->as;
	uint64_t now = pw_now_ms(), next = c->round_start_ms + (uint64_t)c->interval_ms;
	struct pw_sm_verdict v;
	struct pw_alloc_rt *r;
	bool ok = c->ok;

	c->running = false;
	(void) pw_timerfd_arm(c->timer.fd, next > now ? next - now : 1, 0);
	r = pw_allocs_by_id(as, c->id);
	if (!r || r->check != c)
		return;
	snprintf(r->last_check, sizeof(r->last_check), "%s", c->msg);
	as->m.health_checks_total++;
	if (ok)
		as->m.health_checks_healthy++;
	else
		as->m.health_checks_unhealthy++;
	pw_debug("check allocation %lld port %u: %s (%s)", (long long)c->id, c->port,
		 ok ? "healthy" : "unhealthy", c->msg);
	pw_sm_check(&r->sm, &as->smp, ok, now, &v);
	pw_allocs_apply(as, r, &v);
}

/* --- TCP ------------------------------------------------------------------ */

static int tcp_connect(struct pw_check_rt *c, bool v6);

static bool v6_unusable(int err)
{
	return err == ECONNREFUSED || err == EADDRNOTAVAIL || err == EAFNOSUPPORT ||
	       err == ENETUNREACH;
}

/* Connect failed with err: fall back to ::1 once, else the result. */
static int tcp_failed(struct pw_check_rt *c, bool v6, int err)
{
	if (!v6 && err == ECONNREFUSED)
		return tcp_connect(c, true);
	if (v6 && v6_unusable(err))
		return set_result(c, false, "connect refused");
	return set_result(c, false, "connect: %s", strerror(err));
}

static void attempt_finished(struct pw_check_rt *c);

/* With nothing listening on a port inside the ephemeral range, the kernel
 * may pick that same port as the source: TCP's simultaneous open then
 * "connects" the socket to itself. That is no service. */
static bool self_connected(int fd, uint16_t port)
{
	struct sockaddr_in6 sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &len))
		return false;
	/* sin_port and sin6_port sit at the same offset */
	return ntohs(sa.sin6_port) == port;
}

static int on_tcp(struct pw_io *io, uint32_t events)
{
	struct tcp_conn *t = io->data;
	struct pw_check_rt *c = t->c;
	socklen_t len = sizeof(int);
	bool v6 = t->v6;
	int err = 0;

	(void) events;
	if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (!err && self_connected(io->fd, c->port))
		err = ECONNREFUSED;
	tcp_close(c);
	if (!err)
		set_result(c, true, "connect ok in %llu ms", elapsed_ms(c));
	else if (tcp_failed(c, v6, err) > 0)
		return 0;	/* ::1 in flight, under the same deadline */
	attempt_finished(c);
	return 0;
}

/* 1 when in flight, 0 with the result set. */
static int tcp_connect(struct pw_check_rt *c, bool v6)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(c->port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(c->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct tcp_conn *t;
	int fd, r, err;

	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return v6 ? set_result(c, false, "connect refused")
			  : set_result(c, false, "socket: %s", strerror(errno));
	r = v6 ? connect(fd, (struct sockaddr *)&s6, sizeof(s6))
	       : connect(fd, (struct sockaddr *)&s4, sizeof(s4));
	if (r == 0 && self_connected(fd, c->port)) {
		close(fd);
		return tcp_failed(c, v6, ECONNREFUSED);
	}
	if (r == 0) {
		close(fd);
		return set_result(c, true, "connect ok in %llu ms", elapsed_ms(c));
	}
	err = errno;
	if (err != EINPROGRESS) {
		close(fd);
		return tcp_failed(c, v6, err);
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return set_result(c, false, "connect: %s", strerror(ENOMEM));
	}
	*t = (struct tcp_conn){ .c = c, .v6 = v6,
				.io = { .fd = fd, .fn = on_tcp, .data = t } };
	err = pw_loop_add(c->as->env.loop, &t->io, EPOLLOUT);
	if (err) {
		close(fd);
		free(t);
		return set_result(c, false, "connect: %s", strerror(-err));
	}
	c->tcp = t;
	return 1;
}

/* --- HTTP, through the curl multi handle ----------------------------------- */

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void) ptr;
	(void) userdata;
	return size * nmemb;
}

/* Sockets curl opens must not leak into command checks' children. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	int fd;

	(void) clientp;
	(void) purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int http_setup(struct pw_check_rt *c)
{
	CURL *e = curl_easy_init();

	if (!e)
		return -ENOMEM;
	if (curl_easy_setopt(e, CURLOPT_URL, c->target) ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, c) ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms) ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body) ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket) ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf) ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "portwatch-health-check") ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
#endif
	    /* the local form goes straight to the service, never via a proxy */
	    (!strncmp(c->target, "http://127.0.0.1:", 17) &&
	     curl_easy_setopt(e, CURLOPT_NOPROXY, "*"))) {
		curl_easy_cleanup(e);
		return -EINVAL;
	}
	c->easy = e;
	return 0;
}

static int http_start(struct pw_check_rt *c)
{
	CURLMcode mc;
	int err;

	if (!c->easy) {
		err = http_setup(c);
		if (err)
			return set_result(c, false, "http: %s", strerror(-err));
	}
	c->errbuf[0] = '\0';
	mc = curl_multi_add_handle(c->as->checks->multi, c->easy);
	if (mc != CURLM_OK)
		return set_result(c, false, "http: %s", curl_multi_strerror(mc));
	c->easy_added = true;
	return 1;
}

static void http_done(struct pw_check_rt *c, CURLcode res)
{
	long code = 0;

	if (res == CURLE_OK) {
		(void) curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
		set_result(c, code >= 200 && code < 400, "http %ld in %llu ms", code,
			   elapsed_ms(c));
	} else if (res == CURLE_OPERATION_TIMEDOUT) {
		set_result(c, false, "timeout after %d ms", c->timeout_ms);
	} else {
		pw_debug("check allocation %lld: %s: %s", (long long)c->id, c->target,
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
		set_result(c, false, "http: %s", curl_easy_strerror(res));
	}
	attempt_finished(c);
}

/* Hand finished transfers to their checks. A check may release allocations
 * and so remove other easy handles: curl then drops their queued messages,
 * so each message is read only after the previous one was handled. */
static void curl_drain(struct pw_checks *k)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(k->multi, &left))) {
		CURL *e = m->easy_handle;
		CURLcode res = m->data.result;
		struct pw_check_rt *c;
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		(void) curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		c = (struct pw_check_rt *)priv;
		if (!c || c->easy != e || !c->easy_added) {
			curl_multi_remove_handle(k->multi, e);
			continue;
		}
		http_done(c, res);
	}
}

static int on_curl_sock(struct pw_io *io, uint32_t events)
{
	struct curl_sock *cs = io->data;
	struct pw_checks *k = cs->k;
	int mask = 0, running;

	if (events & EPOLLIN)
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		mask |= CURL_CSELECT_ERR;
	/* cs may be released in here (CURL_POLL_REMOVE): not used after */
	(void) curl_multi_socket_action(k->multi, io->fd, mask, &running);
	curl_drain(k);
	return 0;
}

static int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct pw_checks *k = userp;
	struct curl_sock *cs = socketp;
	uint32_t ev = 0;

	(void) e;
	if (what == CURL_POLL_REMOVE) {
		if (cs) {
			pw_loop_del(k->as->env.loop, &cs->io);
			(void) curl_multi_assign(k->multi, s, NULL);
			defer_free(k->as, cs);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (cs)
		return pw_loop_mod(k->as->env.loop, &cs->io, ev) ? -1 : 0;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -1;
	*cs = (struct curl_sock){ .k = k, .io = { .fd = s, .fn = on_curl_sock, .data = cs } };
	if (pw_loop_add(k->as->env.loop, &cs->io, ev)) {
		free(cs);
		return -1;
	}
	(void) curl_multi_assign(k->multi, s, cs);
	return 0;
}

static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct pw_checks *k = userp;

	(void) m;
	/* -1 disarms; 0 means "now", which a timerfd spells 1 ms */
	if (timeout_ms < 0)
		return pw_timerfd_arm(k->curl_timer.fd, 0, 0) ? -1 : 0;
	return pw_timerfd_arm(k->curl_timer.fd, timeout_ms ? (uint64_t)timeout_ms : 1, 0) ? -1 : 0;
}

static int on_curl_timer(struct pw_io *io, uint32_t events)
{
	struct pw_checks *k = io->data;
	int running;

	(void) events;
	if (!pw_timerfd_ack(io->fd))
		return 0;	/* re-armed since this event was queued */
	(void) curl_multi_socket_action(k->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curl_drain(k);
	return 0;
}

/* --- commands -------------------------------------------------------------- */

/* The daemon's environment with PORT and PORTWATCH_ID set; NULL on ENOMEM. */
static char **child_env(char *port, char *id)
{
	size_t n = 0, k = 0;
	char **v;

	while (environ && environ[n])
		n++;
	v = calloc(n + 3, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "PORT=", 5) && strncmp(environ[i], "PORTWATCH_ID=", 13))
			v[k++] = environ[i];
	v[k++] = port;
	v[k++] = id;
	v[k] = NULL;
	return v;
}

static int cmd_start(struct pw_check_rt *c)
{
	char *argv[] = { (char *)"sh", (char *)"-c", c->target, NULL };
	char port[16], id[40], **envp;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	pid_t pid;
	int err;

	snprintf(port, sizeof(port), "PORT=%u", c->port);
	snprintf(id, sizeof(id), "PORTWATCH_ID=%lld", (long long)c->id);
	envp = child_env(port, id);
	if (!envp)
		return set_result(c, false, "spawn: %s", strerror(ENOMEM));
	sigemptyset(&none);
	sigfillset(&all);
	err = posix_spawn_file_actions_init(&fa);
	if (err) {
		free(envp);
		return set_result(c, false, "spawn: %s", strerror(err));
	}
	err = posix_spawnattr_init(&at);
	if (err) {
		posix_spawn_file_actions_destroy(&fa);
		free(envp);
		return set_result(c, false, "spawn: %s", strerror(err));
	}
	/* its own process group, so a timeout kills what it started too; the
	 * daemon's blocked signals and SIG_IGN of SIGPIPE do not carry over */
	err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!err)
		err = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!err)
		err = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (!err)
		err = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						    POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawnattr_setpgroup(&at, 0);
	if (!err)
		err = posix_spawnattr_setsigmask(&at, &none);
	if (!err)
		err = posix_spawnattr_setsigdefault(&at, &all);
	if (!err)
		err = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	if (err)
		return set_result(c, false, "spawn: %s", strerror(err));
	c->child = pid;
	return 1;
}

static struct pw_check_rt *find_child(struct pw_allocs *as, pid_t pid)
{

	for (size_t i = 0; i < as->n; i++)
		if (as->v[i].check && as->v[i].check->child == pid)
			return as->v[i].check;
	return NULL;
}

void pw_checks_on_sigchld(struct pw_allocs *as)
{
	struct pw_check_rt *c;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		/* unmatched: killed after a timeout or a release, now reaped */
		if (!as || !(c = find_child(as, pid)))
			continue;
		c->child = 0;
		if (WIFEXITED(status))
			set_result(c, WEXITSTATUS(status) == 0, "exit %d", WEXITSTATUS(status));
		else
			set_result(c, false, "killed by signal %d", WTERMSIG(status));
		attempt_finished(c);
	}
}

/* --- rounds and attempts ---------------------------------------------------- */

/* 1 when in flight, 0 with the result set. */
static int start_attempt(struct pw_check_rt *c)
{
	c->attempt_start_ns = pw_now_ns();
	switch (c->kind) {
	case PW_CHECK_TCP:
		return tcp_connect(c, false);
	case PW_CHECK_HTTP:
		return http_start(c);
	default:
		return cmd_start(c);
	}
}

/* Start attempts until one is in flight (its deadline armed) or the round
 * has its final result. */
static void run_attempts(struct pw_check_rt *c)
{
	while (!start_attempt(c)) {
		if (c->ok || c->attempt >= c->retries) {
			round_done(c);
			return;
		}
		c->attempt++;
	}
	(void) pw_timerfd_arm(c->timer.fd, (uint64_t)c->timeout_ms +
			      (c->kind == PW_CHECK_HTTP ? HTTP_BACKSTOP_MS : 0), 0);
}

/* The attempt in flight has its result. */
static void attempt_finished(struct pw_check_rt *c)
{
	stop_attempt(c);
	if (!c->ok && c->attempt < c->retries) {
		c->attempt++;
		run_attempts(c);
		return;
	}
	round_done(c);
}

static int on_check_timer(struct pw_io *io, uint32_t events)
{
	struct pw_check_rt *c = io->data;

	(void) events;
	if (!pw_timerfd_ack(io->fd))
		return 0;	/* re-armed since this event was queued */
	if (c->running) {
		set_result(c, false, "timeout after %d ms", c->timeout_ms);
		attempt_finished(c);
		return 0;
	}
	c->running = true;
	c->attempt = 0;
	c->round_start_ms = pw_now_ms();
	run_attempts(c);
	return 0;
}

/* --- lifetime ---------------------------------------------------------------- */

void pw_check_free(struct pw_check_rt *c)
{
	if (!c)
		return;
	stop_attempt(c);
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->timer.fd >= 0) {
		pw_loop_del(c->as->env.loop, &c->timer);
		close(c->timer.fd);
	}
	free(c->target);
	defer_free(c->as, c);
}

static int check_new(struct pw_allocs *as, const struct pw_alloc_rt *r, const struct pw_check *chk,
		     struct pw_check_rt **ret)
{
	const char *tg = chk->target;
	struct pw_check_rt *c;
	int err = 0;

	if (chk->kind == PW_CHECK_HTTP && !as->checks->multi)
		return -ENOTSUP;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct pw_check_rt){ .as = as, .id = r->a.id, .port = r->a.port, .kind = chk->kind,
				   .interval_ms = chk->interval_ms > 0 ? chk->interval_ms : 1,
				   .timeout_ms = chk->timeout_ms > 0 ? chk->timeout_ms : 1,
				   .retries = chk->retries > 0 ? chk->retries : 0,
				   .timer = { .fd = -1, .fn = on_check_timer } };
	c->timer.data = c;
	/* http: a path on the allocated port, or the configured URL as is */
	if (chk->kind == PW_CHECK_HTTP && (!tg || tg[0] == '/')) {
		if (asprintf(&c->target, "http://127.0.0.1:%u%s", r->a.port, tg ? tg : "/") < 0)
			c->target = NULL;
	} else if (chk->kind != PW_CHECK_TCP) {
		c->target = strdup(tg ? tg : "");
	}
	if (chk->kind != PW_CHECK_TCP && !c->target)
		err = -ENOMEM;
	if (!err) {
		c->timer.fd = pw_timerfd_new();
		if (c->timer.fd < 0)
			err = c->timer.fd;
	}
	if (!err)
		err = pw_loop_add(as->env.loop, &c->timer, EPOLLIN);
	if (!err)
		err = pw_timerfd_arm(c->timer.fd, (uint64_t)c->interval_ms, 0);
	if (err) {
		if (c->timer.fd >= 0) {
			pw_loop_del(as->env.loop, &c->timer);
			close(c->timer.fd);
		}
		free(c->target);
		free(c);
		return err;
	}
	*ret = c;
	return 0;
}

void pw_checks_attach(struct pw_allocs *as, struct pw_alloc_rt *r)
{
	const struct pw_service_type *t;
	struct pw_check_rt *c;
	int err;

	if (!as->checks || r->check)
		return;
	t = pw_config_find_type(as->env.cfg, r->a.service_type);
	if (!t || !t->check)
		return;
	err = check_new(as, r, t->check, &c);
	if (err) {
		pw_warn("allocation %lld port %u (%s): health check not started: %s",
			(long long)r->a.id, r->a.port, r->a.service_type, strerror(-err));
		return;
	}
	r->check = c;
}

static bool any_http(const struct pw_config *cfg)
{
	for (size_t i = 0; i < cfg->n_types; i++)
		if (cfg->types[i].check && cfg->types[i].check->kind == PW_CHECK_HTTP)
			return true;
	return false;
}

static int curl_setup(struct pw_checks *k)
{
	struct pw_allocs *as = k->as;
	int err;

	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -EIO;
	k->curl_global = true;
	k->multi = curl_multi_init();
	if (!k->multi)
		return -ENOMEM;
	k->curl_timer.fd = pw_timerfd_new();
	if (k->curl_timer.fd < 0)
		return k->curl_timer.fd;
	err = pw_loop_add(as->env.loop, &k->curl_timer, EPOLLIN);
	if (err) {
		close(k->curl_timer.fd);
		k->curl_timer.fd = -1;
		return err;
	}
	if (curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb) ||
	    curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k) ||
	    curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) ||
	    curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k))
		return -EINVAL;
	return 0;
}

int pw_checks_init(struct pw_allocs *as)
{
	struct pw_checks *k;
	size_t n = 0;
	int err;

	k = calloc(1, sizeof(*k));
	if (!k) {
		pw_err("health checks: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	*k = (struct pw_checks){ .as = as, .curl_timer = { .fd = -1, .fn = on_curl_timer } };
	k->curl_timer.data = k;
	as->checks = k;		/* pw_checks_fini() undoes a partial set-up */
	if (any_http(as->env.cfg)) {
		err = curl_setup(k);
		if (err) {
			pw_err("health checks: cannot set up libcurl: %s", strerror(-err));
			return err;
		}
	}
	for (size_t i = 0; i < as->n; i++) {
		pw_checks_attach(as, &as->v[i]);
		n += as->v[i].check != NULL;
	}
	if (n)
		pw_info("health checks: %zu allocations checked", n);
	return 0;
}

void pw_checks_fini(struct pw_allocs *as)
{
	struct pw_checks *k = as->checks;

	if (!k)
		return;
	for (size_t i = 0; i < as->n; i++) {
		pw_check_free(as->v[i].check);
		as->v[i].check = NULL;
	}
	if (k->multi)
		curl_multi_cleanup(k->multi);
	if (k->curl_timer.fd >= 0) {
		pw_loop_del(as->env.loop, &k->curl_timer);
		close(k->curl_timer.fd);
	}
	if (k->curl_global)
		curl_global_cleanup();
	/* called outside event dispatch: nothing can point at k any more */
	free(k);
	as->checks = NULL;
}

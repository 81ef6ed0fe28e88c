// SPDX-License-Identifier: GPL-2.0
/*
 * The portserver listener (see portserver.h): a Unix stream socket on the
 * event loop, one request per connection, a deadline for silent clients,
 * answers held until the loop batch's group commit has made the allocation
 * durable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "allocate.h"
#include "allocs.h"
#include "array.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "owner.h"
#include "portserver.h"

#define PS_MAX_CONNS 1024
#define PS_REQ_MAX 100		/* the reference server reads at most 100 bytes */
#define PS_PID_DIGITS 20	/* ... and refuses a longer pid */
#define PS_TIMEOUT_MS 5000

struct ps_conn {
	struct pw_portserver *ps;
	struct pw_io io;
	struct ps_conn *prev, *next;
	struct ucred cred;
	uint64_t deadline_ms;
	bool busy;		/* the core holds it as done()'s context */
	bool settling;		/* on the settle list, its port in port */
	bool closed;
	uint16_t port;
	size_t len;
	char buf[PS_REQ_MAX + 1];
};

struct pw_portserver {
	struct pw_daemon *d;
	struct pw_io lio;
	struct pw_io timer;
	char addr[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	char type[PW_TYPE_MAX];
	bool unlink_path;
	struct ps_conn *conns;
	unsigned n;
	struct pw_portserver_stats st;
};

static void conn_free(void *p)
{
	free(p);
}

static void conn_close(struct ps_conn *k)
{
	struct pw_portserver *ps = k->ps;

	if (k->closed)
		return;
	k->closed = true;
	pw_loop_del(ps->d->loop, &k->io);
	close(k->io.fd);
	k->io.fd = -1;
	if (k->prev)
		k->prev->next = k->next;
	else
		ps->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	ps->n--;
	/* the core still holds a busy connection: done() frees it */
	if (!k->busy && pw_loop_defer_free(ps->d->loop, conn_free, k))
		free(k);
}

/* The core is done with k: close it, or free it if its peer left. */
static void conn_release(struct ps_conn *k)
{
	k->busy = k->settling = false;
	if (!k->closed)
		conn_close(k);
	else if (pw_loop_defer_free(k->ps->d->loop, conn_free, k))
		free(k);
}

/* One short line on a fresh socket: it fits the send buffer or is lost. */
static void answer(struct ps_conn *k, uint16_t port)
{
	char line[8];
	int n = snprintf(line, sizeof(line), "%u\n", port);

	if (!k->closed && send(k->io.fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		pw_debug("portserver: answer %u not delivered: %s", port, strerror(errno));
}

/* The allocation's commit ended: the port, or nothing (the reference
 * server's answer when it has no port). */
static void settled(void *ctx, const char *fail)
{
	struct ps_conn *k = ctx;

	if (!fail) {
		k->ps->st.allocated++;
		answer(k, k->port);
	} else {
		k->ps->st.failed++;
		pw_info("portserver: port %u for pid %s not stored: %s", k->port, k->buf, fail);
	}
	conn_release(k);
}

static void allocate_done(void *ctx, const struct pw_allocate_result *res)
{
	struct ps_conn *k = ctx;
	struct pw_portserver *ps = k->ps;

	if (res->code != PW_E_OK) {
		ps->st.failed++;
		pw_info("portserver: no port for pid %s: %s", k->buf, res->message);
		goto out;
	}
	k->port = res->r->a.port;
	k->settling = true;
	if (!pw_settle_wait(&ps->d->settle, res->r->a.id, "allocation not made", settled, k))
		return;
	/* nothing to wait for: the add is durable already (or no memory to
	 * wait: the answer is then no port, as for any failure) */
	settled(k, pw_allocs_pending(ps->d->allocs) ? "out of memory" : NULL);
	return;
out:
	conn_release(k);
}

/* Python's blanks for int() of bytes (a NUL is none) */
static bool py_blank(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* What Python's int() accepts, as the reference server does int(client_data)
 * after refusing more than 20 bytes as read (blanks and newline included):
 * optional blanks, an optional sign, decimal digits with single underscores
 * between them, optional blanks. */
static int parse_pid(const char *s, size_t len, long long *pid)
{
	size_t i = 0, j = len, digits = 0;
	bool neg = false, under = false;
	long long v = 0;

	if (len > PS_PID_DIGITS)
		return -EINVAL;
	while (i < j && py_blank(s[i]))
		i++;
	while (j > i && py_blank(s[j - 1]))
		j--;
	if (i == j)
		return -EINVAL;
	if (s[i] == '+' || s[i] == '-')
		neg = s[i++] == '-';
	for (; i < j; i++) {
		if (s[i] == '_') {
			/* one, between two digits */
			if (!digits || under)
				return -EINVAL;
			under = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		under = false;
		digits++;
		if (v < 10000000000LL)
			v = v * 10 + (s[i] - '0');
	}
	if (!digits || under)
		return -EINVAL;
	*pid = neg ? -v : v;
	return 0;
}

static void handle_request(struct ps_conn *k)
{
	struct pw_portserver *ps = k->ps;
	struct pw_daemon *d = ps->d;
	struct pw_allocate_req rq = { 0 };
	enum pw_errcode code = PW_E_DENIED;
	long long pid = 0;
	char err[256];

	ps->st.requests++;
	/* as on the control socket: binds and closes done before the request show */
	pw_daemon_catch_up(d);
	k->buf[k->len] = '\0';
	if (parse_pid(k->buf, k->len, &pid)) {
		ps->st.malformed++;
		pw_debug("portserver: malformed request from pid %d closed", k->cred.pid);
		conn_close(k);
		return;
	}
	snprintf(k->buf, sizeof(k->buf), "%lld", pid);
	rq.t = pw_config_find_type(d->cfg, ps->type);
	if (pid <= 1 || pid > INT32_MAX) {
		snprintf(err, sizeof(err), "pid %lld refused%s", pid,
			 pid == 1 ? " (init never exits: the port would never return)" : "");
	} else if (!rq.t) {
		code = PW_E_UNKNOWN_TYPE;
		snprintf(err, sizeof(err), "service type %s is gone from the configuration",
			 ps->type);
	} else if (!pw_owner_resolve((uint32_t)pid, false, &k->cred, &rq.a, &code, err,
				     sizeof(err))) {
		code = PW_E_OK;
	}
	if (code != PW_E_OK) {
		ps->st.denied++;
		pw_allocate_refused(d->allocs, k->cred.uid, k->cred.pid, "denied", 0, ps->type, err);
		pw_info("portserver: request of pid %d (uid %u) refused: %s", k->cred.pid,
			k->cred.uid, err);
		conn_close(k);
		return;
	}
	snprintf(rq.a.service_type, sizeof(rq.a.service_type), "%s", rq.t->name);
	snprintf(rq.a.name, sizeof(rq.a.name), "portpicker");
	rq.caller_uid = k->cred.uid;
	rq.caller_pid = k->cred.pid;
	k->busy = true;
	/* one request per connection: off the loop (a hang-up would spin) */
	pw_loop_del(d->loop, &k->io);
	pw_allocate(d->allocs, &rq, allocate_done, k);
}

static int on_conn(struct pw_io *io, uint32_t events)
{
	struct ps_conn *k = io->data;
	ssize_t n;

	n = recv(io->fd, k->buf + k->len, PS_REQ_MAX - k->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0 || (n == 0 && !k->len)) {
		/* an error, or a peer that left without a word */
		conn_close(k);
		return 0;
	}
	k->len += (size_t)n;
	/* the reference server takes what the first read brings; a line, the
	 * end of input or 100 bytes is a whole request here */
	if (n == 0 || memchr(k->buf, '\n', k->len) || k->len >= PS_REQ_MAX ||
	    (events & (EPOLLHUP | EPOLLRDHUP)))
		handle_request(k);
	return 0;
}

static int on_accept(struct pw_io *io, uint32_t events)
{
	struct pw_portserver *ps = io->data;

	(void) events;
	for (;;) {
		socklen_t len = sizeof(struct ucred);
		struct ps_conn *k;
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				pw_warn("portserver: accept: %s", strerror(errno));
			return 0;
		}
		if (ps->n >= PS_MAX_CONNS) {
			close(fd);
			ps->st.denied++;
			continue;
		}
		k = calloc(1, sizeof(*k));
		if (!k || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &k->cred, &len)) {
			free(k);
			close(fd);
			continue;
		}
		k->ps = ps;
		k->io = (struct pw_io){ .fd = fd, .fn = on_conn, .data = k };
		k->deadline_ms = pw_now_ms() + PS_TIMEOUT_MS;
		if (pw_loop_add(ps->d->loop, &k->io, EPOLLIN | EPOLLRDHUP)) {
			close(fd);
			free(k);
			continue;
		}
		k->next = ps->conns;
		if (ps->conns)
			ps->conns->prev = k;
		ps->conns = k;
		ps->n++;
	}
}

static int on_timer(struct pw_io *io, uint32_t events)
{
	struct pw_portserver *ps = io->data;
	uint64_t now = pw_now_ms();
	struct ps_conn *k, *next;

	(void) events;
	(void) pw_timerfd_ack(io->fd);
	for (k = ps->conns; k; k = next) {
		next = k->next;
		if (!k->busy && now >= k->deadline_ms) {
			ps->st.requests++;
			ps->st.timed_out++;
			conn_close(k);
		}
	}
	return 0;
}

int pw_portserver_prepare(struct pw_daemon *d, const char *type)
{
	char err[256];
	int r;

	if (pw_config_find_type(d->cfg, type))
		return 0;
	if (strcmp(type, PW_PORTSERVER_TYPE)) {
		pw_err("portserver: service type %s is not in the configuration", type);
		return -EINVAL;
	}
	r = pw_config_add_type(d->cfg, type, "portpicker clients (portserver protocol)",
			       PW_PORTSERVER_LO, PW_PORTSERVER_HI, false, err, sizeof(err));
	if (r)
		pw_err("portserver: %s", err);
	return r;
}

/* "@name": abstract; else a path. Returns the address length, or -EINVAL. */
static int make_addr(const char *s, struct sockaddr_un *sa)
{
	size_t n = strlen(s);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n < 2 || n > sizeof(sa->sun_path) - (s[0] == '@' ? 0 : 1))
		return -EINVAL;
	memcpy(sa->sun_path, s, n);
	if (s[0] == '@')
		sa->sun_path[0] = '\0';
	return (int)(offsetof(struct sockaddr_un, sun_path) + n + (s[0] == '@' ? 0 : 1));
}

bool pw_portserver_addr_ok(const char *addr)
{
	struct sockaddr_un sa;

	return make_addr(addr, &sa) >= 0;
}

static void ps_free(struct pw_portserver *ps)
{
	while (ps->conns) {
		struct ps_conn *k = ps->conns;

		k->busy = false;	/* the core's requests were cancelled */
		conn_close(k);
	}
	pw_loop_close_io(ps->d->loop, &ps->lio);
	pw_loop_close_io(ps->d->loop, &ps->timer);
	if (ps->unlink_path)
		(void) unlink(ps->addr);
	free(ps);
}

int pw_portserver_start(struct pw_daemon *d, const char *addr, const char *type)
{
	struct pw_portserver *ps;
	struct sockaddr_un sa;
	struct stat stt;
	int alen, fd, err;

	alen = make_addr(addr, &sa);
	if (alen < 0) {
		pw_err("portserver %s: expected @NAME or a socket path (at most %zu bytes)", addr,
		       sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	err = pw_portserver_prepare(d, type);
	if (err)
		return err;
	/* a stale socket file from a crash: no one listens on it */
	if (addr[0] != '@' && !lstat(addr, &stt) && S_ISSOCK(stt.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, (socklen_t)alen) &&
		    errno == ECONNREFUSED)
			(void) unlink(addr);
		if (probe >= 0)
			close(probe);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, (socklen_t)alen) || listen(fd, 512)) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		pw_err("portserver %s: %s", addr, strerror(-err));
		return err;
	}
	/* any local user may ask; who may be named is checked per request */
	if (addr[0] != '@')
		(void) chmod(addr, 0666);
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		close(fd);
		return -ENOMEM;
	}
	ps->d = d;
	snprintf(ps->addr, sizeof(ps->addr), "%s", addr);
	snprintf(ps->type, sizeof(ps->type), "%s", type);
	ps->unlink_path = addr[0] != '@';
	ps->lio = (struct pw_io){ .fd = fd, .fn = on_accept, .data = ps };
	ps->timer.fd = -1;
	err = pw_loop_add(d->loop, &ps->lio, EPOLLIN);
	if (!err)
		err = pw_loop_add_timer(d->loop, &ps->timer, on_timer, ps);
	if (!err)
		err = pw_timerfd_arm(ps->timer.fd, 1000, 1000);
	if (err) {
		ps_free(ps);
		pw_err("portserver %s: %s", addr, strerror(-err));
		return err;
	}
	d->portserver = ps;
	pw_info("portserver: %s, ports of service type %s", addr, type);
	return 0;
}

void pw_portserver_stop(struct pw_daemon *d)
{
	if (!d->portserver)
		return;
	ps_free(d->portserver);
	d->portserver = NULL;
}

void pw_portserver_stats(const struct pw_portserver *ps, struct pw_portserver_stats *st)
{
	if (ps)
		*st = ps->st;
	else
		memset(st, 0, sizeof(*st));
}

const char *pw_portserver_addr(const struct pw_portserver *ps)
{
	return ps ? ps->addr : NULL;
}

const char *pw_portserver_type(const struct pw_portserver *ps)
{
	return ps ? ps->type : NULL;
}

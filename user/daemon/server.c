// SPDX-License-Identifier: GPL-2.0
/* Unix control socket: the listener, each client's life (reading requests,
 * the backlog of pipelined lines, closing), the idle sweep. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "log.h"
#include "server_int.h"

static void finish_eof(struct pw_client *c);

#define READ_CHUNK 4096
/* Requests handled per client per turn: a client pipelining thousands of
 * lines waits its turn behind the others instead of holding the loop. Lines
 * found on reading are handled LINES_PER_READ at once (hundreds of clients
 * may be readable in one epoll batch); the rest wait for the client's turn on
 * the backlog, which shares LINES_PER_TURN among the clients queued there (a
 * lone pipelining client gets them all: its batch shares one group commit,
 * one fsync; each of many gets LINES_PER_READ). A turn also ends after
 * TURN_NS, even below its share. */
#define LINES_PER_READ 4
#ifndef LINES_PER_TURN
#define LINES_PER_TURN 64
#endif
#define TURN_NS (1000 * 1000)
/* Queued clients served per wakeup before epoll gets to the others (the
 * ring buffer, other clients), and the time after which no further one is. */
#define TURNS_PER_WAKE 32
#define WAKE_NS (2 * 1000 * 1000)

static void client_destroy(void *p)
{
	struct pw_client *c = p;

	srv_drop_held(c);
	if (c->watch_free)
		c->watch_free(c->watch_data);
	free(c->in);
	free(c->out);
	free(c);
}

struct pw_client *pw_client_ref(struct pw_client *c)
{
	c->refs++;
	return c;
}

void pw_client_unref(struct pw_client *c)
{
	if (--c->refs == 0) {
		(void) pw_loop_defer_free(c->srv->loop, client_destroy, c);
		return;
	}
	/* the last pending reply of a half-closed client is out: close it */
	if (c->refs == 1)
		finish_eof(c);
}

const struct ucred *pw_client_cred(const struct pw_client *c)
{
	return &c->cred;
}

int srv_client_events(struct pw_client *c)
{
	uint32_t ev = 0;

	/* no reading while earlier requests wait, an answer streams or the
	 * client is being let go: that bounds the input */
	if (!c->queued && !c->eof && !c->stream_fn && !c->closing)
		ev |= EPOLLIN | EPOLLRDHUP;
	/* a streaming answer is refilled whenever the socket takes more */
	if (c->out_len > c->out_off || (c->stream_fn && !c->stream_wait && !c->stream_paused) ||
	    (c->watching && c->wpos < c->wl->head))
		ev |= EPOLLOUT;
	if (ev == c->events || c->closed || c->detached)
		return 0;
	c->events = ev;
	return pw_loop_mod(c->srv->loop, &c->io, ev);
}

void srv_backlog_push(struct pw_client *c)
{
	struct pw_server *s = c->srv;
	uint64_t one = 1;

	if (c->queued)
		return;
	c->queued = true;
	c->bl_next = NULL;
	pw_client_ref(c);
	s->bl_n++;
	if (s->bl_tail)
		s->bl_tail->bl_next = c;
	else
		s->bl_head = c;
	s->bl_tail = c;
	(void) !write(s->backlog_io.fd, &one, sizeof(one));
}

void srv_client_close(struct pw_client *c)
{
	struct pw_server *s = c->srv;

	if (c->closed)
		return;
	srv_uid_release(s, c->cred.uid);
	if (c->stream_free)
		c->stream_free(c->stream_ctx);
	c->stream_fn = NULL;
	c->stream_free = NULL;
	s->st.out_bytes -= c->acct;
	c->acct = 0;
	c->closed = true;
	pw_client_set_watch(c, false);
	pw_loop_del(s->loop, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->st.clients--;
	pw_client_unref(c);
}

/* Reject before closing: say why in one line, best effort. */
static void reject(int fd, enum pw_errcode code, const char *msg)
{
	char *line = pw_proto_error(code, "%s", msg);

	if (line) {
		(void) !send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
		free(line);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* A request over PW_PROTO_MAX_LINE: the answers before it go out (best
 * effort), then why, then the client is closed. */
static void oversized(struct pw_client *c)
{
	c->srv->st.oversized++;
	(void) srv_flush_out(c);
	reject(c->io.fd, PW_E_BAD_REQUEST, "request larger than 65536 bytes");
	srv_client_close(c);
}

/* Handle up to max complete lines, or as many as TURN_NS allows (one at
 * least); true when more are waiting. */
static bool handle_lines(struct pw_client *c, int max)
{
	struct pw_server *s = c->srv;
	size_t start = 0;
	int handled = 0;
	bool more = false;
	uint64_t t0 = 0;

	pw_client_ref(c);
	while (!c->closed) {
		char *nl = memchr(c->in + start, '\n', c->in_len - start);
		struct pw_request req;
		char err[256];
		size_t len;

		if (!nl || c->stream_fn || c->closing)
			break;
		if (handled == max || (handled && mono_ns() - t0 > TURN_NS)) {
			more = true;
			break;
		}
		if (!handled++)
			t0 = mono_ns();
		len = (size_t)(nl - (c->in + start));
		/* each line within the limit, not only what is left unread */
		if (len > PW_PROTO_MAX_LINE) {
			oversized(c);
			break;
		}
		if (len && c->in[start + len - 1] == '\r')
			len--;
		if (len) {
			if (pw_proto_parse_request(c->in + start, len, &req, err, sizeof(err))) {
				s->st.malformed++;
				pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "%s", err));
			} else {
				s->fn(s->ctx, c, &req);
				pw_request_done(&req);
			}
		}
		start = (size_t)(nl - c->in) + 1;
		/* an empty line is no request: it does not keep a client alive */
		if (len)
			c->last_ms = pw_now_ms();
	}
	if (!c->closed) {
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
		/* lines waiting behind a streaming answer are not partial */
		c->partial_ms = c->in_len && !more && !memchr(c->in, '\n', c->in_len) ?
			(c->partial_ms ? c->partial_ms : pw_now_ms()) : 0;
	}
	pw_client_unref(c);
	return more && !c->closed;
}

/* The peer is done and every request of its is answered (or queued out). */
static void finish_eof(struct pw_client *c)
{
	/* nothing queued, held for a commit, or owed by asynchronous work */
	if (c->eof && !c->queued && !c->watching && !c->fwatch && !c->closed && !c->held_head &&
	    !c->stream_fn && c->refs == 1) {
		(void) srv_flush_out(c);
		srv_client_close(c);
	}
}

/* Serve queued clients one turn each, round robin, a bounded number per
 * wakeup so that other clients' fds are polled in between. */
static int on_backlog(struct pw_io *io, uint32_t events)
{
	struct pw_server *s = io->data;
	uint64_t n, one = 1, t0 = mono_ns();

	(void) events;
	(void) !read(io->fd, &n, sizeof(n));
	for (int turn = 0; turn < TURNS_PER_WAKE && s->bl_head &&
	     (!turn || mono_ns() - t0 < WAKE_NS); turn++) {
		struct pw_client *c = s->bl_head;

		s->bl_head = c->bl_next;
		if (!s->bl_head)
			s->bl_tail = NULL;
		s->bl_n--;
		c->queued = false;
		if (!c->closed) {
			/* a turn's share: all of LINES_PER_TURN to a lone pipelining
			 * client, LINES_PER_READ each when many wait, so a newcomer
			 * waits behind about LINES_PER_TURN requests either way */
			int share = LINES_PER_TURN / (int)(s->bl_n + 1 < 16 ? s->bl_n + 1 : 16);

			if (handle_lines(c, share > LINES_PER_READ ? share : LINES_PER_READ))
				srv_backlog_push(c);
			else if (srv_client_events(c))
				srv_client_close(c);
			finish_eof(c);
		}
		pw_client_unref(c);
	}
	if (s->bl_head)
		(void) !write(io->fd, &one, sizeof(one));
	return 0;
}

/* The peer closed both directions (or its socket failed): nothing can reach
 * it any more. A watcher is closed at once; a client with requests still
 * queued or answers owed is taken off epoll (whose HUP would fire on every
 * wait) and closed when its last request is done, as after a plain EOF. */
static void client_gone(struct pw_client *c)
{
	if (c->watching || c->fwatch || (!c->queued && !c->held_head && c->refs == 1)) {
		srv_client_close(c);
		return;
	}
	c->eof = true;
	if (!c->detached) {
		pw_loop_del(c->srv->loop, &c->io);
		c->detached = true;
	}
}

static int client_io(struct pw_io *io, uint32_t events)
{
	struct pw_client *c = io->data;

	if (events & EPOLLOUT) {
		if (srv_flush_out(c)) {
			srv_client_close(c);
			return 0;
		}
		if (c->stream_fn && !c->stream_wait) {
			srv_stream_pump(c);
			if (c->closed)
				return 0;
			finish_eof(c);
		}
	}
	/* EPOLLHUP and EPOLLERR cannot be masked: with reading stopped after
	 * an EOF they would wake the loop forever. The peer is gone both ways:
	 * read what it sent, then detach (see below). */
	if ((events & (EPOLLHUP | EPOLLERR)) && c->eof) {
		client_gone(c);
		return 0;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
		bool eof = false;

		for (int rounds = 0; rounds < 16 && !c->closed && !c->queued && !c->eof; rounds++) {
			ssize_t n;

			if (c->in_cap - c->in_len < READ_CHUNK) {
				size_t ncap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
				char *nin;

				if (ncap > PW_PROTO_MAX_LINE + READ_CHUNK * 2)
					ncap = PW_PROTO_MAX_LINE + READ_CHUNK * 2;
				nin = realloc(c->in, ncap);
				if (!nin) {
					srv_client_close(c);
					return 0;
				}
				c->in = nin;
				c->in_cap = ncap;
			}
			n = recv(io->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				srv_client_close(c);
				return 0;
			}
			if (n == 0) {
				eof = true;
				break;
			}
			c->in_len += (size_t)n;
			if (handle_lines(c, LINES_PER_READ)) {
				srv_backlog_push(c);
				if (srv_client_events(c))
					srv_client_close(c);
				break;
			}
			if (c->closed)
				return 0;
			if (c->in_len > PW_PROTO_MAX_LINE) {
				oversized(c);
				return 0;
			}
		}
		/* the peer's last request may lack its newline: it is one all
		 * the same (answered, then the client closes as after any EOF) */
		if (eof && !c->closed && c->in_len && c->in[c->in_len - 1] != '\n' &&
		    c->in_len < c->in_cap) {
			c->in[c->in_len++] = '\n';
			if (handle_lines(c, LINES_PER_READ))
				srv_backlog_push(c);
		}
		if (!c->closed && (events & (EPOLLHUP | EPOLLERR)) && (eof || c->queued)) {
			c->eof = true;
			client_gone(c);
			return 0;
		}
		/* a half-closed client still gets its answers; watchers stay */
		if (eof && !c->closed) {
			c->eof = true;
			if (srv_client_events(c)) {
				srv_client_close(c);
				return 0;
			}
			finish_eof(c);
		}
	}
	return 0;
}

static int server_accept(struct pw_io *io, uint32_t events)
{
	struct pw_server *s = io->data;

	(void) events;
	for (int i = 0; i < 64; i++) {
		struct pw_client *c;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		const char *why;
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				srv_pause_accepting(s, errno);
			return 0;	/* EAGAIN, or a peer that left: it retries */
		}
		s->st.accepted++;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
			close(fd);
			continue;
		}
		why = srv_admit(s, cred.uid);
		if (why) {
			s->st.refused++;
			if (cred.uid)
				s->st.refused_uid++;
			if (s->st.refused == 1 || pw_now_ms() - s->refused_logged_ms >= 1000) {
				pw_warn("refusing clients (uid %u: %s; %llu refused so far)",
					(unsigned)cred.uid, why, s->st.refused);
				s->refused_logged_ms = pw_now_ms();
			}
			reject(fd, PW_E_INTERNAL, why);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			srv_uid_release(s, cred.uid);
			close(fd);
			continue;
		}
		c->cred = cred;
		c->srv = s;
		c->refs = 1;
		c->io = (struct pw_io){ .fd = fd, .fn = client_io, .data = c };
		c->last_ms = pw_now_ms();
		c->events = EPOLLIN | EPOLLRDHUP;
		if (pw_loop_add(s->loop, &c->io, c->events)) {
			srv_uid_release(s, cred.uid);
			close(fd);
			free(c);
			continue;
		}
		c->next = s->clients;
		if (s->clients)
			s->clients->prev = c;
		s->clients = c;
		s->st.clients++;
		if (!s->timer_armed && !pw_timerfd_arm(s->timer_io.fd, 1000, 1000))
			s->timer_armed = true;
	}
	return 0;
}

/* Once a second while clients exist: close the stuck ones. */
static int server_sweep(struct pw_io *io, uint32_t events)
{
	struct pw_server *s = io->data;
	uint64_t now = pw_now_ms();
	struct pw_client *c, *next;

	(void) events;
	pw_timerfd_ack(io->fd);
	for (c = s->clients; c; c = next) {
		next = c->next;
		if (c->closing) {
			/* a dropped watcher that does not read its last line: it
			 * holds one line at most, for as long as an idle client */
			if (now - c->closing_ms > s->lim.idle_timeout_ms)
				srv_client_close(c);
		} else if (c->partial_ms && now - c->partial_ms > s->lim.partial_timeout_ms) {
			s->st.timed_out++;
			reject(c->io.fd, PW_E_BAD_REQUEST, "incomplete request timed out");
			srv_client_close(c);
		} else if (c->out_len > c->out_off || (c->watching && c->wpos < c->wl->head)) {
			/* output waits: idle while the peer reads none of it; a
			 * watcher is told why it goes */
			if (now - c->out_ms > s->lim.idle_timeout_ms) {
				s->st.timed_out++;
				if (c->watching || c->fwatch)
					srv_drop_watcher(c, "idle: read none of its events for the "
							"client idle timeout");
				else
					srv_client_close(c);
			}
		} else if (!c->watching && !c->fwatch && !c->partial_ms && c->refs == 1 &&
			   now - c->last_ms > s->lim.idle_timeout_ms) {
			s->st.timed_out++;
			srv_client_close(c);
		}
	}
	if (!s->clients && !pw_timerfd_arm(io->fd, 0, 0))
		s->timer_armed = false;
	return 0;
}

int pw_server_new(struct pw_server **ret, struct pw_loop *loop, const char *path,
		  const struct pw_server_limits *limits, pw_request_fn fn, void *ctx)
{
	return pw_server_new_fd(ret, loop, path, -1, limits, fn, ctx);
}

int pw_server_new_fd(struct pw_server **ret, struct pw_loop *loop, const char *path, int lfd,
		     const struct pw_server_limits *limits, pw_request_fn fn, void *ctx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pw_server *s;
	int fd = -1, tfd = -1, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	s->loop = loop;
	s->lim = *limits;
	s->fn = fn;
	s->ctx = ctx;
	s->pause_io.fd = -1;
	s->st.max_clients = srv_client_budget(&s->lim);

	/* socket activation: systemd made, bound and owns the socket file */
	s->adopted = lfd >= 0;
	fd = s->adopted ? lfd : socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (s->adopted) {
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC)) {
			err = -errno;
			goto cleanup;
		}
	} else {
		/* A stale socket file from a crashed daemon; a live one is
		 * refused earlier by the daemon's connect probe. */
		(void) unlink(path);
		/* the mode comes with the file (umask around bind): no chmod by
		 * path, which a swapped-in symlink would redirect */
		mode_t old = umask(0111);

		err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
		umask(old);
		if (!err && listen(fd, 1024))
			err = -errno;
		if (err)
			goto cleanup;
	}
	tfd = pw_timerfd_new();
	if (tfd < 0) {
		err = tfd;
		goto cleanup;
	}
	s->pause_io = (struct pw_io){ .fd = pw_timerfd_new(), .fn = srv_resume_accepting, .data = s };
	if (s->pause_io.fd < 0) {
		err = s->pause_io.fd;
		goto cleanup;
	}
	s->listen_io = (struct pw_io){ .fd = fd, .fn = server_accept, .data = s };
	s->timer_io = (struct pw_io){ .fd = tfd, .fn = server_sweep, .data = s };
	s->backlog_io = (struct pw_io){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
					.fn = on_backlog, .data = s };
	if (s->backlog_io.fd < 0) {
		err = -errno;
		goto cleanup;
	}
	err = pw_loop_add(loop, &s->listen_io, EPOLLIN);
	if (!err)
		err = pw_loop_add(loop, &s->timer_io, EPOLLIN);
	if (!err)
		err = pw_loop_add(loop, &s->backlog_io, EPOLLIN);
	if (!err)
		err = pw_loop_add(loop, &s->pause_io, EPOLLIN);
	if (err)
		goto cleanup;
	*ret = s;
	return 0;
cleanup:
	if (fd >= 0) {
		if (!s->adopted)
			(void) unlink(path);
		close(fd);
	}
	if (tfd >= 0)
		close(tfd);
	if (s->backlog_io.fd > 0)
		close(s->backlog_io.fd);
	if (s->pause_io.fd >= 0)
		close(s->pause_io.fd);
	free(s);
	return err;
}

void pw_server_free(struct pw_server *s)
{
	if (!s)
		return;
	while (s->clients)
		srv_client_close(s->clients);
	pw_loop_del(s->loop, &s->listen_io);
	pw_loop_del(s->loop, &s->timer_io);
	close(s->listen_io.fd);
	close(s->timer_io.fd);
	pw_loop_del(s->loop, &s->backlog_io);
	close(s->backlog_io.fd);
	pw_loop_close_io(s->loop, &s->pause_io);
	free(s->uids);
	free(s->logs[0].buf);
	free(s->logs[1].buf);
	while (s->bl_head) {
		struct pw_client *c = s->bl_head;

		s->bl_head = c->bl_next;
		s->bl_n--;
		c->queued = false;
		pw_client_unref(c);
	}
	if (!s->adopted)
		(void) unlink(s->path);
	free(s);
}

void pw_server_stats(const struct pw_server *s, struct pw_server_stats *st)
{
	*st = s->st;
}

// SPDX-License-Identifier: GPL-2.0
/* Unix control socket: listener, client buffers, limits and timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "log.h"
#include "server.h"

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
/* File descriptors kept for the daemon itself (BPF, SQLite, snapshots of
 * network namespaces, health checks) when sizing the client limit. */
#define FD_RESERVE 128
/* Socket send buffer of a watcher (the kernel doubles it). */
#define WATCH_SNDBUF (32 << 10)
/* A streaming answer is refilled when less than this is unread. */
#define STREAM_LOW (64 << 10)

struct pw_client {
	struct pw_io io;
	struct pw_server *srv;
	struct pw_client *prev, *next;
	struct ucred cred;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	uint64_t last_ms;	/* last complete non-empty request, or connect */
	uint64_t out_ms;	/* output last made progress (or became pending) */
	uint64_t partial_ms;	/* when the pending partial request began, 0 if none */
	unsigned refs;
	bool watching;
	bool closed;
	uint32_t events;	/* epoll interest now registered */
	bool queued;		/* on the backlog queue, reading paused */
	bool eof;		/* peer finished sending; close once answered */
	bool detached;		/* peer gone both ways: off epoll, close once done */
	struct pw_client *bl_next;
	/* replies held until a group commit settles: in order, tentative ones
	 * replaced by an error if the commit fails */
	struct held *held_head, *held_tail;
	/* a streaming answer and the replies waiting behind it */
	pw_stream_fn stream_fn;
	bool stream_wait;	/* starts once the held replies before it are out */
	bool stream_paused;	/* the next piece is not at hand (PW_STREAM_PAUSE) */
	void (*stream_free)(void *ctx);
	void *stream_ctx;
	struct held *after_head, *after_tail;
	size_t acct;		/* unread output counted in the server's total */
	struct wlog *wl;	/* watcher: the log it reads */
	uint64_t wpos;		/* watcher: next byte of it to send */
	bool idle_w;		/* watcher caught up with the log (counted in caught_up) */
	bool closing;		/* dropped watcher: last line out, then close */
	uint64_t closing_ms;
	bool sent_mid_line;	/* the socket has part of a line from out */
	/* A watcher with a filter reads no log: the events its filter takes are
	 * copied into its own output, under the same caps as answers. */
	bool fwatch;
	void *watch_data;	/* its filter, freed by watch_free */
	void (*watch_free)(void *);
};

struct held {
	char *line;
	bool tentative;
	struct held *next;
};

/* An event log: watchers read it from their own positions. Positions grow
 * forever; byte p lives at buf[p & (size - 1)]. */
struct wlog {
	char *buf;
	size_t size;
	uint64_t head, tail;
	uint64_t min;		/* no watcher's position is below this */
	size_t caught_up;	/* watchers with nothing left to send */
	size_t watchers;
};

/* Connections per non-root uid: few distinct uids connect at once. */
struct uid_slot {
	uid_t uid;
	size_t n;
};

struct pw_server {
	struct pw_loop *loop;
	struct pw_io listen_io;
	struct pw_io timer_io;
	struct pw_io pause_io;		/* timerfd: accepting again after EMFILE */
	bool accept_paused;
	size_t nonroot;			/* clients of uids other than 0 */
	struct uid_slot *uids;
	size_t n_uids, cap_uids;
	char path[108];
	struct pw_server_limits lim;
	pw_request_fn fn;
	void *ctx;
	struct pw_client *clients;
	struct pw_server_stats st;
	/* The event log: every watcher reads the same bytes from its own
	 * position, so a broadcast is one copy whatever the number of watchers,
	 * and the memory for events is this buffer, however slow they are.
	 * Positions grow forever; byte p lives at buf[p & (size - 1)]. */
	struct wlog logs[2];	/* [0] root's, [1] other users' (redacted lines) */
	bool timer_armed;
	struct pw_io backlog_io;	/* eventfd: clients with complete lines left */
	struct pw_client *bl_head, *bl_tail;
	size_t bl_n;			/* clients on the backlog queue */
	size_t fwatchers[2];		/* filtered watchers: root's, other users' */
	bool adopted;			/* listen fd passed by systemd: not ours to unlink */
	uint64_t refused_logged_ms;	/* rate limit of the refusal warning */
};

static void client_close(struct pw_client *c);

static void drop_held(struct pw_client *c);
static void stream_end(struct pw_client *c);
static void stream_pump(struct pw_client *c);

static void client_destroy(void *p)
{
	struct pw_client *c = p;

	drop_held(c);
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

static void finish_eof(struct pw_client *c);

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

static int client_events(struct pw_client *c)
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

static void backlog_push(struct pw_client *c)
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

/* Keep the server's total of unread output current for c. */
static void account(struct pw_client *c)
{
	size_t pending = c->out_len - c->out_off;

	c->srv->st.out_bytes += pending;
	c->srv->st.out_bytes -= c->acct;
	c->acct = pending;
}

/* Send from the event log at the watcher's position. 0, or -errno. */
static int flush_log(struct pw_client *c)
{
	struct wlog *wl = c->wl;

	while (c->wpos < wl->head) {
		size_t off = (size_t)(c->wpos & (wl->size - 1));
		size_t len = (size_t)(wl->head - c->wpos);
		ssize_t n;

		if (off + len > wl->size)
			len = wl->size - off;
		n = send(c->io.fd, wl->buf + off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		c->wpos += (uint64_t)n;
		c->out_ms = pw_now_ms();
	}
	/* caught up: the next broadcast arms EPOLLOUT again */
	if (!c->idle_w) {
		c->idle_w = true;
		wl->caught_up++;
	}
	return 0;
}

/* In the middle of an event line: nothing else may be sent before its end. */
static bool mid_line(const struct pw_client *c)
{
	const struct wlog *wl = c->wl;

	return c->watching && c->wpos > wl->tail && wl->buf[(c->wpos - 1) & (wl->size - 1)] != '\n';
}

static int flush_out(struct pw_client *c)
{
	bool was_behind = c->watching && c->wpos < c->wl->head;
	int err;

	if (was_behind && mid_line(c)) {
		/* finish the event line first: up to its newline */
		err = flush_log(c);
		if (err)
			return err;
		if (c->wpos < c->wl->head)
			return client_events(c);
	}
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			account(c);
			return -errno;
		}
		if (n > 0)
			c->sent_mid_line = c->out[c->out_off + (size_t)n - 1] != '\n';
		c->out_off += (size_t)n;
		c->out_ms = pw_now_ms();
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		/* give a large answer's memory back once it is sent */
		if (c->out_cap > (1 << 20)) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
			malloc_trim(0);
		}
		if (c->watching && c->wpos < c->wl->head) {
			err = flush_log(c);
			if (err)
				return err;
		}
	}
	account(c);
	/* a dropped watcher's last line is out: now close */
	if (c->closing && c->out_len == c->out_off)
		return -ECONNRESET;
	return client_events(c);
}

static int append_out(struct pw_client *c, const char *data, size_t len)
{
	size_t pending = c->out_len - c->out_off;

	if (c->out_off && c->out_len + len > c->out_cap) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_len = pending;
		c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t ncap = c->out_cap ? c->out_cap : 4096;
		char *n;

		while (ncap < c->out_len + len)
			ncap *= 2;
		n = realloc(c->out, ncap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = ncap;
	}
	if (!pending)
		c->out_ms = pw_now_ms();
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	account(c);
	return 0;
}

/* Let a watcher go, telling it why in a last line: the event line it is in
 * the middle of is finished from the log first, then the reason, then the
 * connection is closed once that is read (or after a short wait). */
static void drop_watcher(struct pw_client *c, const char *reason)
{
	struct pw_server *s = c->srv;
	char line[256];
	int n, err = 0;

	s->st.lagged++;
	/* a filtered watcher's unread events are whole lines in its buffer:
	 * past the line being sent they go, so the last line is next */
	if (c->fwatch && c->out_len > c->out_off) {
		char *nl = memchr(c->out + c->out_off, '\n', c->out_len - c->out_off);

		if (nl && c->sent_mid_line)
			c->out_len = (size_t)(nl - c->out) + 1;	/* mid-line: finish it */
		else
			c->out_len = c->out_off;
		if (c->out_len == c->out_off)
			c->out_len = c->out_off = 0;
		account(c);
	}
	if (mid_line(c)) {
		while (!err && c->wpos < c->wl->head) {
			char ch = c->wl->buf[c->wpos & (c->wl->size - 1)];

			err = append_out(c, &ch, 1);
			c->wpos++;
			if (ch == '\n')
				break;
		}
	}
	pw_client_set_watch(c, false);
	n = snprintf(line, sizeof(line), "{\"event\":\"dropped\",\"reason\":\"%s\",\"ts_ns\":%llu}\n",
		     reason, (unsigned long long)pw_now_ns());
	c->closing = true;
	c->closing_ms = pw_now_ms();
	if (err || append_out(c, line, (size_t)n) || flush_out(c))
		client_close(c);
}

static void hold(struct pw_client *c, char *line, bool tentative)
{
	struct held *h = calloc(1, sizeof(*h));

	if (!h) {
		free(line);
		client_close(c);
		return;
	}
	h->line = line;
	h->tentative = tentative;
	if (c->held_tail)
		c->held_tail->next = h;
	else
		c->held_head = h;
	c->held_tail = h;
}

static void free_list(struct held *h)
{
	while (h) {
		struct held *next = h->next;

		free(h->line);
		free(h);
		h = next;
	}
}

static void drop_held(struct pw_client *c)
{
	free_list(c->held_head);
	c->held_head = c->held_tail = NULL;
	free_list(c->after_head);
	c->after_head = c->after_tail = NULL;
}

void pw_client_send_tentative(struct pw_client *c, char *line)
{
	if (c->closed || !line) {
		free(line);
		if (!line)
			client_close(c);
		return;
	}
	hold(c, line, true);
}

void pw_client_settle(struct pw_client *c, const char *fail_line)
{
	struct held *h = c->held_head;

	c->held_head = c->held_tail = NULL;
	while (h) {
		struct held *next = h->next;

		if (c->closed)
			free(h->line);
		else if (h->tentative && fail_line) {
			free(h->line);
			pw_client_send(c, strdup(fail_line));
		} else {
			pw_client_send(c, h->line);
		}
		free(h);
		h = next;
	}
	/* a long answer asked for after the held ones starts now */
	if (c->stream_wait && !c->closed) {
		c->stream_wait = false;
		stream_pump(c);
	}
}

/* Answers wait behind a streaming one, in order. */
static void after_stream(struct pw_client *c, char *line)
{
	struct held *h = calloc(1, sizeof(*h));

	if (!h) {
		free(line);
		client_close(c);
		return;
	}
	h->line = line;
	if (c->after_tail)
		c->after_tail->next = h;
	else
		c->after_head = h;
	c->after_tail = h;
}

void pw_client_send(struct pw_client *c, char *line)
{
	struct pw_server *s = c->srv;
	size_t len, pending;

	/* behind a held reply: keep the order */
	if (c->held_head && line && !c->closed) {
		hold(c, line, false);
		return;
	}
	if (c->stream_fn && !c->stream_wait && line && !c->closed) {
		after_stream(c, line);
		return;
	}
	if (c->closed || c->closing || !line) {
		free(line);
		if (!line)
			client_close(c);
		return;
	}
	len = strlen(line);
	pending = c->out_len - c->out_off;
	/* every answer is held to the caps: one over the client's limit is
	 * refused (large ones stream instead), one that would pass the budget of
	 * all clients waits for the client to ask again */
	if (len > s->lim.max_out_bytes) {
		s->st.too_large++;
		free(line);
		line = pw_proto_error(PW_E_INTERNAL, "answer too large (%zu bytes, limit %zu): "
				      "narrow the request", len, s->lim.max_out_bytes);
		if (!line) {
			client_close(c);
			return;
		}
		len = strlen(line);
	} else if (pending + len > s->lim.max_out_bytes) {
		/* pipelines requests and never reads the answers */
		s->st.lagged++;
		free(line);
		client_close(c);
		return;
	} else if (s->st.out_bytes + len > s->lim.max_out_total && len > 4096) {
		s->st.busy++;
		free(line);
		line = pw_proto_error(PW_E_INTERNAL, "busy: too much output unread by clients, "
				      "try again");
		if (!line) {
			client_close(c);
			return;
		}
		len = strlen(line);
	}
	/* nothing pending: adopt the line as the output buffer, no copy */
	if (!pending && len > 4096) {
		free(c->out);
		c->out = line;
		c->out_len = c->out_cap = len;
		c->out_off = 0;
		c->out_ms = pw_now_ms();
		account(c);
		line = NULL;
	} else if (append_out(c, line, len)) {
		free(line);
		client_close(c);
		return;
	}
	free(line);
	if (flush_out(c))
		client_close(c);
}

void pw_client_set_watch_data(struct pw_client *c, void *data, void (*free_fn)(void *))
{
	if (c->watch_free)
		c->watch_free(c->watch_data);
	c->watch_data = data;
	c->watch_free = free_fn;
}

/* A watcher with a filter: counted as a watcher, reads no log. */
static void set_fwatch(struct pw_client *c, bool on)
{
	struct pw_server *s = c->srv;

	if (c->fwatch == on)
		return;
	c->fwatch = on;
	s->st.watchers += on ? 1 : -1;
	s->fwatchers[c->cred.uid == 0 ? 0 : 1] += on ? 1 : -1;
}

static void pw_client_set_watch_log(struct pw_client *c, bool on);

void pw_client_set_watch(struct pw_client *c, bool on)
{
	if (c->watch_data || c->fwatch) {
		/* a second watch request with a filter: out of the shared log */
		if (c->watching)
			pw_client_set_watch_log(c, false);
		set_fwatch(c, on);
		return;
	}
	pw_client_set_watch_log(c, on);
}

static void pw_client_set_watch_log(struct pw_client *c, bool on)
{
	struct pw_server *s = c->srv;
	/* root reads every event whole; other users read redacted ones */
	struct wlog *wl = on ? &s->logs[c->cred.uid == 0 ? 0 : 1] : c->wl;

	if (c->watching == on)
		return;
	if (on && !wl->buf) {
		size_t size = 4096;

		while (size < s->lim.max_watch_bytes)
			size *= 2;
		wl->buf = malloc(size);
		if (!wl->buf) {
			client_close(c);
			return;
		}
		wl->size = size;
	}
	s->st.watchers += on ? 1 : -1;
	wl->watchers += on ? 1 : -1;
	c->watching = on;
	if (on) {
		int sndbuf = WATCH_SNDBUF;

		/* the event log is the watcher's buffer: a small socket buffer
		 * makes one that does not read stop costing anything sooner */
		(void) setsockopt(c->io.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		c->wl = wl;
		c->wpos = wl->head;
		c->idle_w = true;
		wl->caught_up++;
	} else if (c->idle_w) {
		c->idle_w = false;
		wl->caught_up--;
	}
}

/* The log must drop bytes below tail: watchers still there are let go. */
static void overrun(struct pw_server *s, struct wlog *wl, uint64_t tail)
{
	struct pw_client *c, *next;
	uint64_t min = wl->head;

	for (c = s->clients; c; c = next) {
		next = c->next;
		if (!c->watching || c->closed || c->wl != wl)
			continue;
		if (c->wpos < tail)
			drop_watcher(c, "slow reader: fell behind the event log");
		else if (c->wpos < min)
			min = c->wpos;
	}
	wl->min = min;
}

static void log_append(struct pw_server *s, struct wlog *wl, const char *line, size_t len)
{
	struct pw_client *c, *next;
	size_t off, first;

	if (!wl->watchers || !wl->buf || len > wl->size / 4)
		return;
	/* make room: the oldest whole lines go */
	if (wl->head + len > wl->tail + wl->size) {
		uint64_t t = wl->head + len - wl->size;

		while (t < wl->head && wl->buf[(t - 1) & (wl->size - 1)] != '\n')
			t++;
		if (wl->min < t)
			overrun(s, wl, t);
		wl->tail = t;
	}
	off = (size_t)(wl->head & (wl->size - 1));
	first = len < wl->size - off ? len : wl->size - off;
	memcpy(wl->buf + off, line, first);
	memcpy(wl->buf, line + first, len - first);
	wl->head += len;
	/* those that had sent everything wait for EPOLLOUT again; the others
	 * are armed already: a broadcast costs them nothing */
	if (!wl->caught_up)
		return;
	for (c = s->clients; c && wl->caught_up; c = next) {
		next = c->next;
		if (!c->watching || !c->idle_w || c->wl != wl)
			continue;
		c->idle_w = false;
		wl->caught_up--;
		/* its idle clock starts with this output, not its last one */
		c->out_ms = pw_now_ms();
		if (client_events(c))
			client_close(c);
	}
}

void pw_server_broadcast(struct pw_server *s, const char *line, size_t len)
{
	pw_server_broadcast_split(s, line, len, line, len);
}

void pw_server_broadcast_split(struct pw_server *s, const char *line, size_t len,
			       const char *redacted, size_t rlen)
{
	pw_server_broadcast_if(s, line, len, redacted, rlen, NULL, NULL);
}

void pw_server_broadcast_if(struct pw_server *s, const char *line, size_t len,
			    const char *redacted, size_t rlen, pw_watch_pred pred, const void *arg)
{
	struct pw_client *c, *next;

	if (!s->st.watchers)
		return;
	if (line && s->logs[0].watchers)
		log_append(s, &s->logs[0], line, len);
	if (redacted && s->logs[1].watchers)
		log_append(s, &s->logs[1], redacted, rlen);
	if (!s->fwatchers[0] && !s->fwatchers[1])
		return;
	/* filtered watchers: a copy each, of what their filter takes */
	for (c = s->clients; c; c = next) {
		const char *l = c->cred.uid == 0 ? line : redacted;
		size_t n = c->cred.uid == 0 ? len : rlen;

		next = c->next;
		if (!c->fwatch || c->closed || c->closing || !l)
			continue;
		if (pred && c->watch_data && !pred(c->watch_data, arg))
			continue;
		if (s->st.out_bytes + n > s->lim.max_out_total ||
		    c->out_len - c->out_off + n > s->lim.max_out_bytes) {
			pw_info("dropping watcher pid %d: slow reader", (int)c->cred.pid);
			/* its buffer holds whole lines: the last one says why */
			drop_watcher(c, "slow reader: its unread events passed the output cap");
			continue;
		}
		if (append_out(c, l, n) || flush_out(c))
			client_close(c);
	}
}

bool pw_server_has_watchers(const struct pw_server *s, bool redacted)
{
	return s->logs[redacted ? 1 : 0].watchers > 0 || s->fwatchers[redacted ? 1 : 0] > 0;
}

/* Refill a streaming answer while little of it is unread. */
static void stream_pump(struct pw_client *c)
{
	struct pw_strbuf sb = { 0 };
	int r;

	while (c->stream_fn && !c->stream_wait && !c->stream_paused && !c->closed &&
	       c->out_len - c->out_off < STREAM_LOW) {
		r = c->stream_fn(c->stream_ctx, &sb);
		if (r < 0 || sb.oom || (sb.len && append_out(c, sb.buf, sb.len))) {
			free(sb.buf);
			client_close(c);
			return;
		}
		sb.len = 0;
		if (r == 0)
			stream_end(c);
		else if (r == PW_STREAM_PAUSE)
			c->stream_paused = true;
	}
	free(sb.buf);
	if (!c->closed && flush_out(c))
		client_close(c);
}

void pw_client_stream_resume(struct pw_client *c)
{
	if (!c->stream_paused)
		return;
	c->stream_paused = false;
	stream_pump(c);
	if (!c->closed && client_events(c))
		client_close(c);
}

static void stream_end(struct pw_client *c)
{
	struct held *h = c->after_head;

	if (c->stream_free)
		c->stream_free(c->stream_ctx);
	c->stream_fn = NULL;
	c->stream_free = NULL;
	c->stream_ctx = NULL;
	c->stream_paused = false;
	c->after_head = c->after_tail = NULL;
	while (h) {
		struct held *next = h->next;

		pw_client_send(c, h->line);
		free(h);
		h = next;
	}
	/* requests that came in behind it */
	if (!c->closed && c->in_len && memchr(c->in, '\n', c->in_len))
		backlog_push(c);
	if (!c->closed && client_events(c))
		client_close(c);
}

void pw_client_stream(struct pw_client *c, pw_stream_fn fn, void (*free_fn)(void *ctx),
		      void *ctx)
{
	if (c->closed || c->closing || c->stream_fn || c->watching || c->fwatch) {
		/* never two answers interleaved: a watcher asks on a connection
		 * of its own */
		if (free_fn)
			free_fn(ctx);
		if (!c->closed && !c->closing)
			pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST,
					"a long answer cannot start on a watching connection: ask "
					"on a connection of its own"));
		return;
	}
	c->stream_fn = fn;
	c->stream_free = free_fn;
	c->stream_ctx = ctx;
	/* behind replies held for a group commit: after them */
	c->stream_wait = c->held_head != NULL;
	if (!c->stream_wait)
		stream_pump(c);
}
static struct uid_slot *uid_slot(struct pw_server *s, uid_t uid)
{
	for (size_t i = 0; i < s->n_uids; i++)
		if (s->uids[i].uid == uid)
			return &s->uids[i];
	return NULL;
}

/* Admission: non-root uids share max_clients, each at most max_per_uid;
 * root also gets root_reserve more, so no user can lock root out. */
static const char *admit(struct pw_server *s, uid_t uid)
{
	struct uid_slot *u;

	if (uid == 0)
		return s->st.clients < s->st.max_clients + s->lim.root_reserve ? NULL :
			"too many clients, try again";
	if (s->nonroot >= s->st.max_clients)
		return "too many clients, try again";
	u = uid_slot(s, uid);
	if (u && u->n >= s->lim.max_per_uid)
		return "too many connections from this user";
	if (!u) {
		if (pw_array_grow((void **)&s->uids, &s->cap_uids, s->n_uids + 1,
				  sizeof(*s->uids)))
			return "out of memory, try again";
		u = &s->uids[s->n_uids++];
		*u = (struct uid_slot){ .uid = uid };
	}
	u->n++;
	s->nonroot++;
	return NULL;
}

static void uid_release(struct pw_server *s, uid_t uid)
{
	struct uid_slot *u;

	if (uid == 0)
		return;
	s->nonroot--;
	u = uid_slot(s, uid);
	if (u && --u->n == 0)
		*u = s->uids[--s->n_uids];
}

static void client_close(struct pw_client *c)
{
	struct pw_server *s = c->srv;

	if (c->closed)
		return;
	uid_release(s, c->cred.uid);
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
		(void) flush_out(c);
		client_close(c);
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
				backlog_push(c);
			else if (client_events(c))
				client_close(c);
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
		client_close(c);
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
		if (flush_out(c)) {
			client_close(c);
			return 0;
		}
		if (c->stream_fn && !c->stream_wait) {
			stream_pump(c);
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
					client_close(c);
					return 0;
				}
				c->in = nin;
				c->in_cap = ncap;
			}
			n = recv(io->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				client_close(c);
				return 0;
			}
			if (n == 0) {
				eof = true;
				break;
			}
			c->in_len += (size_t)n;
			if (handle_lines(c, LINES_PER_READ)) {
				backlog_push(c);
				if (client_events(c))
					client_close(c);
				break;
			}
			if (c->closed)
				return 0;
			if (c->in_len > PW_PROTO_MAX_LINE) {
				c->srv->st.oversized++;
				reject(io->fd, PW_E_BAD_REQUEST, "request larger than 65536 bytes");
				client_close(c);
				return 0;
			}
		}
		if (!c->closed && (events & (EPOLLHUP | EPOLLERR)) && (eof || c->queued)) {
			c->eof = true;
			client_gone(c);
			return 0;
		}
		/* a half-closed client still gets its answers; watchers stay */
		if (eof && !c->closed) {
			c->eof = true;
			if (client_events(c)) {
				client_close(c);
				return 0;
			}
			finish_eof(c);
		}
	}
	return 0;
}

/* Out of file descriptors: the listener stays readable, so stop polling it
 * for accept_pause_ms instead of spinning on accept(). */
static void pause_accepting(struct pw_server *s, int err)
{
	if (s->accept_paused)
		return;
	if (pw_loop_mod(s->loop, &s->listen_io, 0) ||
	    pw_timerfd_arm(s->pause_io.fd, s->lim.accept_pause_ms, 0))
		return;
	s->accept_paused = true;
	s->st.accept_paused++;
	pw_warn("control socket: accept: %s; not accepting for %u ms", strerror(err),
		s->lim.accept_pause_ms);
}

static int resume_accepting(struct pw_io *io, uint32_t events)
{
	struct pw_server *s = io->data;

	(void) events;
	pw_timerfd_ack(io->fd);
	if (s->accept_paused && !pw_loop_mod(s->loop, &s->listen_io, EPOLLIN))
		s->accept_paused = false;
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
				pause_accepting(s, errno);
			return 0;	/* EAGAIN, or a peer that left: it retries */
		}
		s->st.accepted++;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
			close(fd);
			continue;
		}
		why = admit(s, cred.uid);
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
			uid_release(s, cred.uid);
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
			uid_release(s, cred.uid);
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
				client_close(c);
		} else if (c->partial_ms && now - c->partial_ms > s->lim.partial_timeout_ms) {
			s->st.timed_out++;
			reject(c->io.fd, PW_E_BAD_REQUEST, "incomplete request timed out");
			client_close(c);
		} else if (c->out_len > c->out_off || (c->watching && c->wpos < c->wl->head)) {
			/* output waits: idle while the peer reads none of it; a
			 * watcher is told why it goes */
			if (now - c->out_ms > s->lim.idle_timeout_ms) {
				s->st.timed_out++;
				if (c->watching || c->fwatch)
					drop_watcher(c, "idle: read none of its events for the "
							"client idle timeout");
				else
					client_close(c);
			}
		} else if (!c->watching && !c->fwatch && !c->partial_ms && c->refs == 1 &&
			   now - c->last_ms > s->lim.idle_timeout_ms) {
			s->st.timed_out++;
			client_close(c);
		}
	}
	if (!s->clients && !pw_timerfd_arm(io->fd, 0, 0))
		s->timer_armed = false;
	return 0;
}

/* Raise the file limit to its hard limit, then size the client limit to fit
 * under it with room for the daemon's own descriptors and root's reserve. */
static size_t client_budget(const struct pw_server_limits *lim)
{
	struct rlimit rl;
	size_t max = lim->max_clients;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return max;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = cur;
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)(max + lim->root_reserve + FD_RESERVE)) {
		size_t room = rl.rlim_cur > FD_RESERVE + lim->root_reserve + 16 ?
			(size_t)rl.rlim_cur - FD_RESERVE - lim->root_reserve : 16;

		pw_warn("file limit %llu: at most %zu clients (and %zu more for root)",
			(unsigned long long)rl.rlim_cur, room, lim->root_reserve);
		max = room;
	}
	return max;
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
	s->st.max_clients = client_budget(&s->lim);

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
	s->pause_io = (struct pw_io){ .fd = pw_timerfd_new(), .fn = resume_accepting, .data = s };
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
		client_close(s->clients);
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

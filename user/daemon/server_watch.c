// SPDX-License-Identifier: GPL-2.0
/* Watchers: the shared event logs (root's and the redacted one) read from
 * each watcher's position, filtered watchers' own copies, dropping the slow. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "array.h"
#include "log.h"
#include "server_int.h"

static void set_watch_log(struct pw_client *c, bool on);

/* Socket send buffer of a watcher (the kernel doubles it). */
#define WATCH_SNDBUF (32 << 10)

/* Send from the event log at the watcher's position. 0, or -errno. */
int srv_flush_log(struct pw_client *c)
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
bool srv_mid_line(const struct pw_client *c)
{
	const struct wlog *wl = c->wl;

	return c->watching && c->wpos > wl->tail && wl->buf[(c->wpos - 1) & (wl->size - 1)] != '\n';
}

/* Let a watcher go, telling it why in a last line: the event line it is in
 * the middle of is finished from the log first, then the reason, then the
 * connection is closed once that is read (or after a short wait). */
void srv_drop_watcher(struct pw_client *c, const char *reason)
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
		srv_account(c);
	}
	if (srv_mid_line(c)) {
		while (!err && c->wpos < c->wl->head) {
			char ch = c->wl->buf[c->wpos & (c->wl->size - 1)];

			err = srv_append_out(c, &ch, 1);
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
	if (err || srv_append_out(c, line, (size_t)n) || srv_flush_out(c))
		srv_client_close(c);
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

void pw_client_set_watch(struct pw_client *c, bool on)
{
	if (c->watch_data || c->fwatch) {
		/* a second watch request with a filter: out of the shared log */
		if (c->watching)
			set_watch_log(c, false);
		set_fwatch(c, on);
		return;
	}
	set_watch_log(c, on);
}

static void set_watch_log(struct pw_client *c, bool on)
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
			srv_client_close(c);
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
			srv_drop_watcher(c, "slow reader: fell behind the event log");
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
		if (srv_client_events(c))
			srv_client_close(c);
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
			srv_drop_watcher(c, "slow reader: its unread events passed the output cap");
			continue;
		}
		if (srv_append_out(c, l, n) || srv_flush_out(c))
			srv_client_close(c);
	}
}

bool pw_server_has_watchers(const struct pw_server *s, bool redacted)
{
	return s->logs[redacted ? 1 : 0].watchers > 0 || s->fwatchers[redacted ? 1 : 0] > 0;
}

// SPDX-License-Identifier: GPL-2.0
/* Client output: answers in order, replies held for a group commit,
 * streamed answers refilled as the client reads. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "array.h"
#include "log.h"
#include "server_int.h"

static void stream_end(struct pw_client *c);

/* A streaming answer is refilled when less than this is unread. */
#define STREAM_LOW (64 << 10)
/* At most this much of one streaming answer per turn of the loop: other
 * clients and kernel events wait behind a turn, not behind a listing. */
#define STREAM_TURN (256 << 10)

/* Keep the server's total of unread output current for c. */
void srv_account(struct pw_client *c)
{
	size_t pending = c->out_len - c->out_off;

	c->srv->st.out_bytes += pending;
	c->srv->st.out_bytes -= c->acct;
	c->acct = pending;
}

int srv_flush_out(struct pw_client *c)
{
	bool was_behind = c->watching && c->wpos < c->wl->head;
	int err;

	if (was_behind && srv_mid_line(c)) {
		/* finish the event line first: up to its newline */
		err = srv_flush_log(c);
		if (err)
			return err;
		if (c->wpos < c->wl->head)
			return srv_client_events(c);
	}
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			srv_account(c);
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
			err = srv_flush_log(c);
			if (err)
				return err;
		}
	}
	srv_account(c);
	/* a dropped watcher's last line is out: now close */
	if (c->closing && c->out_len == c->out_off)
		return -ECONNRESET;
	return srv_client_events(c);
}

int srv_append_out(struct pw_client *c, const char *data, size_t len)
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
	srv_account(c);
	return 0;
}

/* Queue line at the tail of a list of replies that wait (out of memory:
 * the client goes, as it would lose an answer). */
static void enqueue(struct pw_client *c, struct held **head, struct held **tail, char *line,
		    bool tentative)
{
	struct held *h = calloc(1, sizeof(*h));

	if (!h) {
		free(line);
		srv_client_close(c);
		return;
	}
	h->line = line;
	h->tentative = tentative;
	if (*tail)
		(*tail)->next = h;
	else
		*head = h;
	*tail = h;
}

static void hold(struct pw_client *c, char *line, bool tentative)
{
	enqueue(c, &c->held_head, &c->held_tail, line, tentative);
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

void srv_drop_held(struct pw_client *c)
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
			srv_client_close(c);
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
		srv_stream_pump(c);
	}
}

/* Answers wait behind a streaming one, in order. */
static void after_stream(struct pw_client *c, char *line)
{
	enqueue(c, &c->after_head, &c->after_tail, line, false);
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
			srv_client_close(c);
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
			srv_client_close(c);
			return;
		}
		len = strlen(line);
	} else if (pending + len > s->lim.max_out_bytes) {
		/* pipelines requests and never reads the answers */
		s->st.lagged++;
		free(line);
		srv_client_close(c);
		return;
	} else if (s->st.out_bytes + len > s->lim.max_out_total && len > 4096) {
		s->st.busy++;
		free(line);
		line = pw_proto_error(PW_E_INTERNAL, "busy: too much output unread by clients, "
				      "try again");
		if (!line) {
			srv_client_close(c);
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
		srv_account(c);
		line = NULL;
	} else if (srv_append_out(c, line, len)) {
		free(line);
		srv_client_close(c);
		return;
	}
	free(line);
	if (srv_flush_out(c))
		srv_client_close(c);
}

/* One piece of the streaming answer, written straight into the client's
 * output buffer (no copy of 2.5 MB for a listing of 10,000 sockets). */
static int fill_out(struct pw_client *c)
{
	size_t pending = c->out_len - c->out_off;
	struct pw_strbuf sb;
	int r;

	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_len = pending;
		c->out_off = 0;
	}
	sb = (struct pw_strbuf){ .buf = c->out, .len = c->out_len, .cap = c->out_cap };
	r = c->stream_fn(c->stream_ctx, &sb);
	/* grown or not, the buffer stays the client's (a failed grow keeps it) */
	c->out = sb.buf;
	c->out_cap = sb.cap;
	if (sb.oom)
		return -ENOMEM;
	if (!pending && sb.len > c->out_len)
		c->out_ms = pw_now_ms();
	c->out_len = sb.len;
	srv_account(c);
	return r;
}

/* Refill a streaming answer while little of it is unread; while the
 * socket takes all of it, go on, up to STREAM_TURN per turn of the loop. */
void srv_stream_pump(struct pw_client *c)
{
	size_t made = 0;
	int r;

	for (;;) {
		while (c->stream_fn && !c->stream_wait && !c->stream_paused && !c->closed &&
		       c->out_len - c->out_off < STREAM_LOW) {
			size_t before = c->out_len - c->out_off;

			r = fill_out(c);
			if (r < 0) {
				srv_client_close(c);
				return;
			}
			made += c->out_len - before;
			if (r == 0)
				stream_end(c);
			else if (r == PW_STREAM_PAUSE)
				c->stream_paused = true;
		}
		if (c->closed)
			break;
		if (srv_flush_out(c)) {
			srv_client_close(c);
			break;
		}
		/* the socket is full, the answer is out, or this turn is over */
		if (c->out_len != c->out_off || !c->stream_fn || c->stream_wait ||
		    c->stream_paused || made >= STREAM_TURN)
			break;
	}
}

void pw_client_stream_resume(struct pw_client *c)
{
	if (!c->stream_paused)
		return;
	c->stream_paused = false;
	srv_stream_pump(c);
	if (!c->closed && srv_client_events(c))
		srv_client_close(c);
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
		srv_backlog_push(c);
	if (!c->closed && srv_client_events(c))
		srv_client_close(c);
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
		srv_stream_pump(c);
}

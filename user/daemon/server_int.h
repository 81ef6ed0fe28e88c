/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket's insides, shared by its files (not an API): server.c
 * (listener, client life, requests), server_out.c (answers, held replies,
 * streams), server_watch.c (event logs and watchers), server_admit.c
 * (admission and the file limit).
 */
#ifndef PW_SERVER_INT_H
#define PW_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "loop.h"
#include "server.h"

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

/* server.c */
int srv_client_events(struct pw_client *c);
void srv_backlog_push(struct pw_client *c);
void srv_client_close(struct pw_client *c);

/* server_out.c */
void srv_account(struct pw_client *c);
int srv_flush_out(struct pw_client *c);
int srv_append_out(struct pw_client *c, const char *data, size_t len);
void srv_drop_held(struct pw_client *c);
void srv_stream_pump(struct pw_client *c);

/* server_watch.c */
int srv_flush_log(struct pw_client *c);
bool srv_mid_line(const struct pw_client *c);
void srv_drop_watcher(struct pw_client *c, const char *reason);

/* server_admit.c */
const char *srv_admit(struct pw_server *s, uid_t uid);
void srv_uid_release(struct pw_server *s, uid_t uid);
void srv_pause_accepting(struct pw_server *s, int err);
int srv_resume_accepting(struct pw_io *io, uint32_t events);
size_t srv_client_budget(const struct pw_server_limits *lim);

#endif

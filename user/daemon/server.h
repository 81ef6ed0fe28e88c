/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket: a Unix stream listener and its clients. Every client
 * has bounded input and output buffers and timeouts, so slow, silent or
 * hostile clients never block the loop or each other.
 */
#ifndef PW_SERVER_H
#define PW_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "loop.h"
#include "proto.h"
#include "strbuf.h"

struct pw_server;
struct pw_client;

/* Handle one parsed request. The request is released after the call. */
typedef void (*pw_request_fn)(void *ctx, struct pw_client *c, struct pw_request *req);

struct pw_server_limits {
	size_t max_clients;		/* further connections are refused with an error; lowered
					 * to fit the file limit (raised to its hard limit) */
	size_t max_per_uid;		/* connections of one non-root uid */
	size_t root_reserve;		/* connections only root gets, beyond max_clients */
	size_t max_out_bytes;		/* unread output of a client: an answer over it is
					 * refused, a client that lets more pile up is dropped */
	size_t max_watch_bytes;		/* the event log all watchers read from: one that falls
					 * further behind is dropped (telling it why) */
	size_t max_out_total;		/* unread output of all clients together */
	unsigned partial_timeout_ms;	/* an incomplete request older than this: close */
	unsigned idle_timeout_ms;	/* no request (empty lines do not count) and no
					 * output pending, or output pending and none of it
					 * read for this long: close (watchers included) */
	unsigned accept_pause_ms;	/* out of file descriptors: stop accepting this long */
};

struct pw_server_stats {
	size_t clients, watchers, max_clients;
	size_t out_bytes;		/* unread output held now, all clients */
	unsigned long long accepted, refused, refused_uid, accept_paused, timed_out, oversized,
		malformed, lagged, too_large, busy;
};

int pw_server_new(struct pw_server **ret, struct pw_loop *loop, const char *path,
		  const struct pw_server_limits *limits, pw_request_fn fn, void *ctx);
/* The same over @lfd, a listening socket made by someone else (systemd). */
int pw_server_new_fd(struct pw_server **ret, struct pw_loop *loop, const char *path, int lfd,
		     const struct pw_server_limits *limits, pw_request_fn fn, void *ctx);
void pw_server_free(struct pw_server *s);
void pw_server_stats(const struct pw_server *s, struct pw_server_stats *st);

/* Queue a response line (takes ownership of line; NULL means out of memory,
 * which closes the client). */
void pw_client_send(struct pw_client *c, char *line);
/* A reply that stands only if the group commit it waits for succeeds; it and
 * every later reply to the client are held until pw_client_settle(), which
 * sends them in order, each tentative one replaced by fail_line when the
 * commit failed (fail_line NULL: it succeeded). */
void pw_client_send_tentative(struct pw_client *c, char *line);
void pw_client_settle(struct pw_client *c, const char *fail_line);
/* Stream one long answer: fn appends the next piece to sb whenever the
 * client has read most of the last one, returning 1 while more follows, 0
 * when the answer is complete (it may write a whole error line instead if it
 * has written nothing yet), or a negative errno, which closes the client.
 * sb is the client's output buffer: it may hold unsent bytes already, and
 * fn appends after them (a piece is measured from where fn began).
 * Memory stays bounded by a piece, not the answer. Later replies to the
 * client wait for the end; free_fn(ctx) is called once, at the end or when
 * the client goes. */
typedef int (*pw_stream_fn)(void *ctx, struct pw_strbuf *sb);
void pw_client_stream(struct pw_client *c, pw_stream_fn fn, void (*free_fn)(void *ctx),
		      void *ctx);
/* fn's answer when the next piece is not at hand yet (a read on the storage
 * thread): the stream pauses until pw_client_stream_resume(). */
#define PW_STREAM_PAUSE 2
void pw_client_stream_resume(struct pw_client *c);
/* Turn the client into a watcher: it receives pw_server_broadcast lines. */
void pw_client_set_watch(struct pw_client *c, bool on);
void pw_server_broadcast(struct pw_server *s, const char *line, size_t len);
/* The same, with what root's watchers see (line) and what other users'
 * watchers may see (redacted); NULL: nothing for them. */
void pw_server_broadcast_split(struct pw_server *s, const char *line, size_t len,
			       const char *redacted, size_t rlen);
/* Per-watcher data (a filter), freed by free_fn with the client or when
 * replaced. Set before pw_client_set_watch: such a watcher reads no shared
 * log; each event its filter takes is copied into its own output. */
void pw_client_set_watch_data(struct pw_client *c, void *data, void (*free_fn)(void *));
/* Broadcast to the log watchers, and to the filtered watchers whose data
 * passes pred (pred NULL: all); root's get line, others redacted. */
typedef bool (*pw_watch_pred)(void *data, const void *arg);
void pw_server_broadcast_if(struct pw_server *s, const char *line, size_t len,
			    const char *redacted, size_t rlen, pw_watch_pred pred, const void *arg);
/* Are there watchers of the root log (false) or the redacted one (true)? */
bool pw_server_has_watchers(const struct pw_server *s, bool redacted);
const struct ucred *pw_client_cred(const struct pw_client *c);

/* Keep a client alive across an asynchronous reply; sends after its peer
 * left are dropped. */
struct pw_client *pw_client_ref(struct pw_client *c);
void pw_client_unref(struct pw_client *c);

#endif

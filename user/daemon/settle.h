/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Replies that wait for the storage thread's group commit: an answer that
 * reports a write stands only once the batch holding that write is durable.
 * Control-socket replies are sent tentatively (the client gets nothing later
 * before them) and settled when the batch ends, each replaced by a storage
 * error if it failed; the portserver and Styxy frontends wait the same way
 * through a callback. A reply that waited PW_STORAGE_TIMEOUT_MS is told the
 * storage failed; an allocation it reported is released again if its batch
 * commits later, so what the client was told stays true.
 */
#ifndef PW_SETTLE_H
#define PW_SETTLE_H

#include <stddef.h>
#include <stdint.h>
#include "allocs.h"
#include "loop.h"
#include "server.h"

/* fail: NULL when the write is durable, else why it is not. */
typedef void (*pw_settle_fn)(void *ctx, const char *fail);

struct pw_settle {
	struct pw_settle_entry {
		uint64_t seq;		/* the batch it waits for */
		uint64_t deadline_ms;
		int64_t alloc_id;	/* an allocation it reports, else 0 */
		const char *what;	/* "allocation not made", ... */
		pw_settle_fn fn;
		void *ctx;
	} *v;
	size_t head, n, cap;		/* waiting: v[head..n) in order */
	struct pw_settle_late {
		uint64_t seq;
		int64_t alloc_id;
	} *late;			/* timed out, undone if their batch commits */
	size_t n_late, cap_late;
	struct pw_io timer;
	struct pw_allocs *as;
	uint64_t timeouts;
};

int pw_settle_init(struct pw_settle *st, struct pw_loop *loop, struct pw_allocs *as);
/* Wait for the open batch: 0 queued (fn follows), 1 nothing to wait for (the
 * caller answers now), -ENOMEM. */
int pw_settle_wait(struct pw_settle *st, int64_t alloc_id, const char *what, pw_settle_fn fn,
		   void *ctx);
/* A control-socket reply that waits when there is something to wait for. Takes line. */
void pw_settle_reply(struct pw_settle *st, struct pw_client *c, char *line, int64_t alloc_id,
		     const char *what_if_failed);
/* A batch ended (the allocs' committed hook). */
void pw_settle_committed(struct pw_settle *st, const struct pw_journal_done *d);
/* Anything still waiting fails ("shutting down"); the timer goes. */
void pw_settle_fini(struct pw_settle *st, struct pw_loop *loop);

#endif

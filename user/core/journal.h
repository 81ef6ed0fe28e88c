/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The store's writes, off the event loop. Before pw_journal_start() every
 * call runs on the caller's thread and commits on its own (start-up, unit
 * tests). After it, a storage thread owns the store: the loop queues writes
 * into the open batch, which pw_journal_kick() hands to the thread when it
 * is idle (so one group commit covers every write made while the previous
 * one was on the disk), and the batch's end comes back on the loop through
 * the done callback. Reads of the audit trail and retention run on the
 * thread too, their answers handed back the same way. The loop never waits
 * on the disk: with the filesystem frozen, batches wait, the loop does not.
 *
 * A failed batch rolls back, and so does the open batch behind it (its
 * writes were made on top of the failed one): done() gets the error, the
 * newest sequence number it covers and the allocations as the disk has them,
 * which memory must then follow.
 */
#ifndef PW_JOURNAL_H
#define PW_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "alloc.h"
#include "loop.h"
#include "store.h"

struct pw_journal;

/* What a batch's end tells the loop. */
struct pw_journal_done {
	uint64_t seq;			/* every batch up to this one has ended */
	int err;			/* 0: durable; else nothing of them was stored */
	const char *why;		/* err's message */
	const struct pw_alloc *rows;	/* err: the allocations the disk has */
	size_t n_rows;
	bool reloaded;			/* err: rows could be read (else keep memory) */
	size_t writes;			/* allocation writes in it: 0 for reads alone
					 * (a prune, a check), which say nothing of
					 * whether the disk takes writes */
};

typedef void (*pw_journal_done_fn)(void *ctx, const struct pw_journal_done *d);

/* A new journal over s (not owned), in direct mode. 0 or -errno. */
int pw_journal_new(struct pw_journal **ret, struct pw_store *s);
/* Start the storage thread; done is called on the loop after each batch. */
int pw_journal_start(struct pw_journal *j, struct pw_loop *loop, pw_journal_done_fn done,
		     void *ctx);
/* Hand everything queued to the thread and wait until it is stored, done()
 * called (waiting on the disk: shutdown only), at most timeout_ms: then
 * -ETIMEDOUT, and the journal is stuck: the thread keeps the store. */
#define PW_JOURNAL_FLUSH_MS 5000
int pw_journal_flush(struct pw_journal *j, unsigned timeout_ms);
bool pw_journal_stuck(const struct pw_journal *j);
/* Flush and end the thread (a stuck journal is left to the process's end:
 * its store must not be closed either). NULL ok. */
void pw_journal_free(struct pw_journal *j);
bool pw_journal_threaded(const struct pw_journal *j);

/*
 * Writes. Direct: stored at once, 0 or the store's -errno. Threaded: queued
 * (0 or -ENOMEM), stored by the batch's commit. fsync marks a write a client
 * is told of: its batch commits with an fsync (else only synchronous=NORMAL,
 * what recovery derives again).
 */
int pw_journal_insert(struct pw_journal *j, struct pw_alloc *a);	/* sets a->id */
int pw_journal_set_state(struct pw_journal *j, int64_t id, enum pw_alloc_state st);
int pw_journal_set_owner(struct pw_journal *j, const struct pw_alloc *a, bool fsync);
int pw_journal_delete(struct pw_journal *j, int64_t id);
int pw_journal_audit(struct pw_journal *j, const struct pw_audit *a);

/* The newest batch with writes not yet ended (the open one, else the one on
 * the disk), 0 when none: a reply that reports a write waits for it, and so
 * never gets ahead of any write made before it. */
uint64_t pw_journal_pending(const struct pw_journal *j);
/* The end of a loop turn: hand the open batch to the thread when it is idle. */
void pw_journal_kick(struct pw_journal *j);
/* How long the batch on the disk has been there (ms; 0 when idle). */
uint64_t pw_journal_busy_ms(const struct pw_journal *j);
/* Writes dropped because the open batch was full while the disk stalled. */
uint64_t pw_journal_dropped(const struct pw_journal *j);
/* Durable group commits so far (the store's generation, as of the last batch). */
int64_t pw_journal_generation(const struct pw_journal *j);
/* The last error's message ("" none). */
const char *pw_journal_errmsg(const struct pw_journal *j);

/*
 * Reads and retention, answered through fn (on the loop when threaded, at
 * once when direct). err 0 or -errno with msg. The records are the
 * callee's: valid during the call only.
 */
struct pw_journal_audit_page {
	int err;
	const char *msg;
	int64_t after;			/* the after_id used (tail: as computed) */
	const struct pw_audit *recs;
	size_t n;
};
typedef void (*pw_journal_page_fn)(void *ctx, const struct pw_journal_audit_page *p);
/* At most limit records after after_id; after_id < 0: from where the newest
 * tail records start (tail 0: all), as pw_store_audit_tail_start says. */
int pw_journal_audit_read(struct pw_journal *j, int64_t after_id, size_t tail, size_t limit,
			  pw_journal_page_fn fn, void *ctx);
typedef void (*pw_journal_prune_fn)(void *ctx, int err, const char *msg, size_t deleted);
int pw_journal_audit_prune(struct pw_journal *j, size_t max_records, int64_t min_ts_ms,
			   size_t batch, pw_journal_prune_fn fn, void *ctx);
/*
 * The database's integrity check (pw_store_integrity_check) on the thread,
 * between batches: the daemon's one connection holds the database
 * exclusively, so no other connection can read it. fn gets 0 and "ok", or
 * an error and what the check found.
 */
typedef void (*pw_journal_check_fn)(void *ctx, int err, const char *msg);
int pw_journal_check(struct pw_journal *j, pw_journal_check_fn fn, void *ctx);
/* Write a small file of the state directory off the loop: data (taken) to
 * path, atomically (path.tmp, fsync, rename), in order with the batches;
 * a failure is logged. 0 or -ENOMEM. */
int pw_journal_put_file(struct pw_journal *j, const char *path, char *data, size_t len);
/* Forget a read's callback (its reader went away): the answer is dropped. */
void pw_journal_cancel(struct pw_journal *j, void *ctx);

#endif

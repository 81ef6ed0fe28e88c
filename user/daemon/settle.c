// SPDX-License-Identifier: GPL-2.0
/* Replies that wait for the group commit (see settle.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "journal.h"
#include "log.h"
#include "settle.h"

static void arm(struct pw_settle *st)
{
	uint64_t now = pw_now_ms();

	if (st->timer.fd < 0)
		return;
	if (st->head == st->n) {
		(void) pw_timerfd_arm(st->timer.fd, 0, 0);
		return;
	}
	(void) pw_timerfd_arm(st->timer.fd, st->v[st->head].deadline_ms > now ?
				  st->v[st->head].deadline_ms - now : 1, 0);
}

/* Settle the first entry; the array is compacted once it empties. */
static void pop(struct pw_settle *st, const char *fail)
{
	struct pw_settle_entry e = st->v[st->head++];

	if (st->head == st->n)
		st->head = st->n = 0;
	e.fn(e.ctx, fail);
}

static int on_timeout(struct pw_io *io, uint32_t events)
{
	struct pw_settle *st = io->data;
	uint64_t now = pw_now_ms(), before = st->timeouts;
	char fail[512];

	(void) events;
	pw_timerfd_ack(io->fd);
	while (st->head < st->n && st->v[st->head].deadline_ms <= now) {
		struct pw_settle_entry *e = &st->v[st->head];

		snprintf(fail, sizeof(fail), "state storage did not finish the commit within %u ms "
			 "(is the state filesystem frozen or failing?), %s", PW_STORAGE_TIMEOUT_MS,
			 e->what);
		if (e->alloc_id &&
		    !pw_array_grow((void **)&st->late, &st->cap_late, st->n_late + 1,
				   sizeof(*st->late)))
			st->late[st->n_late++] = (struct pw_settle_late){ e->seq, e->alloc_id };
		st->timeouts++;
		pop(st, fail);
	}
	if (st->timeouts != before)
		pw_warn("storage: %llu repl%s timed out waiting for a commit so far",
			(unsigned long long)st->timeouts, st->timeouts == 1 ? "y" : "ies");
	arm(st);
	return 0;
}

int pw_settle_init(struct pw_settle *st, struct pw_loop *loop, struct pw_allocs *as)
{
	*st = (struct pw_settle){ .as = as };
	return pw_loop_add_timer(loop, &st->timer, on_timeout, st);
}

int pw_settle_wait(struct pw_settle *st, int64_t alloc_id, const char *what, pw_settle_fn fn,
		   void *ctx)
{
	uint64_t seq = st->as ? pw_allocs_pending(st->as) : 0;

	if (!seq)
		return 1;
	if (st->head && st->n == st->cap) {
		/* reuse the settled front before growing */
		memmove(st->v, st->v + st->head, (st->n - st->head) * sizeof(*st->v));
		st->n -= st->head;
		st->head = 0;
	}
	if (pw_array_grow((void **)&st->v, &st->cap, st->n + 1, sizeof(*st->v)))
		return -ENOMEM;
	st->v[st->n++] = (struct pw_settle_entry){
		.seq = seq, .deadline_ms = pw_now_ms() + PW_STORAGE_TIMEOUT_MS,
		.alloc_id = alloc_id, .what = what, .fn = fn, .ctx = ctx };
	if (st->n - st->head == 1)
		arm(st);
	return 0;
}

static void client_settled(void *ctx, const char *fail)
{
	struct pw_client *c = ctx;
	char *line = fail ? pw_proto_error(PW_E_STORAGE, "%s", fail) : NULL;

	pw_client_settle(c, line);
	pw_client_unref(c);
	free(line);
}

void pw_settle_reply(struct pw_settle *st, struct pw_client *c, char *line, int64_t alloc_id,
		     const char *what_if_failed)
{
	int r = pw_settle_wait(st, alloc_id, what_if_failed, client_settled, c);

	if (r == 1) {
		pw_client_send(c, line);
		return;
	}
	if (r < 0) {
		free(line);
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	pw_client_ref(c);
	pw_client_send_tentative(c, line);
}

/* Timed-out allocations whose batch is now durable: the client was told
 * they failed, so they go again. */
static void undo_late(struct pw_settle *st, const struct pw_journal_done *d)
{
	size_t k = 0;

	for (size_t i = 0; i < st->n_late; i++) {
		struct pw_alloc_rt *r;

		if (st->late[i].seq > d->seq) {
			st->late[k++] = st->late[i];
			continue;
		}
		r = d->err ? NULL : pw_allocs_by_id(st->as, st->late[i].alloc_id);
		if (r)
			(void) pw_allocs_release(st->as, r, 0, 0, "stored after its client was "
						 "told the storage timed out");
	}
	st->n_late = k;
}

void pw_settle_committed(struct pw_settle *st, const struct pw_journal_done *d)
{
	char fail[512];

	while (st->head < st->n && st->v[st->head].seq <= d->seq) {
		if (d->err) {
			snprintf(fail, sizeof(fail), "state storage failed, %s: %s",
				 st->v[st->head].what, d->why);
			pop(st, fail);
		} else {
			pop(st, NULL);
		}
	}
	if (st->n_late)
		undo_late(st, d);
	arm(st);
}

void pw_settle_fini(struct pw_settle *st, struct pw_loop *loop)
{
	if (!st->as)
		return;
	while (st->head < st->n)
		pop(st, "the daemon is shutting down before the commit ended");
	pw_loop_close_io(loop, &st->timer);
	free(st->v);
	free(st->late);
	*st = (struct pw_settle){ .timer.fd = -1 };
}

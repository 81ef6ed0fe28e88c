// SPDX-License-Identifier: GPL-2.0
/* Audit rate limits, retention and the off-loop integrity check (guard.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocs.h"
#include "config.h"
#include "daemon.h"
#include "guard.h"
#include "journal.h"
#include "log.h"
#include "proto.h"
#include "server.h"

#define MAX_UIDS 1024		/* refusal buckets; the least recent goes first */
#define PRUNE_BATCH 5000	/* records deleted per step: a few ms at most */
#define PRUNE_IDLE_MS 10000
#define PRUNE_BUSY_MS 100
#define PRUNE_SOON_MS 1000	/* after records were written */
/* A check this recent answers the next recover --dry-run: one reads the
 * whole database and holds the storage thread while it does, so any user's
 * request loop takes at most a small share of the disk's time. */
#define CHECK_REUSE_MS 5000

struct bucket {
	uid_t uid;
	double tokens;
	uint64_t last_ms;
	unsigned long long unrecorded;
};

struct waiter {
	struct pw_client *c;
	json_t *report;
	struct waiter *next;
};

struct pw_guard {
	struct pw_daemon *d;
	struct bucket *b;
	size_t nb;
	struct pw_io prune_io;
	uint64_t prune_armed_ms;	/* deadline armed, 0: none */
	bool pruning;			/* a step is with the storage thread */
	bool prune_due;			/* records written since the last step began */
	/* the integrity check, on the storage thread */
	bool checking;
	uint64_t checked_ms;		/* when the last one ended, 0: never */
	char msg[256];
	int result;
	struct waiter *waiters;		/* answered when the check ends */
	struct pw_guard_stats st;
};

/* --- refusals ---------------------------------------------------------- */

bool pw_guard_refusal(struct pw_guard *g, uid_t uid, char *note, size_t n)
{
	double rate = g->d->cfg->audit.refusals_per_s, burst = rate * 10;
	uint64_t now = pw_now_ms();
	struct bucket *b = NULL;

	note[0] = '\0';
	for (size_t i = 0; i < g->nb && !b; i++)
		if (g->b[i].uid == uid)
			b = &g->b[i];
	if (!b) {
		if (g->nb < MAX_UIDS) {
			b = &g->b[g->nb++];
		} else {
			b = &g->b[0];
			for (size_t i = 1; i < g->nb; i++)
				if (g->b[i].last_ms < b->last_ms)
					b = &g->b[i];
		}
		*b = (struct bucket){ .uid = uid, .tokens = burst, .last_ms = now };
	}
	b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_ms = now;
	if (b->tokens < 1.0) {
		b->unrecorded++;
		g->st.refusals_unrecorded++;
		return false;
	}
	b->tokens -= 1.0;
	if (b->unrecorded)
		snprintf(note, n, " (and %llu more refusals of uid %u not recorded: rate limit)",
			 b->unrecorded, (unsigned)uid);
	b->unrecorded = 0;
	/* what was written is pruned soon, not only at the next idle round */
	g->prune_due = true;
	if (!g->prune_armed_ms || g->prune_armed_ms > now + PRUNE_SOON_MS) {
		(void) pw_timerfd_arm(g->prune_io.fd, PRUNE_SOON_MS, 0);
		g->prune_armed_ms = now + PRUNE_SOON_MS;
	}
	return true;
}

/* --- retention --------------------------------------------------------- */

/* A retention step ended on the storage thread. */
static void pruned(void *ctx, int err, const char *msg, size_t deleted)
{
	struct pw_guard *g = ctx;
	unsigned next;

	g->pruning = false;
	if (err)
		pw_warn("audit retention: %s", msg);
	g->st.audit_pruned += deleted;
	/* a full batch: more is due, in small steps between other work; and
	 * records written while this step ran are pruned soon too (the timer
	 * they armed is re-armed here) */
	next = deleted >= PRUNE_BATCH ? PRUNE_BUSY_MS : g->prune_due ? PRUNE_SOON_MS : PRUNE_IDLE_MS;
	(void) pw_timerfd_arm(g->prune_io.fd, next, 0);
	g->prune_armed_ms = pw_now_ms() + next;
}

static int on_prune(struct pw_io *io, uint32_t events)
{
	struct pw_guard *g = io->data;
	const struct pw_config *cfg = g->d->cfg;
	int64_t min_ts = pw_wall_ms() - (int64_t)cfg->audit.max_age_days * 86400000;

	(void) events;
	pw_timerfd_ack(io->fd);
	g->prune_armed_ms = 0;
	if (g->pruning)
		return 0;	/* the step under way re-arms the timer */
	g->pruning = true;
	g->prune_due = false;
	if (pw_journal_audit_prune(g->d->allocs->journal, (size_t)cfg->audit.max_records, min_ts,
				   PRUNE_BATCH, pruned, g))
		pruned(g, -ENOMEM, "out of memory", 0);
	return 0;
}

/* --- integrity check off the loop -------------------------------------- */

static void answer(struct waiter *w, int result, const char *msg, uint64_t age_ms)
{
	json_t *steps = json_object_get(w->report, "steps");
	size_t i;
	json_t *s;

	json_array_foreach(steps, i, s) {
		if (strcmp(json_string_value(json_object_get(s, "step")) ?: "", "database"))
			continue;
		json_object_set_new(s, "result", json_string(result ? msg : "ok"));
		json_object_set_new(s, "checked_ms_ago", json_integer((json_int_t)age_ms));
	}
	pw_client_send(w->c, pw_proto_ok(w->report));
	pw_client_unref(w->c);
	free(w);
}

static void answer_all(struct pw_guard *g, uint64_t age_ms)
{
	struct waiter *w = g->waiters;

	g->waiters = NULL;
	while (w) {
		struct waiter *next = w->next;

		answer(w, g->result, g->msg, age_ms);
		w = next;
	}
}

/* The storage thread's check ended: every waiter gets its verdict. */
static void checked(void *ctx, int err, const char *msg)
{
	struct pw_guard *g = ctx;

	g->checking = false;
	g->checked_ms = pw_now_ms();
	g->result = err;
	snprintf(g->msg, sizeof(g->msg), "%s", msg);
	answer_all(g, 0);
}

void pw_guard_recover(struct pw_guard *g, struct pw_client *c, json_t *report)
{
	struct waiter *w = calloc(1, sizeof(*w));
	uint64_t now = pw_now_ms();

	if (!w) {
		json_decref(report);
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	w->c = pw_client_ref(c);
	w->report = report;
	w->next = g->waiters;
	g->waiters = w;
	if (g->checking)
		return;		/* the check under way answers it too */
	if (g->checked_ms && now - g->checked_ms < CHECK_REUSE_MS) {
		answer_all(g, now - g->checked_ms);
		return;
	}
	if (pw_journal_check(g->d->allocs->journal, checked, g)) {
		g->result = -ENOMEM;
		snprintf(g->msg, sizeof(g->msg), "cannot queue the check: out of memory");
		answer_all(g, 0);
		return;
	}
	g->checking = true;
	g->st.checks++;
}

void pw_guard_stats(const struct pw_guard *g, struct pw_guard_stats *st)
{
	*st = g->st;
}

int pw_guard_new(struct pw_guard **ret, struct pw_daemon *d)
{
	struct pw_guard *g = calloc(1, sizeof(*g));
	int err;

	if (!g)
		return -ENOMEM;
	g->d = d;
	g->prune_io.fd = -1;
	g->b = calloc(MAX_UIDS, sizeof(*g->b));
	err = g->b ? 0 : -ENOMEM;
	if (!err)
		err = pw_loop_add_timer(d->loop, &g->prune_io, on_prune, g);
	/* the first retention round soon after start: an old trail shrinks */
	if (!err)
		err = pw_timerfd_arm(g->prune_io.fd, 1000, 0);
	if (err) {
		pw_guard_free(g);
		return err;
	}
	g->prune_armed_ms = pw_now_ms() + 1000;
	*ret = g;
	return 0;
}

static void free_waiters(struct waiter *w)
{
	while (w) {
		struct waiter *next = w->next;

		json_decref(w->report);
		pw_client_unref(w->c);
		free(w);
		w = next;
	}
}

void pw_guard_free(struct pw_guard *g)
{
	if (!g)
		return;
	free_waiters(g->waiters);
	if ((g->pruning || g->checking) && g->d->allocs)
		pw_journal_cancel(g->d->allocs->journal, g);
	pw_loop_close_io(g->d->loop, &g->prune_io);
	free(g->b);
	free(g);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What keeps one user from filling the disk or stalling the loop through the
 * audit trail: refusals audited at a bounded rate per uid (the rest counted),
 * retention of the trail by count and age, and the whole-database integrity
 * check of `recover --dry-run` on the storage thread (pw_journal_check), at
 * most one at a time, its verdict reused for a few seconds.
 */
#ifndef PW_GUARD_H
#define PW_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

struct pw_daemon;
struct pw_client;
struct pw_guard;

int pw_guard_new(struct pw_guard **ret, struct pw_daemon *d);
/* A check under way is forgotten: its waiters are dropped unanswered. */
void pw_guard_free(struct pw_guard *g);

/* A refusal for uid is about to be audited: true if it may be written; then
 * note (size n) says how many before it were not (else ""). */
bool pw_guard_refusal(struct pw_guard *g, uid_t uid, char *note, size_t n);

/* Answer `recover --dry-run` to c with report once the integrity check
 * (shared by every request that comes while it runs, and reused by those
 * that come within CHECK_REUSE_MS of its end) has its result and age in
 * the report's "database" step. Steals report. */
void pw_guard_recover(struct pw_guard *g, struct pw_client *c, json_t *report);

struct pw_guard_stats {
	unsigned long long refusals_unrecorded, audit_pruned, checks;
};
void pw_guard_stats(const struct pw_guard *g, struct pw_guard_stats *st);

#endif

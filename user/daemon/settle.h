/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Replies that wait for the loop batch's group commit: sent tentatively (the
 * client gets nothing later before them), then settled when the commit ends,
 * each replaced by a storage error if it failed.
 */
#ifndef PW_SETTLE_H
#define PW_SETTLE_H

#include <stddef.h>
#include "allocs.h"
#include "server.h"

struct pw_settle {
	struct pw_settle_entry {
		struct pw_client *c;
		const char *what;	/* "allocation not made", ... */
	} *v;
	size_t n, cap;
};

/* A reply that stands only if the open group commit succeeds (sent at once
 * when no group is open). Takes line. */
void pw_settle_reply(struct pw_settle *st, struct pw_allocs *as, struct pw_client *c, char *line,
		     const char *what_if_failed);
/* End the batch: commit the group, then settle every waiting reply. 0, or
 * the commit's error. */
int pw_settle_batch(struct pw_settle *st, struct pw_allocs *as);
void pw_settle_fini(struct pw_settle *st);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Start-up: the state database opened (recovery of a corrupt one included)
 * and its allocations read on a thread of their own while the main thread
 * loads the BPF programs. The two take about as long and neither needs the
 * other; the rows are indexed afterwards, on the main thread, against the
 * complete port map.
 */
#ifndef PW_PRELOAD_H
#define PW_PRELOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "store.h"

struct pw_preload {
	/* what pw_recovery_open_store() and pw_store_load_all() gave */
	int err;		/* 0 or -errno, logged */
	struct pw_store *store;
	bool reset;
	json_t *report;
	struct pw_alloc *rows;
	size_t n;
	/* private */
	const char *dir;
	const struct pw_config *cfg;
	pthread_t tid;
	bool running, done;
};

/* Begin; dir and cfg must outlive the join. Without a thread, the join
 * does the work itself. */
void pw_preload_start(struct pw_preload *pl, const char *dir, const struct pw_config *cfg);
/* Wait for the results. */
void pw_preload_join(struct pw_preload *pl);
/* Free what was not taken over (set a field to NULL to keep it). */
void pw_preload_discard(struct pw_preload *pl);

#endif

// SPDX-License-Identifier: GPL-2.0
/* Start-up: the state read beside the BPF load (see preload.h). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "preload.h"
#include "allocs.h"

static void *preload_run(void *arg)
{
	struct pw_preload *pl = arg;

	pl->err = pw_recovery_open_store(pl->dir, pl->cfg, &pl->store, &pl->reset, &pl->report);
	if (pl->err)
		return NULL;
	pl->err = pw_store_load_all(pl->store, &pl->rows, &pl->n);
	if (pl->err)
		pw_err("state: cannot load allocations: %s", pw_store_errmsg(pl->store));
	return NULL;
}

void pw_preload_start(struct pw_preload *pl, const char *dir, const struct pw_config *cfg)
{
	memset(pl, 0, sizeof(*pl));
	pl->dir = dir;
	pl->cfg = cfg;
	pl->running = pthread_create(&pl->tid, NULL, preload_run, pl) == 0;
}

void pw_preload_join(struct pw_preload *pl)
{
	if (pl->done)
		return;
	if (pl->running)
		pthread_join(pl->tid, NULL);
	else
		(void) preload_run(pl);	/* no thread: here, in turn */
	pl->running = false;
	pl->done = true;
}

void pw_preload_discard(struct pw_preload *pl)
{
	pw_preload_join(pl);
	free(pl->rows);
	pl->rows = NULL;
	json_decref(pl->report);
	pl->report = NULL;
	pw_store_close(pl->store);
	pl->store = NULL;
}

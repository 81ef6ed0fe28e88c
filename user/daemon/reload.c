// SPDX-License-Identifier: GPL-2.0
/*
 * Configuration reload on SIGHUP. The new file is loaded and validated whole
 * (pw_config_load_file) before anything changes; then it replaces d->cfg, the
 * allocation index takes it (pw_allocs_config_changed: state-machine
 * parameters, poll period, limits),
 * and health checks restart from the new service types after the current
 * loop batch (no event of this batch may still point at the old ones).
 *
 * A replaced configuration is kept until exit, not freed: an allocation
 * request waiting out a conflict backoff holds a pointer to its service type.
 * Reloads are operator actions; each keeps a few kilobytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocs.h"
#include "checks.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "reload.h"
#include "sdnotify.h"

struct pw_reload {
	int64_t loaded_at_ms;		/* wall clock of the configuration in force */
	unsigned long reloads, failures;
	char last[400];			/* "ok" or "error: ..." */
	struct pw_config **retired;
	size_t n_retired;
};

static struct pw_reload *state(struct pw_daemon *d)
{
	if (!d->reload) {
		d->reload = calloc(1, sizeof(*d->reload));
		if (d->reload)	/* loaded at start-up */
			d->reload->loaded_at_ms = pw_wall_ms() -
				(int64_t)((pw_now_ns() - d->started_ns) / 1000000);
	}
	return d->reload;
}

static void restart_checks(void *daemon)
{
	struct pw_daemon *d = daemon;

	if (!d->allocs)
		return;
	pw_checks_fini(d->allocs);
	if (pw_checks_init(d->allocs))
		pw_err("config reload: health checks could not restart");
}

void pw_reload_config(struct pw_daemon *d)
{
	struct pw_reload *rl = state(d);
	struct pw_config *cfg = NULL, **nr;
	const char *path = d->opts.config_path;
	char err[320];
	int r;

	if (!rl) {
		pw_err("config reload: out of memory");
		return;
	}
	pw_sd_reloading(d, d->sd, false);
	/* started on built-in defaults: a default file created since counts */
	if (!path && access(PW_DEFAULT_CONFIG, F_OK) == 0)
		path = PW_DEFAULT_CONFIG;
	rl->reloads++;
	r = path ? pw_config_load_file(path, &cfg, err, sizeof(err)) : pw_config_default(&cfg);
	if (!r) {
		nr = realloc(rl->retired, (rl->n_retired + 1) * sizeof(*nr));
		if (!nr) {
			pw_config_free(cfg);
			r = -ENOMEM;
			snprintf(err, sizeof(err), "out of memory");
		} else {
			rl->retired = nr;
		}
	}
	if (r) {
		rl->failures++;
		snprintf(rl->last, sizeof(rl->last), "error: %s", path ? err : strerror(-r));
		pw_err("config reload refused, %s: %s; the configuration loaded before stays",
		       path ? path : "built-in defaults", path ? err : strerror(-r));
		pw_sd_reloading(d, d->sd, true);
		return;
	}
	/* the same preparation as at start; refused whole if it fails */
	rl->retired[rl->n_retired] = d->cfg;
	d->cfg = cfg;
	r = pw_daemon_prepare_config(d);
	if (r) {
		d->cfg = rl->retired[rl->n_retired];
		pw_config_free(cfg);
		rl->failures++;
		snprintf(rl->last, sizeof(rl->last), "error: %s", strerror(-r));
		pw_err("config reload refused: %s; the configuration loaded before stays",
		       strerror(-r));
		pw_sd_reloading(d, d->sd, true);
		return;
	}
	rl->n_retired++;
	d->opts.config_path = path;
	rl->loaded_at_ms = pw_wall_ms();
	snprintf(rl->last, sizeof(rl->last), "ok");
	pw_allocs_config_changed(d->allocs, d->cfg);
	if (pw_loop_defer_free(d->loop, restart_checks, d))
		pw_warn("config reload: health checks keep their previous settings");
	pw_info("config reloaded: %s, %zu service types", path ? path : "built-in defaults",
		cfg->n_types);
	pw_sd_reloading(d, d->sd, true);
}

void pw_reload_status(struct pw_daemon *d, json_t *status)
{
	struct pw_reload *rl = state(d);

	if (!rl)
		return;
	json_object_set_new(status, "config", json_pack("{s:s, s:I, s:I, s:I, s:s?}",
		"path", d->opts.config_path ? d->opts.config_path : "built-in",
		"loaded_at_ms", (json_int_t)rl->loaded_at_ms,
		"reloads", (json_int_t)rl->reloads,
		"failed_reloads", (json_int_t)rl->failures,
		"last_reload", rl->reloads ? rl->last : NULL));
}

void pw_reload_free(struct pw_daemon *d)
{
	struct pw_reload *rl = d->reload;

	if (!rl)
		return;
	for (size_t i = 0; i < rl->n_retired; i++)
		pw_config_free(rl->retired[i]);
	free(rl->retired);
	free(rl);
	d->reload = NULL;
}

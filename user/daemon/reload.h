/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SIGHUP: load the configuration file again. A file that does not load is
 * refused and logged, and the configuration in force stays; the outcome is
 * part of `status` ("config").
 */
#ifndef PW_RELOAD_H
#define PW_RELOAD_H

#include <jansson.h>

struct pw_daemon;

/* Reload now (from the signal handler). Logs the outcome. */
void pw_reload_config(struct pw_daemon *d);
/* Add "config": {"path", "loaded_at_ms", "reloads", "last_reload"} to status. */
void pw_reload_status(struct pw_daemon *d, json_t *status);
/* Free configurations replaced by reloads (at exit). */
void pw_reload_free(struct pw_daemon *d);

#endif

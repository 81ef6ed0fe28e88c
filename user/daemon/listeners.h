/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the optional listeners (portserver, Styxy HTTP API) and the config
 * warnings add to `status` and to the metrics, in one place so that the
 * status and metrics code gains one call each.
 */
#ifndef PW_LISTENERS_H
#define PW_LISTENERS_H

#include <stdio.h>
#include <jansson.h>

struct pw_daemon;

/* Add "portserver", "http" and "config_warnings" to a status object. */
void pw_listeners_status(struct pw_daemon *d, json_t *o);
/* Append their metric families to a Prometheus exposition. */
void pw_listeners_metrics(struct pw_daemon *d, FILE *f);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* Metrics in the Prometheus text exposition format, and the optional HTTP
 * listener that serves them. */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include "daemon.h"

#define PW_METRICS_CTYPE "text/plain; version=0.0.4; charset=utf-8"

/* The whole exposition (malloc'd, NUL-terminated), or NULL on ENOMEM. */
char *pw_metrics_render(struct pw_daemon *d);

/* Start serving GET /metrics on addr ("127.0.0.1:9464", "[::1]:9464").
 * 0 or -errno, logged. */
int pw_metrics_http_start(struct pw_daemon *d, const char *addr);
void pw_metrics_http_stop(struct pw_daemon *d);

#endif

// SPDX-License-Identifier: GPL-2.0
/* PLACEHOLDER: replaced by the metrics implementation. */
#include <string.h>
#include "metrics.h"
char *pw_metrics_render(struct pw_daemon *d) { (void) d; return strdup(""); }
int pw_metrics_http_start(struct pw_daemon *d, const char *addr) { (void) d; (void) addr; return 0; }
void pw_metrics_http_stop(struct pw_daemon *d) { (void) d; }

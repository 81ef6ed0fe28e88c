/* SPDX-License-Identifier: GPL-2.0 */
/*
 * systemd integration through libsystemd: readiness, status lines, watchdog
 * keep-alives from the event loop, reload and stop notices, and a control
 * socket passed by socket activation. Every call is a no-op outside systemd.
 */
#ifndef PW_SDNOTIFY_H
#define PW_SDNOTIFY_H

#include <stdbool.h>

struct pw_daemon;
struct pw_sd;

/*
 * A listening control socket passed by systemd (portwatch.socket): its fd,
 * -1 when none was passed, or -errno (logged) when what was passed is not
 * one Unix stream socket listening on @path.
 */
int pw_sd_listen_fd(const char *path);

/* Once the control socket accepts: READY=1 with a STATUS= line, and the
 * watchdog timer on the loop (half of WatchdogSec=). 0 or -errno, logged. */
int pw_sd_start(struct pw_daemon *d, struct pw_sd **ret);
void pw_sd_free(struct pw_daemon *d, struct pw_sd *sd);

/* RELOADING=1 before a configuration reload, READY=1 and STATUS= after. */
void pw_sd_reloading(struct pw_daemon *d, struct pw_sd *sd, bool done);
/* STOPPING=1. */
void pw_sd_stopping(struct pw_sd *sd);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `portwatch cleanup [--dry-run]` and Styxy's POST /cleanup: start-up
 * recovery (core/recovery.c) applied now, even when the config turns its
 * start-up run off (Styxy's core-ports.json does), plus the config warnings
 * that say so.
 */
#ifndef PW_CLEANUP_H
#define PW_CLEANUP_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

struct pw_daemon;
struct pw_client;
struct pw_config;

/* Run recovery now; *report (may be NULL) gets its report. Returns the
 * number of actions taken (or listed, for a dry run). */
unsigned pw_recovery_now(struct pw_daemon *d, bool dry_run, json_t **report);
/* A recovery report as a non-root viewer may see it: each step keeps the
 * actions about the viewer's own ports (its allocation, or with none only its
 * sockets), the others are removed and counted in the step's "hidden"; its
 * "count" stays the total. They name other users' pids and comms. Root: all. */
void pw_recovery_redact(struct pw_daemon *d, json_t *report, uid_t viewer);
/* The "cleanup" command: {dry_run}; a real run is root's only. */
void pw_cmd_cleanup(struct pw_daemon *d, struct pw_client *c, json_t *args);
/* Sentences for config settings that switch recovery or monitoring off. */
json_t *pw_config_warnings(const struct pw_config *c);

#endif

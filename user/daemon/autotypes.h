/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Auto-allocated service types outlive a restart, as Styxy keeps them (it
 * writes them into its config.json): portwatch keeps them in
 * <state_dir>/auto-types.json, never in the operator's config file.
 */
#ifndef PW_AUTOTYPES_H
#define PW_AUTOTYPES_H

struct pw_daemon;

/* Add the saved types the config does not define (a conflicting one is
 * skipped with a warning). 0, or -errno for an unreadable file (logged). */
int pw_autotypes_load(struct pw_daemon *d);
/* Write every auto-allocated type (atomically: temp file and rename). Logged. */
void pw_autotypes_save(struct pw_daemon *d);

#endif

// SPDX-License-Identifier: GPL-2.0
/* PLACEHOLDER: replaced by the active-checks implementation. */
#include "allocs.h"
#include "checks.h"

int pw_checks_init(struct pw_daemon *d) { (void) d; return 0; }
void pw_checks_fini(struct pw_daemon *d) { (void) d; }
void pw_check_free(struct pw_check_rt *c) { (void) c; }
void pw_allocs_on_sigchld(struct pw_daemon *d) { (void) d; }

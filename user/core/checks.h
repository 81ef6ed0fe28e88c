/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Optional active health checks (TCP connect, HTTP GET via libcurl's multi
 * interface, or a command), run without blocking the event loop; results
 * feed the allocation state machine.
 */
#ifndef PW_CHECKS_H
#define PW_CHECKS_H

struct pw_allocs;
struct pw_check_rt;
struct pw_alloc_rt;

/* Set up the check machinery (curl multi, timers) and a check for every
 * allocation whose service type has one. 0 or -errno, logged. */
int pw_checks_init(struct pw_allocs *as);
/* Cancel and free every check, then the machinery. */
void pw_checks_fini(struct pw_allocs *as);
/* Give a new allocation the check of its service type, if it has one; the
 * first attempt runs one interval_ms later. No-op before pw_checks_init()
 * (which attaches to every allocation then) or when r already has a check.
 * Failures are logged: the allocation simply goes unchecked. */
void pw_checks_attach(struct pw_allocs *as, struct pw_alloc_rt *r);
/* A child exited (SIGCHLD): reap command checks. */
void pw_checks_on_sigchld(struct pw_allocs *as);
/* Free one allocation's check state (NULL ok); cancels what it runs. */
void pw_check_free(struct pw_check_rt *c);

#endif

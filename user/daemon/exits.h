/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Settling process exits. The kernel reports an exit before the process's
 * files are closed. After the batch of events that brought it, the sockets the
 * process held first that are still in the map are looked up in the kernel's
 * file tables (one iterator pass, exiting tasks skipped): whoever holds them
 * now is named, and only then do allocations hand over or go stale.
 */
#ifndef PW_EXITS_H
#define PW_EXITS_H

#include <stdint.h>
#include <sys/types.h>

struct pw_daemon;

struct pw_exits {
	struct pw_exit_pending {
		pid_t pid;
		pid_t heir;	/* a child it left alive, 0: none */
		uint64_t ts_ns;
	} *v;
	size_t n, cap;
	uint64_t lookups, handed;	/* holder lookups run, sockets given new holders */
};

/* An EXIT event from the ring buffer (in the drain callback: only queued). */
void pw_exits_add(struct pw_daemon *d, pid_t pid, pid_t heir, uint64_t ts_ns);
/* After a drain: settle the exits seen; 1 when more came meanwhile (the
 * caller looks again shortly), else 0. */
int pw_exits_settle(struct pw_daemon *d);
void pw_exits_fini(struct pw_exits *x);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Settling process exits. The kernel reports an exit before the process's
 * files are closed; once they are (the process is a zombie or gone) and the
 * releases that closing caused are drained, the sockets it held that are still
 * open have other holders: the kernel is asked who (one iterator pass), the
 * port map is told, and only then do allocations hand over or go stale.
 */
#ifndef PW_EXITS_H
#define PW_EXITS_H

#include <stdint.h>
#include <sys/types.h>

struct pw_daemon;

struct pw_exits {
	struct pw_exit_pending {
		pid_t pid;
		uint64_t ts_ns;
		uint64_t seen_ns;	/* when the daemon first saw it */
	} *v;
	size_t n, cap;
	uint64_t lookups, handed;	/* holder lookups run, sockets given new holders */
};

/* An EXIT event from the ring buffer (in the drain callback: only queued). */
void pw_exits_add(struct pw_daemon *d, pid_t pid, uint64_t ts_ns);
/* After a drain: settle what can be settled; 1 when some must wait (the
 * caller looks again shortly), else 0. */
int pw_exits_settle(struct pw_daemon *d);
void pw_exits_fini(struct pw_exits *x);

#endif

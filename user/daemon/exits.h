/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Settling process exits. The kernel reports an exit before the process's
 * files are closed. After the batch of events that brought it, the sockets the
 * process held first that are still in the map are looked up in the kernel's
 * file tables (one iterator pass, exiting tasks skipped): whoever holds them
 * now is named, and only then do allocations hand over or go stale. A socket
 * still open that nobody holds is in flight (sent over SCM_RIGHTS, not yet
 * received): the exit waits, looked at again with a backoff for up to a
 * second, before the socket is taken as held by nobody.
 */
#ifndef PW_EXITS_H
#define PW_EXITS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pw_daemon;

struct pw_exits {
	struct pw_exit_pending {
		pid_t pid;
		pid_t heir;	/* a child it left alive, 0: none */
		uint64_t ts_ns;
		/* A socket it held is open but held by nobody: passed over
		 * SCM_RIGHTS and not received yet. Looked at again from
		 * due_ns, for IN_FLIGHT_MAX_NS since first_ns (0: never). */
		uint64_t first_ns, due_ns;
		bool in_flight;
		bool waited;	/* IN_FLIGHT_MAX_NS passed: held by nobody it is */
	} *v;
	size_t n, cap;
	uint64_t lookups, handed;	/* holder lookups run, sockets given new holders */
};

/* An EXIT event from the ring buffer (in the drain callback: only queued). */
void pw_exits_add(struct pw_daemon *d, pid_t pid, pid_t heir, uint64_t ts_ns);
/* After a drain: settle the exits seen. The ns after which the caller should
 * call again (exits that came meanwhile, sockets in flight), 0: none. */
uint64_t pw_exits_settle(struct pw_daemon *d);
void pw_exits_fini(struct pw_exits *x);

#endif

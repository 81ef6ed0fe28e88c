/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The holders' iterator (kernel/holders.h) loaded after ready, on a thread
 * of its own: it parses the kernel's BTF again (20-40 ms), and on the main
 * thread that held up the ring buffer's first events as long (the binds of a
 * generator started at ready waited up to 25 ms). Until it is in, exits find
 * the holders of their sockets with a snapshot, as on a kernel without the
 * iterator.
 */
#ifndef PW_HOLDLOAD_H
#define PW_HOLDLOAD_H

#include <pthread.h>
#include <stdbool.h>

#include "loop.h"

struct pw_daemon;

struct pw_holdload {
	struct pw_io io;	/* eventfd: the thread is done */
	pthread_t tid;
	bool running;
	int err;
	struct pw_holders *h;
};

/* Begin; d->holders is set when the thread is done and the loop has run.
 * Without a thread, the load happens here. */
void pw_holdload_start(struct pw_daemon *d);
/* Wait for the thread, if any, and take its result (shutdown). */
void pw_holdload_join(struct pw_daemon *d);

#endif

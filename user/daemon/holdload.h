/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The holders' iterator (kernel/holders.h) loaded after ready, on a thread
 * of its own: it parses the kernel's BTF again (20-40 ms), and on the main
 * thread that held up the ring buffer's first events as long (the binds of a
 * generator started at ready waited up to 25 ms). Until it is in, exits find
 * the holders of their sockets with a snapshot, as on a kernel without the
 * iterator.
 *
 * Not before ready, beside the BPF load and the state's preload: three
 * threads on two cores put the first answer with 10,000 allocations at
 * 79-112 ms instead of 65. The price of after: the parse's ~10 MB can
 * coincide with a port map growing under a flood of binds at start
 * (bench_scale's peak RSS 50-61 MiB instead of 50).
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

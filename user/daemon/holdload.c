// SPDX-License-Identifier: GPL-2.0
/* The holders' iterator loaded beside the loop (see holdload.h). */
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon.h"
#include "holders.h"
#include "holdload.h"
#include "log.h"

static void *holdload_run(void *arg)
{
	struct pw_holdload *hl = arg;
	uint64_t one = 1;

	hl->err = pw_holders_new(&hl->h);
	/* the eventfd's counter cannot overflow with one write */
	(void) !write(hl->io.fd, &one, sizeof(one));
	return NULL;
}

static void take(struct pw_daemon *d)
{
	struct pw_holdload *hl = &d->holdload;

	if (hl->err)
		pw_info("bpf: no task_file iterator: holders of sockets whose binder exited come "
			"from snapshots");
	else
		d->holders = hl->h;
	hl->h = NULL;
}

void pw_holdload_join(struct pw_daemon *d)
{
	struct pw_holdload *hl = &d->holdload;

	if (!hl->running)
		return;
	pthread_join(hl->tid, NULL);
	hl->running = false;
	pw_loop_close_io(d->loop, &hl->io);
	take(d);
}

static int on_done(struct pw_io *io, uint32_t events)
{
	(void) events;
	pw_holdload_join(io->data);
	return 0;
}

void pw_holdload_start(struct pw_daemon *d)
{
	struct pw_holdload *hl = &d->holdload;

	hl->io = (struct pw_io){ .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), .fn = on_done,
				 .data = d };
	if (hl->io.fd >= 0 && !pw_loop_add(d->loop, &hl->io, EPOLLIN) &&
	    !pthread_create(&hl->tid, NULL, holdload_run, hl)) {
		hl->running = true;
		return;
	}
	pw_loop_close_io(d->loop, &hl->io);
	/* no thread: here, in turn */
	hl->err = pw_holders_new(&hl->h);
	take(d);
}

// SPDX-License-Identifier: GPL-2.0
/* epoll event loop with deferred frees, and timerfd/clock helpers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "loop.h"

#define MAX_EVENTS 64

struct deferred {
	void (*fn)(void *);
	void *ptr;
};

struct pw_loop {
	int epfd;
	bool quit;
	int quit_code;
	struct deferred *deferred;
	size_t n_deferred, cap_deferred;
	void (*after_batch)(void *ctx);
	void *after_ctx;
};

void pw_loop_set_after_batch(struct pw_loop *l, void (*fn)(void *ctx), void *ctx)
{
	l->after_batch = fn;
	l->after_ctx = ctx;
}

int pw_loop_new(struct pw_loop **ret)
{
	struct pw_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int err = -errno;

		free(l);
		return err;
	}
	*ret = l;
	return 0;
}

static void run_deferred(struct pw_loop *l)
{
	for (size_t i = 0; i < l->n_deferred; i++)
		l->deferred[i].fn(l->deferred[i].ptr);
	l->n_deferred = 0;
}

void pw_loop_free(struct pw_loop *l)
{
	if (!l)
		return;
	run_deferred(l);
	free(l->deferred);
	close(l->epfd);
	free(l);
}

int pw_loop_add(struct pw_loop *l, struct pw_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	io->dead = false;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) ? -errno : 0;
}

int pw_loop_mod(struct pw_loop *l, struct pw_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) ? -errno : 0;
}

void pw_loop_del(struct pw_loop *l, struct pw_io *io)
{
	if (io->fd >= 0)
		(void) epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = true;
}

int pw_loop_defer_free(struct pw_loop *l, void (*fn)(void *), void *ptr)
{
	/* cannot defer: freeing now is only safe outside dispatch, so the
	 * caller leaks rather than risk a use after free */
	if (pw_array_grow((void **)&l->deferred, &l->cap_deferred, l->n_deferred + 1,
			  sizeof(*l->deferred)))
		return -ENOMEM;
	l->deferred[l->n_deferred++] = (struct deferred){ fn, ptr };
	return 0;
}

void pw_loop_quit(struct pw_loop *l, int code)
{
	l->quit = true;
	l->quit_code = code;
}

int pw_loop_run(struct pw_loop *l)
{
	struct epoll_event evs[MAX_EVENTS];

	l->quit = false;	/* each run waits for a quit of its own */
	while (!l->quit) {
		int n = epoll_wait(l->epfd, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->quit; i++) {
			struct pw_io *io = evs[i].data.ptr;
			int r;

			if (io->dead)
				continue;
			r = io->fn(io, evs[i].events);
			if (r < 0) {
				if (l->after_batch)
					l->after_batch(l->after_ctx);
				run_deferred(l);
				return r;
			}
		}
		if (l->after_batch)
			l->after_batch(l->after_ctx);
		run_deferred(l);
	}
	return l->quit_code;
}

int pw_timerfd_new(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int pw_timerfd_arm(int fd, uint64_t first_ms, uint64_t interval_ms)
{
	struct itimerspec its = {
		.it_value = { first_ms / 1000, (first_ms % 1000) * 1000000 },
		.it_interval = { interval_ms / 1000, (interval_ms % 1000) * 1000000 },
	};

	return timerfd_settime(fd, 0, &its, NULL) ? -errno : 0;
}

uint64_t pw_timerfd_ack(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

uint64_t pw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t pw_now_ms(void)
{
	return pw_now_ns() / 1000000ull;
}

int64_t pw_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pw_loop_add_timer(struct pw_loop *l, struct pw_io *io, pw_io_fn fn, void *data)
{
	int fd = pw_timerfd_new(), r;

	*io = (struct pw_io){ .fd = -1, .fn = fn, .data = data };
	if (fd < 0)
		return fd;
	io->fd = fd;
	r = pw_loop_add(l, io, EPOLLIN);
	if (r) {
		close(fd);
		io->fd = -1;
	}
	return r;
}

void pw_loop_close_io(struct pw_loop *l, struct pw_io *io)
{
	if (io->fd < 0)
		return;
	pw_loop_del(l, io);
	close(io->fd);
	io->fd = -1;
}

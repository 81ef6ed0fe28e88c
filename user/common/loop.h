/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal epoll event loop. Sources are caller-owned struct pw_io handles;
 * the loop never wakes on its own, only for fds (timers are timerfds).
 */
#ifndef PW_LOOP_H
#define PW_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct pw_loop;
struct pw_io;

/* Return 0 to continue; a negative errno stops the loop with that error. */
typedef int (*pw_io_fn)(struct pw_io *io, uint32_t events);

struct pw_io {
	int fd;
	pw_io_fn fn;
	void *data;
	bool dead;	/* set by pw_loop_del: skip stale events of this batch */
};

int pw_loop_new(struct pw_loop **ret);
void pw_loop_free(struct pw_loop *l);
int pw_loop_add(struct pw_loop *l, struct pw_io *io, uint32_t events);
int pw_loop_mod(struct pw_loop *l, struct pw_io *io, uint32_t events);
/* Remove io; its memory may be freed only after pw_loop_defer_free or once
 * the current dispatch batch ends. */
void pw_loop_del(struct pw_loop *l, struct pw_io *io);
/* Free ptr with fn after the current batch of events has been dispatched. */
int pw_loop_defer_free(struct pw_loop *l, void (*fn)(void *), void *ptr);
/* Called after each batch of events is dispatched (group commits). */
void pw_loop_set_after_batch(struct pw_loop *l, void (*fn)(void *ctx), void *ctx);
/* Run until pw_loop_quit (from a handler of this run) or an error; returns
 * the quit code or -errno. */
int pw_loop_run(struct pw_loop *l);
void pw_loop_quit(struct pw_loop *l, int code);

/* A new timerfd (disarmed) as io, on the loop: 0 or -errno (io->fd -1 then). */
int pw_loop_add_timer(struct pw_loop *l, struct pw_io *io, pw_io_fn fn, void *data);
/* Remove io from the loop and close its fd; a no-op when io->fd < 0. */
void pw_loop_close_io(struct pw_loop *l, struct pw_io *io);

/* timerfd helpers: create (CLOCK_MONOTONIC, nonblocking) and arm; ms 0 disarms. */
int pw_timerfd_new(void);
int pw_timerfd_arm(int fd, uint64_t first_ms, uint64_t interval_ms);
/* Read and discard expirations; returns how many. */
uint64_t pw_timerfd_ack(int fd);

/* CLOCK_MONOTONIC now, in ns and ms; CLOCK_REALTIME now in ms. */
uint64_t pw_now_ns(void);
uint64_t pw_now_ms(void);
int64_t pw_wall_ms(void);

#endif

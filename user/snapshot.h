/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A snapshot of every bound TCP/UDP socket on the host, in every network
 * namespace that some process is in: netlink sock_diag (libmnl) per netns for
 * the sockets, a /proc/PID/fd scan for their owners.
 */
#ifndef PW_SNAPSHOT_H
#define PW_SNAPSHOT_H

#include <stddef.h>
#include <linux/types.h>
#include "pw_event.h"

struct pw_snapshot {
	struct pw_event *socks;	/* kind PW_EV_BIND, state BOUND/LISTENING, ts_ns = time taken */
	size_t n;
	size_t hint;		/* in: expected number of sockets (0: unknown) */
};

/*
 * Take a snapshot. TCP sockets in LISTEN, and bound-but-inactive TCP sockets
 * where the kernel can dump them; UDP sockets with a local port. pid/uid/comm
 * are the owning process found in /proc (lowest pid holding the socket inode;
 * uid of the socket when no process holds it, pid 0). 0 or -errno.
 */
int pw_snapshot_take(struct pw_snapshot *snap);
void pw_snapshot_free(struct pw_snapshot *snap);

/*
 * The same, without holding the sockets: fn is called once per socket as it
 * is dumped (twice for a socket when an interrupted dump is retried) and may
 * stop the walk by returning a negative errno, which is returned. count (may
 * be NULL) gets the number of sockets seen. 0 or -errno.
 */
typedef int (*pw_snapshot_fn)(void *ctx, const struct pw_event *ev);
int pw_snapshot_stream(pw_snapshot_fn fn, void *ctx, size_t *count);

/* Netns cookie (SO_NETNS_COOKIE) of the caller's network namespace. 0 or -errno. */
int pw_netns_cookie_self(__u64 *cookie);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A snapshot of every bound TCP/UDP socket on the host, in every network
 * namespace that some process is in: netlink sock_diag (libmnl) per netns for
 * the sockets, a /proc/PID/fd scan for their owners.
 */
#ifndef PW_SNAPSHOT_H
#define PW_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "pw_event.h"
#include "pw_iter.h"

/*
 * Walk every bound socket: TCP sockets in LISTEN, and bound-but-inactive TCP
 * sockets where the kernel can dump them; UDP sockets with a local port. Each
 * is handed to fn as a PW_EV_BIND event (state BOUND/LISTENING, ts_ns = when
 * the walk began, uid = the socket's) as it is dumped, twice when an
 * interrupted dump is retried. The owner (pid, comm) is the lowest pid that
 * held the socket inode in a /proc scan made before the dump: a socket opened
 * after that scan has pid 0, as has one no process holds. fn may stop the
 * walk by returning a negative errno, which is returned. count (may be NULL)
 * gets the number of sockets handed over. 0 or -errno.
 */
typedef int (*pw_snapshot_fn)(void *ctx, const struct pw_event *ev);
int pw_snapshot_stream(pw_snapshot_fn fn, void *ctx, size_t *count);

/* The same walk collected into an array (tests, tools). 0 or -errno. */
struct pw_snapshot {
	struct pw_event *socks;
	size_t n;
};
int pw_snapshot_take(struct pw_snapshot *snap);
void pw_snapshot_free(struct pw_snapshot *snap);

/*
 * Netns cookie (SO_NETNS_COOKIE) of the calling thread's network namespace, or
 * on kernels without it (before 5.14) the namespace's inode number, as
 * `stat -L /proc/self/ns/net` shows it. 0 or -errno.
 */
int pw_netns_cookie_self(__u64 *cookie);
/* True when netns ids are inode numbers (no SO_NETNS_COOKIE); probes once. */
bool pw_netns_by_inode(void);

/*
 * A one-pass source of the host's TCP listeners and UDP sockets (the BPF
 * socket iterators, registered by bpfwatch.c while loaded): calls cb for each
 * record, returns 0 or -errno (the snapshot then falls back to sock_diag in
 * every netns). NULL fn: none.
 */
typedef int (*pw_snapshot_iter_cb)(void *ctx, const struct pw_iter_sock *s);
typedef int (*pw_snapshot_iter_fn)(void *src, pw_snapshot_iter_cb cb, void *ctx);
void pw_snapshot_set_iter(pw_snapshot_iter_fn fn, void *src);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Network namespaces as people know them. The port map keys a namespace by
 * the kernel's cookie (what BPF and SO_NETNS_COOKIE give), which no other
 * tool shows; this resolves a cookie to the namespace's inode (as
 * /proc/PID/ns/net and lsns show it) and its `ip netns` name (a bind mount
 * under /run/netns), with a cache.
 *
 * A cookie is learnt by entering each namespace once (setns, a socket,
 * SO_NETNS_COOKIE); namespaces come from /run/netns and /proc/PID/ns/net.
 * A miss rescans at most once a second, so unknown cookies (namespaces gone)
 * cost nothing per socket.
 */
#ifndef PW_NETNS_NAMES_H
#define PW_NETNS_NAMES_H

#include <stdint.h>

struct pw_netns_names;

int pw_netns_names_new(struct pw_netns_names **ret);
void pw_netns_names_free(struct pw_netns_names *n);

/* Inode (0: unknown) and name (NULL: none) of the namespace with cookie.
 * The name stays valid until the next lookup that rescans. */
void pw_netns_names_lookup(struct pw_netns_names *n, uint64_t cookie, uint64_t *ino,
			   const char **name);

/* Forget the scan time so that the next miss rescans at once (tests, and a
 * request that names a namespace the cache does not know). */
void pw_netns_names_expire(struct pw_netns_names *n);

#endif

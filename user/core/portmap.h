/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The live port map: every bound TCP/UDP socket the daemon knows of, fed by
 * BPF events and snapshots. Pure data structure, no I/O.
 *
 * Sockets are identified by their cookie (SO_REUSEPORT lets several sockets
 * share netns/protocol/address/port); a per-port index answers "who holds
 * port P" in O(sockets on P).
 */
#ifndef PW_PORTMAP_H
#define PW_PORTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "pw_event.h"

/* A process holding a socket open: ss -p's "users" entry. */
struct pw_sock_holder {
	__u32 pid;
	__s32 fd;		/* -1: not known (the bind hook does not see it) */
	__u32 uid;
	char comm[PW_COMM_LEN];
};

struct pw_sock {
	__u64 cookie;
	__u64 netns;
	__u64 bound_ns;		/* CLOCK_MONOTONIC time of the bind (event ts) */
	__u32 pid;		/* the first holder (the binder until we learn better), 0: none known */
	__u32 uid;
	__s32 fd;		/* the first holder's fd, -1 when not known */
	__u8 proto;
	__u8 family;
	__u8 state;		/* enum pw_sock_state */
	__u8 addr[16];
	__u16 port;
	__u8 tag;		/* free for the allocation index (its class of the socket) */
	char comm[PW_COMM_LEN];
	__u32 tag_gen;		/* tag is valid for this generation of the index's */
	__u32 n_more;		/* further holders, in more[] */
	struct pw_sock_holder *more;
	/* private: */
	__u32 gen;
	__u32 port_prev, port_next;	/* per-port chain, slot indices + 1 */
	__u32 pid_prev, pid_next;	/* per-first-holder chain */
} __attribute__((aligned(64)));	/* two whole cache lines: a listing prefetches both */

enum pw_portmap_change {
	PW_PM_NONE = 0,
	PW_PM_ADDED,
	PW_PM_UPDATED,		/* state changed (listen / unlisten) */
	PW_PM_REMOVED,
};

struct pw_portmap;

int pw_portmap_new(struct pw_portmap **ret);
void pw_portmap_free(struct pw_portmap *m);

/*
 * Apply one event. BIND adds (or refreshes) the socket, CLOSE removes it,
 * LISTEN/UNLISTEN change its state; EXIT changes nothing. Idempotent, so an
 * event that raced a snapshot can be applied after it. Returns the change
 * (>= 0) or -ENOMEM; a removed entry is copied to *removed when non-NULL.
 * A BIND for a known entry without an owner (pid 0) sets its owner.
 */
int pw_portmap_apply(struct pw_portmap *m, const struct pw_event *ev, struct pw_sock *removed);

/*
 * Make the map equal to a snapshot. fn (may be NULL) is told of each change as
 * a synthesized event: BIND for new sockets, LISTEN/UNLISTEN for state
 * changes, CLOSE for sockets the snapshot no longer has. Returns the number of
 * changes or -ENOMEM (the map is then partially synced and still consistent).
 */
typedef void (*pw_portmap_change_fn)(void *ctx, const struct pw_event *ev);
int pw_portmap_sync(struct pw_portmap *m, const struct pw_event *snap, size_t n,
		    pw_portmap_change_fn fn, void *ctx);

/* The same in steps, for a snapshot streamed socket by socket: begin, add
 * each (1 when it changed the map, 0 when not, -ENOMEM), end (the sweep;
 * returns the removals). Nothing is removed unless end is called. A socket
 * whose CLOSE was among the last 4096 applied before begin is not added:
 * the kernel reports a release before it unhashes the socket, so a
 * snapshot can still list a socket that is gone. */
void pw_portmap_sync_begin(struct pw_portmap *m);
int pw_portmap_sync_add(struct pw_portmap *m, const struct pw_event *ev,
			pw_portmap_change_fn fn, void *ctx);
int pw_portmap_sync_end(struct pw_portmap *m, pw_portmap_change_fn fn, void *ctx);

size_t pw_portmap_size(const struct pw_portmap *m);
const struct pw_sock *pw_portmap_find(const struct pw_portmap *m, __u64 cookie);

/* Iterate every socket: *iter starts at 0; returns NULL at the end. */
const struct pw_sock *pw_portmap_next(const struct pw_portmap *m, size_t *iter);

/* Iterate the sockets on a port (all netns, protocols, addresses). */
const struct pw_sock *pw_portmap_port_first(const struct pw_portmap *m, __u16 port);
const struct pw_sock *pw_portmap_port_next(const struct pw_portmap *m, const struct pw_sock *s);
/* The first port >= from with a socket on it, 65536 when none: a listing
 * in port order skips the empty ones in one tight scan. */
unsigned pw_portmap_next_port(const struct pw_portmap *m, unsigned from);
/* Have the CPU fetch the first socket of the next n ports that have any,
 * from *from on, ahead of a walk in port order: sockets lie in the order
 * they were bound, so in port order each one is a cache miss, and these
 * overlap. *from is left past the last; returns how many (fewer at the
 * end). Reads no socket. */
unsigned pw_portmap_prefetch_ports(const struct pw_portmap *m, unsigned *from, unsigned n);

/* Iterate the sockets whose first holder is pid. */
const struct pw_sock *pw_portmap_pid_first(const struct pw_portmap *m, __u32 pid);
const struct pw_sock *pw_portmap_pid_next(const struct pw_portmap *m, const struct pw_sock *s);

/*
 * Replace a socket's holders (h[0] becomes the first; n 0: none known). The
 * caller may be iterating that socket's pid chain: it moves to another.
 * 0, -ENOENT (no such socket) or -ENOMEM.
 */
int pw_portmap_set_holders(struct pw_portmap *m, __u64 cookie, const struct pw_sock_holder *h,
			   size_t n);
/* Mark a socket for the allocation index (its own meaning). */
void pw_portmap_tag(struct pw_portmap *m, const struct pw_sock *s, __u8 tag, __u32 tag_gen);

/* Fill a BIND event describing s (for the watch stream and snapshots). */
void pw_sock_to_event(const struct pw_sock *s, __u8 kind, struct pw_event *ev);

#endif

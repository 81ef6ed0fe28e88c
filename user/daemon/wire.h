/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wire shapes: core state turned into the protocol's JSON, one place per
 * shape (as OpenBSD ntpd's control.c fills ctl_show records). A socket's
 * fields have their one writer in common/proto.c, shared with events.
 */
#ifndef PW_WIRE_H
#define PW_WIRE_H

#include <jansson.h>
#include "allocs.h"
#include "strbuf.h"

/* A socket of the port map, the `ports` schema, as an object; ns: its
 * namespace as people know it (NULL: left out, the caller adds it). */
struct pw_wire_netns {
	uint64_t inode;			/* 0: unknown */
	const char *name;		/* `ip netns` name, NULL: none */
};
void pw_wire_sock_write(struct pw_strbuf *sb, const struct pw_sock *s,
			const struct pw_wire_netns *ns);
json_t *pw_wire_sock(const struct pw_sock *s, const struct pw_wire_netns *ns);
/* An allocation, with the live map's view of its port. */
json_t *pw_wire_alloc(struct pw_allocs *as, const struct pw_alloc_rt *r);
/* An allocation event for watchers. */
json_t *pw_wire_alloc_event(const struct pw_alloc_change *ch);
/* The allocation part of `status`: allocations, recovery, detection latency. */
void pw_wire_allocs_status(struct pw_allocs *as, json_t *recovery, json_t *status);

#endif

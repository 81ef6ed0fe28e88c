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
#include "server.h"
#include "store.h"
#include "strbuf.h"

/* A socket of the port map, the `ports` schema, as an object. ns_text: its
 * namespace as people know it, written by pw_proto_write_netns() (NULL:
 * left out, the caller adds it). memo: kept across the sockets of one
 * listing (pw_proto_write_sock_memo), zeroed for a socket alone. */
void pw_wire_sock_write(struct pw_strbuf *sb, const struct pw_sock *s, const char *ns_text,
			size_t ns_len, struct pw_sock_memo *memo);
json_t *pw_wire_sock(const struct pw_sock *s);
/* What a caller may see of a socket, as ss shows it to them: root all (s
 * itself); a user nothing from other network namespaces than the daemon's
 * (NULL), and no pid or comm of other users' processes (a copy in *scratch
 * without them). */
const struct pw_sock *pw_wire_sock_visible(const struct pw_sock *s, uid_t viewer,
					   __u64 self_netns, struct pw_sock *scratch);
/* An allocation as the viewer (a uid, 0: root) may see it, with the live
 * map's view of its port. A non-root viewer sees no pid or comm of another
 * uid's process: another uid's allocation without its owner's pid and comm,
 * a socket of another uid on the port without its pid and comm; and another
 * uid's names and projects blank unless show_names (the config's
 * access.show_other_users_names). */
json_t *pw_wire_alloc_for(struct pw_allocs *as, const struct pw_alloc_rt *r, uid_t viewer,
			  bool show_names);
/* The same as root sees it. */
json_t *pw_wire_alloc(struct pw_allocs *as, const struct pw_alloc_rt *r);
/* The same as text, without its closing brace, for a reply to add fields
 * (state: shown instead of the allocation's when not NULL). */
void pw_wire_alloc_open(struct pw_strbuf *sb, struct pw_allocs *as, const struct pw_alloc_rt *r,
			const char *state, uid_t viewer, bool show_names);
/* An allocation event for watchers. */
json_t *pw_wire_alloc_event(const struct pw_alloc_change *ch);
/* The allocation part of `status`: allocations, recovery, detection latency. */
void pw_wire_allocs_status(struct pw_allocs *as, json_t *recovery, json_t *status);
/* An audit record, the `audit` schema, as an object, as the viewer (a uid,
 * 0: root) may see it: another uid's record without its pid and detail. */
void pw_wire_audit_write(struct pw_strbuf *sb, const struct pw_audit *a, uid_t viewer);
/* Audit rate limits, retention, off-loop checks, as status.audit. */
struct pw_guard;
void pw_wire_guard_status(const struct pw_guard *g, json_t *status);
/* The control socket's admission and output counters, as status.server. */
void pw_wire_server_status(const struct pw_server_stats *st, json_t *status);

#endif

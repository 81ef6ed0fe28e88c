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

/* A socket of the port map, the `ports` schema, as an object. */
void pw_wire_sock_write(struct pw_strbuf *sb, const struct pw_sock *s);
json_t *pw_wire_sock(const struct pw_sock *s);
/* A kernel or snapshot event, one line for watchers (malloc'd, ends in \n). */
char *pw_wire_event_line(const struct pw_event *ev, size_t *len);
/* An allocation, with the live map's view of its port. */
json_t *pw_wire_alloc(struct pw_allocs *as, const struct pw_alloc_rt *r);
/* An allocation event for watchers. */
json_t *pw_wire_alloc_event(const struct pw_alloc_change *ch);
/* The allocation part of `status`: allocations, recovery, detection latency. */
void pw_wire_allocs_status(struct pw_allocs *as, json_t *recovery, json_t *status);
/* An audit record, the `audit` schema, as an object. */
void pw_wire_audit_write(struct pw_strbuf *sb, const struct pw_audit *a);
/* Audit rate limits, retention, off-loop checks, as status.audit. */
struct pw_guard;
void pw_wire_guard_status(const struct pw_guard *g, json_t *status);
/* The control socket's admission and output counters, as status.server. */
void pw_wire_server_status(const struct pw_server_stats *st, json_t *status);

#endif

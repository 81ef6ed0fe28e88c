/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Long answers streamed piece by piece as the client reads them (see
 * pw_client_stream): the port map by port, the audit trail by record id.
 * Memory stays bounded by a piece, and no answer holds the loop for long.
 */
#ifndef PW_STREAM_H
#define PW_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include "daemon.h"

struct pw_filter;
struct pw_netns_names;

struct pw_ports_filter {
	struct pw_filter *expr;		/* ss-style expression, NULL: none; the stream frees it */
	struct pw_netns_names *names;	/* netns inode and name of each socket (may be NULL) */
	__u8 proto;		/* 0 = any */
	bool listening;
	__u32 port;		/* 0 = any */
	__u32 pid;		/* 0 = any */
	__u64 netns;		/* 0 = any */
};

/* The `ports` answer: sockets in port order, each port as it is when its
 * piece is written (as ss reads /proc in pieces). */
void pw_stream_ports(struct pw_daemon *d, struct pw_client *c, const struct pw_ports_filter *f);
/* The `audit` answer: records after after_id (or, after_id < 0, the newest
 * limit), oldest first, read from the store a page at a time. */
void pw_stream_audit(struct pw_daemon *d, struct pw_client *c, int64_t after_id, size_t limit);

#endif

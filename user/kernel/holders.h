/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who holds a socket now: the processes with an open file of it. Asked of the
 * kernel with a BPF task_file iterator (pw_holders in bpf/portwatch.bpf.c, loaded
 * with the daemon's other programs by kernel/bpfwatch.c), one pass over the
 * file tables for a batch of sockets; exiting processes are not holders.
 */
#ifndef PW_HOLDERS_H
#define PW_HOLDERS_H

#include <stddef.h>
#include <linux/types.h>
#include "pw_holder.h"

struct pw_holders;

struct pw_bpf;

/* Attach the iterator b loaded. 0, or -errno when this kernel cannot run it
 * (logged at debug: the caller falls back to a snapshot). Free it before b. */
int pw_holders_new(struct pw_holders **ret, const struct pw_bpf *b);
void pw_holders_free(struct pw_holders *h);

/* Called once per (socket, holding process, fd). */
typedef void (*pw_holder_fn)(void *ctx, const struct pw_holder_rec *r);
/* Look up the holders of up to PW_HOLDER_QUERY_MAX sockets. 0 or -errno. */
int pw_holders_lookup(struct pw_holders *h, const __u64 *cookies, size_t n, pw_holder_fn fn,
		      void *ctx);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which process holds which socket: one pass over /proc/PID/fd, then lookups
 * by socket inode (inet_diag_msg.idiag_inode, "socket:[INODE]" in /proc).
 */
#ifndef PW_SOCKOWNER_H
#define PW_SOCKOWNER_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>
#include "pw_event.h"

struct pw_sockowners;

/* Scan every process's fds now. 0 or -errno; vanishing processes are skipped. */
int pw_sockowners_scan(struct pw_sockowners **ret);
void pw_sockowners_free(struct pw_sockowners *ow);

/*
 * The lowest pid holding socket inode @ino at scan time and its comm; false
 * when no process held it.
 */
bool pw_sockowners_find(const struct pw_sockowners *ow, __u64 ino, pid_t *pid,
			char comm[PW_COMM_LEN]);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who owns an allocation: a process (pid + start time) that the caller may
 * name, and the uid the allocation belongs to.
 */
#ifndef PW_OWNER_H
#define PW_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "alloc.h"
#include "proto.h"

/*
 * Fill a's owner (pid, start time, comm) and uid from pid (0: the caller
 * itself) as seen from the caller's credentials. is_parent: pid is named as
 * an ancestor of the caller (the CLI's parent). A thread id names its
 * process (the owner is the thread group: exits are seen per process); a
 * zombie is refused (-ESRCH, PW_E_NOT_FOUND). Returns 0, or -errno with
 * *code and a sentence in err.
 */
int pw_owner_resolve(uint32_t pid, bool is_parent, const struct ucred *cred, struct pw_alloc *a,
		     enum pw_errcode *code, char *err, size_t errlen);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Directories root may trust: created with the right owner and mode, and an
 * existing one (and each of its ancestors) refused when anyone but root
 * could change what is in it, since a user who can rename or replace
 * entries can point root's writes elsewhere. Plus the state directory's
 * lock: one daemon per state directory.
 */
#ifndef PW_SAFEDIR_H
#define PW_SAFEDIR_H

#include <stddef.h>
#include <sys/types.h>

/* Make dir (mode, owned by us) if missing, else check it; then check its
 * ancestors. 0, or -errno with msg (size n) saying what is wrong. */
int pw_safedir(const char *dir, mode_t mode, char *msg, size_t n);

/* Take the exclusive lock of the state directory (file "lock" in it,
 * holding the pid): the fd to keep open, or -EWOULDBLOCK with msg naming the
 * pid that holds it, or another -errno. */
int pw_safedir_lock(const char *dir, char *msg, size_t n);

#endif

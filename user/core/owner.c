// SPDX-License-Identifier: GPL-2.0
/* Owner resolution and its authorization against the caller's credentials.
 * /proc facts come through the cache of kernel/proccache.c. */
#include <errno.h>
#include <stdio.h>

#include "owner.h"
#include "proc.h"
#include "proccache.h"

int pw_owner_resolve(uint32_t pid, bool is_parent, const struct ucred *cred, struct pw_alloc *a,
		     enum pw_errcode *code, char *err, size_t errlen)
{
	struct pw_proc p;
	int r;

	if (!pid)
		pid = (uint32_t)cred->pid;
	/* cached: a pipelining client names the same owner again and again;
	 * the cache never mistakes a recycled pid (see proccache.h) */
	r = pw_proc_cached((pid_t)pid, &p);
	/* a thread id names its process: exits are reported per process (the
	 * tgid), so an owner recorded by a thread's id would never be seen to go */
	if (!r && p.tgid > 0 && p.tgid != p.pid) {
		r = pw_proc_cached(p.tgid, &p);
		if (!r && p.tgid != p.pid)
			r = -ENOENT;
	}
	/* the cache answers for a zombie too (-ESRCH): no /proc read here per
	 * request of a pipelining client */
	if (r) {
		*code = PW_E_NOT_FOUND;
		if (r == -ESRCH)
			snprintf(err, errlen, "owner pid %u has exited (a zombie): no live process",
				 pid);
		else
			snprintf(err, errlen, "owner pid %u: no such process", pid);
		return r;
	}
	/* A non-root caller acts for its own uid only: a named owner (any
	 * form, the CLI's parent included) must be its own process, never
	 * init or a kernel thread; the parent form must really be an ancestor. */
	if (cred->uid != 0) {
		*code = PW_E_DENIED;
		/* a kernel thread: kthreadd (pid 2) or its child, as
		 * pw_proc_kthread() says, from the stat just read */
		if (p.pid == 1 || p.pid == 2 || p.ppid == 2) {
			snprintf(err, errlen, "owner pid %u is %s: only root may name it", pid,
				 p.pid == 1 ? "init" : "a kernel thread");
			return -EPERM;
		}
		if (p.uid != cred->uid) {
			snprintf(err, errlen, "owner pid %u belongs to uid %u: only root or uid %u "
				 "may name it", pid, p.uid, p.uid);
			return -EPERM;
		}
		if (is_parent && !pw_proc_cached_is_ancestor((pid_t)pid, cred->pid)) {
			snprintf(err, errlen, "owner pid %u is not an ancestor of the caller (pid %d)",
				 pid, cred->pid);
			return -EPERM;
		}
	}
	a->pid = p.pid;
	a->start_time = p.start_time;
	snprintf(a->comm, sizeof(a->comm), "%s", p.comm);
	a->uid = cred->uid == 0 ? p.uid : cred->uid;
	return 0;
}

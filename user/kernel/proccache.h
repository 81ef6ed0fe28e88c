/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small cache of /proc facts for the request path: a pipelining client
 * names the same owner hundreds of times a second, and reading /proc/PID/stat
 * and status for each request cost a third of the daemon's CPU.
 *
 * Identity is exact: each entry holds a pidfd opened before its /proc read,
 * and an entry whose process has exited (poll on the pidfd) is never used, so
 * a recycled pid is never taken for the process that had it. The mutable
 * facts (uid, comm: they change on exec of a setuid binary, or any exec) are
 * re-read once an entry is older than PW_PROC_CACHE_TTL_NS. Without
 * pidfd_open (Linux < 5.3) nothing is cached and every call reads /proc.
 *
 * Safe to call from any thread (one lock); meant for the event loop's thread.
 */
#ifndef PW_PROCCACHE_H
#define PW_PROCCACHE_H

#include <stdbool.h>
#include "proc.h"

/* Entries, each with a pidfd open. */
#define PW_PROC_CACHE_SIZE	16
/* How old a cached uid, comm or ppid may be: 1 ms, less than a durable
 * reply waits for its fsync, so no answer is staler for it; yet a client
 * pipelining 10,000 requests a second costs one /proc read per ~10. */
#define PW_PROC_CACHE_TTL_NS	(1000 * 1000)

/* As pw_proc_read() (uid, ppid, start time, comm of the process now at pid),
 * from the cache when it holds that live process; -ESRCH when the process
 * has exited but is not reaped yet (a zombie). */
int pw_proc_cached(pid_t pid, struct pw_proc *out);
/*
 * The comm of the process (pid, start_time) if it still runs: from the cache
 * when fresh (no pidfd check: a dead process's last comm is as good as the
 * recorded one), else from /proc/PID/stat alone. The cache is not filled (a
 * listing of thousands of owners must not churn it). true when comm was set.
 */
bool pw_proc_cached_comm(pid_t pid, __u64 start_time, char comm[16]);
/* As pw_proc_is_ancestor(), walking cached entries: a link child -> parent is
 * trusted only when the parent's entry (alive) is older than the child's. */
bool pw_proc_cached_is_ancestor(pid_t anc, pid_t pid);
/* Close every entry's pidfd (tests, shutdown). */
void pw_proc_cache_flush(void);

struct pw_proc_cache_stats {
	unsigned long hits, misses, exited;
};
void pw_proc_cache_stats(struct pw_proc_cache_stats *st);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * The /proc facts cache (see proccache.h). An entry is filled in this order:
 * pidfd_open(pid), read /proc/PID, then poll the pidfd. If the process had
 * exited by then, the pid may already name another process and the facts are
 * used once but not kept; otherwise they describe the pidfd's process, and
 * stay true of it while the pidfd shows it alive (a pid is not reused before
 * its process is reaped). Fills are serialized under the lock and numbered
 * (seq), which is what lets the ancestry walk trust a cached ppid.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "proccache.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
/* As in proc.c: deeper process trees are not worth walking. */
#define MAX_DEPTH 4096

struct ent {
	int pidfd;		/* -1: slot free */
	struct pw_proc p;
	uint64_t read_ns;	/* when p was read */
	uint64_t comm_ns;	/* when p.comm was last read (stat alone, for replies) */
	uint64_t seq;		/* fill number, increasing */
	uint64_t used;		/* last use, for eviction */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ent cache[PW_PROC_CACHE_SIZE];
static bool initialized;
static bool unsupported;	/* no pidfd_open: read /proc every time */
static uint64_t seq, clock_use;
static struct pw_proc_cache_stats stats;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void init_once(void)
{
	if (initialized)
		return;
	for (size_t i = 0; i < PW_PROC_CACHE_SIZE; i++)
		cache[i].pidfd = -1;
	initialized = true;
}

/* The pidfd's process has exited (a zombie included), or the fd is unusable. */
static bool exited(int pidfd)
{
	struct pollfd q = { .fd = pidfd, .events = POLLIN };
	int r;

	do
		r = poll(&q, 1, 0);
	while (r < 0 && errno == EINTR);
	return r != 0;
}

static void drop(struct ent *e)
{
	if (e->pidfd >= 0)
		close(e->pidfd);
	e->pidfd = -1;
}

static struct ent *find(pid_t pid)
{
	for (size_t i = 0; i < PW_PROC_CACHE_SIZE; i++)
		if (cache[i].pidfd >= 0 && cache[i].p.pid == pid)
			return &cache[i];
	return NULL;
}

/* A free slot, else the least recently used one (emptied). */
static struct ent *victim(void)
{
	struct ent *v = &cache[0];

	for (size_t i = 0; i < PW_PROC_CACHE_SIZE; i++) {
		if (cache[i].pidfd < 0)
			return &cache[i];
		if (cache[i].used < v->used)
			v = &cache[i];
	}
	drop(v);
	return v;
}

/* Re-read e's process in place; false (e dropped) when it has exited. */
static bool refill(struct ent *e)
{
	struct pw_proc p;

	if (pw_proc_read(e->p.pid, &p) || exited(e->pidfd) || p.start_time != e->p.start_time) {
		drop(e);
		return false;
	}
	e->p = p;
	e->read_ns = e->comm_ns = now_ns();
	e->seq = ++seq;
	return true;
}

/*
 * The live entry of pid, fresh, filled if need be; NULL when the facts are
 * not cached (then *err says whether *out was filled: 0, or -errno).
 */
static struct ent *get(pid_t pid, struct pw_proc *out, int *err)
{
	struct ent *e;
	int fd;

	init_once();
	*err = 0;
	e = unsupported ? NULL : find(pid);
	if (e && exited(e->pidfd)) {
		stats.exited++;
		drop(e);
		e = NULL;
	}
	if (e && now_ns() - e->read_ns > PW_PROC_CACHE_TTL_NS && !refill(e))
		e = NULL;
	if (e) {
		stats.hits++;
		e->used = ++clock_use;
		*out = e->p;
		return e;
	}
	stats.misses++;
	fd = unsupported || pid <= 0 ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		unsupported = true;	/* old kernel, or a seccomp filter */
	*err = pw_proc_read(pid, out);
	/* exited already, between the open and the read or before (a zombie;
	 * a leader is one only when its last thread is gone): no live process,
	 * whatever /proc still shows. Checked after the read: facts read from
	 * a process still alive then are its own. */
	if (!*err && (fd >= 0 ? exited(fd) : !pw_proc_alive(pid, out->start_time)))
		*err = -ESRCH;
	if (fd < 0)
		return NULL;
	if (*err) {
		/* facts used once */
		close(fd);
		return NULL;
	}
	e = victim();
	*e = (struct ent){ .pidfd = fd, .p = *out, .read_ns = now_ns(), .seq = ++seq,
			   .used = ++clock_use };
	e->comm_ns = e->read_ns;
	return e;
}

int pw_proc_cached(pid_t pid, struct pw_proc *out)
{
	int err;

	pthread_mutex_lock(&lock);
	(void) get(pid, out, &err);
	pthread_mutex_unlock(&lock);
	return err;
}

bool pw_proc_cached_comm(pid_t pid, __u64 start_time, char comm[16])
{
	struct pw_proc p;
	struct ent *e;
	bool found = false;

	pthread_mutex_lock(&lock);
	init_once();
	e = find(pid);
	if (e && e->p.start_time != start_time)
		e = NULL;
	if (e && now_ns() - e->comm_ns <= PW_PROC_CACHE_TTL_NS) {
		stats.hits++;
		found = true;
	} else if (e && pw_proc_state(pid, &p) > 0 && p.start_time == start_time &&
		   !exited(e->pidfd)) {
		/* stale: stat alone refreshes the name, and the pidfd says that
		 * what was read is the entry's process */
		memcpy(e->p.comm, p.comm, sizeof(p.comm));
		e->comm_ns = now_ns();
		stats.misses++;
		found = true;
	}
	if (found)
		memcpy(comm, e->p.comm, sizeof(e->p.comm));
	pthread_mutex_unlock(&lock);
	if (found || e)
		return found;
	if (pw_proc_state(pid, &p) < 0 || p.start_time != start_time)
		return false;
	memcpy(comm, p.comm, sizeof(p.comm));
	return true;
}

/* The walk of pw_proc_cached_is_ancestor() under the lock; -1: not decidable
 * from the cache (no pidfds, or a link could not be proven). */
static int walk(pid_t anc, pid_t pid)
{
	struct ent *child = NULL, *e;
	struct pw_proc p;
	int err;

	for (int depth = 0; depth < MAX_DEPTH && pid > 0; depth++) {
		/* pid itself; a parent only once the link to it is proven */
		if (!child && pid == anc)
			return 1;
		e = get(pid, &p, &err);
		if (!e)
			return err ? 0 : -1;
		/* child's ppid was read when pid may have named another process:
		 * re-read it, now that e's process is pinned by an older fill */
		if (child && e->seq > child->seq) {
			if (!refill(child))
				return -1;
			if (child->p.ppid != pid) {
				pid = child->p.ppid;
				continue;
			}
		}
		if (pid == anc)
			return 1;
		child = e;
		pid = e->p.ppid;
	}
	return 0;
}

bool pw_proc_cached_is_ancestor(pid_t anc, pid_t pid)
{
	int r;

	if (anc <= 0)
		return false;
	pthread_mutex_lock(&lock);
	r = walk(anc, pid);
	pthread_mutex_unlock(&lock);
	return r < 0 ? pw_proc_is_ancestor(anc, pid) : r == 1;
}

void pw_proc_cache_flush(void)
{
	pthread_mutex_lock(&lock);
	init_once();
	for (size_t i = 0; i < PW_PROC_CACHE_SIZE; i++)
		drop(&cache[i]);
	pthread_mutex_unlock(&lock);
}

void pw_proc_cache_stats(struct pw_proc_cache_stats *st)
{
	pthread_mutex_lock(&lock);
	*st = stats;
	pthread_mutex_unlock(&lock);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshot of the bound TCP/UDP sockets of every network namespace a process
 * is in. sock_diag only dumps the netns its netlink socket was created in, so
 * the calling thread enters each netns just long enough to create that socket
 * and returns home before dumping. Owners come from one /proc/PID/fd pass
 * (sockowner.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"
#include "array.h"
#include "proc.h"
#include "snapshot.h"
#include "sockdiag.h"
#include "sockowner.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* The kernel never flags inet dumps as interrupted today; bound it anyway. */
#define DUMP_TRIES 3

struct acc {
	pw_snapshot_fn fn;
	void *ctx;
	struct pw_sockowners *ow;	/* scanned before the dump */
	size_t n;
	__u64 netns;		/* cookie of the netns being dumped */
	__u64 now;
};

/* One process's netns, to dedupe them and to have other pids to try. */
struct nsref {
	dev_t dev;
	ino_t ino;
	pid_t pid;
};

/* -1: not probed yet; 0: SO_NETNS_COOKIE works; 1: it does not (before 5.14). */
static int netns_by_inode = -1;

bool pw_netns_by_inode(void)
{
	__u64 c;

	if (netns_by_inode < 0)
		(void) pw_netns_cookie_self(&c);
	return netns_by_inode == 1;
}

int pw_netns_cookie_self(__u64 *cookie)
{
	socklen_t len = sizeof(*cookie);
	struct stat st;
	int fd, err = 0;

	if (netns_by_inode != 1) {
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) < 0)
			err = -errno;
		close(fd);
		if (err != -ENOPROTOOPT) {
			if (!err)
				netns_by_inode = 0;
			return err;
		}
		netns_by_inode = 1;
	}
	/*
	 * No SO_NETNS_COOKIE (before 5.14): the netns is named by its inode, and
	 * the BPF side is told to report the same (pw_netns_by_inode()). The
	 * thread's own netns: the snapshot enters others with setns().
	 */
	if (stat("/proc/thread-self/ns/net", &st) < 0)
		return -errno;
	*cookie = st.st_ino;
	return 0;
}

/* ---- sockets ------------------------------------------------------------ */

static int add_sock_owned(const struct pw_sockdiag_sock *s, struct acc *acc, pid_t pid,
			  const char *comm)
{
	struct pw_event ev;
	__u8 state = PW_SOCK_BOUND;

	if (s->proto == IPPROTO_TCP) {
		/* Bound-inactive sockets come back as TCP_CLOSE. */
		if (s->state == TCP_LISTEN)
			state = PW_SOCK_LISTENING;
		else if (s->state != TCP_CLOSE)
			return 0;
	}
	if (!s->port)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = acc->now;
	ev.cookie = s->cookie;
	ev.netns = acc->netns;
	ev.uid = s->uid;
	ev.port = s->port;
	ev.kind = PW_EV_BIND;
	ev.proto = s->proto;
	ev.family = s->family;
	ev.state = state;
	memcpy(ev.addr, s->addr, sizeof(ev.addr));
	if (pid) {
		ev.pid = (__u32)pid;
		memcpy(ev.comm, comm, sizeof(ev.comm));
		ev.comm[sizeof(ev.comm) - 1] = '\0';
	}
	acc->n++;
	return acc->fn(acc->ctx, &ev);
}

static int add_sock(const struct pw_sockdiag_sock *s, void *ctx)
{
	struct acc *acc = ctx;
	char comm[PW_COMM_LEN] = "";
	pid_t pid = 0;

	if (!pw_sockowners_find(acc->ow, s->inode, &pid, comm))
		pid = 0;
	return add_sock_owned(s, acc, pid, comm);
}

/* One dump, retried when interrupted: consumers take a socket twice in stride. */
static int dump_one(struct mnl_socket *nl, __u8 family, __u8 proto, __u32 states,
		    struct acc *acc)
{
	int err = 0, i;

	for (i = 0; i < DUMP_TRIES; i++) {
		err = pw_sockdiag_dump(nl, family, proto, states, add_sock, acc);
		if (err != -EINTR)
			break;
	}
	return err;
}

static int dump_socks(struct mnl_socket *nl, struct acc *acc)
{
	static const __u8 families[] = { AF_INET, AF_INET6 };
	const __u32 listen = 1U << TCP_LISTEN;
	size_t i;
	int err;

	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		err = dump_one(nl, families[i], IPPROTO_TCP, listen | PW_TCPF_BOUND_INACTIVE, acc);
		if (err == -EINVAL) {
			/* Pre-6.9 kernels ignore the bit; refusing it is just as fine. */
			pw_debug("snapshot: no bound-inactive TCP dump, listeners only");
			err = dump_one(nl, families[i], IPPROTO_TCP, listen, acc);
		}
		if (err)
			return err;
		err = dump_one(nl, families[i], IPPROTO_UDP, ~0U, acc);
		if (err)
			return err;
	}
	return 0;
}

/* ---- network namespaces ------------------------------------------------- */

static void go_home(int homefd)
{
	if (!setns(homefd, CLONE_NEWNET))
		return;
	/*
	 * Every later socket of this thread would silently land in a foreign
	 * netns; no caller can recover from that, so stop here.
	 */
	pw_err("snapshot: cannot return to the daemon's network namespace: %s",
	       strerror(errno));
	abort();
}

/*
 * Create the sock_diag socket (and read the cookie) inside the netns of @nsfd,
 * or in the current one when @nsfd < 0. The thread is home again on return.
 */
static int open_in_netns(int nsfd, int homefd, struct mnl_socket **nl, __u64 *cookie)
{
	int err;

	if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	err = pw_sockdiag_open(nl);
	if (!err) {
		err = pw_netns_cookie_self(cookie);
		if (err)
			pw_sockdiag_close(*nl);
	}
	if (nsfd >= 0)
		go_home(homefd);
	return err;
}

static int dump_netns(int nsfd, int homefd, struct acc *acc)
{
	struct mnl_socket *nl;
	int err;

	err = open_in_netns(nsfd, homefd, &nl, &acc->netns);
	if (err)
		return err;
	err = dump_socks(nl, acc);
	pw_sockdiag_close(nl);
	return err;
}

static int cmp_nsref(const void *a, const void *b)
{
	const struct nsref *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The netns of every process, sorted so equal namespaces are adjacent. */
static int list_netns(int procfd, struct nsref **ret, size_t *ret_n)
{
	struct nsref *ns = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	char path[32];
	struct stat st;
	DIR *d = NULL;
	int err;

	err = pw_proc_opendirat(procfd, ".", &d);
	if (err)
		return err;
	while ((de = readdir(d))) {
		pid_t pid = pw_proc_parse_pid(de->d_name);

		if (!pid)
			continue;
		snprintf(path, sizeof(path), "%d/ns/net", pid);
		/* Gone (ENOENT/ESRCH), or EACCES for some init-like processes: skip. */
		if (fstatat(procfd, path, &st, 0) < 0)
			continue;
		err = pw_array_grow((void **)&ns, &cap, n + 1, sizeof(*ns));
		if (err)
			goto cleanup;
		ns[n++] = (struct nsref){ .dev = st.st_dev, .ino = st.st_ino, .pid = pid };
	}
	if (n)
		qsort(ns, n, sizeof(*ns), cmp_nsref);
	*ret = ns;
	*ret_n = n;
	ns = NULL;
cleanup:
	free(ns);
	closedir(d);
	return err;
}

/* Open the netns of the group ns[0..n) through whichever of its pids still exists. */
static int open_netns(int procfd, const struct nsref *ns, size_t n)
{
	char path[32];
	struct stat st;
	size_t i;
	int fd;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%d/ns/net", ns[i].pid);
		fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* The pid may have been reused by a process of another netns. */
		if (!fstat(fd, &st) && st.st_dev == ns[i].dev && st.st_ino == ns[i].ino)
			return fd;
		close(fd);
	}
	return -ENOENT;
}

static int dump_all_netns(int procfd, int homefd, struct acc *acc)
{
	struct nsref *ns = NULL;
	size_t n = 0, i, j;
	struct stat home;
	int err, fd;

	if (fstat(homefd, &home) < 0)
		return -errno;
	/* Our own netns first and without setns(): it is always there. */
	err = dump_netns(-1, homefd, acc);
	if (err)
		return err;

	err = list_netns(procfd, &ns, &n);
	if (err)
		return err;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && ns[j].dev == ns[i].dev && ns[j].ino == ns[i].ino; j++)
			;
		if (ns[i].dev == home.st_dev && ns[i].ino == home.st_ino)
			continue;
		fd = open_netns(procfd, &ns[i], j - i);
		if (fd < 0)
			continue;	/* all its processes exited */
		err = dump_netns(fd, homefd, acc);
		close(fd);
		if (err == -EPERM || err == -EACCES) {
			/* A netns of a user namespace we hold no rights in: can't see it. */
			pw_debug("snapshot: skipping netns of pid %d: %s", ns[i].pid,
				 strerror(-err));
			err = 0;
		}
		if (err)
			break;
	}
	free(ns);
	return err;
}

/* ---- the snapshot ------------------------------------------------------- */

static pw_snapshot_iter_fn iter_fn;
static void *iter_src;

void pw_snapshot_set_iter(pw_snapshot_iter_fn fn, void *src)
{
	iter_fn = fn;
	iter_src = src;
}

static int add_iter(void *ctx, const struct pw_iter_sock *r)
{
	struct acc *acc = ctx;
	struct pw_sockdiag_sock s = {
		.cookie = r->cookie, .inode = r->inode, .uid = r->uid, .port = r->port,
		.family = r->family, .proto = r->proto, .state = r->state,
	};

	memcpy(s.addr, r->addr, sizeof(s.addr));
	acc->netns = r->netns;
	return add_sock_owned(&s, acc, (pid_t)r->pid, r->comm);
}

int pw_snapshot_stream(pw_snapshot_fn fn, void *ctx, size_t *count)
{
	struct acc acc = { .fn = fn, .ctx = ctx };
	struct timespec ts;
	int procfd = -1, homefd = -1, err;

	/* Taken first: whatever happens after it may or may not be in the snapshot. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	acc.now = (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;

	/* One walk over every process's files gives each bound socket of
	 * every netns with a holder (O(fds), where a sock_diag dump per netns
	 * walks the host-wide tables each time). On failure, the dumps. */
	if (iter_fn) {
		err = iter_fn(iter_src, add_iter, &acc);
		if (!err)
			goto own_netns;
		pw_debug("snapshot: socket iterator failed (%s), sock_diag in every netns",
			 strerror(-err));
	}
	/* Owners before sockets, so each socket goes out complete and none is
	 * held: a socket opened in between has pid 0 until its bind event or the
	 * next snapshot names its owner. */
	err = pw_sockowners_scan(&acc.ow);
	if (err)
		return err;
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		err = -errno;
		goto cleanup;
	}
	/* thread-self: setns() moves this thread only, and it is what we restore. */
	homefd = openat(procfd, "thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (homefd < 0) {
		err = -errno;
		goto cleanup;
	}
	err = dump_all_netns(procfd, homefd, &acc);
	goto done;
own_netns:
	/* Sockets whose holders the iterator cannot see (outside our pid
	 * namespace, as a container's host services): ours by sock_diag, no
	 * owners (repeats keep the iterator's); other netns as before only
	 * through processes we see. */
	homefd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	err = homefd < 0 ? -errno : dump_netns(-1, homefd, &acc);
done:
	if (count)
		*count = acc.n;
cleanup:
	pw_sockowners_free(acc.ow);
	if (homefd >= 0)
		close(homefd);
	if (procfd >= 0)
		close(procfd);
	return err;
}

struct collect {
	struct pw_event *v;
	size_t n, cap;
};

static int collect(void *ctx, const struct pw_event *ev)
{
	struct collect *c = ctx;

	if (pw_array_grow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v)))
		return -ENOMEM;
	c->v[c->n++] = *ev;
	return 0;
}

int pw_snapshot_take(struct pw_snapshot *snap)
{
	struct collect c = { 0 };
	int err;

	err = pw_snapshot_stream(collect, &c, NULL);
	if (err) {
		free(c.v);
		return err;
	}
	snap->socks = c.v;
	snap->n = c.n;
	return 0;
}

void pw_snapshot_free(struct pw_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->socks);
	snap->socks = NULL;
	snap->n = 0;
}

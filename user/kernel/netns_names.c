// SPDX-License-Identifier: GPL-2.0
/* Netns cookie -> inode and `ip netns` name, cached (see netns_names.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "netns_names.h"
#include "snapshot.h"

#define RESCAN_MS	1000
#define MAX_ENTRIES	4096
#define RUN_NETNS	"/run/netns"

struct entry {
	uint64_t cookie, ino;
	char *name;
};

struct pw_netns_names {
	struct entry *e;
	size_t n, cap;
	size_t last;			/* index of the last hit */
	uint64_t scanned_ms;		/* last full scan (cookie miss) */
	uint64_t named_ms;		/* last /run/netns scan */
	dev_t nsfs_dev;
};

int pw_netns_names_new(struct pw_netns_names **ret)
{
	struct pw_netns_names *n = calloc(1, sizeof(*n));
	struct stat st;

	if (!n)
		return -ENOMEM;
	if (stat("/proc/self/ns/net", &st) == 0)
		n->nsfs_dev = st.st_dev;
	*ret = n;
	return 0;
}

void pw_netns_names_free(struct pw_netns_names *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		free(n->e[i].name);
	free(n->e);
	free(n);
}

void pw_netns_names_expire(struct pw_netns_names *n)
{
	n->scanned_ms = n->named_ms = 0;
}

/* CLOCK_MONOTONIC at tick resolution: a listing looks up every socket's
 * namespace, and a rescan period needs no better. Every time kept here
 * comes from it, so differences never go negative. */
static uint64_t coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct entry *by_ino(struct pw_netns_names *n, uint64_t ino)
{
	for (size_t i = 0; i < n->n; i++)
		if (n->e[i].ino == ino)
			return &n->e[i];
	return NULL;
}

static struct entry *by_cookie(struct pw_netns_names *n, uint64_t cookie)
{
	if (n->last < n->n && n->e[n->last].cookie == cookie)
		return &n->e[n->last];
	for (size_t i = 0; i < n->n; i++)
		if (n->e[i].cookie == cookie) {
			n->last = i;
			return &n->e[i];
		}
	return NULL;
}

/* Enter the namespace of nsfd just long enough to read its cookie. */
static int probe_cookie(int nsfd, int homefd, uint64_t *cookie)
{
	__u64 c = 0;
	int err;

	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	err = pw_netns_cookie_self(&c);
	if (setns(homefd, CLONE_NEWNET) < 0) {
		/* as in snapshot.c: a thread left in a foreign netns is unrecoverable */
		pw_err("netns: cannot return to the daemon's network namespace: %s",
		       strerror(errno));
		abort();
	}
	*cookie = c;
	return err;
}

/* The entry of the namespace file at dirfd/path (new ones probed), or NULL. */
static struct entry *learn(struct pw_netns_names *n, int dirfd, const char *path, int homefd)
{
	struct entry *e;
	struct stat st;
	uint64_t cookie = 0;
	int fd;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* /run/netns/X is a plain file until `ip netns` bind-mounts the namespace on it */
	if (fstat(fd, &st) < 0 || st.st_dev != n->nsfs_dev) {
		close(fd);
		return NULL;
	}
	e = by_ino(n, st.st_ino);
	if (e || n->n == MAX_ENTRIES || probe_cookie(fd, homefd, &cookie)) {
		close(fd);
		return e;
	}
	close(fd);
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 16;
		struct entry *ne = realloc(n->e, cap * sizeof(*ne));

		if (!ne)
			return NULL;
		n->e = ne;
		n->cap = cap;
	}
	e = &n->e[n->n++];
	e->cookie = cookie;
	e->ino = st.st_ino;
	e->name = NULL;
	return e;
}

static void scan_names(struct pw_netns_names *n, int homefd)
{
	DIR *dir = opendir(RUN_NETNS);
	struct dirent *de;

	n->named_ms = coarse_ms();
	for (size_t i = 0; i < n->n; i++) {
		free(n->e[i].name);
		n->e[i].name = NULL;
	}
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		struct entry *e;

		if (de->d_name[0] == '.')
			continue;
		e = learn(n, dirfd(dir), de->d_name, homefd);
		/* several names for one namespace: the first in directory order */
		if (e && !e->name)
			e->name = strdup(de->d_name);
	}
	closedir(dir);
}

static void scan_procs(struct pw_netns_names *n, int homefd)
{
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = procfd >= 0 ? fdopendir(procfd) : NULL;
	struct dirent *de;
	char path[NAME_MAX + 16];

	n->scanned_ms = coarse_ms();
	if (!dir) {
		if (procfd >= 0)
			close(procfd);
		return;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/ns/net", de->d_name);
		(void) learn(n, procfd, path, homefd);
	}
	closedir(dir);
}

static void refresh(struct pw_netns_names *n, bool procs)
{
	int homefd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (homefd < 0)
		return;
	/* our own namespace first, without setns() */
	(void) learn(n, AT_FDCWD, "/proc/thread-self/ns/net", homefd);
	if (procs)
		scan_procs(n, homefd);
	scan_names(n, homefd);
	close(homefd);
}

void pw_netns_names_lookup(struct pw_netns_names *n, uint64_t cookie, uint64_t *ino,
			   const char **name)
{
	uint64_t now = coarse_ms();
	struct entry *e;

	*ino = 0;
	*name = NULL;
	if (!n || !cookie)
		return;
	e = by_cookie(n, cookie);
	if (!e && (!n->scanned_ms || now - n->scanned_ms >= RESCAN_MS)) {
		refresh(n, true);
		e = by_cookie(n, cookie);
	} else if (e && (!n->named_ms || now - n->named_ms >= RESCAN_MS)) {
		/* names come and go (`ip netns add/delete`) for known namespaces */
		refresh(n, false);
		e = by_cookie(n, cookie);
	}
	if (e) {
		*ino = e->ino;
		*name = e->name;
	}
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Socket owners from /proc: every "socket:[INODE]" link under /proc/PID/fd,
 * collected once, sorted by inode and reduced to the lowest pid per inode, so
 * a snapshot of N sockets costs one /proc pass plus N bsearch()es.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "proc.h"
#include "sockowner.h"

struct owner {
	__u64 ino;
	pid_t pid;
	__u32 proc;		/* index into comm[] */
};

struct pw_sockowners {
	struct owner *o;
	size_t n, cap;
	char (*comm)[PW_COMM_LEN];	/* one per process that holds a socket */
	size_t ncomm, capcomm;
};

static int read_comm(int procfd, pid_t pid, char comm[PW_COMM_LEN])
{
	char path[32];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%d/comm", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, comm, PW_COMM_LEN);
	close(fd);
	if (len <= 0)
		return len < 0 ? -errno : -ENOENT;
	if (comm[len - 1] == '\n')
		len--;
	comm[len < PW_COMM_LEN ? len : PW_COMM_LEN - 1] = '\0';
	return 0;
}

/* Record every socket fd of @pid. A process that is gone is skipped, not an error. */
static int scan_pid(int procfd, pid_t pid, struct pw_sockowners *ow)
{
	size_t first = ow->n;
	unsigned long long ino;
	char path[32], link[64];
	struct dirent *de;
	ssize_t len;
	char *end;
	DIR *d;
	int err = 0;

	snprintf(path, sizeof(path), "%d/fd", pid);
	if (pw_proc_opendirat(procfd, path, &d))
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len < 10 || memcmp(link, "socket:[", 8))
			continue;
		link[len] = '\0';
		ino = strtoull(link + 8, &end, 10);
		if (*end != ']')
			continue;
		err = pw_array_grow((void **)&ow->o, &ow->cap, ow->n + 1, sizeof(*ow->o));
		if (err)
			goto cleanup;
		ow->o[ow->n++] = (struct owner){ .ino = ino, .pid = pid, .proc = ow->ncomm };
	}
	if (ow->n == first)
		goto cleanup;
	err = pw_array_grow((void **)&ow->comm, &ow->capcomm, ow->ncomm + 1, sizeof(*ow->comm));
	if (err)
		goto cleanup;
	if (read_comm(procfd, pid, ow->comm[ow->ncomm]))
		ow->n = first;	/* exited meanwhile: its fds are closed */
	else
		ow->ncomm++;
cleanup:
	closedir(d);
	return err;
}

static int cmp_ino(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

static int cmp_ino_pid(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;
	int c = cmp_ino(a, b);

	return c ? c : (x->pid > y->pid) - (x->pid < y->pid);
}

int pw_sockowners_scan(struct pw_sockowners **ret)
{
	struct pw_sockowners *ow;
	struct dirent *de;
	size_t i, n = 0;
	int procfd, err;
	DIR *d = NULL;

	ow = calloc(1, sizeof(*ow));
	if (!ow)
		return -ENOMEM;
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		err = -errno;
		goto cleanup;
	}
	err = pw_proc_opendirat(procfd, ".", &d);
	if (err)
		goto cleanup;
	while ((de = readdir(d))) {
		pid_t pid = pw_proc_parse_pid(de->d_name);

		if (pid) {
			err = scan_pid(procfd, pid, ow);
			if (err)
				goto cleanup;
		}
	}

	/* A socket shared by several processes (fork, SCM_RIGHTS) goes to the lowest pid. */
	if (ow->n)
		qsort(ow->o, ow->n, sizeof(*ow->o), cmp_ino_pid);
	for (i = 0; i < ow->n; i++)
		if (!n || ow->o[n - 1].ino != ow->o[i].ino)
			ow->o[n++] = ow->o[i];
	ow->n = n;
	*ret = ow;
	ow = NULL;
cleanup:
	if (d)
		closedir(d);
	if (procfd >= 0)
		close(procfd);
	pw_sockowners_free(ow);
	return err;
}

void pw_sockowners_free(struct pw_sockowners *ow)
{
	if (!ow)
		return;
	free(ow->o);
	free(ow->comm);
	free(ow);
}

bool pw_sockowners_find(const struct pw_sockowners *ow, __u64 ino, pid_t *pid,
			char comm[PW_COMM_LEN])
{
	const struct owner key = { .ino = ino };
	const struct owner *o;

	if (!ow || !ow->n)
		return false;
	o = bsearch(&key, ow->o, ow->n, sizeof(*ow->o), cmp_ino);
	if (!o)
		return false;
	*pid = o->pid;
	memcpy(comm, ow->comm[o->proc], PW_COMM_LEN);
	return true;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Facts about processes from /proc/PID/stat and /proc/PID/status. Both files
 * are opened through one /proc/PID directory fd, so they describe the same
 * process even if the pid is reused in between (the old directory then fails
 * with ESRCH instead of showing the new process).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

/* Longer than any stat line: 52 numeric fields and a comm of at most 64 bytes. */
#define STAT_BUF	2048
/* Uid: is the ninth line of status, well inside this. */
#define STATUS_BUF	4096
/* Deeper process trees than this are not worth walking. */
#define MAX_DEPTH	4096

static int open_pid_dir(pid_t pid)
{
	char path[32];
	int fd;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d", pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Whole (or the first size - 1 bytes of a) /proc file, NUL-terminated. */
static int read_at(int dirfd, const char *name, char *buf, size_t size)
{
	size_t off = 0;
	ssize_t len;
	int fd, err = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ESRCH ? -ENOENT : -errno;
	while (off < size - 1) {
		len = read(fd, buf + off, size - 1 - off);
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0) {
			/* The process exited after the open. */
			err = errno == ESRCH ? -ENOENT : -errno;
			break;
		}
		if (!len)
			break;
		off += len;
	}
	close(fd);
	buf[off] = '\0';
	return err;
}

static int parse_stat(const char *buf, struct pw_proc *out, char *state)
{
	unsigned long long ppid = 0, start = 0, v;
	const char *lpar, *rpar, *p;
	struct pw_proc pr;
	size_t len;
	char *end;
	long pid;
	int field;

	pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 0 || pid > 0x7fffffff || end[0] != ' ' || end[1] != '(')
		return -EINVAL;
	lpar = end + 1;
	/* comm may hold anything, ')' and spaces included; nothing after it can. */
	rpar = strrchr(lpar, ')');
	if (!rpar || rpar[1] != ' ' || !rpar[2] || rpar[3] != ' ')
		return -EINVAL;
	*state = rpar[2];

	p = rpar + 4;
	for (field = 4; field <= 22; field++) {
		/* strtoull() also steps over the negative fields (priority, nice). */
		v = strtoull(p, &end, 10);
		if (end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
			return -EINVAL;
		if (field == 4)
			ppid = v;
		else if (field == 22)
			start = v;
		if (field < 22 && *end != ' ')
			return -EINVAL;
		p = end + 1;
	}
	if (ppid > 0x7fffffff)
		return -EINVAL;

	memset(&pr, 0, sizeof(pr));
	pr.pid = pid;
	pr.ppid = ppid;
	pr.start_time = start;
	/* Worker threads show names longer than TASK_COMM_LEN here: truncate. */
	len = rpar - lpar - 1;
	if (len > sizeof(pr.comm) - 1)
		len = sizeof(pr.comm) - 1;
	memcpy(pr.comm, lpar + 1, len);
	*out = pr;
	return 0;
}

int pw_proc_parse_stat(const char *buf, struct pw_proc *out)
{
	char state;

	return parse_stat(buf, out, &state);
}

/* stat under dir (a path, or "." when dirfd is the /proc/PID directory). */
static int read_stat_at(int dirfd, const char *dir, struct pw_proc *out, char *state)
{
	char buf[STAT_BUF], name[48];
	int err;

	snprintf(name, sizeof(name), "%s/stat", dir);
	err = read_at(dirfd, name, buf, sizeof(buf));
	if (err)
		return err;
	return parse_stat(buf, out, state);
}

static int read_uid_at(int dirfd, uid_t *uid, pid_t *tgid)
{
	char buf[STATUS_BUF];
	unsigned long v;
	char *p, *end;
	int err;

	err = read_at(dirfd, "status", buf, sizeof(buf));
	if (err)
		return err;
	p = strstr(buf, "\nUid:");
	if (!p)
		return -EINVAL;
	/* Uid: real effective saved fs */
	v = strtoul(p + 5, &end, 10);
	if (end == p + 5 || v > (uid_t)-1)
		return -EINVAL;
	*uid = v;
	/* Tgid: comes before Uid:; a thread's own /proc/TID names its process */
	p = strstr(buf, "\nTgid:");
	v = p ? strtoul(p + 6, &end, 10) : 0;
	*tgid = p && end != p + 6 && v <= 0x7fffffff ? (pid_t)v : 0;
	return 0;
}

int pw_proc_read(pid_t pid, struct pw_proc *out)
{
	struct pw_proc pr;
	char state;
	int dirfd, err;

	dirfd = open_pid_dir(pid);
	if (dirfd < 0)
		return dirfd;
	err = read_stat_at(dirfd, ".", &pr, &state);
	if (!err)
		err = read_uid_at(dirfd, &pr.uid, &pr.tgid);
	close(dirfd);
	if (!err)
		*out = pr;
	return err;
}

/* stat of @pid, with its state letter: one file, opened by its path (no
 * directory fd needed when nothing else is read of the same process). */
static int read_stat(pid_t pid, struct pw_proc *out, char *state)
{
	char path[32];

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d", pid);
	return read_stat_at(AT_FDCWD, path, out, state);
}

/* Threads: of /proc/PID/status, 0 when unreadable. */
static unsigned long read_threads(pid_t pid)
{
	char buf[STATUS_BUF], *p;
	int dirfd, err;

	dirfd = open_pid_dir(pid);
	if (dirfd < 0)
		return 0;
	err = read_at(dirfd, "status", buf, sizeof(buf));
	close(dirfd);
	if (err)
		return 0;
	p = strstr(buf, "\nThreads:");
	return p ? strtoul(p + 9, NULL, 10) : 0;
}

bool pw_proc_alive(pid_t pid, __u64 start_time)
{
	struct pw_proc pr;
	char state;

	if (read_stat(pid, &pr, &state) || pr.start_time != start_time)
		return false;
	/* A zombie has exited and closed its sockets; only its exit status is
	 * left. But a leader that called pthread_exit() is a zombie too while
	 * its other threads serve: the process lives while any thread does. */
	if (state == 'Z' || state == 'X')
		return read_threads(pid) > 1;
	return true;
}

int pw_proc_state(pid_t pid, struct pw_proc *out)
{
	char state;
	int err = read_stat(pid, out, &state);

	return err ? err : state;
}

bool pw_proc_kthread(pid_t pid)
{
	struct pw_proc pr;
	char state;

	/* kthreadd is pid 2; every kernel thread is its child */
	if (pid == 2)
		return true;
	return !read_stat(pid, &pr, &state) && pr.ppid == 2;
}

bool pw_proc_is_ancestor(pid_t anc, pid_t pid)
{
	struct pw_proc pr;
	char state;
	int depth;

	if (anc <= 0)
		return false;
	/* Bounded: a pid reused while we walk could in theory make a loop. */
	for (depth = 0; depth < MAX_DEPTH && pid > 0; depth++) {
		if (pid == anc)
			return true;
		if (read_stat(pid, &pr, &state))
			return false;
		/* ppid 0: init, kthreadd, or a parent outside our pid namespace. */
		pid = pr.ppid;
	}
	return false;
}

pid_t pw_proc_parse_pid(const char *name)
{
	char *end;
	long v;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	v = strtol(name, &end, 10);
	return *end || v <= 0 || v > 0x7fffffff ? 0 : (pid_t)v;
}

int pw_proc_opendirat(int dirfd, const char *path, DIR **ret)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int err = -errno;

		close(fd);
		return err;
	}
	*ret = d;
	return 0;
}

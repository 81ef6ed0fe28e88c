// SPDX-License-Identifier: GPL-2.0
/* Trusted directories and the state directory's lock (see safedir.h). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safedir.h"

/* Only root (or the daemon's own uid) may change entries: owner, no write
 * for group or others, except a sticky directory owned by root (/tmp),
 * where others cannot rename or remove what is not theirs. */
static const char *unsafe(const struct stat *st, bool leaf)
{
	uid_t me = geteuid();

	if (!S_ISDIR(st->st_mode))
		return "not a directory";
	if (st->st_uid != 0 && st->st_uid != me)
		return "owned by another user";
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return NULL;
	if (!leaf && (st->st_mode & S_ISVTX) && st->st_uid == 0)
		return NULL;
	return "writable by group or others";
}

static int check_ancestors(const char *dir, char *msg, size_t n)
{
	char path[PATH_MAX], *slash;
	struct stat st;
	const char *why;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	while ((slash = strrchr(path, '/'))) {
		if (slash == path)
			slash[1] = '\0';
		else
			*slash = '\0';
		/* stat, not lstat: a symlinked ancestor is judged by what it is */
		if (stat(path, &st)) {
			snprintf(msg, n, "%s: %s", path, strerror(errno));
			return -errno;
		}
		why = unsafe(&st, false);
		if (why) {
			snprintf(msg, n, "%s (above %s) is %s (mode %04o, uid %u): refusing to "
				 "trust it", path, dir, why, st.st_mode & 07777, st.st_uid);
			return -EPERM;
		}
		if (slash == path)
			break;
	}
	return 0;
}

int pw_safedir(const char *dir, mode_t mode, char *msg, size_t n)
{
	struct stat st;
	const char *why;
	int fd, err;

	msg[0] = '\0';
	if (!dir[0]) {
		snprintf(msg, n, "empty directory name");
		return -EINVAL;
	}
	err = check_ancestors(dir, msg, n);
	if (err)
		return err;
	if (!mkdir(dir, mode)) {
		/* the umask may have taken bits: the mode is exactly mode */
		if (chmod(dir, mode)) {
			snprintf(msg, n, "chmod %s: %s", dir, strerror(errno));
			return -errno;
		}
	} else if (errno != EEXIST) {
		snprintf(msg, n, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	/* the directory itself, never through a symlink */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, n, "%s: %s%s", dir, strerror(errno),
			 errno == ELOOP || errno == ENOTDIR ? " (a symlink or not a directory)" : "");
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		snprintf(msg, n, "%s: %s", dir, strerror(-err));
		return err;
	}
	close(fd);
	why = unsafe(&st, true);
	if (why) {
		snprintf(msg, n, "%s is %s (mode %04o, uid %u): refusing to use it; make it owned "
			 "by root and not writable by others", dir, why, st.st_mode & 07777,
			 st.st_uid);
		return -EPERM;
	}
	return 0;
}

int pw_safedir_lock(const char *dir, char *msg, size_t n)
{
	char path[PATH_MAX], buf[32];
	int fd, err, len;
	ssize_t r;

	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, n, "%s: %s", path, strerror(errno));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		r = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[r > 0 ? r : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (err == -EWOULDBLOCK)
			snprintf(msg, n, "state directory %s is in use by another portwatchd (pid %s)",
				 dir, buf[0] ? buf : "unknown");
		else
			snprintf(msg, n, "lock %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)len, 0) != len) {
		err = -errno;
		snprintf(msg, n, "%s: %s", path, strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

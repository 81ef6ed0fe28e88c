// SPDX-License-Identifier: GPL-2.0
/* Run a program, capture stdout and stderr apart (see itest_run.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest_lib.h"
#include "itest_run.h"

struct buf {
	char *p;
	size_t len, cap;
};

static int append(struct buf *b, int fd)
{
	ssize_t r;

	if (b->cap - b->len < 4096) {
		size_t cap = b->cap ? b->cap * 2 : 8192;
		char *n = realloc(b->p, cap);

		if (!n)
			return -ENOMEM;
		b->p = n;
		b->cap = cap;
	}
	r = read(fd, b->p + b->len, b->cap - b->len - 1);
	if (r > 0)
		b->len += (size_t)r;
	b->p[b->len] = 0;
	return r > 0 ? 1 : 0;
}

int itest_run(const char *const *argv, const char *sock, int timeout_ms, char **out, char **err)
{
	return itest_run_uid(argv, sock, -1, timeout_ms, out, err);
}

int itest_run_uid(const char *const *argv, const char *sock, int uid, int timeout_ms, char **out,
		  char **err)
{
	struct buf bo = { 0 }, be = { 0 };
	int po[2], pe[2], status, open_fds = 2;
	uint64_t deadline = itest_now_ns() + (uint64_t)timeout_ms * itest_slow() * 1000000ull;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC))
		return -errno;
	if (pipe2(pe, O_CLOEXEC)) {
		close(po[0]);
		close(po[1]);
		return -errno;
	}
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(devnull, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (sock)
			setenv("PORTWATCH_SOCKET", sock, 1);
		if (uid >= 0 && (setgroups(0, NULL) || setgid((gid_t)uid) || setuid((uid_t)uid)))
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	while (open_fds) {
		struct pollfd pf[2] = { { .fd = po[0], .events = POLLIN },
					{ .fd = pe[0], .events = POLLIN } };
		uint64_t now = itest_now_ns();
		int r;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			break;
		}
		r = poll(pf, 2, (int)((deadline - now) / 1000000ull) + 1);
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (append(i ? &be : &bo, pf[i].fd) <= 0) {
				close(pf[i].fd);
				if (i)
					pe[0] = -1;
				else
					po[0] = -1;
				open_fds--;
			}
		}
	}
	if (po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	waitpid(pid, &status, 0);
	*out = bo.p ? bo.p : strdup("");
	*err = be.p ? be.p : strdup("");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int itest_pw(const char *sock, char **out, char **err, const char *const *args)
{
	return itest_pw_uid(sock, -1, out, err, args);
}

int itest_pw_uid(const char *sock, int uid, char **out, char **err, const char *const *args)
{
	const char *argv[64];
	char bin[256];
	int n = 0;

	snprintf(bin, sizeof(bin), "%s/portwatch", itest_build());
	argv[n++] = bin;
	for (int i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return itest_run_uid(argv, sock, uid, 10000, out, err);
}

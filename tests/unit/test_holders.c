// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/holders.c against the real kernel (root, BPF iterators): the
 * holders of a socket are every process with a file of it open, found by
 * socket cookie, with the fd each holds it under.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "bpfwatch.h"
#include "holders.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

struct seen {
	pid_t pids[8];
	int fds[8];
	size_t n;
};

static void collect(void *ctx, const struct pw_holder_rec *r)
{
	struct seen *s = ctx;

	if (s->n < 8) {
		s->pids[s->n] = (pid_t)r->tgid;
		s->fds[s->n++] = (int)r->fd;
	}
}

static bool has(const struct seen *s, pid_t pid, int fd)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->pids[i] == pid && (fd < 0 || s->fds[i] == fd))
			return true;
	return false;
}

/* The daemon's programs, whose events nobody reads here. */
static int ignore(void *ctx, const struct pw_event *ev)
{
	(void)ctx;
	(void)ev;
	return 0;
}

static void test_parent_and_child(void **state)
{
	struct pw_bpf *b = NULL;
	struct pw_holders *h = NULL;
	struct seen s = { 0 };
	socklen_t len = sizeof(__u64);
	__u64 cookie = 0;
	int fd, p[2];
	pid_t child;
	char c;

	(void)state;
	if (geteuid() != 0 || pw_bpf_new(&b, NULL, ignore, NULL) || pw_holders_new(&h, b)) {
		print_message("skipped: needs root and BPF task_file iterators\n");
		pw_bpf_free(b);
		skip();
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len), 0);
	assert_int_equal(pipe(p), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(p[1]);
		(void)!read(p[0], &c, 1);	/* hold fd until the parent says */
		_exit(0);
	}
	close(p[0]);
	assert_int_equal(pw_holders_lookup(h, &cookie, 1, collect, &s), 0);
	assert_true(has(&s, getpid(), fd));
	assert_true(has(&s, child, fd));
	assert_int_equal(s.n, 2);

	/* the parent lets go: the child alone holds it */
	close(fd);
	s.n = 0;
	assert_int_equal(pw_holders_lookup(h, &cookie, 1, collect, &s), 0);
	assert_false(has(&s, getpid(), -1));
	assert_true(has(&s, child, fd));

	(void)!write(p[1], "x", 1);
	assert_int_equal(waitpid(child, NULL, 0), child);
	s.n = 0;
	assert_int_equal(pw_holders_lookup(h, &cookie, 1, collect, &s), 0);
	assert_int_equal(s.n, 0);
	close(p[1]);
	pw_holders_free(h);
	pw_bpf_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parent_and_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

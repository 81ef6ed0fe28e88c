// SPDX-License-Identifier: GPL-2.0
/* Tests of user/kernel/proccache.c on real processes: hits, exits, a recycled
 * pid, renamed processes, ancestry after a parent's exit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "proccache.h"

#define WAIT_MS 5000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wait_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(read(fd, &c, 1), 1);
}

struct child {
	pid_t pid;
	int cmd;	/* write 'n': rename to "renamed"; close: exit */
	int ack;	/* a byte per command done */
};

/* A child named @name that obeys struct child's pipes. */
static void spawn(struct child *ch, const char *name)
{
	int up[2], down[2];
	char c;

	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	ch->pid = fork();
	assert_true(ch->pid >= 0);
	if (!ch->pid) {
		close(up[0]);
		close(down[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, name);
		if (write(up[1], "r", 1) != 1)
			_exit(1);
		for (;;) {
			ssize_t n = read(down[0], &c, 1);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				_exit(0);
			prctl(PR_SET_NAME, "renamed");
			if (write(up[1], "k", 1) != 1)
				_exit(1);
		}
	}
	close(up[1]);
	close(down[0]);
	ch->cmd = down[1];
	ch->ack = up[0];
	wait_byte(ch->ack);
}

static void end(struct child *ch)
{
	close(ch->cmd);
	close(ch->ack);
	assert_int_equal(waitpid(ch->pid, NULL, 0), ch->pid);
}

static void test_hit_and_exit(void **state)
{
	struct pw_proc_cache_stats s0, s1;
	struct pw_proc a, b, c;
	struct child ch;

	(void)state;
	pw_proc_cache_flush();
	spawn(&ch, "first");
	assert_int_equal(pw_proc_cached(ch.pid, &a), 0);
	assert_int_equal(pw_proc_read(ch.pid, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	pw_proc_cache_stats(&s0);
	assert_int_equal(pw_proc_cached(ch.pid, &c), 0);
	pw_proc_cache_stats(&s1);
	assert_memory_equal(&a, &c, sizeof(a));
	/* on a kernel without pidfd_open every call reads /proc */
	if (s1.hits != s0.hits + 1)
		print_message("no pidfd_open: nothing cached\n");
	/* exited: never answered from the cache */
	end(&ch);
	assert_int_equal(pw_proc_cached(ch.pid, &c), -ENOENT);
	assert_false(pw_proc_cached_comm(ch.pid, a.start_time, c.comm) &&
		     strcmp(c.comm, "first"));
	assert_int_equal(pw_proc_cached(0, &c), -EINVAL);
}

/* Renamed (as by an exec): the new name shows once the entry is older than
 * the TTL, and the start time never changes. */
static void test_rename(void **state)
{
	struct pw_proc a, b;
	struct child ch;
	char comm[16];
	uint64_t t0;

	(void)state;
	spawn(&ch, "before");
	assert_int_equal(pw_proc_cached(ch.pid, &a), 0);
	assert_string_equal(a.comm, "before");
	assert_true(pw_proc_cached_comm(ch.pid, a.start_time, comm));
	assert_string_equal(comm, "before");
	assert_int_equal(write(ch.cmd, "n", 1), 1);
	wait_byte(ch.ack);
	/* a reply's view: the cached name is refreshed from stat once stale */
	t0 = now_ms();
	for (;;) {
		assert_true(pw_proc_cached_comm(ch.pid, a.start_time, comm));
		if (!strcmp(comm, "renamed"))
			break;
		assert_string_equal(comm, "before");
		assert_true(now_ms() - t0 <= PW_PROC_CACHE_TTL_NS / 1000000 + 1000);
	}
	/* the owner's view: uid and name re-read together */
	t0 = now_ms();
	for (;;) {
		assert_int_equal(pw_proc_cached(ch.pid, &b), 0);
		assert_true(b.start_time == a.start_time);
		if (!strcmp(b.comm, "renamed"))
			break;
		assert_string_equal(b.comm, "before");
		/* stale no longer than the TTL (plus scheduling) */
		assert_true(now_ms() - t0 <= PW_PROC_CACHE_TTL_NS / 1000000 + 1000);
	}
	assert_true(pw_proc_cached_comm(ch.pid, a.start_time, comm));
	assert_string_equal(comm, "renamed");
	/* another start time: not this process */
	assert_false(pw_proc_cached_comm(ch.pid, a.start_time + 1, comm));
	end(&ch);
}

/* A pid reused by a new process is never answered with the old one's facts,
 * even within the TTL and the same clock tick. */
static void test_recycled_pid(void **state)
{
	struct child a, b;
	struct pw_proc pa, pb;
	char last[32];
	int fd, tries;

	(void)state;
	for (tries = 0; tries < 50; tries++) {
		spawn(&a, "first");
		assert_int_equal(pw_proc_cached(a.pid, &pa), 0);
		end(&a);
		fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			print_message("ns_last_pid: %s: skipped\n", strerror(errno));
			return;
		}
		snprintf(last, sizeof(last), "%d", a.pid - 1);
		(void) !write(fd, last, strlen(last));
		close(fd);
		spawn(&b, "second");
		if (b.pid == a.pid)
			break;
		end(&b);
	}
	if (tries == 50) {
		print_message("pid never reused in 50 tries: skipped\n");
		return;
	}
	assert_int_equal(pw_proc_cached(b.pid, &pb), 0);
	assert_string_equal(pb.comm, "second");
	assert_int_equal(pb.ppid, getpid());
	end(&b);
}

/* Ancestry from the cache, and after the middle process exits (the grandchild
 * is reparented: we are no longer its ancestor). */
static void test_ancestry(void **state)
{
	int up[2], mid_down[2], gc_down[2];
	pid_t mid, gc = 0;
	struct pw_proc p;
	char c;

	(void)state;
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(mid_down, O_CLOEXEC), 0);
	assert_int_equal(pipe2(gc_down, O_CLOEXEC), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (!mid) {
		pid_t g;

		close(up[0]);
		close(mid_down[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		g = fork();
		if (g < 0)
			_exit(1);
		if (!g) {
			close(mid_down[0]);
			close(up[1]);
			close(gc_down[1]);
			while (read(gc_down[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		close(gc_down[0]);
		close(gc_down[1]);
		if (write(up[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		while (read(mid_down[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(up[1]);
	close(mid_down[0]);
	close(gc_down[0]);
	{
		struct pollfd pfd = { .fd = up[0], .events = POLLIN };

		assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
		assert_int_equal(read(up[0], &gc, sizeof(gc)), sizeof(gc));
	}
	pw_proc_cache_flush();
	for (int i = 0; i < 3; i++) {
		assert_true(pw_proc_cached_is_ancestor(getpid(), gc));
		assert_true(pw_proc_cached_is_ancestor(mid, gc));
		assert_true(pw_proc_cached_is_ancestor(gc, gc));
		assert_false(pw_proc_cached_is_ancestor(gc, mid));
		assert_false(pw_proc_cached_is_ancestor(gc, getpid()));
	}
	assert_int_equal(pw_proc_cached(gc, &p), 0);
	assert_int_equal(p.ppid, mid);
	/* the middle one exits: gc's cached ppid is stale, the answer must not be */
	close(mid_down[1]);
	assert_int_equal(waitpid(mid, NULL, 0), mid);
	assert_false(pw_proc_cached_is_ancestor(getpid(), gc));
	assert_false(pw_proc_cached_is_ancestor(mid, gc));
	assert_false(pw_proc_cached_is_ancestor(0, gc));
	close(gc_down[1]);
	close(up[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_and_exit),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_recycled_pid),
		cmocka_unit_test(test_ancestry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

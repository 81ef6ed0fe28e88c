// SPDX-License-Identifier: GPL-2.0
/* Tests of user/core/owner.c on real processes: a thread id names its
 * process (the exit event carries the tgid), a zombie is no owner. */
#include <errno.h>
#include <pthread.h>
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "owner.h"
#include "proc.h"

#define WAIT_MS 5000

static int ready[2], done[2];
static pid_t thread_tid;

static void *thread_main(void *arg)
{
	char c;

	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	if (write(ready[1], "x", 1) != 1)
		return NULL;
	/* until the test is done with it */
	(void)!read(done[0], &c, 1);
	return NULL;
}

static void test_thread_names_its_process(void **state)
{
	struct ucred root = { .pid = getpid(), .uid = 0, .gid = 0 };
	struct ucred self = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
	struct pw_alloc a = { 0 };
	enum pw_errcode code = PW_E_OK;
	struct pw_proc p;
	pthread_t th;
	char err[256], c;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	assert_int_equal(pthread_create(&th, NULL, thread_main, NULL), 0);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_true(thread_tid > 0 && thread_tid != getpid());
	assert_int_equal(pw_proc_read(thread_tid, &p), 0);
	assert_int_equal(p.tgid, getpid());

	assert_int_equal(pw_owner_resolve((uint32_t)thread_tid, false, &root, &a, &code, err,
					  sizeof(err)), 0);
	assert_int_equal(a.pid, getpid());
	assert_int_equal(pw_proc_read(getpid(), &p), 0);
	assert_true(a.start_time == p.start_time);
	memset(&a, 0, sizeof(a));
	assert_int_equal(pw_owner_resolve((uint32_t)thread_tid, false, &self, &a, &code, err,
					  sizeof(err)), 0);
	assert_int_equal(a.pid, getpid());

	assert_int_equal(write(done[1], "x", 1), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_zombie_refused(void **state)
{
	struct ucred root = { .pid = getpid(), .uid = 0, .gid = 0 };
	struct pw_alloc a = { 0 };
	enum pw_errcode code = PW_E_OK;
	struct pw_proc p;
	uint64_t t0 = now_ms();
	char err[256];
	pid_t z;

	(void)state;
	z = fork();
	assert_true(z >= 0);
	if (z == 0)
		_exit(0);
	/* not reaped: a zombie once it has exited */
	while (pw_proc_state(z, &p) != 'Z') {
		assert_true(now_ms() - t0 < WAIT_MS);
		usleep(1000);
	}
	assert_int_equal(pw_owner_resolve((uint32_t)z, false, &root, &a, &code, err, sizeof(err)),
			 -ESRCH);
	assert_int_equal(code, PW_E_NOT_FOUND);
	assert_non_null(strstr(err, "zombie"));
	assert_int_equal(a.pid, 0);
	assert_int_equal(waitpid(z, NULL, 0), z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_names_its_process),
		cmocka_unit_test(test_zombie_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

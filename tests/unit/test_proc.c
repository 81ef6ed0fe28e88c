// SPDX-License-Identifier: GPL-2.0
/* Tests of user/proc.c: the stat parser on fixed text, the rest on real processes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "proc.h"

#define WAIT_MS 5000

/* A stat line with fields 3..52; field 22 (starttime) is 987654321. */
#define STAT_TAIL " S 42 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654321 " \
	"10000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 " \
	"0 0 0 0 0 0 0\n"

static void test_parse_plain(void **state)
{
	struct pw_proc p;

	(void)state;
	assert_int_equal(pw_proc_parse_stat("1234 (bash)" STAT_TAIL, &p), 0);
	assert_int_equal(p.pid, 1234);
	assert_int_equal(p.ppid, 42);
	assert_string_equal(p.comm, "bash");
	assert_true(p.start_time == 987654321ULL);
	assert_int_equal(p.uid, 0);
}

static void test_parse_tricky_comm(void **state)
{
	struct pw_proc p;

	(void)state;
	/* Only the last ')' ends comm; the fake fields inside it must not count. */
	assert_int_equal(pw_proc_parse_stat("77 (a) b (c)" STAT_TAIL, &p), 0);
	assert_int_equal(p.pid, 77);
	assert_string_equal(p.comm, "a) b (c");
	assert_int_equal(p.ppid, 42);
	assert_true(p.start_time == 987654321ULL);

	assert_int_equal(pw_proc_parse_stat("78 () 9 9 9)" STAT_TAIL, &p), 0);
	assert_string_equal(p.comm, ") 9 9 9");
	assert_int_equal(p.ppid, 42);

	assert_int_equal(pw_proc_parse_stat("79 ()" STAT_TAIL, &p), 0);
	assert_string_equal(p.comm, "");
}

static void test_parse_long_comm_truncated(void **state)
{
	struct pw_proc p;

	(void)state;
	/* Kernel workers show names longer than 15 bytes in stat. */
	assert_int_equal(pw_proc_parse_stat("9 (kworker/u8:0-writeback)" STAT_TAIL, &p), 0);
	assert_string_equal(p.comm, "kworker/u8:0-wr");
}

static void test_parse_rejects_garbage(void **state)
{
	struct pw_proc p = { .pid = 5 };

	(void)state;
	assert_int_equal(pw_proc_parse_stat("", &p), -EINVAL);
	assert_int_equal(pw_proc_parse_stat("abc (x)" STAT_TAIL, &p), -EINVAL);
	assert_int_equal(pw_proc_parse_stat("12 (no close paren S 42 1", &p), -EINVAL);
	assert_int_equal(pw_proc_parse_stat("12 (x) S 42 1 2 3\n", &p), -EINVAL);
	assert_int_equal(pw_proc_parse_stat("12 (x) S x 1 2 3\n", &p), -EINVAL);
	assert_int_equal(pw_proc_parse_stat("-3 (x)" STAT_TAIL, &p), -EINVAL);
	/* Untouched on failure. */
	assert_int_equal(p.pid, 5);
}

static void read_comm_file(pid_t pid, char *buf, size_t size)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, size, f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void test_read_self(void **state)
{
	struct pw_proc a, b;
	char comm[64];

	(void)state;
	assert_int_equal(pw_proc_read(getpid(), &a), 0);
	assert_int_equal(a.pid, getpid());
	assert_int_equal(a.ppid, getppid());
	assert_int_equal(a.uid, getuid());
	read_comm_file(getpid(), comm, sizeof(comm));
	assert_string_equal(a.comm, comm);
	assert_true(a.start_time > 0);

	assert_int_equal(pw_proc_read(getpid(), &b), 0);
	assert_true(a.start_time == b.start_time);
	assert_true(pw_proc_alive(getpid(), a.start_time));
	assert_false(pw_proc_alive(getpid(), a.start_time + 1));
}

static void test_read_invalid(void **state)
{
	struct pw_proc p;

	(void)state;
	assert_int_equal(pw_proc_read(0, &p), -EINVAL);
	assert_int_equal(pw_proc_read(-1, &p), -EINVAL);
	assert_false(pw_proc_alive(0, 0));
}

/* A child that names itself @name, says so on a pipe, and lives until the other pipe closes. */
static pid_t spawn(const char *name, int *release_fd)
{
	int ready[2], release[2];
	struct pollfd pfd;
	pid_t pid;
	char c;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(release, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		close(ready[0]);
		close(release[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, name);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(release[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	pfd = (struct pollfd){ .fd = ready[0], .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release_fd = release[1];
	return pid;
}

static void test_child_lifecycle(void **state)
{
	struct pw_proc a, b;
	siginfo_t si;
	int release;
	pid_t pid;

	(void)state;
	pid = spawn("pw) t (c", &release);
	assert_int_equal(pw_proc_read(pid, &a), 0);
	assert_int_equal(a.pid, pid);
	assert_int_equal(a.ppid, getpid());
	assert_int_equal(a.uid, getuid());
	assert_string_equal(a.comm, "pw) t (c");
	assert_int_equal(pw_proc_read(pid, &b), 0);
	assert_true(a.start_time == b.start_time);
	assert_true(pw_proc_alive(pid, a.start_time));
	assert_false(pw_proc_alive(pid, a.start_time - 1));

	/* Exited but not reaped: a zombie holds nothing any more. */
	close(release);
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, pid, &si, WEXITED | WNOWAIT), 0);
	assert_false(pw_proc_alive(pid, a.start_time));

	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(pw_proc_read(pid, &b), -ENOENT);
	assert_false(pw_proc_alive(pid, a.start_time));
}

static void test_is_ancestor(void **state)
{
	struct pw_proc parent;
	int rel_a, rel_b;
	pid_t a, b;

	(void)state;
	assert_true(pw_proc_is_ancestor(getpid(), getpid()));
	assert_true(pw_proc_is_ancestor(getppid(), getpid()));
	/* The grandparent too, when it is visible in our pid namespace. */
	assert_int_equal(pw_proc_read(getppid(), &parent), 0);
	if (parent.ppid > 0)
		assert_true(pw_proc_is_ancestor(parent.ppid, getpid()));

	a = spawn("pw-anc-a", &rel_a);
	b = spawn("pw-anc-b", &rel_b);
	assert_true(pw_proc_is_ancestor(getpid(), a));
	assert_false(pw_proc_is_ancestor(a, getpid()));
	assert_false(pw_proc_is_ancestor(a, b));	/* siblings */
	assert_false(pw_proc_is_ancestor(0, getpid()));
	assert_false(pw_proc_is_ancestor(getpid(), 0));

	close(rel_a);
	close(rel_b);
	assert_int_equal(waitpid(a, NULL, 0), a);
	assert_int_equal(waitpid(b, NULL, 0), b);
	/* A pid that is gone has no ancestors. */
	assert_false(pw_proc_is_ancestor(getpid(), a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_plain),
		cmocka_unit_test(test_parse_tricky_comm),
		cmocka_unit_test(test_parse_long_comm_truncated),
		cmocka_unit_test(test_parse_rejects_garbage),
		cmocka_unit_test(test_read_self),
		cmocka_unit_test(test_read_invalid),
		cmocka_unit_test(test_child_lifecycle),
		cmocka_unit_test(test_is_ancestor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

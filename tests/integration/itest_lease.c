// SPDX-License-Identifier: GPL-2.0
/*
 * Leases that follow real services (issue 9), against the real kernel in the
 * test's own network namespace. A port belongs to whoever holds a socket on
 * it now: a server that daemonizes (fork or double fork with setsid), execs
 * another program keeping the socket, passes it over SCM_RIGHTS to an
 * unrelated process, or whose main thread calls pthread_exit keeps its
 * allocation, which names the live holder within 50 ms of the old owner's
 * exit and goes stale within 50 ms of the last holder's death.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest_lib.h"

#define LIMIT_MS (50 * itest_slow())

static char config_path[64];

static int write_config(void)
{
	FILE *f;
	int fd;

	snprintf(config_path, sizeof(config_path), "/tmp/pw-itest-lease-XXXXXX");
	fd = mkstemp(config_path);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	fprintf(f, "{\"service_types\": {\"ls\": {\"port_range\": [45700, 45799]},\n"
		   "  \"solo\": {\"port_range\": [45800, 45809], \"instance_behavior\": \"single\"}},\n"
		   " \"recovery\": {\"health_monitoring\": {\"enabled\": true,"
		   " \"check_interval_ms\": 60000, \"max_failures\": 3,"
		   " \"cleanup_stale_allocations\": true, \"grace_period_ms\": 0}}}\n");
	return fclose(f);
}

static int setup(void **state)
{
	static struct itest_daemon d;
	const char *const extra[] = { "--config", config_path, NULL };

	itest_require_root();
	assert_int_equal(itest_unshare_net(), 0);
	/* orphans of the services below come back to us to be reaped */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(write_config(), 0);
	assert_int_equal(itest_daemon_start(&d, extra), 0);
	*state = &d;
	return 0;
}

static int teardown(void **state)
{
	itest_daemon_cleanup(*state);
	unlink(config_path);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return 0;
}

/* Allocate for owner pid; returns the port. */
static unsigned allocate_for(struct itest_daemon *d, pid_t owner)
{
	json_t *res;
	unsigned port;

	assert_int_equal(itest_call(d, "allocate", json_pack("{s:s, s:i}", "service_type", "ls",
							     "pid", (int)owner), &res), 0);
	port = (unsigned)json_integer_value(json_object_get(res, "port"));
	json_decref(res);
	assert_true(port >= 45700 && port <= 45799);
	return port;
}

/* The allocation's owner pid per `check`, 0 when the port is not allocated. */
static pid_t owner_of(struct itest_daemon *d, unsigned port)
{
	json_t *res, *a;
	pid_t pid = 0;

	if (itest_call(d, "check", json_pack("{s:i}", "port", port), &res))
		return -1;
	a = json_object_get(res, "allocation");
	if (json_is_object(a))
		pid = (pid_t)json_integer_value(json_object_get(a, "pid"));
	json_decref(res);
	return pid;
}

/* The socket on port names pid as its (first) holder, in `check` and `ports`. */
static bool held_by(struct itest_daemon *d, unsigned port, pid_t pid)
{
	json_t *res, *s;
	size_t i;
	bool ok = false;

	if (itest_call(d, "check", json_pack("{s:i}", "port", port), &res))
		return false;
	json_array_foreach(json_object_get(res, "sockets"), i, s)
		if (json_integer_value(json_object_get(s, "pid")) == pid &&
		    json_integer_value(json_object_get(json_array_get(
			    json_object_get(s, "holders"), 0), "pid")) == pid)
			ok = true;
	json_decref(res);
	if (!ok || itest_call(d, "ports", json_pack("{s:i}", "port", port), &res))
		return false;
	ok = itest_find_sock(res, port, "tcp", pid) != NULL;
	json_decref(res);
	return ok;
}

/* `list` names pid as the owner of port, bound by it. */
static bool listed_owner(struct itest_daemon *d, unsigned port, pid_t pid)
{
	json_t *res, *a;
	size_t i;
	bool ok = false;

	if (itest_call(d, "list", json_object(), &res))
		return false;
	json_array_foreach(res, i, a)
		if (json_integer_value(json_object_get(a, "port")) == port &&
		    json_integer_value(json_object_get(a, "pid")) == pid &&
		    !strcmp(json_string_value(json_object_get(json_object_get(a, "live"),
							      "status")), "bound_by_owner"))
			ok = true;
	json_decref(res);
	return ok;
}

static void say_port(struct itest_proc *p, unsigned port)
{
	char line[32];

	snprintf(line, sizeof(line), "%u\n", port);
	assert_int_equal(itest_proc_say(p, line), 0);
}

static pid_t read_child(struct itest_proc *p)
{
	char line[64];
	int child = 0;

	assert_int_equal(itest_proc_line(p, line, sizeof(line), 5000), 0);
	assert_int_equal(sscanf(line, "child %d", &child), 1);
	return child;
}

static uint64_t ms_since(uint64_t t0)
{
	return (itest_now_ns() - t0) / 1000000u;
}

/* The old owner is gone; the holder is named within 50 ms, then its death
 * makes the allocation stale (released) within 50 ms. */
static void expect_handover_then_stale(struct itest_daemon *d, unsigned port, pid_t holder,
				       uint64_t t0, const char *what)
{
	assert_true(ITEST_WAIT(owner_of(d, port) == holder && held_by(d, port, holder) &&
			       listed_owner(d, port, holder), LIMIT_MS));
	print_message("%s: owner handed to pid %d in %llu ms\n", what, holder,
		      (unsigned long long)ms_since(t0));
	t0 = itest_now_ns();
	assert_int_equal(kill(holder, SIGKILL), 0);
	assert_true(ITEST_WAIT(owner_of(d, port) == 0, LIMIT_MS));
	print_message("%s: holder killed, allocation released in %llu ms\n", what,
		      (unsigned long long)ms_since(t0));
	(void)waitpid(holder, NULL, 0);
}

static void daemonize(void **state, const char *mode)
{
	struct itest_daemon *d = *state;
	const char *const args[] = { mode, "-", NULL };
	struct itest_proc p;
	unsigned port;
	pid_t child;
	uint64_t t0;

	assert_int_equal(itest_proc_spawn(&p, -1, args), 0);
	port = allocate_for(d, p.pid);
	say_port(&p, port);
	child = read_child(&p);
	assert_true(ITEST_WAIT(held_by(d, port, p.pid) || owner_of(d, port) == child, 2000));
	assert_int_equal(waitpid(p.pid, NULL, 0), p.pid);	/* the parent exits */
	t0 = itest_now_ns();
	close(p.in);
	close(p.out);
	expect_handover_then_stale(d, port, child, t0, mode);
}

static void test_daemonize(void **state)
{
	daemonize(state, "daemonize");
}

static void test_double_fork_setsid(void **state)
{
	daemonize(state, "setsid");
}

/* exec of another program keeping the socket: same pid, same allocation. */
static void test_exec_keeps(void **state)
{
	struct itest_daemon *d = *state;
	const char *const args[] = { "exec", "-", NULL };
	struct itest_proc p;
	unsigned port;
	char line[64];
	uint64_t t0;

	assert_int_equal(itest_proc_spawn(&p, -1, args), 0);
	port = allocate_for(d, p.pid);
	say_port(&p, port);
	assert_int_equal(itest_proc_line(&p, line, sizeof(line), 5000), 0);	/* hold's pid */
	assert_int_equal(atoi(line), p.pid);
	assert_true(ITEST_WAIT(held_by(d, port, p.pid) && listed_owner(d, port, p.pid), 2000));
	t0 = itest_now_ns();
	itest_proc_kill(&p, SIGKILL);
	assert_true(ITEST_WAIT(owner_of(d, port) == 0, LIMIT_MS));
	print_message("exec: owner killed, released in %llu ms\n",
		      (unsigned long long)ms_since(t0));
}

/* A socket passed over SCM_RIGHTS to an unrelated process outlives its sender. */
static void test_scm_rights(void **state)
{
	struct itest_daemon *d = *state;
	char path[160], line[64];
	struct itest_proc rx, tx;
	unsigned port;
	uint64_t t0;

	snprintf(path, sizeof(path), "%s/pass.sock", d->dir);
	{
		const char *const rargs[] = { "recv", path, NULL };

		assert_int_equal(itest_proc_spawn(&rx, -1, rargs), 0);
	}
	assert_int_equal(itest_proc_line(&rx, line, sizeof(line), 5000), 0);
	assert_string_equal(line, "ready");
	{
		const char *const targs[] = { "pass", path, "-", NULL };

		assert_int_equal(itest_proc_spawn(&tx, -1, targs), 0);
	}
	port = allocate_for(d, tx.pid);
	say_port(&tx, port);
	assert_int_equal(itest_proc_line(&tx, line, sizeof(line), 5000), 0);
	assert_string_equal(line, "sent");
	assert_int_equal(itest_proc_line(&rx, line, sizeof(line), 5000), 0);
	assert_string_equal(line, "got");
	assert_int_equal(waitpid(tx.pid, NULL, 0), tx.pid);	/* the sender exits */
	t0 = itest_now_ns();
	close(tx.in);
	close(tx.out);
	expect_handover_then_stale(d, port, rx.pid, t0, "scm_rights");
	close(rx.in);
	close(rx.out);
}

/* The leader calls pthread_exit while a thread keeps listening: alive. */
static void test_pthread_exit_leader(void **state)
{
	struct itest_daemon *d = *state;
	const char *const args[] = { "threads", "-", NULL };
	struct itest_proc p;
	json_t *res;
	unsigned port;
	char line[64];
	uint64_t t0;

	assert_int_equal(itest_proc_spawn(&p, -1, args), 0);
	port = allocate_for(d, p.pid);
	say_port(&p, port);
	assert_int_equal(itest_proc_line(&p, line, sizeof(line), 5000), 0);
	assert_string_equal(line, "ready");
	assert_true(ITEST_WAIT(listed_owner(d, port, p.pid), 2000));
	/* a full polling round too: the zombie leader does not pass for dead */
	assert_int_equal(itest_call(d, "health", json_object(), &res), 0);
	json_decref(res);
	t0 = itest_now_ns();
	while (ms_since(t0) < 100 * itest_slow())
		itest_yield();
	assert_int_equal(owner_of(d, port), p.pid);
	assert_true(listed_owner(d, port, p.pid));
	itest_proc_kill(&p, SIGKILL);
	assert_true(ITEST_WAIT(owner_of(d, port) == 0, LIMIT_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_daemonize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_fork_setsid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_keeps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scm_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pthread_exit_leader, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

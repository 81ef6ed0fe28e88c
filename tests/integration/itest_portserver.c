// SPDX-License-Identifier: GPL-2.0
/*
 * The portserver protocol with the real client, Debian's python3-portpicker:
 * a port from the pool, owned by the python process that asked; released
 * within 50 ms of its exit; 100 clients in parallel get 100 distinct ports;
 * pid 1 and another user's pid are refused with no answer, as are malformed
 * lines, and both are counted in status and metrics.
 */
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
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest_lib.h"

#define PYTHON "/usr/bin/python3"
#define NOBODY 65534
#define N_PARALLEL 100
#define LO 15000
#define HI 24999

static struct itest_daemon dmn;
static char addr[64];

/* A python portpicker client: prints "PORT PID", then waits for its stdin to
 * close. pid_arg: the pid to name, or NULL for its own. */
struct py {
	pid_t pid;
	int in, out;
};

static int py_spawn(struct py *p, int uid, const char *pid_arg)
{
	char script[512];
	int in[2], out[2];

	snprintf(script, sizeof(script),
		 "import os, sys, portpicker\n"
		 "p = portpicker.get_port_from_port_server(os.environ['PORTSERVER_ADDRESS']%s%s)\n"
		 "if p is None and %d:\n"
		 "    p = portpicker.pick_unused_port()\n"
		 "print(p, os.getpid(), flush=True)\n"
		 "sys.stdin.readline()\n",
		 pid_arg ? ", pid=" : "", pid_arg ? pid_arg : "", pid_arg ? 0 : 1);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (!p->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (uid >= 0 && (setgroups(0, NULL) || setgid((gid_t)uid) || setuid((uid_t)uid)))
			_exit(126);
		setenv("PORTSERVER_ADDRESS", addr, 1);
		execl(PYTHON, PYTHON, "-c", script, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = out[0];
	return 0;
}

/* "PORT PID" from the client; port 0 for "None". */
static int py_read(struct py *p, unsigned *port, pid_t *pid)
{
	char buf[128];
	size_t len = 0;
	int pidv = 0;

	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		struct pollfd pfd = { .fd = p->out, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 20000 * (int)itest_slow()) <= 0)
			return -ETIMEDOUT;
		n = read(p->out, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -EIO;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*port = 0;
	if (sscanf(buf, "%u %d", port, &pidv) != 2 && sscanf(buf, "None %d", &pidv) != 1)
		return -EINVAL;
	*pid = pidv;
	return 0;
}

static void py_end(struct py *p)
{
	close(p->in);
	close(p->out);
	(void) waitpid(p->pid, NULL, 0);
}

/* The allocation on port, NULL if none (a new reference). */
static json_t *alloc_on(unsigned port)
{
	json_t *res = NULL, *a;

	if (itest_call(&dmn, "check", json_pack("{s:i}", "port", port), &res))
		return NULL;
	a = json_object_get(res, "allocation");
	a = json_is_object(a) ? json_incref(a) : NULL;
	json_decref(res);
	return a;
}

static bool allocated(unsigned port)
{
	json_t *a = alloc_on(port);

	json_decref(a);
	return a != NULL;
}

static json_int_t ps_stat(const char *key)
{
	json_t *res = NULL;
	json_int_t v;

	assert_int_equal(itest_call(&dmn, "status", NULL, &res), 0);
	v = json_integer_value(json_object_get(json_object_get(res, "portserver"), key));
	json_decref(res);
	return v;
}

/* A raw request: what came back before the server closed (malloc'd). */
static char *raw(const char *req, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr));
	char *buf = calloc(1, 256);
	size_t got = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, addr, strlen(addr));
	sa.sun_path[0] = '\0';
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, alen), 0);
	assert_int_equal(write(fd, req, len), (ssize_t)len);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&pfd, 1, 5000 * (int)itest_slow()), 1);
		n = read(fd, buf + got, 255 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return buf;
}

static void test_port_owned_and_released(void **state)
{
	struct py p;
	unsigned port;
	pid_t pid;
	json_t *a;
	uint64_t t0, dt;

	(void) state;
	assert_int_equal(py_spawn(&p, -1, NULL), 0);
	assert_int_equal(py_read(&p, &port, &pid), 0);
	assert_true(port >= LO && port <= HI);
	a = alloc_on(port);
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "pid")), p.pid);
	assert_int_equal(pid, p.pid);
	assert_string_equal(json_string_value(json_object_get(a, "service_type")), "portserver");
	assert_string_equal(json_string_value(json_object_get(a, "comm")), "python3");
	json_decref(a);
	/* released within 50 ms of the exit (reaped: it has exited) */
	py_end(&p);
	t0 = itest_now_ns();
	assert_true(ITEST_WAIT(!allocated(port), 50 * itest_slow()));
	dt = itest_now_ns() - t0;
	fprintf(stderr, "released %.1f ms after the client was reaped\n", (double)dt / 1e6);
}

static void test_parallel_distinct(void **state)
{
	static struct py p[N_PARALLEL];
	static unsigned ports[N_PARALLEL];
	pid_t pid;

	(void) state;
	for (int i = 0; i < N_PARALLEL; i++)
		assert_int_equal(py_spawn(&p[i], -1, NULL), 0);
	for (int i = 0; i < N_PARALLEL; i++) {
		json_t *a;

		assert_int_equal(py_read(&p[i], &ports[i], &pid), 0);
		assert_true(ports[i] >= LO && ports[i] <= HI);
		for (int k = 0; k < i; k++)
			assert_int_not_equal(ports[i], ports[k]);
		a = alloc_on(ports[i]);
		assert_non_null(a);
		assert_int_equal(json_integer_value(json_object_get(a, "pid")), p[i].pid);
		json_decref(a);
	}
	for (int i = 0; i < N_PARALLEL; i++)
		py_end(&p[i]);
	for (int i = 0; i < N_PARALLEL; i++)
		assert_true(ITEST_WAIT(!allocated(ports[i]), 2000 * itest_slow()));
}

static void test_refused(void **state)
{
	json_int_t denied = ps_stat("denied");
	char mine[16];
	struct py p;
	unsigned port;
	pid_t pid;

	(void) state;
	/* pid 1, as root */
	assert_int_equal(py_spawn(&p, -1, "1"), 0);
	assert_int_equal(py_read(&p, &port, &pid), 0);
	assert_int_equal(port, 0);
	py_end(&p);
	/* another user's pid (ours, root's) named by nobody */
	snprintf(mine, sizeof(mine), "%d", getpid());
	assert_int_equal(py_spawn(&p, NOBODY, mine), 0);
	assert_int_equal(py_read(&p, &port, &pid), 0);
	assert_int_equal(port, 0);
	py_end(&p);
	assert_int_equal(ps_stat("denied"), denied + 2);
	/* nobody naming itself is served, as nobody */
	assert_int_equal(py_spawn(&p, NOBODY, NULL), 0);
	assert_int_equal(py_read(&p, &port, &pid), 0);
	assert_true(port >= LO && port <= HI);
	{
		json_t *a = alloc_on(port);

		assert_non_null(a);
		assert_int_equal(json_integer_value(json_object_get(a, "uid")), NOBODY);
		json_decref(a);
	}
	py_end(&p);
	assert_true(ITEST_WAIT(!allocated(port), 1000 * itest_slow()));
}

static void test_malformed(void **state)
{
	/* ... and what int() refuses of underscores, a trailing NUL, and more
	 * than 20 bytes as sent (blanks included) though 7 digits */
	static const char *const bad[] = { "abc\n", "\n", "12x\n", "123456789012345678901\n",
					   "-\n", "1__2\n", "_12\n", "12_\n", "-_1\n",
					   "       1234567      \n" };
	json_int_t malformed = ps_stat("malformed");
	json_t *res = NULL;
	const char *text;
	char *got;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		got = raw(bad[i], strlen(bad[i]));
		assert_string_equal(got, "");
		free(got);
	}
	/* a NUL in the line, and 100 bytes without a newline */
	got = raw("12\0003\n", 5);
	assert_string_equal(got, "");
	free(got);
	got = raw("123\0\n", 5);
	assert_string_equal(got, "");
	free(got);
	{
		char big[100];

		memset(big, '7', sizeof(big));
		got = raw(big, sizeof(big));
		assert_string_equal(got, "");
		free(got);
	}
	assert_int_equal(ps_stat("malformed"), malformed + 13);
	/* a well-formed pid with blanks, as Python's int() takes it: served */
	{
		char req[32];
		unsigned port = 0;

		for (int form = 0; form < 2; form++) {
			char digits[16];

			/* and with an underscore between digits: "2_643" */
			snprintf(digits, sizeof(digits), "%d", getpid());
			if (form)
				snprintf(req, sizeof(req), "%c_%s\n", digits[0], digits + 1);
			else
				snprintf(req, sizeof(req), " %s \n", digits);
			got = raw(req, strlen(req));
			if (sscanf(got, "%u\n", &port) != 1)
				fail_msg("request \"%s\": no port", req);
			assert_true(port >= LO && port <= HI);
			free(got);
			assert_int_equal(itest_call(&dmn, "release", json_pack("{s:i}", "port", port),
						    &res), 0);
			json_decref(res);
		}
	}
	assert_int_equal(itest_call(&dmn, "metrics", NULL, &res), 0);
	text = json_string_value(json_object_get(res, "text"));
	assert_non_null(strstr(text, "portwatch_portserver_requests_total{outcome=\"malformed\"}"));
	json_decref(res);
}

static int setup(void **state)
{
	char extra0[] = "--portserver";
	const char *const extra[] = { extra0, addr, NULL };

	(void) state;
	if (access(PYTHON, X_OK) || system(PYTHON " -c 'import portpicker' 2>/dev/null")) {
		fprintf(stderr, "python3-portpicker missing (tools/install-deps.sh installs it)\n");
		return -1;
	}
	if (itest_unshare_net())
		return -1;
	/* abstract names live in the network namespace: ours is private */
	snprintf(addr, sizeof(addr), "@pw-itest-ps-%d", getpid());
	if (itest_daemon_start(&dmn, extra))
		return -1;
	/* an answer comes from the loop, which runs once every listener is up */
	return ps_stat("requests") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void) state;
	itest_daemon_cleanup(&dmn);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_owned_and_released),
		cmocka_unit_test(test_parallel_distinct),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_malformed),
	};

	itest_require_root();
	return cmocka_run_group_tests(tests, setup, teardown);
}

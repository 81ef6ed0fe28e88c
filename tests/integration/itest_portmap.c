// SPDX-License-Identifier: GPL-2.0
/*
 * The live port map against the real kernel: sockets of processes this test
 * owns appear with their owner within 50 ms of bind() returning and vanish
 * within 50 ms of close() or SIGKILL; sockets that existed before the daemon
 * are listed with owners; a socket in a network namespace of the test's own
 * is listed with that namespace's cookie; an answer shows every bind and
 * close that returned before its request.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest_lib.h"

#define VISIBLE_MS 50

static struct itest_daemon daemon_;
static struct itest_proc early;		/* listening before the daemon started */
static unsigned early_port;

static json_t *ports(void)
{
	json_t *res = NULL;

	if (itest_call(&daemon_, "ports", NULL, &res))
		return NULL;
	return res;
}

static bool present(unsigned port, const char *proto, pid_t pid, const char *state)
{
	json_t *p = ports(), *s;
	bool ok;

	s = itest_find_sock(p, port, proto, pid);
	ok = s && (!state || !strcmp(json_string_value(json_object_get(s, "state")), state));
	json_decref(p);
	return ok;
}

static bool absent(unsigned port, const char *proto, pid_t pid)
{
	json_t *p = ports();
	bool ok = p && !itest_find_sock(p, port, proto, pid);

	json_decref(p);
	return ok;
}

static int setup(void **state)
{
	const char *const args[] = { "listen", "tcp4", "0", NULL };
	char line[64];

	(void) state;
	itest_require_root();
	/* a network namespace of its own: its ports, and the map it compares,
	 * are its own */
	if (itest_unshare_net())
		return -1;
	/* a listener that predates the daemon */
	if (itest_proc_spawn(&early, -1, args) || itest_proc_line(&early, line, sizeof(line), 5000))
		return -1;
	early_port = (unsigned)atoi(line);
	return itest_daemon_start(&daemon_, NULL);
}

static int teardown(void **state)
{
	(void) state;
	itest_proc_end(&early);
	itest_daemon_cleanup(&daemon_);
	return 0;
}

static void test_preexisting_listed_with_owner(void **state)
{
	json_t *p = ports(), *s;

	(void) state;
	s = itest_find_sock(p, early_port, "tcp", early.pid);
	assert_non_null(s);
	assert_string_equal(json_string_value(json_object_get(s, "state")), "listening");
	assert_string_equal(json_string_value(json_object_get(s, "comm")), "helper");
	json_decref(p);
}

/* bind, then close: both seen within VISIBLE_MS */
static void bind_and_close(const char *proto, const char *port_arg, const char *want_proto,
			   const char *want_state)
{
	const char *const args[] = { "listen", proto, port_arg, NULL };
	struct itest_proc p;
	unsigned port;
	char line[64];
	uint64_t t0;

	assert_int_equal(itest_proc_spawn(&p, -1, args), 0);
	assert_int_equal(itest_proc_line(&p, line, sizeof(line), 5000), 0);
	t0 = itest_now_ns();	/* bind() (and listen()) returned before the helper printed */
	port = (unsigned)strtoul(line, NULL, 10);
	assert_true(port > 0);
	assert_true(ITEST_WAIT(present(port, want_proto, p.pid, want_state),
			       VISIBLE_MS * itest_slow()));
	print_message("%s port %u visible after %.2f ms\n", proto, port,
		      (double)(itest_now_ns() - t0) / 1e6);

	assert_int_equal(itest_proc_say(&p, "close\n"), 0);
	assert_int_equal(itest_proc_line(&p, line, sizeof(line), 5000), 0);
	assert_string_equal(line, "closed");
	t0 = itest_now_ns();
	assert_true(ITEST_WAIT(absent(port, want_proto, p.pid), VISIBLE_MS * itest_slow()));
	print_message("%s port %u gone after %.2f ms\n", proto, port,
		      (double)(itest_now_ns() - t0) / 1e6);
	itest_proc_end(&p);
}

static void test_tcp4_bind0(void **state)
{
	(void) state;
	bind_and_close("tcp4", "0", "tcp", "listening");
}

static void test_tcp6_bind0(void **state)
{
	(void) state;
	bind_and_close("tcp6", "0", "tcp", "listening");
}

static void test_udp4_bind0(void **state)
{
	(void) state;
	bind_and_close("udp4", "0", "udp", "bound");
}

static void test_udp6_bind0(void **state)
{
	(void) state;
	bind_and_close("udp6", "0", "udp", "bound");
}

static void test_fixed_ports(void **state)
{
	(void) state;
	/* fixed ports high in the ephemeral range, unlikely to be taken */
	bind_and_close("tcp4", "47311", "tcp", "listening");
	bind_and_close("udp6", "47312", "udp", "bound");
}

static void test_sigkill_removes(void **state)
{
	const char *const args[] = { "listen", "tcp6", "0", NULL };
	struct itest_proc p;
	unsigned tport, uport;
	char line[64];
	uint64_t t0;
	pid_t pid;

	(void) state;
	assert_int_equal(itest_proc_spawn(&p, -1, args), 0);
	assert_int_equal(itest_proc_line(&p, line, sizeof(line), 5000), 0);
	tport = (unsigned)atoi(line);
	assert_int_equal(itest_proc_say(&p, "listen udp4 0\n"), 0);
	assert_int_equal(itest_proc_line(&p, line, sizeof(line), 5000), 0);
	uport = (unsigned)atoi(line);
	pid = p.pid;
	assert_true(ITEST_WAIT(present(tport, "tcp", pid, NULL) && present(uport, "udp", pid, NULL),
			       VISIBLE_MS * itest_slow()));
	t0 = itest_now_ns();
	itest_proc_kill(&p, SIGKILL);
	assert_true(ITEST_WAIT(absent(tport, "tcp", pid) && absent(uport, "udp", pid),
			       VISIBLE_MS * itest_slow()));
	print_message("SIGKILL: both sockets gone %.2f ms after the kill\n",
		      (double)(itest_now_ns() - t0) / 1e6);
}

static void test_netns_listed(void **state)
{
	const char *const args[] = { "listen", "udp4", "0", NULL };
	json_t *p, *s;
	struct itest_proc proc;
	unsigned port;
	char line[64];

	(void) state;
	assert_int_equal(itest_proc_spawn_netns(&proc, args), 0);
	assert_int_equal(itest_proc_line(&proc, line, sizeof(line), 5000), 0);
	port = (unsigned)atoi(line);
	assert_true(ITEST_WAIT(present(port, "udp", proc.pid, NULL), VISIBLE_MS * itest_slow()));
	p = ports();
	s = itest_find_sock(p, port, "udp", proc.pid);
	assert_non_null(s);
	/* not the host's namespace: the child's own */
	assert_true(json_integer_value(json_object_get(s, "netns")) != 0);
	assert_true((uint64_t)json_integer_value(json_object_get(s, "netns")) != itest_netns_cookie());
	json_decref(p);
	itest_proc_end(&proc);
}

/* `portwatch ARGS` run as root, exit 0: its output parsed, a JSON array. */
static json_t *cli_array(const char *const *args)
{
	char *out = NULL;
	json_t *arr;

	assert_int_equal(itest_cli(&daemon_, -1, &out, args), 0);
	arr = json_loads(out, 0, NULL);
	free(out);
	assert_true(json_is_array(arr));
	return arr;
}

static void test_cli_ports_json_and_filters(void **state)
{
	const char *args[] = { "ports", "--json", "--udp", "--pid", NULL, NULL };
	const char *a2[] = { "ports", "--json", "--tcp", "--listening", "--port", NULL, NULL };
	char pidbuf[16], portbuf[16];
	json_t *arr, *v;
	size_t i;

	(void) state;
	snprintf(pidbuf, sizeof(pidbuf), "%d", early.pid);
	args[4] = pidbuf;
	arr = cli_array(args);
	/* the early helper holds only a TCP listener */
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);

	snprintf(portbuf, sizeof(portbuf), "%u", early_port);
	a2[5] = portbuf;
	arr = cli_array(a2);
	assert_true(json_array_size(arr) >= 1);
	json_array_foreach(arr, i, v) {
		static const char *const keys[] = { "proto", "family", "addr", "port", "state",
						    "pid", "comm", "uid", "netns", "cookie" };

		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			assert_non_null(json_object_get(v, keys[k]));
		assert_int_equal(json_integer_value(json_object_get(v, "port")), early_port);
	}
	json_decref(arr);

	/* port 1, empty in this namespace, below one that is not: nothing
	 * listed (the listing skips empty ports, never past the one asked for) */
	snprintf(portbuf, sizeof(portbuf), "1");
	arr = cli_array(a2);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
}

/* The sockets of one port, per `ports --port`: -1 when the call failed. */
static int count_on(unsigned port)
{
	json_t *res = NULL;
	int n = -1;

	if (!itest_call(&daemon_, "ports", json_pack("{s:i}", "port", (int)port), &res))
		n = (int)json_array_size(res);
	json_decref(res);
	return n;
}

/* An answer reflects every bind and close that returned before its request:
 * the daemon takes in the ring first (the hooks may skip the wakeup, leaving
 * a record for the next look up to 250 us on). No waiting here. */
static void test_answer_sees_own_bind(void **state)
{
	(void) state;
	for (int i = 0; i < 300; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		assert_true(fd >= 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
		assert_int_equal(count_on(ntohs(sa.sin_port)), 1);
		close(fd);
		assert_int_equal(count_on(ntohs(sa.sin_port)), 0);
	}
}

static void test_cli_errors(void **state)
{
	struct itest_daemon nobody = { 0 };
	const char *const bad[] = { "ports", "--port", "70000", NULL };
	const char *const st[] = { "status", NULL };

	(void) state;
	assert_int_equal(itest_cli(&daemon_, -1, NULL, bad), 2);
	snprintf(nobody.sock, sizeof(nobody.sock), "/tmp/pw-itest-no-such-daemon.sock");
	assert_int_equal(itest_cli(&nobody, -1, NULL, st), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preexisting_listed_with_owner),
		cmocka_unit_test(test_tcp4_bind0),
		cmocka_unit_test(test_tcp6_bind0),
		cmocka_unit_test(test_udp4_bind0),
		cmocka_unit_test(test_udp6_bind0),
		cmocka_unit_test(test_fixed_ports),
		cmocka_unit_test(test_sigkill_removes),
		cmocka_unit_test(test_netns_listed),
		cmocka_unit_test(test_cli_ports_json_and_filters),
		cmocka_unit_test(test_cli_errors),
		cmocka_unit_test(test_answer_sees_own_bind),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * --no-bpf: the daemon keeps the same map from periodic snapshots; status
 * says so; a new listener shows within one poll interval, a closed one goes
 * within one interval; watch subscribers see the changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client.h"
#include "itest_lib.h"

#define POLL_MS 200

static struct itest_daemon daemon_;

static bool present(unsigned port, pid_t pid)
{
	json_t *res;
	bool ok;

	if (itest_call(&daemon_, "ports", NULL, &res))
		return false;
	ok = itest_find_sock(res, port, NULL, pid) != NULL;
	json_decref(res);
	return ok;
}

static int setup(void **state)
{
	const char *const extra[] = { "--no-bpf", "--poll-interval", "200", NULL };

	(void) state;
	itest_require_root();
	/* a network namespace of its own: its ports, and the map it compares,
	 * are its own */
	if (itest_unshare_net())
		return -1;
	return itest_daemon_start(&daemon_, extra);
}

static int teardown(void **state)
{
	(void) state;
	itest_daemon_cleanup(&daemon_);
	return 0;
}

static void test_status_says_polling(void **state)
{
	const char *const args[] = { "status", NULL };
	json_t *res;
	char *out = NULL;

	(void) state;
	assert_int_equal(itest_call(&daemon_, "status", NULL, &res), 0);
	assert_string_equal(json_string_value(json_object_get(res, "mode")), "polling");
	assert_int_equal(json_integer_value(json_object_get(res, "poll_interval_ms")), POLL_MS);
	assert_non_null(strstr(json_string_value(json_object_get(res, "mode_reason")), "--no-bpf"));
	assert_int_equal(json_array_size(json_object_get(res, "hooks")), 0);
	json_decref(res);
	assert_int_equal(itest_cli(&daemon_, -1, &out, args), 0);
	assert_non_null(strstr(out, "polling"));
	free(out);
}

static void test_listener_within_one_interval(void **state)
{
	const char *const args[] = { "listen", "tcp4", "0", NULL };
	struct itest_proc p;
	struct pw_conn *watch;
	const char *line;
	char buf[64];
	unsigned port;
	uint64_t t0;
	bool seen = false;
	json_t *res;

	(void) state;
	/* a watcher sees the snapshot diff as events */
	assert_int_equal(pw_conn_open(&watch, daemon_.sock), 0);
	assert_int_equal(pw_conn_send(watch, "watch", NULL), 0);
	assert_int_equal(pw_conn_read_line(watch, &line, 5000), 0);

	assert_int_equal(itest_proc_spawn(&p, -1, args), 0);
	assert_int_equal(itest_proc_line(&p, buf, sizeof(buf), 5000), 0);
	t0 = itest_now_ns();
	port = (unsigned)atoi(buf);
	/* one interval, plus the time a snapshot itself takes */
	assert_true(ITEST_WAIT(present(port, p.pid), (POLL_MS + 100) * itest_slow()));
	print_message("polling: port %u visible after %.1f ms (interval %d ms)\n", port,
		      (double)(itest_now_ns() - t0) / 1e6, POLL_MS);
	while (!seen && pw_conn_read_line(watch, &line, 1000 * (int)itest_slow()) == 0) {
		json_t *e = json_loads(line, 0, NULL);

		seen = e && !strcmp(json_string_value(json_object_get(e, "event")), "bind") &&
		       json_integer_value(json_object_get(e, "port")) == port;
		json_decref(e);
	}
	assert_true(seen);

	itest_proc_end(&p);
	t0 = itest_now_ns();
	assert_true(ITEST_WAIT(!present(port, 0), (POLL_MS + 100) * itest_slow()));
	print_message("polling: port %u gone after %.1f ms\n", port,
		      (double)(itest_now_ns() - t0) / 1e6);
	pw_conn_close(watch);

	assert_int_equal(itest_call(&daemon_, "status", NULL, &res), 0);
	assert_true(json_integer_value(json_object_get(res, "snapshots")) >= 2);
	json_decref(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_says_polling),
		cmocka_unit_test(test_listener_within_one_interval),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

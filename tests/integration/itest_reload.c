// SPDX-License-Identifier: GPL-2.0
/*
 * SIGHUP reloads the configuration file: a valid new one takes over (types,
 * ranges, health checks) while existing allocations stay; an invalid one is
 * refused and logged, and the one in force stays. `status` says which.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest_lib.h"

#define WAIT_MS (5000 * (int)itest_slow())

static struct itest_daemon daemon_;
static char cfg_path[200];

static void write_cfg(const char *json)
{
	char tmp[220];
	FILE *f;

	/* renamed into place: the daemon never reads half a file */
	snprintf(tmp, sizeof(tmp), "%s.new", cfg_path);
	f = fopen(tmp, "we");
	assert_non_null(f);
	fputs(json, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, cfg_path), 0);
}

static int setup(void **state)
{
	(void) state;
	itest_require_root();
	if (itest_unshare_net())
		return -1;
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/itest_reload.%d.json", (int)getpid());
	{
		FILE *f = fopen(cfg_path, "we");

		if (!f)
			return -1;
		fputs("{\"service_types\": {\"alpha\": {\"port_range\": [41000, 41009]}}}", f);
		fclose(f);
	}
	{
		const char *const extra[] = { "--config", cfg_path, NULL };

		return itest_daemon_start(&daemon_, extra);
	}
}

static int teardown(void **state)
{
	(void) state;
	itest_daemon_cleanup(&daemon_);
	(void) unlink(cfg_path);
	return 0;
}

static json_t *config_status(void)
{
	json_t *res, *c;

	if (itest_call(&daemon_, "status", NULL, &res))
		return NULL;
	c = json_incref(json_object_get(res, "config"));
	json_decref(res);
	return c;
}

static json_int_t reloads(void)
{
	json_t *c = config_status();
	json_int_t n = c ? json_integer_value(json_object_get(c, "reloads")) : -1;

	json_decref(c);
	return n;
}

static bool has_type(const char *name)
{
	json_t *res, *v;
	size_t i;
	bool found = false;

	assert_int_equal(itest_call(&daemon_, "types", NULL, &res), 0);
	json_array_foreach(res, i, v)
		found |= !strcmp(json_string_value(json_object_get(v, "name")), name);
	json_decref(res);
	return found;
}

static int allocate(const char *type)
{
	json_t *res;
	int port, r;

	r = itest_call(&daemon_, "allocate", json_pack("{s:s, s:i}", "service_type", type, "pid",
						     (int)getpid()), &res);
	if (r)
		return -r;
	port = (int)json_integer_value(json_object_get(res, "port"));
	json_decref(res);
	return port;
}

static bool log_has(const char *needle)
{
	char buf[65536];
	size_t n;
	FILE *f = fopen(daemon_.log, "re");

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void test_reload(void **state)
{
	json_t *c, *res;
	const char *last;

	(void) state;
	c = config_status();
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "path")), cfg_path);
	assert_int_equal(json_integer_value(json_object_get(c, "reloads")), 0);
	assert_true(json_is_null(json_object_get(c, "last_reload")) ||
		    !json_object_get(c, "last_reload"));
	json_decref(c);
	assert_int_equal(allocate("alpha"), 41000);

	/* a valid file: beta replaces alpha, with a health check */
	write_cfg("{\"service_types\": {\"beta\": {\"port_range\": [42000, 42009],"
		  " \"health_check\": {\"type\": \"tcp\", \"interval_ms\": 100}}},"
		  " \"recovery\": {\"health_monitoring\": {\"grace_period_ms\": 50}}}");
	assert_int_equal(kill(daemon_.pid, SIGHUP), 0);
	assert_true(ITEST_WAIT(reloads() == 1, WAIT_MS * itest_slow()));
	c = config_status();
	assert_string_equal(json_string_value(json_object_get(c, "last_reload")), "ok");
	json_decref(c);
	assert_true(has_type("beta"));
	assert_false(has_type("alpha"));
	assert_int_equal(allocate("beta"), 42000);
	assert_int_equal(allocate("alpha"), -7);	/* unknown_service_type */
	/* the alpha allocation made before stays */
	assert_int_equal(itest_call(&daemon_, "list", NULL, &res), 0);
	assert_int_equal(json_array_size(res), 2);
	json_decref(res);
	assert_true(log_has("config reloaded"));

	/* an invalid file: refused, beta stays */
	write_cfg("{\"service_types\": {\"gamma\": {\"port_range\": [43009, 43000]}}}");
	assert_int_equal(kill(daemon_.pid, SIGHUP), 0);
	assert_true(ITEST_WAIT(reloads() == 2, WAIT_MS * itest_slow()));
	c = config_status();
	last = json_string_value(json_object_get(c, "last_reload"));
	assert_non_null(last);
	assert_non_null(strstr(last, "error: service_types.gamma.port_range: inverted range"));
	assert_int_equal(json_integer_value(json_object_get(c, "failed_reloads")), 1);
	json_decref(c);
	assert_true(has_type("beta"));
	assert_false(has_type("gamma"));
	assert_int_equal(allocate("beta"), 42001);
	assert_true(log_has("config reload refused"));

	/* a missing file: refused too, and the daemon keeps serving */
	(void) unlink(cfg_path);
	assert_int_equal(kill(daemon_.pid, SIGHUP), 0);
	assert_true(ITEST_WAIT(reloads() == 3, WAIT_MS * itest_slow()));
	assert_true(has_type("beta"));
	assert_int_equal(itest_call(&daemon_, "health", NULL, &res), 0);
	json_decref(res);
	assert_int_equal(itest_daemon_stop(&daemon_, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

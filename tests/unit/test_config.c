// SPDX-License-Identifier: GPL-2.0
/*
 * user/config*.c: the Styxy fixture loads unchanged, the defaults, and every
 * kind of bad content fails the whole load with a message naming the key path.
 * Run from the repository root (make test does).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

#define FIXTURE "tests/fixtures/styxy-core-ports.json"
/* The original the copy above was taken from, when this tree sits next to it. */
#define SHARED_FIXTURE "../shared/fixtures/styxy-core-ports.json"

/* A poisoned value: failed loads must leave *ret alone. */
#define UNTOUCHED ((struct pw_config *)0x1)

static char err[512];

/* JSON with ' for ", so that test documents stay readable. */
static int load(const char *sq, struct pw_config **c)
{
	char *json = strdup(sq);
	int r;

	assert_non_null(json);
	for (char *p = json; *p; p++)
		if (*p == '\'')
			*p = '"';
	err[0] = '\0';
	r = pw_config_load_string(json, c, err, sizeof(err));
	free(json);
	return r;
}

/* The load must fail with -EINVAL and exactly @msg. */
static void load_fails(const char *sq, const char *msg)
{
	struct pw_config *c = UNTOUCHED;

	assert_int_equal(load(sq, &c), -EINVAL);
	assert_ptr_equal(c, UNTOUCHED);
	assert_string_equal(err, msg);
}

static void test_styxy_fixture(void **state)
{
	const struct pw_service_type *dev, *ai, *fn;
	struct pw_config *c = NULL;
	const char *by = NULL;

	(void)state;
	assert_int_equal(pw_config_load_file(FIXTURE, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(c->n_types, 17);
	assert_string_equal(c->types[0].name, "dev");
	assert_string_equal(c->types[16].name, "coordination");

	dev = pw_config_find_type(c, "dev");
	assert_non_null(dev);
	assert_int_equal(dev->range_lo, 3000);
	assert_int_equal(dev->range_hi, 3099);
	assert_int_equal(dev->n_preferred, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(dev->preferred[i], 3000 + i);
	assert_false(dev->single);
	assert_int_equal(dev->n_manual, 0);
	assert_null(dev->check);
	assert_string_equal(dev->description,
			    "Frontend development servers (React, Next.js, Vite)");

	fn = pw_config_find_type(c, "functions");
	assert_int_equal(fn->range_lo, 5000);
	assert_int_equal(fn->preferred[0], 5001);

	ai = pw_config_find_type(c, "ai");
	assert_non_null(ai);
	assert_true(ai->single);
	assert_int_equal(ai->range_lo, 11400);
	assert_int_equal(ai->range_hi, 11499);
	assert_int_equal(ai->n_manual, 1);
	assert_string_equal(ai->manual[0].name, "chromadb-conversation-search");
	assert_int_equal(ai->manual[0].port, 9999);
	assert_true(pw_config_port_reserved(c, 9999, &by));
	assert_string_equal(by, "chromadb-conversation-search");
	assert_false(pw_config_port_reserved(c, 9998, NULL));
	assert_null(pw_config_find_type(c, "nosuch"));

	/* Recovery values from the file ... */
	assert_true(c->port_conflict.enabled);
	assert_true(c->port_conflict.check_availability);
	assert_int_equal(c->port_conflict.max_retries, 3);
	assert_int_equal(c->port_conflict.backoff_ms, 100);
	assert_true(c->port_conflict.backoff_multiplier == 2.0);
	assert_false(c->health.enabled);
	assert_int_equal(c->health.check_interval_ms, 30000);
	assert_int_equal(c->health.max_failures, 3);
	assert_true(c->health.cleanup_stale_allocations);
	assert_false(c->system_recovery.enabled);
	assert_false(c->system_recovery.run_on_startup);
	assert_true(c->system_recovery.backup_corrupted_state);
	assert_int_equal(c->system_recovery.max_recovery_attempts, 3);
	/* ... and defaults for the keys Styxy does not have. */
	assert_int_equal(c->port_conflict.conflict_hold_ms, 60000);
	assert_int_equal(c->health.grace_period_ms, 2000);
	assert_int_equal(c->health.fast_interval_ms, 1000);
	pw_config_free(c);
}

/* The copy must stay what Styxy ships: load the original too when it is there. */
static void test_shared_fixture(void **state)
{
	struct pw_config *c = NULL;

	(void)state;
	if (access(SHARED_FIXTURE, R_OK))
		skip();
	assert_int_equal(pw_config_load_file(SHARED_FIXTURE, &c, err, sizeof(err)), 0);
	assert_int_equal(c->n_types, 17);
	pw_config_free(c);
}

static void test_defaults(void **state)
{
	const struct pw_service_type *t;
	struct pw_config *c = NULL;

	(void)state;
	assert_int_equal(pw_config_default(&c), 0);
	assert_int_equal(c->n_types, 17);
	assert_int_equal(pw_config_validate(c, err, sizeof(err)), 0);
	t = pw_config_find_type(c, "dev");
	assert_int_equal(t->range_lo, 3000);
	assert_int_equal(t->range_hi, 3099);
	t = pw_config_find_type(c, "api");
	assert_int_equal(t->range_lo, 8000);
	assert_int_equal(t->range_hi, 8099);
	t = pw_config_find_type(c, "database");
	assert_int_equal(t->range_lo, 5430);
	assert_int_equal(t->range_hi, 5499);
	assert_true(pw_config_find_type(c, "ai")->single);
	for (size_t i = 0; i < c->n_types; i++) {
		t = &c->types[i];
		assert_non_null(t->description);
		assert_int_equal(t->n_manual, 0);
		for (size_t j = 0; j < t->n_preferred; j++) {
			assert_in_range(t->preferred[j], t->range_lo, t->range_hi);
		}
	}
	assert_false(pw_config_port_reserved(c, 9999, NULL));

	assert_true(c->port_conflict.enabled);
	assert_true(c->port_conflict.check_availability);
	assert_int_equal(c->port_conflict.max_retries, 3);
	assert_int_equal(c->port_conflict.backoff_ms, 100);
	assert_true(c->port_conflict.backoff_multiplier == 2.0);
	assert_int_equal(c->port_conflict.conflict_hold_ms, 60000);
	assert_true(c->health.enabled);
	assert_int_equal(c->health.check_interval_ms, 30000);
	assert_int_equal(c->health.max_failures, 3);
	assert_true(c->health.cleanup_stale_allocations);
	assert_int_equal(c->health.grace_period_ms, 2000);
	assert_int_equal(c->health.fast_interval_ms, 1000);
	assert_true(c->system_recovery.enabled);
	assert_true(c->system_recovery.run_on_startup);
	assert_true(c->system_recovery.backup_corrupted_state);
	assert_int_equal(c->system_recovery.max_recovery_attempts, 3);
	pw_config_free(c);
	pw_config_free(NULL);
}

/* No service_types: built-in types; a partial recovery block: the rest default. */
static void test_absent_keys_keep_defaults(void **state)
{
	struct pw_config *c = NULL;

	(void)state;
	assert_int_equal(load("{'recovery': {'port_conflict': {'max_retries': 7}}}", &c), 0);
	assert_int_equal(c->n_types, 17);
	assert_int_equal(c->port_conflict.max_retries, 7);
	assert_int_equal(c->port_conflict.backoff_ms, 100);
	assert_true(c->health.enabled);
	pw_config_free(c);

	assert_int_equal(load("{}", &c), 0);
	assert_int_equal(c->n_types, 17);
	pw_config_free(c);
}

static void test_types_replace_builtin(void **state)
{
	struct pw_config *c = NULL;

	(void)state;
	assert_int_equal(load("{'service_types': {'web': {'port_range': [20000, 20009]}}}", &c),
			 0);
	assert_int_equal(c->n_types, 1);
	assert_null(pw_config_find_type(c, "dev"));
	assert_string_equal(c->types[0].description, "");
	assert_int_equal(c->types[0].n_preferred, 0);
	assert_false(c->types[0].single);
	pw_config_free(c);
}

static void test_unknown_keys_ignored(void **state)
{
	enum pw_log_level saved = pw_log_get_level();
	struct pw_config *c = NULL;

	(void)state;
	/* At debug level so that the logging path runs too. */
	pw_log_set_level(PW_LOG_DEBUG);
	assert_int_equal(load("{'_meta': {'x': 1}, 'instance_templates': [], 'compliance': 2,"
			      " 'service_types': {'web': {'port_range': [20000, 20009],"
			      "  'instance_behavior': 'multi', 'colour': 'blue',"
			      "  'manual_allocations': {'m': {'port': 20005, 'owner': 'me'}}}},"
			      " 'recovery': {'port_conflict': {'jitter': true},"
			      "  'health_monitoring': {'grace_period_ms': 0}, 'extra': {}}}", &c),
			 0);
	pw_log_set_level(saved);
	assert_int_equal(c->n_types, 1);
	assert_int_equal(c->health.grace_period_ms, 0);
	assert_true(pw_config_port_reserved(c, 20005, NULL));
	pw_config_free(c);
}

static void test_health_check(void **state)
{
	const struct pw_check *k;
	struct pw_config *c = NULL;

	(void)state;
	assert_int_equal(load("{'recovery': {'health_monitoring': {'check_interval_ms': 500}},"
			      " 'service_types': {"
			      "  'a': {'port_range': [1000, 1009],"
			      "   'health_check': {'type': 'http'}},"
			      "  'b': {'port_range': [1010, 1019], 'health_check': {'type': 'tcp',"
			      "   'interval_ms': 5000, 'timeout_ms': 2000, 'retries': 2}},"
			      "  'c': {'port_range': [1020, 1029],"
			      "   'health_check': {'type': 'command',"
			      "   'command': 'pg_isready -p $PORT'}},"
			      "  'd': {'port_range': [1030, 1039], 'health_check': {'type': 'http',"
			      "   'url': 'http://127.0.0.1/healthz'}}}}", &c), 0);
	k = pw_config_find_type(c, "a")->check;
	assert_int_equal(k->kind, PW_CHECK_HTTP);
	assert_string_equal(k->target, "/");
	assert_int_equal(k->interval_ms, 500);
	assert_int_equal(k->timeout_ms, 500);
	assert_int_equal(k->retries, 0);
	k = pw_config_find_type(c, "b")->check;
	assert_int_equal(k->kind, PW_CHECK_TCP);
	assert_null(k->target);
	assert_int_equal(k->interval_ms, 5000);
	assert_int_equal(k->timeout_ms, 2000);
	assert_int_equal(k->retries, 2);
	k = pw_config_find_type(c, "c")->check;
	assert_int_equal(k->kind, PW_CHECK_CMD);
	assert_string_equal(k->target, "pg_isready -p $PORT");
	k = pw_config_find_type(c, "d")->check;
	assert_string_equal(k->target, "http://127.0.0.1/healthz");
	pw_config_free(c);
}

static void test_bad_ranges(void **state)
{
	(void)state;
	load_fails("{'service_types': {'dev': {'port_range': [3099, 3000]}}}",
		   "service_types.dev.port_range: inverted range [3099, 3000]");
	load_fails("{'service_types': {'api': {'port_range': [8050, 8150]},"
		   " 'proxy': {'port_range': [8100, 8199]}}}",
		   "service_types.api.port_range: [8050, 8150] overlaps "
		   "service_types.proxy.port_range [8100, 8199]");
	load_fails("{'service_types': {'dev': {'port_range': [3000, 70000]}}}",
		   "service_types.dev.port_range[1]: port 70000 is outside 1-65535");
	load_fails("{'service_types': {'dev': {'port_range': [0, 10]}}}",
		   "service_types.dev.port_range[0]: port 0 is outside 1-65535");
	load_fails("{'service_types': {'dev': {'description': 'no range'}}}",
		   "service_types.dev.port_range: missing, every service type needs one");
	load_fails("{'service_types': {'dev': {'port_range': [3000]}}}",
		   "service_types.dev.port_range: expected [low, high], got [3000]");
	load_fails("{'service_types': {'dev': {'port_range': ['3000', 3099]}}}",
		   "service_types.dev.port_range[0]: expected a port number, got \"3000\"");
	load_fails("{'service_types': {'dev': {'port_range': [3000, 3099],"
		   " 'preferred_ports': [3000, 3100]}}}",
		   "service_types.dev.preferred_ports[1]: 3100 is outside port_range [3000, 3099]");
	load_fails("{'service_types': {}}",
		   "service_types: empty, at least one type is needed");
}

static void test_bad_values(void **state)
{
	(void)state;
	load_fails("{'recovery': {'port_conflict': {'max_retries': 'x'}}}",
		   "recovery.port_conflict.max_retries: expected an integer, got \"x\"");
	load_fails("{'recovery': {'health_monitoring': {'check_interval_ms': 0}}}",
		   "recovery.health_monitoring.check_interval_ms: expected an integer in "
		   "1..2147483647, got 0");
	load_fails("{'recovery': {'health_monitoring': {'fast_interval_ms': -5}}}",
		   "recovery.health_monitoring.fast_interval_ms: expected an integer in "
		   "1..2147483647, got -5");
	load_fails("{'recovery': {'port_conflict': {'enabled': 1}}}",
		   "recovery.port_conflict.enabled: expected true or false, got 1");
	load_fails("{'recovery': {'port_conflict': {'backoff_multiplier': 0.5}}}",
		   "recovery.port_conflict.backoff_multiplier: expected a number >= 1, got 0.5");
	load_fails("{'recovery': {'system_recovery': []}}",
		   "recovery.system_recovery: expected an object, got []");
	load_fails("{'service_types': {'ai': {'port_range': [11400, 11499],"
		   " 'instance_behavior': 'many'}}}",
		   "service_types.ai.instance_behavior: expected \"single\" or \"multi\", "
		   "got \"many\"");
	load_fails("{'service_types': {'dev': 3000}}",
		   "service_types.dev: expected an object, got 3000");
	load_fails("{'service_types': {'dev': {'port_range': [3000, 3099], 'description': 7}}}",
		   "service_types.dev.description: expected a string, got 7");
	load_fails("[1, 2]", "top level: expected an object, got [1,2]");
}

static void test_bad_manual_and_checks(void **state)
{
	(void)state;
	load_fails("{'service_types': {'a': {'port_range': [1000, 1009],"
		   " 'manual_allocations': {'x': {'port': 9999}}},"
		   " 'b': {'port_range': [2000, 2009],"
		   " 'manual_allocations': {'y': {'port': 9999}}}}}",
		   "service_types.b.manual_allocations.y.port: 9999 is already reserved by "
		   "service_types.a.manual_allocations.x");
	load_fails("{'service_types': {'a': {'port_range': [1000, 1009],"
		   " 'manual_allocations': {'x': {'description': 'no port'}}}}}",
		   "service_types.a.manual_allocations.x.port: expected a port number, "
		   "got nothing");
	load_fails("{'service_types': {'a': {'port_range': [1000, 1009],"
		   " 'health_check': {'type': 'ping'}}}}",
		   "service_types.a.health_check.type: expected \"tcp\", \"http\" or \"command\", "
		   "got \"ping\"");
	load_fails("{'service_types': {'a': {'port_range': [1000, 1009],"
		   " 'health_check': {'type': 'command'}}}}",
		   "service_types.a.health_check.command: missing, a command check needs one");
	load_fails("{'service_types': {'a': {'port_range': [1000, 1009],"
		   " 'health_check': {'type': 'tcp', 'path': '/x'}}}}",
		   "service_types.a.health_check.path: does not apply to this check type");
	load_fails("{'service_types': {'a': {'port_range': [1000, 1009],"
		   " 'health_check': {'type': 'http', 'path': '/x', 'url': 'http://h/'}}}}",
		   "service_types.a.health_check: give either path or url, not both");
	load_fails("{'service_types': {'a': {'port_range': [1000, 1009],"
		   " 'health_check': {'type': 'http', 'interval_ms': 100, 'timeout_ms': 200}}}}",
		   "service_types.a.health_check.timeout_ms: 200 is longer than interval_ms 100");
}

static void test_invalid_json(void **state)
{
	struct pw_config *c = UNTOUCHED;

	(void)state;
	assert_int_equal(load("{\n  'service_types': {\n    'dev': [3000,\n  }\n}", &c), -EINVAL);
	assert_ptr_equal(c, UNTOUCHED);
	assert_string_equal(err, "invalid JSON at line 4, column 3: unexpected token near '}'");
	/* A duplicate type would otherwise shadow the first one silently. */
	assert_int_equal(load("{'service_types': {'dev': {'port_range': [1, 2]},\n"
			      " 'dev': {'port_range': [3, 4]}}}", &c), -EINVAL);
	assert_string_equal(err, "invalid JSON at line 2, column 6: "
			    "duplicate object key near '\"dev\"'");
	assert_int_equal(pw_config_load_string(NULL, &c, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(c, UNTOUCHED);
}

static void test_unreadable_files(void **state)
{
	struct pw_config *c = UNTOUCHED;

	(void)state;
	assert_int_equal(pw_config_load_file("tests/fixtures/nosuch.json", &c, err, sizeof(err)),
			 -ENOENT);
	assert_ptr_equal(c, UNTOUCHED);
	assert_string_equal(err, "open tests/fixtures/nosuch.json: No such file or directory");
	assert_int_equal(pw_config_load_file("tests/fixtures", &c, err, sizeof(err)), -EISDIR);
	assert_ptr_equal(c, UNTOUCHED);
	/* No message buffer at all is fine too. */
	assert_int_equal(pw_config_load_file("tests/fixtures/nosuch.json", &c, NULL, 0), -ENOENT);
}

/* Messages longer than the caller's buffer are cut, never overflowed. */
static void test_small_error_buffer(void **state)
{
	struct pw_config *c = UNTOUCHED;
	char small[16];

	(void)state;
	memset(small, 'x', sizeof(small));
	assert_int_equal(pw_config_load_string("{\"service_types\": {\"d\": {}}}", &c, small,
					       sizeof(small)), -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_ptr_equal(c, UNTOUCHED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_styxy_fixture),
		cmocka_unit_test(test_shared_fixture),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_absent_keys_keep_defaults),
		cmocka_unit_test(test_types_replace_builtin),
		cmocka_unit_test(test_unknown_keys_ignored),
		cmocka_unit_test(test_health_check),
		cmocka_unit_test(test_bad_ranges),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_manual_and_checks),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_unreadable_files),
		cmocka_unit_test(test_small_error_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

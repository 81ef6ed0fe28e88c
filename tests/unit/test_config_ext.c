// SPDX-License-Identifier: GPL-2.0
/*
 * user/core/config_ext.c and config_add.c: Styxy's auto_allocation (rules,
 * placements after/before/smart, limits), run-time types that never move the
 * array, the override file merged by name, the listeners block.
 * Run from the repository root (make test does).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

#define FIXTURE "tests/fixtures/styxy-core-ports.json"

static char err[512];

static struct pw_config *load(const char *sq)
{
	struct pw_config *c = NULL;
	char *json = strdup(sq);

	for (char *p = json; *p; p++)
		if (*p == '\'')
			*p = '"';
	assert_int_equal(pw_config_load_string(json, &c, err, sizeof(err)), 0);
	free(json);
	assert_int_equal(pw_config_reserve_types(c, 16), 0);
	return c;
}

static void test_fixture_rules(void **state)
{
	const struct pw_service_type *t, *dev;
	struct pw_config *c = NULL;

	(void) state;
	assert_int_equal(pw_config_load_file(FIXTURE, &c, err, sizeof(err)), 0);
	assert_true(c->auto_alloc.enabled);
	assert_int_equal(c->auto_alloc.default_chunk_size, 10);
	assert_int_equal(c->auto_alloc.n_rules, 2);
	assert_int_equal(c->auto_alloc.min_port, 10000);
	assert_int_equal(c->auto_alloc.max_port, 49151);
	assert_int_equal(pw_config_reserve_types(c, 8), 0);
	dev = pw_config_find_type(c, "dev");
	/* "monitoring-*": 20 ports, after the last range (ai ends at 11499) + gap 10 */
	assert_int_equal(pw_config_auto_type(c, "monitoring-prom", &t, err, sizeof(err)), 0);
	assert_int_equal(t->range_lo, 11510);
	assert_int_equal(t->range_hi, 11529);
	/* default chunk; after the one just added */
	assert_int_equal(pw_config_auto_type(c, "other", &t, err, sizeof(err)), 0);
	assert_int_equal(t->range_lo, 11540);
	assert_int_equal(t->range_hi, 11549);
	/* adding never moved the array */
	assert_ptr_equal(pw_config_find_type(c, "dev"), dev);
	assert_int_equal(pw_config_auto_type(c, "bad name", &t, err, sizeof(err)), -EINVAL);
	assert_int_equal(pw_config_auto_type(c, "other", &t, err, sizeof(err)), -EEXIST);
	pw_config_free(c);
}

static void test_disabled_and_no_room(void **state)
{
	const struct pw_service_type *t;
	struct pw_config *c = NULL;

	(void) state;
	assert_int_equal(pw_config_default(&c), 0);
	assert_false(c->auto_alloc.enabled);
	assert_int_equal(pw_config_auto_type(c, "x", &t, err, sizeof(err)), -EPERM);
	/* no reserved slot: refused rather than moving the array */
	assert_int_equal(pw_config_add_type(c, "x", "", 40000, 40009, false, err, sizeof(err)),
			 -ENOSPC);
	assert_int_equal(pw_config_reserve_types(c, 1), 0);
	assert_int_equal(pw_config_add_type(c, "x", "", 3050, 3059, false, err, sizeof(err)),
			 -ERANGE);
	assert_non_null(strstr(err, "overlaps dev"));
	assert_int_equal(pw_config_add_type(c, "x", "", 40000, 40009, false, err, sizeof(err)), 0);
	assert_int_equal(pw_config_add_type(c, "y", "", 40100, 40109, false, err, sizeof(err)),
			 -ENOSPC);
	pw_config_free(c);
}

/* A user makes PW_RUNTIME_TYPES_PER_UID auto-allocated types at most and never
 * the last PW_RUNTIME_TYPES_ROOT slots; root makes one while a slot is left. */
static void test_runtime_room(void **state)
{
	const struct pw_service_type *t;
	struct pw_config *c;
	char name[32];
	int i;

	(void) state;
	c = load("{'service_types': {'a': {'port_range': [20000, 20099]}},"
		 " 'auto_allocation': {'enabled': true, 'min_port': 1000, 'max_port': 60000}}");
	assert_int_equal(pw_config_reserve_types(c, PW_RUNTIME_TYPES_ROOT + 2 *
						 PW_RUNTIME_TYPES_PER_UID + 1), 0);
	for (i = 0; i < PW_RUNTIME_TYPES_PER_UID; i++) {
		assert_int_equal(pw_config_runtime_room(c, 65534, err, sizeof(err)), 0);
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(pw_config_auto_type(c, name, &t, err, sizeof(err)), 0);
		c->types[c->n_types - 1].created_by = 65534;
	}
	assert_int_equal(pw_config_runtime_room(c, 65534, err, sizeof(err)), -EDQUOT);
	assert_non_null(strstr(err, "uid 65534"));
	/* another user still may, up to the slots kept for root */
	for (i = 0; i < PW_RUNTIME_TYPES_PER_UID; i++) {
		assert_int_equal(pw_config_runtime_room(c, 1000 + (uint32_t)i, err, sizeof(err)), 0);
		snprintf(name, sizeof(name), "v%d", i);
		assert_int_equal(pw_config_auto_type(c, name, &t, err, sizeof(err)), 0);
		c->types[c->n_types - 1].created_by = 1000 + (uint32_t)i;
	}
	assert_int_equal(c->cap_types - c->n_types, PW_RUNTIME_TYPES_ROOT + 1);
	assert_int_equal(pw_config_runtime_room(c, 2000, err, sizeof(err)), 0);
	assert_int_equal(pw_config_auto_type(c, "w", &t, err, sizeof(err)), 0);
	c->types[c->n_types - 1].created_by = 2000;
	assert_int_equal(pw_config_runtime_room(c, 3000, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "kept for root"));
	/* root: every slot left */
	for (i = 0; i < PW_RUNTIME_TYPES_ROOT; i++) {
		assert_int_equal(pw_config_runtime_room(c, 0, err, sizeof(err)), 0);
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(pw_config_auto_type(c, name, &t, err, sizeof(err)), 0);
	}
	assert_int_equal(pw_config_runtime_room(c, 0, err, sizeof(err)), -ENOSPC);
	pw_config_free(c);
}

static void test_placements(void **state)
{
	const struct pw_service_type *t;
	struct pw_config *c;

	(void) state;
	c = load("{'service_types': {'a': {'port_range': [20000, 20099]},"
		 " 'b': {'port_range': [20200, 20299]}},"
		 " 'auto_allocation': {'enabled': true, 'placement': 'before', 'min_port': 1000,"
		 " 'max_port': 30000, 'gap_size': 5}}");
	assert_int_equal(pw_config_auto_type(c, "x", &t, err, sizeof(err)), 0);
	assert_int_equal(t->range_hi, 19994);
	assert_int_equal(t->range_lo, 19985);
	pw_config_free(c);
	/* smart: the gap between a and b (100 free >= 10 + 2 * 10) */
	c = load("{'service_types': {'a': {'port_range': [20000, 20099]},"
		 " 'b': {'port_range': [20200, 20299]}},"
		 " 'auto_allocation': {'enabled': true, 'placement': 'smart'}}");
	assert_int_equal(pw_config_auto_type(c, "x", &t, err, sizeof(err)), 0);
	assert_int_equal(t->range_lo, 20110);
	pw_config_free(c);
	/* after, limited by max_port */
	c = load("{'service_types': {'a': {'port_range': [20000, 20099]}},"
		 " 'auto_allocation': {'enabled': true, 'max_port': 20115}}");
	assert_int_equal(pw_config_auto_type(c, "x", &t, err, sizeof(err)), -ENOSPC);
	pw_config_free(c);
}

static void test_bad_values(void **state)
{
	struct pw_config *c = NULL;

	(void) state;
	assert_int_equal(pw_config_load_string("{\"auto_allocation\": {\"placement\": \"left\"}}",
					       &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "auto_allocation.placement"));
	/* not an object: read nothing from it (the config fuzzer's crash: the
	 * placement was looked up in an unset pointer) */
	assert_int_equal(pw_config_load_string("{ \"auto_allocation\": \"hr\"}", &c, err,
					       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "auto_allocation"));
	assert_non_null(strstr(err, "expected an object"));
	assert_int_equal(pw_config_load_string("{\"auto_allocation_rules\": {\"a*\": "
					       "{\"chunk_size\": 0}}}", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "chunk_size"));
	assert_int_equal(pw_config_load_string("{\"auto_allocation\": {\"min_port\": 5000, "
					       "\"max_port\": 4000}}", &c, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(pw_config_load_string("{\"listeners\": {\"portserver\": 5}}", &c, err,
					       sizeof(err)), -EINVAL);
	assert_int_equal(pw_config_load_string("{\"listeners\": {\"portserver\": \"@ps\", "
					       "\"styxy_http\": \"127.0.0.1:9876\"}}", &c, err,
					       sizeof(err)), 0);
	assert_string_equal(c->listeners.portserver, "@ps");
	assert_string_equal(c->listeners.styxy_http, "127.0.0.1:9876");
	pw_config_free(c);
}

static void test_merge(void **state)
{
	char path[] = "/tmp/pw-test-merge-XXXXXX";
	struct pw_config *c = NULL;
	size_t n;
	FILE *f;
	int fd;

	(void) state;
	assert_int_equal(pw_config_load_file(FIXTURE, &c, err, sizeof(err)), 0);
	n = c->n_types;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("{\"service_types\": {\"dev\": {\"port_range\": [3000, 3049]},"
	      " \"extra\": {\"port_range\": [47000, 47009]}}}", f);
	fclose(f);
	assert_int_equal(pw_config_merge_file(c, path, err, sizeof(err)), 0);
	/* by name: dev replaced, extra added, every other type kept */
	assert_int_equal(c->n_types, n + 1);
	assert_int_equal(pw_config_find_type(c, "dev")->range_hi, 3049);
	assert_non_null(pw_config_find_type(c, "extra"));
	assert_non_null(pw_config_find_type(c, "coordination"));
	/* an override overlapping a kept type fails */
	f = fopen(path, "w");
	fputs("{\"service_types\": {\"mine\": {\"port_range\": [8050, 8060]}}}", f);
	fclose(f);
	assert_int_equal(pw_config_merge_file(c, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "overlaps"));
	unlink(path);
	pw_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_rules),
		cmocka_unit_test(test_disabled_and_no_room),
		cmocka_unit_test(test_placements),
		cmocka_unit_test(test_runtime_room),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * user/alloc_policy.c: candidate order and filtering, range statistics,
 * backoff and request checks, against a hand-built config and a fake world.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "alloc_policy.h"
#include "config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The fake world: which ports are allocated, bound, conflicted. */
struct world {
	bool allocated[65536], bound[65536], conflicted[65536];
};

static bool w_allocated(void *ctx, uint16_t port)
{
	return ((struct world *)ctx)->allocated[port];
}

static bool w_bound(void *ctx, uint16_t port)
{
	return ((struct world *)ctx)->bound[port];
}

static bool w_conflicted(void *ctx, uint16_t port)
{
	return ((struct world *)ctx)->conflicted[port];
}

/*
 * dev: 3000-3009, preferred 3005, 3001, 3003 (not ascending on purpose, and
 * 3001 twice); other: 4000-4001 with a manual allocation on 3007, which lies
 * in dev's range and so must never be offered there.
 */
static uint16_t dev_preferred[] = { 3005, 3001, 3003, 3001 };
static struct pw_manual_alloc other_manual[] = { { "pinned", 3007, "" } };
static struct pw_service_type types[] = {
	{ .name = "dev", .description = "", .range_lo = 3000, .range_hi = 3009,
	  .preferred = dev_preferred, .n_preferred = ARRAY_SIZE(dev_preferred) },
	{ .name = "other", .description = "", .range_lo = 4000, .range_hi = 4001,
	  .manual = other_manual, .n_manual = ARRAY_SIZE(other_manual) },
	{ .name = "top", .description = "", .range_lo = 65530, .range_hi = 65535 },
};
static struct pw_config cfg = { .types = types, .n_types = ARRAY_SIZE(types) };
static const struct pw_service_type *dev = &types[0];

static struct world world;
static const struct pw_port_view view = {
	.ctx = &world, .allocated = w_allocated, .bound = w_bound, .conflicted = w_conflicted,
};

static int reset(void **state)
{
	(void)state;
	memset(&world, 0, sizeof(world));
	cfg.port_conflict.backoff_ms = 100;
	cfg.port_conflict.backoff_multiplier = 2.0;
	return 0;
}

static void expect_candidates(const struct pw_service_type *t, uint16_t requested, size_t max,
			      const uint16_t *want, size_t n_want)
{
	uint16_t out[64];

	assert_true(max <= ARRAY_SIZE(out));
	memset(out, 0, sizeof(out));
	assert_int_equal(pw_alloc_candidates(&cfg, t, requested, &view, out, max), n_want);
	assert_memory_equal(out, want, n_want * sizeof(*want));
}

#define EXPECT(t, requested, max, ...) do { \
	const uint16_t want_[] = { __VA_ARGS__ }; \
	expect_candidates(t, requested, max, want_, ARRAY_SIZE(want_)); \
} while (0)

static void test_order(void **state)
{
	(void)state;
	/* No request: preferred in their order, then the range; 3007 is reserved. */
	EXPECT(dev, 0, 64, 3005, 3001, 3003, 3000, 3002, 3004, 3006, 3008, 3009);
	EXPECT(dev, 3008, 64, 3008, 3005, 3001, 3003, 3000, 3002, 3004, 3006, 3009);
	/* A request that is also preferred appears once, first. */
	EXPECT(dev, 3003, 64, 3003, 3005, 3001, 3000, 3002, 3004, 3006, 3008, 3009);
	/* Outside the range is no candidate (callers reject it before). */
	EXPECT(dev, 4000, 64, 3005, 3001, 3003, 3000, 3002, 3004, 3006, 3008, 3009);
	/* The reserved port is no candidate even when requested. */
	EXPECT(dev, 3007, 64, 3005, 3001, 3003, 3000, 3002, 3004, 3006, 3008, 3009);
}

static void test_skips_taken_ports(void **state)
{
	(void)state;
	world.allocated[3005] = true;
	world.bound[3001] = true;
	world.conflicted[3000] = true;
	world.bound[3009] = world.allocated[3009] = true;
	EXPECT(dev, 3005, 64, 3003, 3002, 3004, 3006, 3008);
}

static void test_max(void **state)
{
	uint16_t out[4] = { 0 };

	(void)state;
	EXPECT(dev, 3008, 1, 3008);
	EXPECT(dev, 0, 2, 3005, 3001);
	EXPECT(dev, 0, 5, 3005, 3001, 3003, 3000, 3002);
	/* max 0 writes nothing, not even with a good request. */
	assert_int_equal(pw_alloc_candidates(&cfg, dev, 3008, &view, out, 0), 0);
	assert_int_equal(out[0], 0);
}

static void test_exhausted(void **state)
{
	uint16_t out[16];

	(void)state;
	for (unsigned p = 3000; p <= 3009; p++) {
		if (p % 3 == 0)
			world.allocated[p] = true;
		else if (p % 3 == 1)
			world.bound[p] = true;
		else
			world.conflicted[p] = true;
	}
	assert_int_equal(pw_alloc_candidates(&cfg, dev, 3004, &view, out, ARRAY_SIZE(out)), 0);
}

/* A range ending at 65535 must end the scan, not wrap around to 0. */
static void test_range_top(void **state)
{
	(void)state;
	EXPECT(&types[2], 0, 64, 65530, 65531, 65532, 65533, 65534, 65535);
	EXPECT(&types[2], 65535, 64, 65535, 65530, 65531, 65532, 65533, 65534);
}

/* NULL callbacks mean "never": everything not reserved is free. */
static void test_null_callbacks(void **state)
{
	const struct pw_port_view empty = { 0 };
	struct pw_range_stats st;
	uint16_t out[16];

	(void)state;
	assert_int_equal(pw_alloc_candidates(&cfg, dev, 0, &empty, out, ARRAY_SIZE(out)), 9);
	pw_alloc_range_stats(&cfg, dev, &empty, &st);
	assert_int_equal(st.total, 10);
	assert_int_equal(st.reserved, 1);
	assert_int_equal(st.free, 9);
}

static void test_range_stats(void **state)
{
	struct pw_range_stats st;
	uint16_t out[16];

	(void)state;
	world.allocated[3000] = true;
	world.allocated[3001] = world.bound[3001] = true;	/* ours, bound: allocated */
	world.bound[3002] = true;
	world.bound[3007] = true;				/* reserved wins over bound */
	world.conflicted[3003] = true;
	world.conflicted[3004] = world.bound[3004] = true;	/* bound wins over conflicted */
	pw_alloc_range_stats(&cfg, dev, &view, &st);
	assert_int_equal(st.total, 10);
	assert_int_equal(st.allocated, 2);
	assert_int_equal(st.reserved, 1);
	assert_int_equal(st.bound_unallocated, 2);
	assert_int_equal(st.conflicted, 1);
	assert_int_equal(st.free, 4);
	assert_int_equal(st.allocated + st.reserved + st.bound_unallocated + st.conflicted +
			 st.free, st.total);
	/* free is exactly what the candidates offer. */
	assert_int_equal(pw_alloc_candidates(&cfg, dev, 0, &view, out, ARRAY_SIZE(out)), st.free);

	pw_alloc_range_stats(&cfg, &types[2], &view, &st);
	assert_int_equal(st.total, 6);
	assert_int_equal(st.free, 6);
}

static void test_backoff(void **state)
{
	static const uint32_t want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000 };

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++)
		assert_int_equal(pw_backoff_ms(&cfg, i), want[i]);
	assert_int_equal(pw_backoff_ms(&cfg, UINT_MAX), PW_BACKOFF_MAX_MS);

	cfg.port_conflict.backoff_multiplier = 1.0;
	assert_int_equal(pw_backoff_ms(&cfg, 0), 100);
	assert_int_equal(pw_backoff_ms(&cfg, 1000), 100);

	cfg.port_conflict.backoff_multiplier = 1.5;
	assert_int_equal(pw_backoff_ms(&cfg, 2), 225);

	/* A base above the cap is the user's explicit choice: keep it, grow no further. */
	cfg.port_conflict.backoff_ms = 8000;
	assert_int_equal(pw_backoff_ms(&cfg, 0), 8000);
	assert_int_equal(pw_backoff_ms(&cfg, 3), 8000);
}

static void test_check_request(void **state)
{
	char err[128] = "";

	(void)state;
	assert_int_equal(pw_alloc_check_request(dev, 0, err, sizeof(err)), 0);
	assert_int_equal(pw_alloc_check_request(dev, 3000, err, sizeof(err)), 0);
	assert_int_equal(pw_alloc_check_request(dev, 3009, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(pw_alloc_check_request(dev, 2999, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "port 2999 is outside the range of service type dev (3000-3009)");
	assert_int_equal(pw_alloc_check_request(dev, 3010, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "port 3010 is outside the range of service type dev (3000-3009)");
	assert_int_equal(pw_alloc_check_request(dev, 65535, NULL, 0), -ERANGE);
}

/* The built-in config through the policy: dev starts at its first preferred port. */
static void test_with_default_config(void **state)
{
	const struct pw_service_type *t;
	struct pw_config *c = NULL;
	uint16_t out[4];

	(void)state;
	assert_int_equal(pw_config_default(&c), 0);
	t = pw_config_find_type(c, "dev");
	world.bound[3000] = true;
	assert_int_equal(pw_alloc_candidates(c, t, 0, &view, out, ARRAY_SIZE(out)), 4);
	assert_int_equal(out[0], 3001);
	assert_int_equal(out[3], 3004);
	assert_int_equal(pw_backoff_ms(c, 1), 200);
	pw_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_order, reset),
		cmocka_unit_test_setup(test_skips_taken_ports, reset),
		cmocka_unit_test_setup(test_max, reset),
		cmocka_unit_test_setup(test_exhausted, reset),
		cmocka_unit_test_setup(test_range_top, reset),
		cmocka_unit_test_setup(test_null_callbacks, reset),
		cmocka_unit_test_setup(test_range_stats, reset),
		cmocka_unit_test_setup(test_backoff, reset),
		cmocka_unit_test_setup(test_check_request, reset),
		cmocka_unit_test_setup(test_with_default_config, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

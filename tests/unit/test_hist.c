// SPDX-License-Identifier: GPL-2.0
/* user/hist.c: quantiles and cumulative counts at bucket resolution (1/8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hist.h"

static struct pw_hist *new_hist(void)
{
	struct pw_hist *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	return h;
}

/* |got - want| <= want / 8 */
static void assert_within_8th(uint64_t got, uint64_t want)
{
	uint64_t d = got > want ? got - want : want - got;

	if (d > want / 8)
		fail_msg("%llu is not within 12.5%% of %llu", (unsigned long long)got,
			 (unsigned long long)want);
}

static void assert_quantiles_monotone(const struct pw_hist *h)
{
	uint64_t prev = 0;

	for (int i = 0; i <= 1000; i++) {
		uint64_t q = pw_hist_quantile(h, i / 1000.0);

		assert_true(q >= prev);
		assert_true(q <= h->max_ns);
		prev = q;
	}
	assert_true(pw_hist_quantile(h, 1.0) == h->max_ns);
}

static void test_empty(void **state)
{
	struct pw_hist *h = new_hist();

	(void)state;
	assert_true(pw_hist_quantile(h, 0.0) == 0);
	assert_true(pw_hist_quantile(h, 0.5) == 0);
	assert_true(pw_hist_quantile(h, 1.0) == 0);
	assert_true(pw_hist_count_le(h, 0) == 0);
	assert_true(pw_hist_count_le(h, UINT64_MAX) == 0);
	free(h);
}

static void test_single_value(void **state)
{
	struct pw_hist *h = new_hist();

	(void)state;
	pw_hist_record(h, 1000);
	assert_true(h->count == 1 && h->sum_ns == 1000 && h->max_ns == 1000);
	/* the bucket's upper bound is capped by the largest value seen */
	assert_true(pw_hist_quantile(h, 0.0) == 1000);
	assert_true(pw_hist_quantile(h, 0.5) == 1000);
	assert_true(pw_hist_quantile(h, 0.99) == 1000);
	assert_true(pw_hist_quantile(h, 1.0) == 1000);
	assert_true(pw_hist_count_le(h, 999) == 0);
	assert_true(pw_hist_count_le(h, 1000 + 1000 / 8) == 1);
	assert_true(pw_hist_count_le(h, UINT64_MAX) == 1);
	free(h);
}

/* Below 8 every value has its own bucket: exact answers. */
static void test_small_exact(void **state)
{
	struct pw_hist *h = new_hist();

	(void)state;
	for (uint64_t v = 0; v < 8; v++)
		pw_hist_record(h, v);
	for (uint64_t v = 0; v < 8; v++) {
		assert_true(pw_hist_count_le(h, v) == v + 1);
		assert_true(pw_hist_quantile(h, (double)v / 8) == v);
	}
	assert_true(pw_hist_quantile(h, 0.0) == 0);
	free(h);
}

static void test_uniform(void **state)
{
	enum { N = 100000 };
	struct pw_hist *h = new_hist();
	uint64_t p50, p99, prev = 0;

	(void)state;
	/* shuffled order: the result must not depend on it */
	for (uint64_t i = 0; i < N; i++)
		pw_hist_record(h, 1 + (i * 7919) % N);
	assert_true(h->count == N);
	assert_true(h->max_ns == N);
	assert_true(h->sum_ns == (uint64_t)N * (N + 1) / 2);

	p50 = pw_hist_quantile(h, 0.5);
	p99 = pw_hist_quantile(h, 0.99);
	assert_within_8th(p50, 50000);
	assert_within_8th(p99, 99000);
	/* an upper bound: never below the true quantile */
	assert_true(p50 >= 50000);
	assert_true(p99 >= 99000);
	assert_within_8th(pw_hist_quantile(h, 0.9), 90000);
	assert_within_8th(pw_hist_quantile(h, 0.1), 10000);
	assert_true(pw_hist_quantile(h, 0.0) == 1);
	assert_true(pw_hist_quantile(h, 1.0) == N);
	assert_quantiles_monotone(h);

	/* count_le: monotone, between the exact counts at le and le * 8/9, all at +inf */
	for (uint64_t le = 0; le <= 2 * N; le += 97) {
		uint64_t n = pw_hist_count_le(h, le);
		uint64_t exact = le < N ? le : N;
		uint64_t low = le * 8 / 9 < N ? le * 8 / 9 : N;

		assert_true(n >= prev);
		assert_true(n <= exact);
		assert_true(n >= low);
		prev = n;
	}
	assert_true(pw_hist_count_le(h, N * 2) == N);
	assert_true(pw_hist_count_le(h, UINT64_MAX) == N);
	free(h);
}

/* Bucket bounds at every magnitude: a value never counts below itself and
 * always counts by value + 1/8. */
static void test_resolution_all_magnitudes(void **state)
{
	(void)state;
	for (unsigned bit = 0; bit < 63; bit++) {
		for (uint64_t off = 0; off < 5; off++) {
			uint64_t base = (uint64_t)1 << bit;
			uint64_t vals[] = { base + off, base - 1 - off, base + base / 2 + off };

			for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
				uint64_t v = vals[i];
				struct pw_hist h;

				if (v > UINT64_MAX / 2)
					continue;
				memset(&h, 0, sizeof(h));
				pw_hist_record(&h, v);
				pw_hist_record(&h, UINT64_MAX / 2);
				if (v)
					assert_true(pw_hist_count_le(&h, v - 1) == 0);
				assert_true(pw_hist_count_le(&h, v + v / 8) >= 1);
				assert_true(pw_hist_quantile(&h, 0.0) >= v);
				assert_true(pw_hist_quantile(&h, 0.0) <= v + v / 8);
			}
		}
	}
}

static void test_huge_values(void **state)
{
	struct pw_hist *h = new_hist();
	const uint64_t big = UINT64_MAX / 2;

	(void)state;
	pw_hist_record(h, big);
	pw_hist_record(h, big);
	assert_true(h->count == 2);
	assert_true(h->max_ns == big);
	assert_true(h->sum_ns == UINT64_MAX - 1);
	assert_true(pw_hist_quantile(h, 0.5) == big);
	assert_true(pw_hist_quantile(h, 0.0) == big);
	assert_true(pw_hist_count_le(h, big - 1) == 0);
	assert_true(pw_hist_count_le(h, big) == 2);
	assert_true(pw_hist_count_le(h, UINT64_MAX) == 2);

	pw_hist_record(h, 5);
	assert_true(pw_hist_quantile(h, 0.0) == 5);
	assert_true(pw_hist_quantile(h, 1.0) == big);
	assert_true(pw_hist_count_le(h, 5) == 1);
	assert_quantiles_monotone(h);

	/* the very top: counted at +inf, in range, and the max */
	pw_hist_record(h, UINT64_MAX);
	pw_hist_record(h, UINT64_MAX - 1);
	pw_hist_record(h, (uint64_t)1 << 63);
	assert_true(h->max_ns == UINT64_MAX);
	assert_true(pw_hist_quantile(h, 1.0) == UINT64_MAX);
	assert_true(pw_hist_count_le(h, big) == 3);
	assert_true(pw_hist_count_le(h, UINT64_MAX) == h->count);
	assert_quantiles_monotone(h);
	free(h);
}

/* Two clusters: the quantile moves from one to the other at the right rank. */
static void test_bimodal(void **state)
{
	struct pw_hist *h = new_hist();

	(void)state;
	for (int i = 0; i < 900; i++)
		pw_hist_record(h, 1000);
	for (int i = 0; i < 100; i++)
		pw_hist_record(h, 1000000);
	assert_within_8th(pw_hist_quantile(h, 0.5), 1000);
	assert_within_8th(pw_hist_quantile(h, 0.899), 1000);
	assert_true(pw_hist_quantile(h, 0.9) == 1000000);
	assert_true(pw_hist_quantile(h, 0.99) == 1000000);
	assert_true(pw_hist_count_le(h, 2000) == 900);
	assert_true(pw_hist_count_le(h, 999999) == 900);
	assert_true(pw_hist_count_le(h, 2000000) == 1000);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_value),
		cmocka_unit_test(test_small_exact),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_resolution_all_magnitudes),
		cmocka_unit_test(test_huge_values),
		cmocka_unit_test(test_bimodal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

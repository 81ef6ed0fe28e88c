// SPDX-License-Identifier: GPL-2.0
/*
 * The crash storm of tools/bench/crash_storm.c, ten kills: SIGKILL at random
 * moments of an allocate/release storm loses no acknowledged allocation,
 * brings back no acknowledged release, never holds a port twice, and leaves
 * a database that passes integrity_check. `make bench-bins` builds the tool
 * for the full run (50 kills by default).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* the same code as the tool, without its main() */
#define CRASH_STORM_NO_MAIN
#include "../../tools/bench/crash_storm.c"

static void test_crash_storm(void **state)
{
	const struct storm_opts o = { .kills = 10, .clients = 4, .lo = 46500, .hi = 46799,
				      .verbose = true };
	struct storm_result r;

	(void) state;
	itest_require_root();
	/* a network namespace of its own: its ports, and the map it compares,
	 * are its own */
	assert_int_equal(itest_unshare_net(), 0);
	assert_int_equal(storm_run(&o, &r), 0);
	print_summary(&o, &r);
	assert_false(r.aborted);
	assert_int_equal(r.kills, o.kills);
	assert_int_equal(r.integrity_ok, r.kills);
	assert_int_equal(r.lost, 0);
	assert_int_equal(r.duplicates, 0);
	assert_int_equal(r.resurrected, 0);
	assert_int_equal(r.unaudited, 0);
	assert_int_equal(r.phantoms, 0);
	assert_int_equal(r.load_diffs, 0);
	assert_int_equal(r.errors, 0);
	assert_true(storm_clean(&r));
	/* the storm did something between the kills */
	assert_true(r.acked >= r.kills);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_storm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

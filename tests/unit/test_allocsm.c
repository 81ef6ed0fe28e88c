// SPDX-License-Identifier: GPL-2.0
/*
 * user/allocsm.c: the allocation state machine, driven by hand-made
 * observations, owner liveness, check results and ticks. Every verdict is
 * checked: changed, old_state, state, release.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "allocsm.h"

static const struct pw_sm_params keep = { .grace_ms = 5000, .max_failures = 3 };
static const struct pw_sm_params clean = { .grace_ms = 5000, .max_failures = 3,
					   .cleanup_stale = true };

static const struct pw_sm_obs o_free = { 0 };
static const struct pw_sm_obs o_bound = { .owner_socks = 1 };
static const struct pw_sm_obs o_listen = { .owner_socks = 2, .owner_listening = true };
static const struct pw_sm_obs o_foreign = { .foreign_pid = 4242 };

/* A verdict that changed old -> to (with a reason), or did not change (to == old);
 * only a change to stale may ask for a release. */
#define assert_verdict(v, old, to) do {						\
	assert_int_equal((v)->old_state, (old));				\
	assert_int_equal((v)->state, (to));					\
	assert_int_equal((v)->changed, (old) != (to));				\
	if ((v)->changed)							\
		assert_true((v)->reason[0]);					\
	if (!(v)->changed || (v)->state != PW_ALLOC_STALE)			\
		assert_false((v)->release);					\
} while (0)

static void observe(struct pw_sm *sm, const struct pw_sm_params *p, const struct pw_sm_obs *o,
		    uint64_t now, struct pw_sm_verdict *v)
{
	pw_sm_observe(sm, p, o, PW_SM_EV_EVENT, now, v);
}

static void test_init(void **state)
{
	struct pw_sm sm;

	(void)state;
	for (int s = 0; s < PW_ALLOC_STATE_MAX; s++) {
		pw_sm_init(&sm, s);
		assert_int_equal(sm.state, s);
		assert_true(sm.grace_deadline_ms == 0);
		assert_int_equal(sm.poll_failures, 0);
		assert_int_equal(sm.last_evidence, PW_SM_EV_NONE);
	}
}

static void test_reserved_bound_listening(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	observe(&sm, &clean, &o_free, 10, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_RESERVED);
	assert_true(sm.grace_deadline_ms == 0);	/* never bound: no grace to run */

	observe(&sm, &clean, &o_bound, 20, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_BOUND);
	assert_false(v.release);
	assert_int_equal(sm.last_evidence, PW_SM_EV_EVENT);
	assert_true(sm.last_evidence_ms == 20);
	observe(&sm, &keep, &o_bound, 21, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_BOUND);
	assert_string_equal(v.reason, "");

	pw_sm_observe(&sm, &keep, &o_listen, PW_SM_EV_POLL, 30, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_LISTENING);
	assert_int_equal(sm.last_evidence, PW_SM_EV_POLL);
	assert_true(sm.last_evidence_ms == 30);
	observe(&sm, &keep, &o_bound, 40, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_BOUND);

	/* straight from reserved to listening */
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	observe(&sm, &keep, &o_listen, 50, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_LISTENING);
}

static void test_owner_gone_definitive(void **state)
{
	static const enum pw_alloc_state from[] = { PW_ALLOC_RESERVED, PW_ALLOC_BOUND,
		PW_ALLOC_LISTENING, PW_ALLOC_CONFLICT, PW_ALLOC_UNHEALTHY, PW_ALLOC_ADOPTED };
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		pw_sm_init(&sm, from[i]);
		pw_sm_owner_gone(&sm, &clean, true, 100, &v);
		assert_verdict(&v, from[i], PW_ALLOC_STALE);
		assert_true(v.release);
		assert_int_equal(sm.last_evidence, PW_SM_EV_EVENT);

		pw_sm_init(&sm, from[i]);
		pw_sm_owner_gone(&sm, &keep, true, 100, &v);
		assert_verdict(&v, from[i], PW_ALLOC_STALE);
		assert_false(v.release);
	}
}

static void test_owner_gone_polled(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_LISTENING);
	pw_sm_owner_gone(&sm, &clean, false, 1, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_LISTENING);
	assert_false(v.release);
	assert_int_equal(sm.last_evidence, PW_SM_EV_POLL);
	pw_sm_owner_gone(&sm, &clean, false, 2, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_LISTENING);
	/* an alive poll resets the count: two more failures are not enough */
	pw_sm_owner_alive(&sm, 3);
	assert_int_equal(sm.poll_failures, 0);
	assert_true(sm.last_evidence_ms == 3);
	pw_sm_owner_gone(&sm, &clean, false, 4, &v);
	pw_sm_owner_gone(&sm, &clean, false, 5, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_LISTENING);
	pw_sm_owner_gone(&sm, &clean, false, 6, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_STALE);
	assert_true(v.release);
	assert_non_null(strstr(v.reason, "3"));

	/* without cleanup_stale: stale, kept */
	pw_sm_init(&sm, PW_ALLOC_BOUND);
	for (int i = 0; i < 2; i++) {
		pw_sm_owner_gone(&sm, &keep, false, 10, &v);
		assert_false(v.changed);
	}
	pw_sm_owner_gone(&sm, &keep, false, 11, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_STALE);
	assert_false(v.release);

	/* max_failures 1: the first failed poll decides */
	{
		const struct pw_sm_params one = { .grace_ms = 1, .max_failures = 1 };

		pw_sm_init(&sm, PW_ALLOC_RESERVED);
		pw_sm_owner_gone(&sm, &one, false, 1, &v);
		assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_STALE);
	}
}

static void test_grace(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	observe(&sm, &clean, &o_listen, 1000, &v);
	/* closed: nothing yet, the deadline is armed from the first closed sight */
	observe(&sm, &clean, &o_free, 2000, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_LISTENING);
	assert_true(sm.grace_deadline_ms == 7000);
	observe(&sm, &clean, &o_free, 3000, &v);
	assert_true(sm.grace_deadline_ms == 7000);	/* not pushed back */
	pw_sm_tick(&sm, &clean, 6999, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_LISTENING);
	assert_false(v.release);
	pw_sm_tick(&sm, &clean, 7000, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_STALE);
	assert_true(v.release);
	assert_int_equal(sm.last_evidence, PW_SM_EV_TIMER);
	assert_true(sm.grace_deadline_ms == 0);
	pw_sm_tick(&sm, &clean, 8000, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);

	/* re-bound within the grace period: the timer finds nothing to do */
	pw_sm_init(&sm, PW_ALLOC_BOUND);
	observe(&sm, &keep, &o_free, 1000, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_BOUND);
	observe(&sm, &keep, &o_bound, 4000, &v);
	assert_true(sm.grace_deadline_ms == 0);
	pw_sm_tick(&sm, &keep, 6000, &v);
	pw_sm_tick(&sm, &keep, 100000, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_BOUND);
	/* closed again: a new deadline from the new close */
	observe(&sm, &keep, &o_free, 200000, &v);
	assert_true(sm.grace_deadline_ms == 205000);
	pw_sm_tick(&sm, &keep, 204999, &v);
	assert_false(v.changed);
	pw_sm_tick(&sm, &keep, 300000, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_STALE);
	assert_false(v.release);

	/* a never-bound reservation has no grace period to expire */
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	observe(&sm, &clean, &o_free, 1, &v);
	pw_sm_tick(&sm, &clean, UINT64_MAX, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_RESERVED);
}

static void test_conflict(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;
	struct pw_sm_obs both = o_listen;

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	observe(&sm, &keep, &o_foreign, 1, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_CONFLICT);
	assert_non_null(strstr(v.reason, "4242"));
	assert_true(sm.conflict_pid == 4242);
	assert_false(v.release);
	observe(&sm, &keep, &o_foreign, 2, &v);
	assert_verdict(&v, PW_ALLOC_CONFLICT, PW_ALLOC_CONFLICT);
	observe(&sm, &keep, &o_free, 3, &v);
	assert_verdict(&v, PW_ALLOC_CONFLICT, PW_ALLOC_RESERVED);
	assert_true(sm.conflict_pid == 0);

	/* on a bound port, also next to the owner's own socket (SO_REUSEPORT) */
	observe(&sm, &keep, &o_bound, 4, &v);
	both.foreign_pid = 77;
	observe(&sm, &keep, &both, 5, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_CONFLICT);
	assert_non_null(strstr(v.reason, "77"));
	observe(&sm, &keep, &o_listen, 6, &v);
	assert_verdict(&v, PW_ALLOC_CONFLICT, PW_ALLOC_LISTENING);
	observe(&sm, &keep, &o_foreign, 7, &v);		/* owner closed, foreigner took it */
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_CONFLICT);
	observe(&sm, &keep, &o_bound, 8, &v);
	assert_verdict(&v, PW_ALLOC_CONFLICT, PW_ALLOC_BOUND);
}

static void test_health(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	observe(&sm, &keep, &o_listen, 1, &v);
	pw_sm_check(&sm, &keep, false, 2, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_UNHEALTHY);
	assert_false(v.release);
	assert_int_equal(sm.last_evidence, PW_SM_EV_CHECK);
	pw_sm_check(&sm, &keep, false, 3, &v);
	assert_verdict(&v, PW_ALLOC_UNHEALTHY, PW_ALLOC_UNHEALTHY);
	/* port observations do not hide a failing check */
	observe(&sm, &keep, &o_listen, 4, &v);
	assert_verdict(&v, PW_ALLOC_UNHEALTHY, PW_ALLOC_UNHEALTHY);
	observe(&sm, &keep, &o_bound, 5, &v);
	assert_verdict(&v, PW_ALLOC_UNHEALTHY, PW_ALLOC_UNHEALTHY);
	/* back to what the port says now */
	pw_sm_check(&sm, &keep, true, 6, &v);
	assert_verdict(&v, PW_ALLOC_UNHEALTHY, PW_ALLOC_BOUND);
	pw_sm_check(&sm, &keep, true, 7, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_BOUND);

	/* conflict outranks unhealthy; when it goes the failing check shows */
	pw_sm_check(&sm, &keep, false, 8, &v);
	observe(&sm, &keep, &o_foreign, 9, &v);
	assert_verdict(&v, PW_ALLOC_UNHEALTHY, PW_ALLOC_CONFLICT);
	observe(&sm, &keep, &o_listen, 10, &v);
	assert_verdict(&v, PW_ALLOC_CONFLICT, PW_ALLOC_UNHEALTHY);

	/* an unhealthy port that closes still goes stale after the grace period */
	observe(&sm, &clean, &o_free, 100, &v);
	assert_verdict(&v, PW_ALLOC_UNHEALTHY, PW_ALLOC_UNHEALTHY);
	pw_sm_tick(&sm, &clean, 5100, &v);
	assert_verdict(&v, PW_ALLOC_UNHEALTHY, PW_ALLOC_STALE);
	assert_true(v.release);
}

/*
 * A check on a port nobody bound yet fails by nature (the service is still
 * starting): it is no evidence, and must not make the first bind unhealthy.
 */
static void test_health_before_bind(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	pw_sm_check(&sm, &keep, false, 1, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_RESERVED);
	observe(&sm, &keep, &o_bound, 2, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_BOUND);
	pw_sm_check(&sm, &keep, false, 3, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_UNHEALTHY);
	assert_non_null(strstr(v.reason, "health"));
}

/*
 * States restored from the store at a restart, or adopted from a live socket:
 * all say the owner had bound the port. A passing check or a closed port
 * must not turn them into "reserved", and the grace period must run.
 */
static void test_restored_states(void **state)
{
	static const struct {
		enum pw_alloc_state init, after_ok_check, after_listen;
	} t[] = {
		{ PW_ALLOC_BOUND, PW_ALLOC_BOUND, PW_ALLOC_LISTENING },
		{ PW_ALLOC_LISTENING, PW_ALLOC_LISTENING, PW_ALLOC_LISTENING },
		{ PW_ALLOC_ADOPTED, PW_ALLOC_ADOPTED, PW_ALLOC_LISTENING },
		/* the check failed before the restart: unhealthy until one passes */
		{ PW_ALLOC_UNHEALTHY, PW_ALLOC_BOUND, PW_ALLOC_UNHEALTHY },
	};
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pw_sm_init(&sm, t[i].init);
		pw_sm_check(&sm, &keep, true, 1, &v);
		assert_verdict(&v, t[i].init, t[i].after_ok_check);

		pw_sm_init(&sm, t[i].init);
		observe(&sm, &keep, &o_free, 1000, &v);
		assert_verdict(&v, t[i].init, t[i].init);
		assert_true(sm.grace_deadline_ms == 6000);
		pw_sm_tick(&sm, &keep, 6000, &v);
		assert_verdict(&v, t[i].init, PW_ALLOC_STALE);

		pw_sm_init(&sm, t[i].init);
		observe(&sm, &keep, &o_listen, 1000, &v);
		assert_verdict(&v, t[i].init, t[i].after_listen);
		pw_sm_check(&sm, &keep, true, 1001, &v);
		assert_verdict(&v, t[i].after_listen, PW_ALLOC_LISTENING);
	}
	/* conflict and reserved restore as never bound: observations decide */
	pw_sm_init(&sm, PW_ALLOC_CONFLICT);
	observe(&sm, &keep, &o_free, 1, &v);
	assert_verdict(&v, PW_ALLOC_CONFLICT, PW_ALLOC_RESERVED);
	assert_true(sm.grace_deadline_ms == 0);
}

static void test_stale_terminal(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;
	struct pw_sm_obs all = { .owner_socks = 1, .owner_listening = true, .foreign_pid = 9 };

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_LISTENING);
	observe(&sm, &clean, &o_free, 1, &v);	/* grace armed */
	pw_sm_owner_gone(&sm, &clean, true, 2, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_STALE);
	assert_true(v.release);

	/* nothing moves it, and no second release is asked for */
	observe(&sm, &clean, &all, 3, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	assert_false(v.release);
	observe(&sm, &clean, &o_foreign, 4, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	pw_sm_check(&sm, &clean, false, 5, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	pw_sm_check(&sm, &clean, true, 6, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	pw_sm_tick(&sm, &clean, UINT64_MAX, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	pw_sm_owner_gone(&sm, &clean, true, 8, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	assert_false(v.release);
	/* what ended it stays the last evidence */
	assert_int_equal(sm.last_evidence, PW_SM_EV_EVENT);
	assert_true(sm.last_evidence_ms == 2);
	pw_sm_owner_alive(&sm, 9);
	pw_sm_owner_gone(&sm, &clean, false, 10, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	assert_int_equal(sm.state, PW_ALLOC_STALE);

	pw_sm_init(&sm, PW_ALLOC_STALE);
	observe(&sm, &clean, &o_listen, 1, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
}

/*
 * The owner died and its pid was reused by a process that binds the same
 * port (start time differs, so the caller reports a definitive exit): the
 * exit wins, whatever the port map shows afterwards.
 */
static void test_pid_reuse(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	observe(&sm, &keep, &o_listen, 1, &v);
	pw_sm_owner_gone(&sm, &keep, true, 2, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_STALE);
	assert_false(v.release);
	observe(&sm, &keep, &o_listen, 3, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	pw_sm_observe(&sm, &keep, &o_bound, PW_SM_EV_POLL, 4, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
	pw_sm_owner_alive(&sm, 5);
	pw_sm_check(&sm, &keep, true, 6, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);

	/* failed polls so far, then the exit is known for sure: stale at once */
	pw_sm_init(&sm, PW_ALLOC_BOUND);
	pw_sm_owner_gone(&sm, &clean, false, 1, &v);
	pw_sm_owner_gone(&sm, &clean, false, 2, &v);
	pw_sm_owner_gone(&sm, &clean, true, 3, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_STALE);
	assert_true(v.release);
	observe(&sm, &clean, &o_listen, 4, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
}

/* A hold given back: a closed port is "reserved" again, never stale, even
 * with a grace deadline armed; a stale allocation stays stale. */
static void test_rehold(void **state)
{
	struct pw_sm sm;
	struct pw_sm_verdict v;

	(void)state;
	pw_sm_init(&sm, PW_ALLOC_RESERVED);
	observe(&sm, &keep, &o_listen, 100, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_LISTENING);
	observe(&sm, &keep, &o_free, 200, &v);	/* grace armed */
	assert_true(sm.grace_deadline_ms == 5200);
	pw_sm_rehold(&sm);
	observe(&sm, &keep, &o_free, 300, &v);
	assert_verdict(&v, PW_ALLOC_LISTENING, PW_ALLOC_RESERVED);
	pw_sm_tick(&sm, &keep, 6000, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_RESERVED);
	observe(&sm, &keep, &o_bound, 7000, &v);
	assert_verdict(&v, PW_ALLOC_RESERVED, PW_ALLOC_BOUND);

	pw_sm_owner_gone(&sm, &keep, true, 8000, &v);
	assert_verdict(&v, PW_ALLOC_BOUND, PW_ALLOC_STALE);
	pw_sm_rehold(&sm);
	observe(&sm, &keep, &o_free, 9000, &v);
	assert_verdict(&v, PW_ALLOC_STALE, PW_ALLOC_STALE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_reserved_bound_listening),
		cmocka_unit_test(test_owner_gone_definitive),
		cmocka_unit_test(test_owner_gone_polled),
		cmocka_unit_test(test_grace),
		cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_health_before_bind),
		cmocka_unit_test(test_restored_states),
		cmocka_unit_test(test_stale_terminal),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_rehold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

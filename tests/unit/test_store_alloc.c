// SPDX-License-Identifier: GPL-2.0
/* Unit tests for user/store_alloc.c: the allocations table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "store_fixture.h"

static void assert_alloc_equal(const struct pw_alloc *a, const struct pw_alloc *b)
{
	assert_int_equal(a->id, b->id);
	assert_string_equal(a->service_type, b->service_type);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->pid, b->pid);
	assert_true(a->start_time == b->start_time);
	assert_int_equal(a->uid, b->uid);
	assert_string_equal(a->comm, b->comm);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->created_at, b->created_at);
	assert_string_equal(a->project, b->project);
	assert_int_equal(a->adopted, b->adopted);
	assert_int_equal(a->hold_until, b->hold_until);
	assert_int_equal(a->daemon_owned, b->daemon_owned);
}

static void test_round_trip_every_field(void **state)
{
	struct fixture *f = *state;
	struct pw_alloc a[3], *out = NULL;
	struct pw_store *s;
	size_t n = 0;

	s = open_ok(f->dir);
	/* Extremes: full-length strings, top port, largest uid and start time. */
	fill_alloc(&a[0], 65535);
	memset(a[0].service_type, 't', sizeof(a[0].service_type) - 1);
	memset(a[0].name, 'n', sizeof(a[0].name) - 1);
	memset(a[0].comm, 'c', sizeof(a[0].comm) - 1);
	memset(a[0].project, 'p', sizeof(a[0].project) - 1);
	a[0].uid = (uid_t)-2;
	a[0].pid = 4194304;
	a[0].start_time = UINT64_MAX >> 1;
	a[0].state = PW_ALLOC_UNHEALTHY;
	/* Empty optional strings, quotes and UTF-8 survive as they are. */
	fill_alloc(&a[1], 1);
	a[1].name[0] = '\0';
	a[1].project[0] = '\0';
	snprintf(a[1].comm, sizeof(a[1].comm), "it's \"q\" é");
	a[1].state = PW_ALLOC_ADOPTED;
	fill_alloc(&a[2], 8080);
	a[2].state = PW_ALLOC_LISTENING;
	a[2].adopted = true;
	a[2].hold_until = 1700000123456LL;
	a[2].daemon_owned = true;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pw_store_insert(s, &a[i]), 0);
		assert_true(a[i].id > 0);
		assert_int_equal(a[i].adopted, i > 0);
		if (i)
			assert_true(a[i].id > a[i - 1].id);
	}
	pw_store_close(s);

	s = open_ok(f->dir);
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++)
		assert_alloc_equal(&out[i], &a[i]);
	free(out);
	/* a new owner: the daemon's own no more, its hold over */
	a[2].pid = 4242;
	a[2].start_time = 77;
	snprintf(a[2].comm, sizeof(a[2].comm), "vite");
	a[2].hold_until = 0;
	a[2].daemon_owned = false;
	assert_int_equal(pw_store_set_owner(s, &a[2]), 0);
	pw_store_close(s);
	s = open_ok(f->dir);
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_alloc_equal(&out[2], &a[2]);
	free(out);
	pw_store_close(s);
}

static void test_created_at_defaults_to_now(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct timespec ts;
	struct pw_alloc a;
	int64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000;
	fill_alloc(&a, 5000);
	a.created_at = 0;
	assert_int_equal(pw_store_insert(s, &a), 0);
	assert_true(a.created_at >= now && a.created_at < now + 60000);
	pw_store_close(s);
}

static void test_duplicate_port(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_alloc a, b, *out = NULL;
	size_t n = 0;

	fill_alloc(&a, 3000);
	assert_int_equal(pw_store_insert(s, &a), 0);
	/* Whatever its state, a stored allocation holds its port. */
	assert_int_equal(pw_store_set_state(s, a.id, PW_ALLOC_STALE), 0);
	fill_alloc(&b, 3000);
	b.id = 77;
	assert_int_equal(pw_store_insert(s, &b), -EEXIST);
	assert_int_equal(b.id, 77);
	assert_non_null(strstr(pw_store_errmsg(s), "UNIQUE"));
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].id, a.id);
	free(out);
	/* Released, the port can be handed out again, under a new id. */
	assert_int_equal(pw_store_delete(s, a.id), 0);
	assert_int_equal(pw_store_insert(s, &b), 0);
	assert_true(b.id > a.id);
	pw_store_close(s);
}

static void test_rejects_bad_input(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_alloc a;
	size_t n = 1;

	fill_alloc(&a, 0);
	assert_int_equal(pw_store_insert(s, &a), -EINVAL);
	assert_non_null(strstr(pw_store_errmsg(s), "CHECK"));
	fill_alloc(&a, 10);
	a.state = PW_ALLOC_STATE_MAX;
	assert_int_equal(pw_store_insert(s, &a), -EINVAL);
	assert_int_equal(pw_store_count(s, &n), 0);
	assert_int_equal(n, 0);
	pw_store_close(s);
}

static void test_set_state(void **state)
{
	struct fixture *f = *state;
	struct pw_alloc a, *out = NULL;
	struct pw_store *s;
	size_t n = 0;

	s = open_ok(f->dir);
	fill_alloc(&a, 4000);
	assert_int_equal(pw_store_insert(s, &a), 0);
	assert_int_equal(pw_store_set_state(s, a.id, PW_ALLOC_ADOPTED), 0);
	assert_int_equal(pw_store_set_state(s, a.id, PW_ALLOC_LISTENING), 0);
	assert_int_equal(pw_store_set_state(s, a.id + 1, PW_ALLOC_BOUND), -ENOENT);
	assert_int_equal(pw_store_set_state(s, a.id, PW_ALLOC_STATE_MAX), -EINVAL);
	pw_store_close(s);

	s = open_ok(f->dir);
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].state, PW_ALLOC_LISTENING);
	/* Once adopted, the allocation keeps saying so after it moves on. */
	assert_true(out[0].adopted);
	free(out);
	pw_store_close(s);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct pw_alloc a[3], *out = NULL;
	struct pw_store *s;
	size_t n = 0;

	s = open_ok(f->dir);
	for (int i = 0; i < 3; i++) {
		fill_alloc(&a[i], 6000 + i);
		assert_int_equal(pw_store_insert(s, &a[i]), 0);
	}
	assert_int_equal(pw_store_delete(s, a[1].id), 0);
	assert_int_equal(pw_store_delete(s, a[1].id), -ENOENT);
	assert_int_equal(pw_store_delete(s, 999999), -ENOENT);
	assert_non_null(strstr(pw_store_errmsg(s), "999999"));
	assert_int_equal(pw_store_count(s, &n), 0);
	assert_int_equal(n, 2);
	pw_store_close(s);

	s = open_ok(f->dir);
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].id, a[0].id);
	assert_int_equal(out[1].id, a[2].id);
	free(out);
	pw_store_close(s);
}

static void test_load_all_empty_and_ordered(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_alloc a, *out = (void *)1;
	size_t n = 7;

	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_null(out);
	assert_int_equal(n, 0);
	/* Descending ports, so an order by port would show. More than one growth step. */
	for (int i = 0; i < 300; i++) {
		fill_alloc(&a, 60000 - i);
		assert_int_equal(pw_store_insert(s, &a), 0);
	}
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, 300);
	for (size_t i = 1; i < n; i++)
		assert_true(out[i].id > out[i - 1].id);
	assert_int_equal(out[0].port, 60000);
	free(out);
	pw_store_close(s);
}

static void test_unknown_state_is_corrupt(void **state)
{
	struct fixture *f = *state;
	struct pw_alloc a, *out = (void *)1;
	struct pw_store *s;
	size_t n = 7;

	s = open_ok(f->dir);
	fill_alloc(&a, 7000);
	assert_int_equal(pw_store_insert(s, &a), 0);
	pw_store_close(s);
	raw_exec(f->dir, "UPDATE allocations SET state = 'bogus'");

	s = open_ok(f->dir);
	assert_int_equal(pw_store_load_all(s, &out, &n), -EBADMSG);
	assert_ptr_equal(out, (void *)1);
	assert_int_equal(n, 7);
	assert_non_null(strstr(pw_store_errmsg(s), "bogus"));
	pw_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_every_field, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_created_at_defaults_to_now, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_port, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rejects_bad_input, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_set_state, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_delete, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_load_all_empty_and_ordered, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_state_is_corrupt, fixture_setup,
						fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

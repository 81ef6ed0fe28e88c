// SPDX-License-Identifier: GPL-2.0
/* Unit tests for user/store_audit.c: the audit trail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "store_fixture.h"

static void fill_audit(struct pw_audit *a, int i)
{
	memset(a, 0, sizeof(*a));
	a->ts_ms = 1700000000000LL + i;
	a->uid = 1000 + i;
	a->pid = 2000 + i;
	snprintf(a->action, sizeof(a->action), i % 2 ? "release" : "allocate");
	snprintf(a->outcome, sizeof(a->outcome), i % 3 ? "ok" : "denied");
	a->port = (uint16_t)(8000 + i);
	a->alloc_id = 10 + i;
	snprintf(a->service_type, sizeof(a->service_type), "postgres");
	snprintf(a->detail, sizeof(a->detail), "record %d", i);
}

/* Add @count records numbered 0..count-1, checking each lands. */
static struct pw_store *open_with_records(const char *dir, int count)
{
	struct pw_store *s = open_ok(dir);
	struct pw_audit a;

	for (int i = 0; i < count; i++) {
		fill_audit(&a, i);
		assert_int_equal(pw_store_audit_add(s, &a), 0);
	}
	return s;
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct pw_audit a, *out = NULL;
	struct pw_store *s;
	size_t n = 0;

	s = open_with_records(f->dir, 1);
	pw_store_close(s);
	s = open_ok(f->dir);
	assert_int_equal(pw_store_audit_list(s, 0, 0, &out, &n), 0);
	assert_int_equal(n, 1);
	fill_audit(&a, 0);
	assert_true(out[0].id > 0);
	assert_int_equal(out[0].ts_ms, a.ts_ms);
	assert_int_equal(out[0].uid, a.uid);
	assert_int_equal(out[0].pid, a.pid);
	assert_string_equal(out[0].action, a.action);
	assert_string_equal(out[0].outcome, a.outcome);
	assert_int_equal(out[0].port, a.port);
	assert_int_equal(out[0].alloc_id, a.alloc_id);
	assert_string_equal(out[0].service_type, a.service_type);
	assert_string_equal(out[0].detail, a.detail);
	free(out);
	pw_store_close(s);
}

static void test_ts_defaults_to_now(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_audit a, *out = NULL;
	struct timespec ts;
	size_t n = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	fill_audit(&a, 1);
	a.ts_ms = 0;
	assert_int_equal(pw_store_audit_add(s, &a), 0);
	assert_int_equal(pw_store_audit_list(s, 0, 0, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_true(out[0].ts_ms >= (int64_t)ts.tv_sec * 1000);
	assert_true(out[0].ts_ms < (int64_t)ts.tv_sec * 1000 + 60000);
	free(out);
	pw_store_close(s);
}

static void test_list_order_after_id_limit(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_with_records(f->dir, 10);
	struct pw_audit *all = NULL, *out = NULL;
	size_t n = 0, m = 0;

	/* Everything, oldest first. */
	assert_int_equal(pw_store_audit_list(s, 0, 0, &all, &n), 0);
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(all[i].port, 8000 + i);
		if (i)
			assert_true(all[i].id > all[i - 1].id);
	}
	/* Paging: the three after the fourth. */
	assert_int_equal(pw_store_audit_list(s, all[3].id, 3, &out, &m), 0);
	assert_int_equal(m, 3);
	for (size_t i = 0; i < m; i++)
		assert_int_equal(out[i].id, all[4 + i].id);
	free(out);
	/* After the newest: nothing, and no array. */
	out = (void *)1;
	assert_int_equal(pw_store_audit_list(s, all[9].id, 0, &out, &m), 0);
	assert_null(out);
	assert_int_equal(m, 0);
	/* Tail: the newest four, newest last. */
	assert_int_equal(pw_store_audit_list(s, -1, 4, &out, &m), 0);
	assert_int_equal(m, 4);
	for (size_t i = 0; i < m; i++)
		assert_int_equal(out[i].id, all[6 + i].id);
	free(out);
	/* Tail without a limit is everything. */
	assert_int_equal(pw_store_audit_list(s, -1, 0, &out, &m), 0);
	assert_int_equal(m, 10);
	free(out);
	free(all);
	pw_store_close(s);
}

static void test_ids_not_reused(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_with_records(f->dir, 3);
	struct pw_audit a, *out = NULL;
	int64_t last;
	size_t n = 0;

	assert_int_equal(pw_store_audit_list(s, -1, 1, &out, &n), 0);
	last = out[0].id;
	free(out);
	pw_store_close(s);
	/* Even with the newest record gone, a follower's after_id must stay valid. */
	raw_exec(f->dir, "DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)");
	s = open_ok(f->dir);
	fill_audit(&a, 5);
	assert_int_equal(pw_store_audit_add(s, &a), 0);
	assert_int_equal(pw_store_audit_list(s, last, 0, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_true(out[0].id > last);
	free(out);
	pw_store_close(s);
}

static void test_rejects_empty_action(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_audit a, *out = NULL;
	size_t n = 0;

	fill_audit(&a, 0);
	a.action[0] = '\0';
	assert_int_equal(pw_store_audit_add(s, &a), -EINVAL);
	assert_int_equal(pw_store_audit_list(s, 0, 0, &out, &n), 0);
	assert_int_equal(n, 0);
	pw_store_close(s);
}

static void test_audit_in_group(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_audit a, *out = NULL;
	struct pw_alloc al;
	size_t n = 0;

	/* An allocation and its record go to disk together, or neither does. */
	assert_int_equal(pw_store_begin(s), 0);
	fill_alloc(&al, 9000);
	assert_int_equal(pw_store_insert(s, &al), 0);
	fill_audit(&a, 0);
	a.alloc_id = al.id;
	assert_int_equal(pw_store_audit_add(s, &a), 0);
	pw_store_rollback(s);
	assert_int_equal(pw_store_audit_list(s, 0, 0, &out, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(pw_store_begin(s), 0);
	assert_int_equal(pw_store_insert(s, &al), 0);
	a.alloc_id = al.id;
	assert_int_equal(pw_store_audit_add(s, &a), 0);
	assert_int_equal(pw_store_commit(s), 0);
	pw_store_close(s);

	s = open_ok(f->dir);
	assert_int_equal(pw_store_audit_list(s, 0, 0, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].alloc_id, al.id);
	free(out);
	pw_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ts_defaults_to_now, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_list_order_after_id_limit, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ids_not_reused, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rejects_empty_action, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_audit_in_group, fixture_setup,
						fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

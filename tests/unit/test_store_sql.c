// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for user/store_sql.c: commits (single and grouped) that survive
 * SIGKILL, group rollback and abort, and SQLite error mapping.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store_int.h"

static size_t count(struct pw_store *s)
{
	size_t n = 0;

	assert_int_equal(pw_store_count(s, &n), 0);
	return n;
}

static void test_group_commit_durable(void **state)
{
	struct fixture *f = *state;
	struct pw_alloc *out = NULL;
	int64_t ids[100];
	int fds[2], status;
	struct pw_store *s;
	size_t n = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct pw_alloc a;

		/* Commit, report, and die without closing: the commit alone must hold. */
		close(fds[0]);
		if (pw_store_open(f->dir, &s, NULL) || pw_store_begin(s))
			_exit(1);
		for (int i = 0; i < 100; i++) {
			fill_alloc(&a, 20000 + i);
			if (pw_store_insert(s, &a))
				_exit(1);
			ids[i] = a.id;
		}
		if (pw_store_commit(s) || write(fds[1], ids, sizeof(ids)) != sizeof(ids))
			_exit(1);
		pause();
		_exit(1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], ids, sizeof(ids)), sizeof(ids));
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fds[0]);

	s = open_ok(f->dir);
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, 100);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(out[i].id, ids[i]);
		assert_int_equal(out[i].port, 20000 + i);
	}
	free(out);
	pw_store_close(s);
}

static int cmp_id(const void *key, const void *elem)
{
	int64_t k = *(const int64_t *)key, e = ((const struct pw_alloc *)elem)->id;

	return (k > e) - (k < e);
}

/*
 * Child: insert rows from port @base + 1 on, reporting each id on @fd once its
 * insert (or, with @group, its group's commit) returned. Never returns.
 */
static void crash_child(const char *dir, int fd, int base, bool group)
{
	struct pw_store *s;
	int64_t ids[8];
	struct pw_alloc a;
	int k = 0;

	if (pw_store_open(dir, &s, NULL))
		_exit(2);
	for (int port = base + 1; port <= base + 3000; port++) {
		if (group && !k && pw_store_begin(s))
			_exit(2);
		fill_alloc(&a, (uint16_t)port);
		if (pw_store_insert(s, &a))
			_exit(2);
		ids[k++] = a.id;
		if (group && k < 8)
			continue;
		if (group && pw_store_commit(s))
			_exit(2);
		if (write(fd, ids, k * sizeof(ids[0])) != (ssize_t)(k * sizeof(ids[0])))
			_exit(2);
		k = 0;
	}
	_exit(0);
}

static void test_crash_durability(void **state)
{
	struct fixture *f = *state;
	unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	size_t total = 0, cap = 4096;
	int64_t *acked = malloc(cap * sizeof(*acked));

	assert_non_null(acked);
	print_message("seed %u\n", seed);
	srand(seed);
	for (int iter = 0; iter < 20; iter++) {
		/* The first run may die creating the schema; later ones anywhere. */
		size_t want = iter ? (size_t)(rand() % 150) : 0, got = 0;
		struct pw_alloc *out = NULL;
		struct pw_store *s;
		int fds[2], status;
		int64_t id;
		size_t n = 0;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (!pid) {
			close(fds[0]);
			crash_child(f->dir, fds[1], iter * 3000, iter % 2);
		}
		close(fds[1]);
		while (got < want && read(fds[0], &id, sizeof(id)) == sizeof(id)) {
			if (total == cap) {
				cap *= 2;
				acked = realloc(acked, cap * sizeof(*acked));
				assert_non_null(acked);
			}
			acked[total++] = id;
			got++;
		}
		usleep(rand() % 1000);
		kill(pid, SIGKILL);
		/* What it reported before dying counts too. */
		while (read(fds[0], &id, sizeof(id)) == sizeof(id)) {
			if (total == cap) {
				cap *= 2;
				acked = realloc(acked, cap * sizeof(*acked));
				assert_non_null(acked);
			}
			acked[total++] = id;
		}
		close(fds[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && !WEXITSTATUS(status)));

		s = open_ok(f->dir);
		assert_int_equal(pw_store_load_all(s, &out, &n), 0);
		for (size_t i = 0; i < total; i++)
			if (!bsearch(&acked[i], out, n, sizeof(*out), cmp_id))
				fail_msg("run %d: acknowledged id %lld lost", iter,
					 (long long)acked[i]);
		free(out);
		pw_store_close(s);
	}
	print_message("20 runs killed, %zu acknowledged ids, all present\n", total);
	free(acked);
}

static void test_uncommitted_group_lost_at_crash(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s;
	int fds[2], status;
	pid_t pid;
	char c;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct pw_alloc a;

		close(fds[0]);
		if (pw_store_open(f->dir, &s, NULL) || pw_store_begin(s))
			_exit(1);
		for (int i = 0; i < 10; i++) {
			fill_alloc(&a, 21000 + i);
			if (pw_store_insert(s, &a))
				_exit(1);
		}
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fds[0]);

	s = open_ok(f->dir);
	assert_int_equal(count(s), 0);
	pw_store_close(s);
}

static void test_rollback_discards(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_alloc a;

	assert_int_equal(pw_store_begin(s), 0);
	for (int i = 0; i < 10; i++) {
		fill_alloc(&a, 22000 + i);
		assert_int_equal(pw_store_insert(s, &a), 0);
	}
	assert_int_equal(count(s), 10);
	pw_store_rollback(s);
	assert_int_equal(count(s), 0);
	/* Back to one commit per call, and the ports are free again. */
	fill_alloc(&a, 22000);
	assert_int_equal(pw_store_insert(s, &a), 0);
	pw_store_close(s);
	s = open_ok(f->dir);
	assert_int_equal(count(s), 1);
	pw_store_close(s);
}

static void test_close_discards_open_group(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_alloc a;

	assert_int_equal(pw_store_begin(s), 0);
	fill_alloc(&a, 23000);
	assert_int_equal(pw_store_insert(s, &a), 0);
	pw_store_close(s);
	s = open_ok(f->dir);
	assert_int_equal(count(s), 0);
	pw_store_close(s);
}

static void test_misuse(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);

	assert_int_equal(pw_store_commit(s), -EINVAL);
	pw_store_rollback(s);
	assert_int_equal(pw_store_begin(s), 0);
	assert_int_equal(pw_store_begin(s), -EALREADY);
	assert_int_equal(pw_store_commit(s), 0);
	assert_int_equal(pw_store_commit(s), -EINVAL);
	assert_string_equal(pw_store_errmsg(NULL), "");
	pw_store_close(s);
	pw_store_close(NULL);
}

static void test_duplicate_inside_group(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_alloc a;

	/* A refused insert undoes itself only; the rest of the group commits. */
	assert_int_equal(pw_store_begin(s), 0);
	fill_alloc(&a, 24000);
	assert_int_equal(pw_store_insert(s, &a), 0);
	assert_int_equal(pw_store_insert(s, &a), -EEXIST);
	fill_alloc(&a, 24001);
	assert_int_equal(pw_store_insert(s, &a), 0);
	assert_int_equal(pw_store_commit(s), 0);
	pw_store_close(s);
	s = open_ok(f->dir);
	assert_int_equal(count(s), 2);
	pw_store_close(s);
}

static int interrupt_once(void *arg)
{
	int *armed = arg;

	return (*armed)-- > 0;
}

static void test_aborted_group_fails_to_the_end(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	struct pw_alloc a;
	int armed = 0;

	fill_alloc(&a, 25000);
	assert_int_equal(pw_store_insert(s, &a), 0);
	assert_int_equal(pw_store_begin(s), 0);
	fill_alloc(&a, 25001);
	assert_int_equal(pw_store_insert(s, &a), 0);
	/*
	 * An interrupted write makes SQLite roll the whole group back, as a full
	 * disk may: the rest of the group must fail rather than autocommit.
	 */
	sqlite3_progress_handler(s->db, 1, interrupt_once, &armed);
	armed = 1;
	fill_alloc(&a, 25002);
	assert_int_equal(pw_store_insert(s, &a), -EIO);
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
	fill_alloc(&a, 25003);
	assert_int_equal(pw_store_insert(s, &a), -EIO);
	assert_int_equal(pw_store_set_state(s, 1, PW_ALLOC_BOUND), -EIO);
	assert_int_equal(pw_store_commit(s), -EIO);
	/* Only the row committed before the group remains. */
	assert_int_equal(count(s), 1);
	assert_int_equal(pw_store_begin(s), 0);
	assert_int_equal(pw_store_insert(s, &a), 0);
	assert_int_equal(pw_store_commit(s), 0);
	pw_store_close(s);
	s = open_ok(f->dir);
	assert_int_equal(count(s), 2);
	pw_store_close(s);
}

/*
 * The store's connection holds the database exclusively from its first read
 * (its WAL index on the heap, no mapped -shm file): another connection gets
 * "database is locked" (-EBUSY from a second store) until it closes.
 */
static void test_exclusive(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s1 = open_ok(f->dir);
	char path[512], shm[520];
	sqlite3 *other = NULL;
	struct pw_alloc a;
	int rc;

	fill_alloc(&a, 26000);
	assert_int_equal(pw_store_insert(s1, &a), 0);
	assert_true(snprintf(path, sizeof(path), "%s/%s", f->dir, PW_STORE_DB_NAME) <
		    (int)sizeof(path));
	assert_true(snprintf(shm, sizeof(shm), "%s-shm", path) < (int)sizeof(shm));
	assert_int_equal(access(shm, F_OK), -1);
	assert_int_equal(sqlite3_open_v2(path, &other, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(other, 50);
	rc = sqlite3_exec(other, "SELECT count(*) FROM allocations", NULL, NULL, NULL);
	assert_int_equal(rc, SQLITE_BUSY);
	assert_non_null(strstr(sqlite3_errmsg(other), "locked"));
	sqlite3_close(other);
	pw_store_close(s1);
	/* closed: the next one opens and sees the row */
	s1 = open_ok(f->dir);
	assert_int_equal(count(s1), 1);
	pw_store_close(s1);
}

static void test_map_rc(void **state)
{
	(void)state;
	assert_int_equal(store_map_rc(SQLITE_OK, 0), 0);
	assert_int_equal(store_map_rc(SQLITE_DONE, 0), 0);
	assert_int_equal(store_map_rc(SQLITE_FULL, 0), -ENOSPC);
	assert_int_equal(store_map_rc(SQLITE_IOERR_WRITE, ENOSPC), -ENOSPC);
	assert_int_equal(store_map_rc(SQLITE_IOERR_SHMSIZE, EDQUOT), -ENOSPC);
	assert_int_equal(store_map_rc(SQLITE_IOERR_FSYNC, EIO), -EIO);
	assert_int_equal(store_map_rc(SQLITE_CORRUPT, 0), -EBADMSG);
	assert_int_equal(store_map_rc(SQLITE_CORRUPT_INDEX, 0), -EBADMSG);
	assert_int_equal(store_map_rc(SQLITE_NOTADB, 0), -EBADMSG);
	assert_int_equal(store_map_rc(SQLITE_BUSY, 0), -EBUSY);
	assert_int_equal(store_map_rc(SQLITE_BUSY_SNAPSHOT, 0), -EBUSY);
	assert_int_equal(store_map_rc(SQLITE_LOCKED, 0), -EBUSY);
	assert_int_equal(store_map_rc(SQLITE_CONSTRAINT_UNIQUE, 0), -EEXIST);
	assert_int_equal(store_map_rc(SQLITE_CONSTRAINT_PRIMARYKEY, 0), -EEXIST);
	assert_int_equal(store_map_rc(SQLITE_CONSTRAINT_CHECK, 0), -EINVAL);
	assert_int_equal(store_map_rc(SQLITE_CONSTRAINT_NOTNULL, 0), -EINVAL);
	assert_int_equal(store_map_rc(SQLITE_NOMEM, 0), -ENOMEM);
	assert_int_equal(store_map_rc(SQLITE_READONLY, 0), -EIO);
	assert_int_equal(store_map_rc(SQLITE_ERROR, 0), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_commit_durable, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_crash_durability, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_uncommitted_group_lost_at_crash,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_discards, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_close_discards_open_group, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_misuse, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_inside_group, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_aborted_group_fails_to_the_end,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_exclusive, fixture_setup, fixture_teardown),
		cmocka_unit_test(test_map_rc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

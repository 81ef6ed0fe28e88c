// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for user/store.c: open, schema, refusing bad files, moving them
 * aside, and what a full disk leaves behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store_int.h"

#define SENTINEL ((struct pw_store *)0x5eed)

static void db_path(const struct fixture *f, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", f->dir, PW_STORE_DB_NAME);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Open must fail with @want, say something, and leave *ret alone. */
static void assert_refused(const char *dir, int want, const char *needle)
{
	struct pw_store *s = SENTINEL;
	struct pw_store_info info;

	assert_int_equal(pw_store_open(dir, &s, &info), want);
	assert_ptr_equal(s, SENTINEL);
	print_message("refused (%d): %s\n", want, info.message);
	assert_true(info.message[0] != '\0');
	if (needle)
		assert_non_null(strstr(info.message, needle));
}

static void test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16], wal[PATH_MAX + 32];
	struct pw_store_info info;
	struct pw_store *s = NULL;
	struct stat st;

	assert_int_equal(pw_store_open(f->dir, &s, &info), 0);
	assert_true(info.created);
	assert_int_equal(info.schema_version, PW_STORE_SCHEMA_VERSION);
	assert_int_equal(PW_STORE_SCHEMA_VERSION, 3);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	pw_store_close(s);
	/* Closed cleanly: everything is in state.db, no WAL left behind. */
	db_path(f, path, sizeof(path));
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(access(wal, F_OK), -1);

	assert_int_equal(raw_int(path, "PRAGMA user_version"), 3);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				 " AND name IN ('allocations', 'audit', 'meta')"), 3);
	assert_int_equal(raw_int(path, "SELECT \"unique\" FROM pragma_index_list('allocations')"
				 " WHERE name = 'allocations_port'"), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('allocations')"
				 " WHERE name IN ('id', 'service_type', 'name', 'port', 'pid',"
				 " 'start_time', 'uid', 'comm', 'state', 'created_at', 'project',"
				 " 'adopted', 'hold_until', 'daemon_owned')"), 14);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('audit')"), 10);

	/* Reopening finds the schema instead of creating it. */
	assert_int_equal(pw_store_open(f->dir, &s, &info), 0);
	assert_false(info.created);
	assert_int_equal(info.schema_version, 3);
	pw_store_close(s);
}

/* A version 2 database (before daemon_owned) with a row: opening migrates
 * it, the row kept and not the daemon's. */
static void test_migrates_from_2(void **state)
{
	struct fixture *f = *state;
	struct pw_alloc a, *out = NULL;
	char path[PATH_MAX + 16];
	struct pw_store_info info;
	struct pw_store *s;
	size_t n = 0;

	s = open_ok(f->dir);
	fill_alloc(&a, 3000);
	a.hold_until = 1700000000999LL;
	assert_int_equal(pw_store_insert(s, &a), 0);
	pw_store_close(s);
	raw_exec(f->dir, "ALTER TABLE allocations DROP COLUMN daemon_owned;"
		 " PRAGMA user_version = 2");
	db_path(f, path, sizeof(path));
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('allocations')"
				 " WHERE name = 'daemon_owned'"), 0);
	assert_int_equal(pw_store_open(f->dir, &s, &info), 0);
	assert_false(info.created);
	assert_int_equal(info.schema_version, 3);
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].port, 3000);
	assert_int_equal(out[0].hold_until, a.hold_until);
	assert_false(out[0].daemon_owned);
	free(out);
	pw_store_close(s);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 3);
}

static long long conn_int(struct pw_store *s, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_open_settings(void **state)
{
	struct fixture *f = *state;
	struct pw_store *s = open_ok(f->dir);
	char path[PATH_MAX + 16], msg[128];
	unsigned char hdr[100];
	int fd;

	/* FULL (2): a commit that returned is on disk, not only in the page cache. */
	assert_int_equal(conn_int(s, "PRAGMA synchronous"), 2);
	assert_int_equal(conn_int(s, "PRAGMA foreign_keys"), 1);
	assert_true(conn_int(s, "PRAGMA busy_timeout") >= 1000);
	assert_int_equal(pw_store_integrity_check(s, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "ok");
	pw_store_close(s);
	/* WAL is recorded in the header (read/write versions 2) for every later opener. */
	db_path(f, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, hdr, sizeof(hdr)), sizeof(hdr));
	close(fd);
	assert_int_equal(hdr[18], 2);
	assert_int_equal(hdr[19], 2);
}

static void test_not_a_directory(void **state)
{
	struct fixture *f = *state;

	write_file(f->dir, "x", 1);
	assert_refused(f->dir, -ENOTDIR, NULL);
}

static void test_random_bytes(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16];
	unsigned char buf[65536];
	struct stat st;

	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();
	assert_int_equal(mkdir(f->dir, 0700), 0);
	db_path(f, path, sizeof(path));
	write_file(path, buf, sizeof(buf));
	assert_refused(f->dir, -EBADMSG, "not a database");
	/* Refused files are evidence: not a byte changed. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, sizeof(buf));
}

/* A state.db of 2000 allocations, closed: all of it in the main file. */
static void make_big_db(struct fixture *f, char *path, size_t len, struct stat *st)
{
	struct pw_store *s = open_ok(f->dir);
	struct pw_alloc a;

	assert_int_equal(pw_store_begin(s), 0);
	for (int i = 0; i < 2000; i++) {
		fill_alloc(&a, 10000 + i);
		assert_int_equal(pw_store_insert(s, &a), 0);
	}
	assert_int_equal(pw_store_commit(s), 0);
	pw_store_close(s);
	db_path(f, path, len);
	assert_int_equal(stat(path, st), 0);
	assert_true(st->st_size > 100 * 1024);
}

static void test_truncated_to_half(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16];
	struct stat st;

	make_big_db(f, path, sizeof(path), &st);
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	/*
	 * SQLite 3.40 refuses at the first read: the header's page count is more
	 * than the file holds, so open fails before quick_check even runs.
	 */
	assert_refused(f->dir, -EBADMSG, "malformed");
}

static void test_garbage_page(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16];
	unsigned char junk[4096];
	struct stat st;
	int fd;

	make_big_db(f, path, sizeof(path), &st);
	srand(2);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rand();
	/* A page in the middle of the table: the header and schema still read fine. */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), (st.st_size / 4096 / 2) * 4096),
			 sizeof(junk));
	close(fd);
	assert_refused(f->dir, -EBADMSG, "quick_check");
}

static void test_integrity_check_finds_bad_index(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16], msg[256];
	struct pw_store *s;
	struct stat st;

	make_big_db(f, path, sizeof(path), &st);
	/*
	 * The index now claims to be on pid but holds ports: every page is sound,
	 * so quick_check at open passes, but the full check compares contents.
	 */
	raw_exec(f->dir, "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql ="
		 " 'CREATE UNIQUE INDEX allocations_port ON allocations (pid)'"
		 " WHERE name = 'allocations_port'");
	s = open_ok(f->dir);
	assert_int_equal(pw_store_integrity_check(s, msg, sizeof(msg)), -EBADMSG);
	print_message("integrity_check: %s\n", msg);
	assert_non_null(strstr(msg, "allocations_port"));
	pw_store_close(s);
}

static void test_foreign_database(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	raw_exec(f->dir, "CREATE TABLE notes (t TEXT)");
	assert_refused(f->dir, -EBADMSG, "not a portwatch database");
	raw_exec(f->dir, "DROP TABLE notes; PRAGMA application_id = 1234");
	assert_refused(f->dir, -EBADMSG, "application_id");
}

static void test_newer_schema(void **state)
{
	struct fixture *f = *state;
	struct pw_store_info info;
	char path[PATH_MAX + 16];
	struct pw_store *s;

	s = open_ok(f->dir);
	pw_store_close(s);
	raw_exec(f->dir, "PRAGMA user_version = 99");
	assert_refused(f->dir, -EPROTO, "99");
	assert_int_equal(pw_store_open(f->dir, &s, &info), -EPROTO);
	assert_int_equal(info.schema_version, 99);
	/* Left for the newer daemon exactly as it was. */
	db_path(f, path, sizeof(path));
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 99);
}

/* A child that commits one row and dies, leaving it only in state.db-wal. */
static int64_t crash_after_insert(const char *dir, uint16_t port)
{
	int fds[2], status;
	int64_t id = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct pw_store *s;
		struct pw_alloc a;

		fill_alloc(&a, port);
		if (pw_store_open(dir, &s, NULL) || pw_store_insert(s, &a) ||
		    write(fds[1], &a.id, sizeof(a.id)) != sizeof(a.id))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &id, sizeof(id)), sizeof(id));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return id;
}

static void test_move_aside(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16], moved[PATH_MAX], moved2[PATH_MAX], wal[PATH_MAX + 32];
	struct pw_store_info info;
	struct pw_store *s;
	regex_t re;
	int64_t id;

	assert_int_equal(pw_store_move_aside(f->dir, moved, sizeof(moved)), -ENOENT);
	id = crash_after_insert(f->dir, 4242);
	db_path(f, path, sizeof(path));
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(access(wal, F_OK), 0);

	assert_int_equal(pw_store_move_aside(f->dir, moved, 8), -ENAMETOOLONG);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(pw_store_move_aside(f->dir, moved, sizeof(moved)), 0);
	print_message("moved to %s\n", moved);
	assert_int_equal(regcomp(&re, "/state\\.db\\.corrupt\\.[0-9]{8}T[0-9]{6}Z$",
				 REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, moved, 0, NULL, 0), 0);
	regfree(&re);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(wal, F_OK), -1);
	/* The WAL moved with it, so the copy still holds the last commit. */
	snprintf(wal, sizeof(wal), "%s-wal", moved);
	assert_int_equal(access(wal, F_OK), 0);
	snprintf(path, sizeof(path), "SELECT count(*) FROM allocations WHERE id = %lld",
		 (long long)id);
	assert_int_equal(raw_int(moved, path), 1);

	/* A fresh start, then a second move in the same second: a new name. */
	assert_int_equal(pw_store_open(f->dir, &s, &info), 0);
	assert_true(info.created);
	pw_store_close(s);
	assert_int_equal(pw_store_move_aside(f->dir, moved2, sizeof(moved2)), 0);
	assert_string_not_equal(moved, moved2);
	assert_int_equal(access(moved, F_OK), 0);
	assert_int_equal(access(moved2, F_OK), 0);
}

/*
 * Fill a 256 KiB tmpfs until the store says -ENOSPC, with single commits or
 * groups of 8; everything acknowledged must load, before and after restart.
 */
static void enospc_run(struct fixture *f, bool group)
{
	char ballast[PATH_MAX + 16], buf[65536] = { 0 };
	int64_t acked[4096];
	struct pw_alloc a, *out = NULL;
	struct pw_store *s;
	size_t total = 0, pending = 0, n = 0;
	int err = 0, later;

	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(f->dir, 0700), 0);
	if (mount("tmpfs", f->dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700")) {
		print_message("mount tmpfs: %s, skipping\n", strerror(errno));
		skip();
	}
	/* Space to give back later, as an admin would after a full-disk alert. */
	snprintf(ballast, sizeof(ballast), "%s/ballast", f->dir);
	write_file(ballast, buf, sizeof(buf));
	s = open_ok(f->dir);
	for (int port = 1; !err && port < 4096; port++) {
		if (group && !pending)
			err = pw_store_begin(s);
		fill_alloc(&a, (uint16_t)port);
		memset(a.project, 'p', sizeof(a.project) - 1);
		if (!err)
			err = pw_store_insert(s, &a);
		if (err)
			break;
		acked[total + pending++] = a.id;
		if (group && pending < 8)
			continue;
		if (group)
			err = pw_store_commit(s);
		if (!err)
			total += pending;
		pending = 0;
	}
	print_message("%s: %zu acknowledged, then %d (%s)\n", group ? "groups of 8" : "single",
		      total, err, pw_store_errmsg(s));
	assert_int_equal(err, -ENOSPC);
	assert_true(total > 0);
	if (group && pending) {
		/* The group is dead: nothing more goes in until it is ended. */
		fill_alloc(&a, 5000);
		later = pw_store_insert(s, &a);
		assert_int_equal(later, -ENOSPC);
		assert_int_equal(pw_store_commit(s), -ENOSPC);
	}

	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, total);
	for (size_t i = 0; i < total; i++)
		assert_int_equal(out[i].id, acked[i]);
	free(out);
	pw_store_close(s);

	assert_int_equal(unlink(ballast), 0);
	s = open_ok(f->dir);
	assert_int_equal(pw_store_load_all(s, &out, &n), 0);
	assert_int_equal(n, total);
	for (size_t i = 0; i < total; i++)
		assert_int_equal(out[i].id, acked[i]);
	free(out);
	assert_int_equal(pw_store_integrity_check(s, buf, sizeof(buf)), 0);
	pw_store_close(s);
	assert_int_equal(umount2(f->dir, MNT_DETACH), 0);
}

/* A failed test must not leave the tmpfs mounted over the scratch directory. */
static int enospc_teardown(void **state)
{
	struct fixture *f = *state;

	(void)umount2(f->dir, MNT_DETACH);
	return fixture_teardown(state);
}

static void test_enospc_single(void **state)
{
	enospc_run(*state, false);
}

static void test_enospc_group(void **state)
{
	enospc_run(*state, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_open_settings, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_directory, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_random_bytes, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_to_half, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_page, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_integrity_check_finds_bad_index,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_database, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_migrates_from_2, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_move_aside, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_enospc_single, fixture_setup,
						enospc_teardown),
		cmocka_unit_test_setup_teardown(test_enospc_group, fixture_setup,
						enospc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

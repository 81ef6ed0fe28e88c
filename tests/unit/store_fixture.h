/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the test_store*.c files: a scratch state directory per test under
 * /tmp, removed afterwards, and a filled-in allocation. Include after cmocka.h.
 */
#ifndef PW_STORE_FIXTURE_H
#define PW_STORE_FIXTURE_H

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "store.h"

struct fixture {
	char root[64];		/* the mkdtemp directory */
	char dir[PATH_MAX];	/* root/state: not created, so pw_store_open makes it */
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/pw-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/state", f->root);
	*state = f;
	return 0;
}

static inline int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->root);
	free(f);
	return 0;
}

static inline struct pw_store *open_ok(const char *dir)
{
	struct pw_store_info info;
	struct pw_store *s = NULL;
	int err = pw_store_open(dir, &s, &info);

	if (err)
		print_error("pw_store_open: %d %s\n", err, info.message);
	assert_int_equal(err, 0);
	assert_non_null(s);
	return s;
}

static inline void fill_alloc(struct pw_alloc *a, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->service_type, sizeof(a->service_type), "http");
	snprintf(a->name, sizeof(a->name), "svc-%u", port);
	a->port = port;
	a->pid = 1000 + port;
	a->start_time = 123456789ULL + port;
	a->uid = 1000;
	snprintf(a->comm, sizeof(a->comm), "python3");
	a->state = PW_ALLOC_RESERVED;
	a->created_at = 1700000000000LL + port;
	snprintf(a->project, sizeof(a->project), "/home/dev/project-%u", port);
}

/* Run one SQL statement on state.db behind the store's back. */
static inline void raw_exec(const char *dir, const char *sql)
{
	char path[PATH_MAX + 16];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s", dir, PW_STORE_DB_NAME);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		print_error("%s: %s\n", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_errcode(db), SQLITE_OK);
	sqlite3_close(db);
}

/* The first column of the first row of a query on @path, as an integer. */
static inline long long raw_int(const char *path, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

#endif
